"""Optimal-interval search (docs/experiments.md): which percentile band of a score trains the best cheap proxy?

The split is the fine-tune grid's (:mod:`euds_core.experiments.splits`): the test split is removed and never
seen; validation is drawn from inside the pool, and the proxy trains on the rest of the pool
(``search_train``). For every (p_lo, p_hi) on a grid whose band keeps at least ``min_keep`` of it, a logistic
regression on frozen (cached) encoder embeddings is trained on the band's rows and scored on validation.
Each cell's **gain** is its validation accuracy minus the mean accuracy of ``random_draws`` random subsets of
the same size from the same rows (wide cells no longer win by size alone). The best cell by gain is then
confirmed by a real fine-tune on the untouched test split (``interval:p_lo-p_hi`` vs random vs full).

Speed: percentile ranks are computed once over ``search_train``; each cell is a slice of the ranked rows. The
proxy (:mod:`euds_core.experiments.proxy`, shared with the wider search) works in a PCA space (default 64 dims),
single-threaded; the random baselines are computed once per kept count.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError, ScoringCancelled
from euds_core.experiments.proxy import linear_proxy_predictions, proxy_features, random_correct
from euds_core.experiments.splits import (
    DEFAULT_TEST_FRACTION,
    DEFAULT_VAL_FRACTION,
    ExperimentSplit,
    experiment_split,
    table_split,
)
from euds_core.selection.intervals import group_percentile_rank, percentile_rank

GRID_COLUMNS = [
    "p_lo",
    "p_hi",
    "keep_fraction",
    "n_train",
    "accuracy",
    "macro_f1",
    "random_accuracy",
    "gain",
    "seconds",
    "label_balanced",
]
RANDOM_DRAWS = 3  # random subsets per size: the baseline a cell's gain is measured against
SearchProgressFn = Callable[[int, int, str], None]  # (cells done, cells total, message)


def interval_cells(step: float = 0.1, min_keep: float = 0.2) -> list[tuple[float, float]]:
    """(p_lo, p_hi) pairs on a grid of ``step`` with p_hi - p_lo >= min_keep (rounded to the grid)."""
    if not 0.0 < step <= 0.5:
        raise EudsInputError("the grid step must be in (0, 0.5], e.g. 0.1")
    if not 0.0 < min_keep <= 1.0:
        raise EudsInputError("--min-keep must be a fraction in (0, 1], e.g. 0.2")
    points = np.round(np.arange(0.0, 1.0 + step / 2, step), 6)
    cells = [(float(lo), float(hi)) for lo in points for hi in points if hi - lo >= min_keep - 1e-9]
    if not cells:
        raise EudsInputError(f"no interval on a {step} grid keeps at least {min_keep}; lower --min-keep")
    return cells


@dataclass(frozen=True)
class IntervalSearchSettings:
    """How an interval search runs (the defaults are the CLI's; the page's search balances labels)."""

    min_keep: float = 0.2  # the smallest kept fraction of a cell
    step: float = 0.1  # the grid step of p_lo and p_hi
    seed: int = 0  # of the proxy's PCA and the random baselines
    random_draws: int = RANDOM_DRAWS
    pca_dims: int = 64
    max_iter: int = 200  # of each cell's logistic regression
    # rank the score within each label group, so every cell keeps the label proportions of ``search_train``
    # (what ``interval:a-b:balanced`` then trains on)
    label_balanced: bool = False


def search_interval(
    embeddings: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray,
    split: ExperimentSplit,
    settings: IntervalSearchSettings | None = None,
    *,
    progress: SearchProgressFn | None = None,
    cancel: Callable[[], bool] | None = None,
) -> pd.DataFrame:
    """One row per grid cell: the :data:`GRID_COLUMNS` (accuracy on validation, its random baseline, gain).

    ``embeddings`` (n, dim), ``labels`` (n,) and ``scores`` (n,) are aligned by row; ``split`` is
    :func:`search_split`'s. Percentile ranks are over ``split.search_train`` only; test rows are never read.
    """
    from threadpoolctl import threadpool_limits

    settings = settings or IntervalSearchSettings()
    labels, scores = checked_search_inputs(embeddings, labels, scores)
    cells = interval_cells(settings.step, settings.min_keep)
    if not np.all(np.isfinite(scores[split.search_train])):
        raise EudsInputError("the score has missing or non-numeric values; rescore the data")
    classes = np.unique(labels[split.pool])
    grid = IntervalGrid(
        x=proxy_features(embeddings, split.pool, dims=settings.pca_dims, seed=settings.seed),
        y=np.searchsorted(classes, labels),  # a class seen only in test maps somewhere harmless
        train=split.search_train,
        validation=split.validation,
        rank=(group_percentile_rank if settings.label_balanced else lambda v, _: percentile_rank(v))(
            scores[split.search_train], labels[split.search_train]
        ),  # (n_train,) in [0, 1], within each class when balanced
        settings=settings,
    )
    rows = []
    with threadpool_limits(limits=1):  # many small fits: thread pools only add overhead
        for i, cell in enumerate(cells):
            if cancel is not None and cancel():
                raise ScoringCancelled(f"interval search cancelled after {i} of {len(cells)} cells")
            rows.append(grid.measure(*cell))
            if progress:
                progress(i + 1, len(cells), f"[{cell[0]:.2f}, {cell[1]:.2f}]: gain {rows[-1]['gain']:+.3f}")
    return pd.DataFrame(rows, columns=GRID_COLUMNS)


def checked_search_inputs(embeddings: np.ndarray, labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """(labels as strings, scores as float64), refused unless aligned by row and with two classes at least."""
    labels = np.asarray(labels).astype(str)
    scores = np.asarray(scores, dtype=np.float64)
    n = len(labels)
    if embeddings.shape[0] != n or scores.shape != (n,):
        raise EudsInputError(
            f"embeddings ({embeddings.shape[0]}), labels ({n}) and scores ({scores.shape[0]}) must have the same rows"
        )
    if len(np.unique(labels)) < 2:
        raise EudsInputError("the interval search needs at least two label classes")
    return labels, scores


@dataclass
class IntervalGrid:
    """What every cell of one interval search reads; random baselines are shared by the cells of one count."""

    x: np.ndarray  # (n, dims) proxy features
    y: np.ndarray  # (n,) class ids
    train: np.ndarray  # search_train rows
    validation: np.ndarray
    rank: np.ndarray  # (|train|,) percentile rank of each training row
    settings: IntervalSearchSettings
    baselines: dict = field(default_factory=dict)  # kept count -> mean random validation accuracy

    def measure(self, p_lo: float, p_hi: float) -> dict:
        """One cell's row: the band's validation accuracy, macro-F1, its random baseline and gain."""
        from sklearn.metrics import f1_score

        started = time.perf_counter()
        settings = self.settings
        eps = 1e-9
        kept = self.train[(self.rank >= p_lo - eps) & (self.rank <= p_hi + eps)]
        truth = self.y[self.validation]
        predicted = linear_proxy_predictions(self.x, self.y, kept, self.validation, max_iter=settings.max_iter)
        if len(kept) not in self.baselines:
            correct = random_correct(
                self.x, self.y, self.train, self.validation, len(kept), draws=settings.random_draws, seed=settings.seed
            )
            self.baselines[len(kept)] = float(correct["linear"].mean())
        accuracy = float(np.mean(predicted == truth))
        return {
            "p_lo": p_lo,
            "p_hi": p_hi,
            "keep_fraction": len(kept) / len(self.train),
            "n_train": len(kept),
            "accuracy": accuracy,
            "macro_f1": float(f1_score(truth, predicted, average="macro")),
            "random_accuracy": self.baselines[len(kept)],
            "gain": accuracy - self.baselines[len(kept)],
            "seconds": time.perf_counter() - started,
            "label_balanced": bool(settings.label_balanced),
        }


def best_cell(grid: pd.DataFrame) -> pd.Series:
    """The best cell by validation gain over random at the same size (ties: the wider band, then the lower
    p_lo). A grid saved before gains existed is ranked by accuracy."""
    key = "gain" if "gain" in grid.columns else "accuracy"
    return grid.sort_values([key, "keep_fraction", "p_lo"], ascending=[False, False, True]).iloc[0]


# ---------------------------------------------------------------------------------------------- datasets and jobs


def search_grid_path(dataset_id: str, score: str):
    """Where the page's last search grid of (dataset, score) is kept: ``EUDS_HOME/interval_search/``."""
    from euds_core.storage.workspace import workspace_dir

    return workspace_dir("interval_search") / f"{dataset_id}-{score}.csv"


def load_search_grid(dataset_id: str, score: str) -> pd.DataFrame | None:
    path = search_grid_path(dataset_id, score)
    return pd.read_csv(path) if path.exists() else None


def search_split(
    labels: np.ndarray,
    *,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    seed: int = 0,
    table: pd.DataFrame | None = None,
    all_pool: bool = False,
) -> ExperimentSplit:
    """The search's split of a labelled table: the fine-tune grid's test split, validation inside the pool.

    ``table``: the split of :func:`~euds_core.experiments.splits.table_split` (test-file rows, injected
    defects). ``all_pool``: every row is pool (the test set is a separate file the search never reads).
    """
    labels = np.asarray(labels).astype(str)
    if all_pool:
        empty = np.zeros(0, dtype=np.int64)
        return experiment_split(labels, len(labels), split_seed=seed, val_fraction=val_fraction, test_rows=empty)
    if table is not None:
        return table_split(
            table.assign(label=labels), test_fraction=test_fraction, split_seed=seed, val_fraction=val_fraction
        )
    return experiment_split(
        labels, len(labels), test_fraction=test_fraction, split_seed=seed, val_fraction=val_fraction
    )


def search_score_values(
    table: pd.DataFrame,
    name: str,
    values: np.ndarray,
    split: ExperimentSplit,
    *,
    dataset_id: str | None = None,
    options: dict | None = None,
) -> np.ndarray:
    """The score the search ranks by; a label-using one is refitted on ``split.search_train`` only."""
    from euds_core.experiments.pool_scores import pool_fitted_scores

    frame = pd.DataFrame({name: np.asarray(values, dtype=np.float64)})
    fitted = pool_fitted_scores(table, frame, split.search_train, dataset_id=dataset_id, options=options)
    return fitted[name].to_numpy(dtype=np.float64)


def search_dataset(
    dataset,
    score: str,
    settings: IntervalSearchSettings,
    *,
    encoder: str | None = None,
    options: dict | None = None,
    progress: SearchProgressFn | None = None,
    cancel: Callable[[], bool] | None = None,
) -> pd.DataFrame:
    """Run the search on a workspace dataset with its cached score and embeddings; saves and returns the grid."""
    from euds_core.models.embeddings import compute_embeddings
    from euds_core.models.loading import DEFAULT_ENCODER
    from euds_core.scoring.engine import score_dataset
    from euds_core.storage.cache import DatasetCache

    if not dataset.has_labels:
        raise EudsInputError("the interval search needs labelled data (a label column)")
    scores = score_dataset(dataset, [score], options=options, cached_only=True)
    if score not in scores.columns:
        raise EudsInputError(f"the score '{score}' is not computed for this dataset yet; score it first")
    embeddings = compute_embeddings(
        dataset.table, encoder=encoder or DEFAULT_ENCODER, cache=DatasetCache(dataset.id), cancel=cancel
    )
    labels = dataset.table["label"].astype(str).to_numpy()
    split = search_split(labels)
    values = search_score_values(
        dataset.table, score, scores[score].to_numpy(), split, dataset_id=dataset.id, options=options
    )
    grid = search_interval(embeddings, labels, values, split, settings, progress=progress, cancel=cancel)
    from euds_core.storage.atomic_files import atomic_path

    with atomic_path(search_grid_path(dataset.id, score)) as tmp:
        grid.to_csv(tmp, index=False)
    return grid


def search_job(args: dict, update: Callable[[float, str], None], cancelled: Callable[[], bool]) -> dict:
    """The ``interval_search`` job: args = {dataset_id, score, min_keep, step, label_balanced, encoder, options}.

    Label balancing is on by default: the search needs class labels, and a global band can keep one class only.
    """
    from euds_core.data.datasets import load_saved_dataset

    dataset = load_saved_dataset(args["dataset_id"])
    settings = IntervalSearchSettings(
        min_keep=float(args.get("min_keep", 0.2)),
        step=float(args.get("step", 0.1)),
        label_balanced=bool(args.get("label_balanced", True)),
    )
    grid = search_dataset(
        dataset,
        args["score"],
        settings,
        encoder=args.get("encoder"),
        options=args.get("options"),
        progress=lambda done, total, message: update(done / total, f"cell {done}/{total} {message}"),
        cancel=cancelled,
    )
    best = best_cell(grid)
    return {
        "cells": len(grid),
        "best": {
            "p_lo": float(best.p_lo),
            "p_hi": float(best.p_hi),
            "accuracy": float(best.accuracy),
            "gain": float(best.gain),
            "label_balanced": bool(best.label_balanced),
        },
    }
