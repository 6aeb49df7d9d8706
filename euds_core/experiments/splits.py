"""The one split of every experiment: a fixed *test* split, the *pool*, and a *validation* split inside the pool.

* **test** — stratified, seeded (default 20 %, seed 0); it only measures. No choice (rows, bands, a "best"
  cell, a label-using score's proxy) ever sees its rows or labels.
* **pool** — everything else; selection chooses training rows from it.
* **validation** — drawn from inside the pool (stratified, its own seed) for any search or tuning; the
  search trains its proxy on ``search_train`` (pool minus validation) and scores it on validation.

The fine-tune grid and the interval search both call :func:`experiment_split` with the same
(test fraction, split seed), so a band chosen on validation is confirmed on test rows it never saw.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError

DEFAULT_TEST_FRACTION = 0.2
DEFAULT_VAL_FRACTION = 0.2  # of the pool


def stratified_split(
    labels: np.ndarray | None, n: int, test_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(kept indices, held-out indices), each sorted. Per class, round(fraction * count) rows are held out.

    The split depends only on (labels, fraction, seed). A class with a single row stays in the kept part.
    ``labels=None``: a plain seeded split.
    """
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if labels is None else [np.flatnonzero(labels == c) for c in sorted(pd.unique(labels))]
    held: list[np.ndarray] = []
    for rows in groups:
        k = int(round(test_fraction * len(rows))) if len(rows) >= 2 else 0
        k = min(max(k, 1 if len(rows) >= 2 else 0), len(rows) - 1)
        held.append(rng.permutation(rows)[:k])
    held_idx = np.sort(np.concatenate(held)).astype(np.int64) if held else np.zeros(0, dtype=np.int64)
    kept_mask = np.ones(n, dtype=bool)
    kept_mask[held_idx] = False
    return np.flatnonzero(kept_mask), held_idx


@dataclass(frozen=True)
class ExperimentSplit:
    """Sorted row indices of the three disjoint parts (``validation`` is a subset of ``pool``)."""

    test: np.ndarray
    pool: np.ndarray
    validation: np.ndarray

    @property
    def search_train(self) -> np.ndarray:
        """Pool rows outside validation: what a search or tuning may fit on."""
        return np.setdiff1d(self.pool, self.validation, assume_unique=True)


def experiment_split(
    labels: np.ndarray | None,
    n: int,
    *,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    split_seed: int = 0,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    test_rows: np.ndarray | None = None,
    test_eligible: np.ndarray | None = None,
) -> ExperimentSplit:
    """The test split (fixed by ``test_fraction`` and ``split_seed``), the pool, and validation inside the pool.

    ``test_rows``: the test split given explicitly (a user's own test file appended to the pool).
    ``test_eligible``: the test split is drawn from these rows only (a pool with injected defects: flagged
    rows and near-copy groups never become test rows; see :mod:`euds_core.data.defects`).
    """
    if not 0.0 < test_fraction < 0.9:
        raise EudsInputError("the test fraction must be between 0 and 0.9")
    if not 0.0 < val_fraction < 0.9:
        raise EudsInputError("the validation fraction must be between 0 and 0.9")
    labels = None if labels is None else np.asarray(labels).astype(str)
    if test_rows is not None:
        test = np.sort(np.asarray(test_rows, dtype=np.int64))
        pool = np.setdiff1d(np.arange(n), test)
    elif test_eligible is not None:
        eligible = np.sort(np.asarray(test_eligible, dtype=np.int64))
        _, held = stratified_split(
            None if labels is None else labels[eligible], len(eligible), test_fraction, split_seed
        )
        test = eligible[held]
        pool = np.setdiff1d(np.arange(n), test)
    else:
        pool, test = stratified_split(labels, n, test_fraction, split_seed)
    _, inner_val = stratified_split(None if labels is None else labels[pool], len(pool), val_fraction, split_seed + 1)
    return ExperimentSplit(test=test, pool=pool, validation=pool[inner_val])


def table_split(
    table: pd.DataFrame,
    *,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    split_seed: int = 0,
    val_fraction: float = DEFAULT_VAL_FRACTION,
) -> ExperimentSplit:
    """The split of a normalised table: its appended test-file rows when it has them
    (:mod:`euds_core.data.test_file`), else a fraction split that never tests on injected defects
    (:mod:`euds_core.data.defects`)."""
    from euds_core.data.defects import rows_allowed_in_test
    from euds_core.data.test_file import appended_test_rows

    labels = table["label"].astype(str).to_numpy() if "label" in table.columns else None
    return experiment_split(
        labels,
        len(table),
        test_fraction=test_fraction,
        split_seed=split_seed,
        val_fraction=val_fraction,
        test_rows=appended_test_rows(table),
        test_eligible=rows_allowed_in_test(table),
    )


def evaluation_split(split: ExperimentSplit, test_sample: int, seed: int) -> ExperimentSplit:
    """``split`` evaluated on a fixed sample of ``test_sample`` of its test rows (drawn once by ``seed``; sorted),
    or unchanged when ``test_sample`` is 0 or not smaller than the test split. The pool is not changed: the test
    rows outside the sample are still never trained on. A bootstrap over the sampled rows carries the sample's
    noise into every interval."""
    if not test_sample or test_sample >= len(split.test):
        return split
    sample = np.random.default_rng([seed, test_sample]).choice(split.test, size=test_sample, replace=False)
    return replace(split, test=np.sort(sample))


def crossfit_folds(
    labels: np.ndarray | None, pool: np.ndarray, folds: int = 3, seed: int = 0, groups: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, validation) table rows of ``folds`` stratified folds of the pool: every pool row serves
    validation exactly once, and a search's proxies train on the other folds (cross-fitting).

    ``groups`` (one id per pool row, e.g. near-duplicate groups): every group lies in one fold, so a row is
    never validated against its own near-copy in training (a copy there would "predict" it: a leak that
    rewards keeping copies)."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    pool = np.asarray(pool)
    if folds < 2 or folds > len(pool):
        raise EudsInputError(f"cross-fitting needs between 2 and {len(pool)} folds, not {folds}")
    if groups is not None and len(np.unique(groups)) < folds:
        raise EudsInputError(f"cross-fitting by group needs at least {folds} groups")
    pool_labels = None if labels is None else np.asarray(labels).astype(str)[pool]
    # a class rarer than the folds cannot stratify
    stratify = pool_labels is not None and min(np.unique(pool_labels, return_counts=True)[1]) >= folds
    options = dict(n_splits=folds, shuffle=True, random_state=seed)
    if groups is not None:
        kind = StratifiedGroupKFold if stratify else GroupKFold
        splitter = kind(**options).split(pool, pool_labels, groups=np.asarray(groups))
    else:
        kind = StratifiedKFold if stratify else KFold
        splitter = kind(**options).split(pool, pool_labels)
    return [(np.sort(pool[train]), np.sort(pool[val])) for train, val in splitter]
