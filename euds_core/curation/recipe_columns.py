"""The columns a curation recipe reads beside the scores: which rows are redundant near-duplicate copies."""

from __future__ import annotations

import numpy as np
import pandas as pd

from euds_core.selection.recipe import DUPLICATE_COPY, Recipe


def duplicate_copy_column(embeddings: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """(n,) float32: 1 for each row that near-duplicate removal drops among ``rows`` (default: all; one row of
    every group stays, the lowest index), 0 elsewhere. Groups: cosine >= 0.95 (scores/near_duplicate.py)."""
    from euds_core.scores.near_duplicate import near_duplicates_to_drop

    rows = np.arange(len(embeddings)) if rows is None else np.asarray(rows)
    column = np.zeros(len(embeddings), dtype=np.float32)
    column[rows[near_duplicates_to_drop(embeddings[rows])]] = 1.0
    return column


def with_recipe_columns(table: pd.DataFrame, scores: pd.DataFrame, recipe: Recipe, *, encoder: str, cache=None):
    """``scores`` plus the :data:`DUPLICATE_COPY` column when the recipe deduplicates and it is missing
    (from the cached embeddings of ``table`` under ``encoder``)."""
    if not recipe.dedup or DUPLICATE_COPY in scores.columns:
        return scores
    from euds_core.models.embeddings import compute_embeddings

    embeddings = compute_embeddings(table, encoder=encoder, cache=cache)
    return scores.assign(**{DUPLICATE_COPY: duplicate_copy_column(embeddings)})


def duplicate_copy_params(encoder: str) -> dict:
    """What the :data:`DUPLICATE_COPY` column depends on (a manifest's record, and how a rebuild recomputes it)."""
    from euds_core.models.embeddings import encoder_id
    from euds_core.scores.near_duplicate import DEFAULT_THRESHOLD

    return {"encoder": encoder_id(encoder), "encoder_path": str(encoder), "threshold": DEFAULT_THRESHOLD}


def duplicate_copy_for(table: pd.DataFrame, params: dict, cache=None) -> np.ndarray:
    """The :data:`DUPLICATE_COPY` column a manifest's params describe, recomputed from the cached embeddings."""
    from euds_core.models.embeddings import compute_embeddings

    return duplicate_copy_column(compute_embeddings(table, encoder=params["encoder_path"], cache=cache))
