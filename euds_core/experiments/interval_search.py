"""Optimal-interval search (DESIGN.md §4): which percentile band of a score trains the best cheap proxy?

A fixed stratified validation split is removed first. For every (p_lo, p_hi) on a grid whose band keeps at
least ``min_keep`` of the pool, a logistic regression on frozen (cached) encoder embeddings is trained on the
kept training rows and scored on the validation split. The best cells can then be confirmed by a real
fine-tune (:mod:`euds_core.experiments.finetune`).

Speed: percentile ranks are computed once over the pool; each cell is a slice of the rank-sorted rows. The
proxy works in a PCA space (default 64 dims) and warm-starts each cell from the previous one, which
keeps 10 k rows on 2 CPU cores well under a minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError, ScoringCancelled
from euds_core.experiments.finetune import stratified_split
from euds_core.selection.intervals import percentile_rank

GRID_COLUMNS = ["p_lo", "p_hi", "keep_fraction", "n_train", "accuracy", "macro_f1", "seconds"]
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


def _proxy_features(embeddings: np.ndarray, dims: int, seed: int) -> np.ndarray:
    """Embeddings projected on their top ``dims`` principal components (standardised)."""
    from sklearn.decomposition import PCA

    x = embeddings.astype(np.float32)  # (n, dim)
    if dims and dims < x.shape[1] and dims < len(x):
        x = PCA(n_components=dims, random_state=seed, svd_solver="randomized").fit_transform(x)
    x = (x - x.mean(axis=0)) / np.maximum(x.std(axis=0), 1e-6)  # standardised: lbfgs converges in fewer steps
    return x.astype(np.float64)


def search_interval(
    embeddings: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    min_keep: float = 0.2,
    step: float = 0.1,
    val_fraction: float = 0.2,
    seed: int = 0,
    pca_dims: int = 64,
    max_iter: int = 200,
    progress: SearchProgressFn | None = None,
    cancel: Callable[[], bool] | None = None,
) -> pd.DataFrame:
    """One row per grid cell: p_lo, p_hi, keep_fraction, n_train, accuracy, macro_f1, seconds.

    ``embeddings`` (n, dim), ``labels`` (n,) and ``scores`` (n,) are aligned by row. Percentile ranks are
    over the training pool only (validation rows never influence which rows are kept). A cell whose kept
    rows hold a single class predicts that class.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    labels = np.asarray(labels).astype(str)
    scores = np.asarray(scores, dtype=np.float64)
    n = len(labels)
    if embeddings.shape[0] != n or scores.shape != (n,):
        raise EudsInputError(
            f"embeddings ({embeddings.shape[0]}), labels ({n}) and scores ({scores.shape[0]}) must have the same rows"
        )
    if not np.all(np.isfinite(scores)):
        raise EudsInputError("the score has missing or non-numeric values; rescore the data")
    if len(np.unique(labels)) < 2:
        raise EudsInputError("the interval search needs at least two label classes")
    cells = interval_cells(step, min_keep)
    pool, val = stratified_split(labels, n, val_fraction, seed)
    x = _proxy_features(embeddings, pca_dims, seed)  # (n, pca_dims)
    classes = np.unique(labels)
    y = np.searchsorted(classes, labels)  # (n,) class ids
    rank = percentile_rank(scores[pool])  # (n_pool,) in [0, 1]
    eps = 1e-9
    rows = []
    # One model reused across cells: warm-starting from the neighbouring cell's solution saves iterations.
    warm = LogisticRegression(C=1.0, max_iter=max_iter, tol=1e-3, warm_start=True)
    for i, (p_lo, p_hi) in enumerate(cells):
        if cancel is not None and cancel():
            raise ScoringCancelled(f"interval search cancelled after {i} of {len(cells)} cells")
        started = time.perf_counter()
        kept = pool[(rank >= p_lo - eps) & (rank <= p_hi + eps)]
        present = np.unique(y[kept])
        if len(present) < 2:
            predicted = np.full(len(val), present[0] if len(present) else 0)
        else:
            model = warm if len(present) == len(classes) else LogisticRegression(C=1.0, max_iter=max_iter, tol=1e-3)
            predicted = model.fit(x[kept], y[kept]).predict(x[val])
        rows.append(
            {
                "p_lo": p_lo,
                "p_hi": p_hi,
                "keep_fraction": len(kept) / len(pool),
                "n_train": len(kept),
                "accuracy": float(accuracy_score(y[val], predicted)),
                "macro_f1": float(f1_score(y[val], predicted, average="macro")),
                "seconds": time.perf_counter() - started,
            }
        )
        if progress:
            progress(i + 1, len(cells), f"[{p_lo:.2f}, {p_hi:.2f}]: accuracy {rows[-1]['accuracy']:.3f}")
    return pd.DataFrame(rows, columns=GRID_COLUMNS)


def best_cell(grid: pd.DataFrame) -> pd.Series:
    """The best cell by accuracy (ties: the wider band, then the lower p_lo)."""
    return grid.sort_values(["accuracy", "keep_fraction", "p_lo"], ascending=[False, False, True]).iloc[0]


# ---------------------------------------------------------------------------------------------- datasets and jobs


def search_grid_path(dataset_id: str, score: str):
    """Where the page's last search grid of (dataset, score) is kept: ``EUDS_HOME/interval_search/``."""
    from euds_core.storage.workspace import workspace_dir

    return workspace_dir("interval_search") / f"{dataset_id}-{score}.csv"


def load_search_grid(dataset_id: str, score: str) -> pd.DataFrame | None:
    path = search_grid_path(dataset_id, score)
    return pd.read_csv(path) if path.exists() else None


def search_dataset(
    dataset,
    score: str,
    *,
    min_keep: float = 0.2,
    step: float = 0.1,
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
    grid = search_interval(
        embeddings,
        dataset.table["label"].astype(str).to_numpy(),
        scores[score].to_numpy(),
        min_keep=min_keep,
        step=step,
        progress=progress,
        cancel=cancel,
    )
    from euds_core.storage.atomic_files import atomic_path

    with atomic_path(search_grid_path(dataset.id, score)) as tmp:
        grid.to_csv(tmp, index=False)
    return grid


def search_job(args: dict, update: Callable[[float, str], None], cancelled: Callable[[], bool]) -> dict:
    """The ``interval_search`` job: args = {dataset_id, score, min_keep, step, encoder, options}."""
    from euds_core.data.datasets import load_saved_dataset

    dataset = load_saved_dataset(args["dataset_id"])
    grid = search_dataset(
        dataset,
        args["score"],
        min_keep=float(args.get("min_keep", 0.2)),
        step=float(args.get("step", 0.1)),
        encoder=args.get("encoder"),
        options=args.get("options"),
        progress=lambda done, total, message: update(done / total, f"cell {done}/{total} {message}"),
        cancel=cancelled,
    )
    best = best_cell(grid)
    return {
        "cells": len(grid),
        "best": {"p_lo": float(best.p_lo), "p_hi": float(best.p_hi), "accuracy": float(best.accuracy)},
    }
