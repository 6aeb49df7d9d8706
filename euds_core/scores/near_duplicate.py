"""Near-duplicates (SemDeDup-style): similarity to the closest other sample, and which copies to drop."""

from __future__ import annotations

import numpy as np

from euds_core.errors import EudsInputError
from euds_core.models.embeddings import encoder_id
from euds_core.models.loading import DEFAULT_ENCODER
from euds_core.scores.base import EmbeddingScorer, with_fit_rows
from euds_core.scores.knn import nearest_neighbours

DEFAULT_THRESHOLD = 0.95  # cosine similarity above which two samples count as near-duplicates


def nearest_similarity(embeddings: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Cosine similarity to the most similar other sample (of ``reference``, default all), in [-1, 1].
    Shape (n,). 0 for a lone sample."""
    _, sims = nearest_neighbours(embeddings, 1, reference=reference)
    if sims.shape[1] == 0:
        return np.zeros(len(embeddings), dtype=np.float32)
    return np.clip(sims[:, 0], -1.0, 1.0).astype(np.float32)


def near_duplicate_groups(embeddings: np.ndarray, threshold: float = DEFAULT_THRESHOLD, k: int = 10) -> np.ndarray:
    """Group id per row: connected components of the graph linking pairs with cosine similarity >= threshold.

    Edges come from each row's k nearest neighbours (a group larger than k + 1 still connects through chains).
    Shape (n,), ids 0..n_groups-1; a row with no near-duplicate is its own group.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if not -1.0 <= threshold <= 1.0:
        raise EudsInputError(f"the near-duplicate threshold is a cosine similarity in [-1, 1], not {threshold}")
    n = len(embeddings)
    idx, sims = nearest_neighbours(embeddings, k)  # (n, k)
    rows, cols = np.nonzero(sims >= threshold)
    graph = coo_matrix((np.ones(len(rows)), (rows, idx[rows, cols])), shape=(n, n))
    _, groups = connected_components(graph, directed=False)
    return groups.astype(np.int64)


def near_duplicates_to_drop(
    embeddings: np.ndarray, threshold: float = DEFAULT_THRESHOLD, keep_priority: np.ndarray | None = None, k: int = 10
) -> np.ndarray:
    """Sorted row indices to drop so that one sample of each near-duplicate group remains.

    The kept one has the highest ``keep_priority`` (e.g. a quality score); ties and ``None`` keep the lowest
    row index, so the result is deterministic.
    """
    groups = near_duplicate_groups(embeddings, threshold, k)
    n = len(groups)
    priority = np.zeros(n) if keep_priority is None else np.asarray(keep_priority, dtype=np.float64)
    order = np.lexsort((np.arange(n), -priority, groups))  # by group, then priority desc, then index
    first_of_group = np.ones(n, dtype=bool)
    first_of_group[1:] = groups[order][1:] != groups[order][:-1]
    return np.sort(order[~first_of_group])


class NearDuplicateScorer(EmbeddingScorer):
    """Cosine similarity of the sample's embedding to its nearest other sample, in [-1, 1] (in practice [0, 1]).

    Higher = more duplicated (1 = an exact copy exists). Unit: cosine similarity. Drop all but one of each
    group with :func:`near_duplicates_to_drop` (threshold 0.95 by default).
    """

    name = "near_duplicate"
    unit = "cosine similarity"
    description = "cosine similarity to the nearest other sample (SemDeDup-style near-duplicate score)"
    reads_other_rows = True

    def __init__(self, encoder: str = DEFAULT_ENCODER, fit_rows: np.ndarray | None = None):
        self.encoder, self.fit_rows = encoder, fit_rows

    def params(self) -> dict:
        return with_fit_rows(
            {"encoder": encoder_id(self.encoder), "precision": self.embedding_precision()}, self.fit_rows
        )

    def score(self, table, **context) -> np.ndarray:
        emb = self.embed(table, **context)
        return nearest_similarity(emb, reference=self.fit_rows)


def rows_duplicating(
    embeddings: np.ndarray, rows: np.ndarray, others: np.ndarray, threshold: float = DEFAULT_THRESHOLD
) -> np.ndarray:
    """Sorted rows of ``rows`` whose most similar row of ``others`` has cosine similarity >= ``threshold``
    (e.g. pool rows that near-duplicate a test row)."""
    rows, others = np.asarray(rows, dtype=np.int64), np.asarray(others, dtype=np.int64)
    if not len(rows) or not len(others):
        return np.zeros(0, dtype=np.int64)
    _, sims = nearest_neighbours(
        embeddings[np.concatenate([rows, others])], 1, reference=np.arange(len(rows), len(rows) + len(others))
    )
    return np.sort(rows[sims[: len(rows), 0] >= threshold])
