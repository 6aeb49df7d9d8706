"""Label-using scores refitted on the pool: what a grid or a search may rank by.

``classifier_entropy``, ``least_confidence``, ``margin`` and ``el2n`` train proxies on labels. Scored over
the whole table (as Explore does), their values depend on the test labels; when such a score chooses
training rows, that choice would see the test split. So a grid or a search recomputes them with
``fit_rows`` = the rows it may learn from (the pool for a grid, pool minus validation for a search),
whatever values a scores file or the score cache holds. The recomputation reuses the cached embeddings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError
from euds_core.models.loading import resolve_device
from euds_core.scores import get_scorer_class, make_scorer
from euds_core.storage.cache import DatasetCache


def uses_labels(name: str) -> bool:
    """Whether the registered score of that name reads the label column."""
    try:
        return "label" in get_scorer_class(name).needs
    except EudsInputError:  # a column that is not a registered score (e.g. a user's own) reads no labels of ours
        return False


def pool_fitted_scores(
    table: pd.DataFrame,
    scores: pd.DataFrame,
    fit_rows: np.ndarray,
    *,
    dataset_id: str | None = None,
    options: dict | None = None,
    device: str = "auto",
) -> pd.DataFrame:
    """``scores`` with every label-using column replaced by values whose proxies fit on ``fit_rows`` only."""
    names = [n for n in scores.columns if uses_labels(str(n))]
    if not names:
        return scores
    out = scores.copy()
    cache = DatasetCache(dataset_id) if dataset_id else None
    resolved = resolve_device(device)
    for name in names:
        scorer = make_scorer(name, {**(options or {}), "fit_rows": np.sort(np.asarray(fit_rows, dtype=np.int64))})
        out[name] = np.asarray(scorer.score(table, device=resolved, cache=cache), dtype=np.float32)
    return out


def fold_fitted_scores(
    table: pd.DataFrame,
    scores: pd.DataFrame,
    *,
    dataset_id: str | None = None,
    options: dict | None = None,
    device: str = "auto",
):
    """What a cross-fitted search ranks by: a function of a fold's training rows returning every score column
    as (n,) values fitted on those rows only (:func:`pool_fitted_scores`)."""

    def fitted(train_rows: np.ndarray) -> dict[str, np.ndarray]:
        frame = pool_fitted_scores(table, scores, train_rows, dataset_id=dataset_id, options=options, device=device)
        return {str(name): frame[name].to_numpy(dtype=np.float64) for name in frame.columns}

    return fitted
