"""kNN distance: how far a sample's embedding is from its nearest neighbours (isolation in the pool)."""

from __future__ import annotations

import numpy as np

from euds_core.models.embeddings import encoder_id
from euds_core.models.loading import DEFAULT_ENCODER
from euds_core.scores.base import EmbeddingScorer, with_fit_rows

EXACT_LIMIT = 50_000  # up to this many rows an exact blockwise search is fast enough; above it, pynndescent
BLOCK_ROWS = 512  # rows of the (block, n) similarity matrix held at once: 512 x 50k fp64 = 200 MB


def nearest_neighbours(
    embeddings: np.ndarray,
    k: int,
    *,
    exact_limit: int = EXACT_LIMIT,
    seed: int = 0,
    reference: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(indices, similarities), both (n, k): the k most cosine-similar *other* rows of unit-length embeddings.

    ``reference`` (sorted row indices, default all): the only rows that may be a neighbour (an experiment's
    pool); every row, inside or outside it, gets its neighbours among them. Exact blockwise matmul up to
    ``exact_limit`` reference rows (ties broken by lower index); above it an approximate pynndescent index
    (installed with umap-learn). ``k`` is capped at the number of possible neighbours.
    """
    emb = np.ascontiguousarray(embeddings, dtype=np.float32)  # (n, d)
    n = len(emb)
    ref = np.arange(n) if reference is None else np.asarray(reference, dtype=np.int64)
    k = min(k, len(ref) - 1)  # a reference row has |ref| - 1 possible neighbours
    if k <= 0:
        return np.zeros((n, 0), dtype=np.int64), np.zeros((n, 0), dtype=np.float32)
    if len(ref) > exact_limit:
        if reference is None:
            return _approximate_neighbours(emb, k, seed)
        raise ValueError(f"neighbours among a reference of more than {exact_limit} rows are not supported")
    position = np.full(n, -1, dtype=np.int64)
    position[ref] = np.arange(len(ref))  # table row -> column of the similarity block (-1: not a reference)
    indices = np.empty((n, k), dtype=np.int64)
    sims = np.empty((n, k), dtype=np.float32)
    # float64, cast to float32 at the end: float32 matmuls round differently with the number of rows (BLAS
    # blocking), which broke ties between equal texts differently in a table and in its pool alone
    emb64, ref64 = emb.astype(np.float64), emb[ref].astype(np.float64)
    for start in range(0, n, BLOCK_ROWS):
        block = emb64[start : start + BLOCK_ROWS] @ ref64.T  # (b, |ref|)
        rows = np.arange(len(block))
        own = position[start + rows]
        block[rows[own >= 0], own[own >= 0]] = -np.inf  # a sample is not its own neighbour
        top = np.argpartition(-block, k - 1, axis=1)[:, :k]  # (b, k), unordered
        top_sims = np.take_along_axis(block, top, axis=1)
        order = np.lexsort((top, -top_sims), axis=1)  # by similarity desc, then index asc
        indices[start : start + len(block)] = ref[np.take_along_axis(top, order, axis=1)]
        sims[start : start + len(block)] = np.take_along_axis(top_sims, order, axis=1)
    return indices, sims


def _approximate_neighbours(emb: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from pynndescent import NNDescent

    index = NNDescent(emb, metric="cosine", n_neighbors=k + 1, random_state=seed, n_jobs=1)
    idx, dist = index.neighbor_graph  # (n, k + 1), usually with the row itself first
    out_idx = np.empty((len(emb), k), dtype=np.int64)
    out_sim = np.empty((len(emb), k), dtype=np.float32)
    for i in range(len(emb)):
        keep = idx[i] != i
        out_idx[i] = idx[i][keep][:k]
        out_sim[i] = 1.0 - dist[i][keep][:k]
    return out_idx, out_sim


def knn_cosine_distance(embeddings: np.ndarray, k: int = 10, reference: np.ndarray | None = None) -> np.ndarray:
    """Mean cosine distance (1 - cos) to the k nearest other samples (of ``reference``, default all), in [0, 2].
    Shape (n,). 0 for a lone sample."""
    _, sims = nearest_neighbours(embeddings, k, reference=reference)
    if sims.shape[1] == 0:
        return np.zeros(len(embeddings), dtype=np.float32)
    return np.clip(1.0 - sims.mean(axis=1), 0.0, 2.0).astype(np.float32)


class KNNDistanceScorer(EmbeddingScorer):
    """Mean cosine distance from the sample's embedding to its k = 10 nearest neighbours in the pool.

    Range [0, 2] (unit-length embeddings; in practice [0, 1]); unit: cosine distance. Higher = the sample sits
    in a sparse region of the pool (more unusual); near 0 = it has close look-alikes.
    """

    name = "knn_distance"
    unit = "cosine distance"
    description = "mean cosine distance to the k nearest neighbours in embedding space (isolation)"
    reads_other_rows = True

    def __init__(self, encoder: str = DEFAULT_ENCODER, k: int = 10, fit_rows: np.ndarray | None = None):
        self.encoder, self.k, self.fit_rows = encoder, k, fit_rows

    def params(self) -> dict:
        params = {"encoder": encoder_id(self.encoder), "k": self.k, "precision": self.embedding_precision()}
        return with_fit_rows(params, self.fit_rows)

    def score(self, table, **context) -> np.ndarray:
        emb = self.embed(table, **context)
        return knn_cosine_distance(emb, self.k, reference=self.fit_rows)
