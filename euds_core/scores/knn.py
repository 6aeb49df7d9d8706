"""kNN distance: how far a sample's embedding is from its nearest neighbours (isolation in the pool)."""

from __future__ import annotations

import numpy as np

from euds_core.models.embeddings import encoder_id
from euds_core.models.loading import DEFAULT_ENCODER
from euds_core.scores.base import EmbeddingScorer

EXACT_LIMIT = 50_000  # up to this many rows an exact blockwise search is fast enough; above it, pynndescent
BLOCK_ROWS = 1024  # rows of the (block, n) similarity matrix held at once: 1024 x 50k fp32 = 200 MB


def nearest_neighbours(
    embeddings: np.ndarray, k: int, *, exact_limit: int = EXACT_LIMIT, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(indices, similarities), both (n, k): the k most cosine-similar *other* rows of unit-length embeddings.

    Exact blockwise matmul up to ``exact_limit`` rows (ties broken by lower index); above it an approximate
    pynndescent index (installed with umap-learn). ``k`` is capped at n - 1.
    """
    emb = np.ascontiguousarray(embeddings, dtype=np.float32)  # (n, d)
    n = len(emb)
    k = min(k, n - 1)
    if k <= 0:
        return np.zeros((n, 0), dtype=np.int64), np.zeros((n, 0), dtype=np.float32)
    if n > exact_limit:
        return _approximate_neighbours(emb, k, seed)
    indices = np.empty((n, k), dtype=np.int64)
    sims = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, BLOCK_ROWS):
        block = emb[start : start + BLOCK_ROWS] @ emb.T  # (b, n)
        rows = np.arange(len(block))
        block[rows, start + rows] = -np.inf  # a sample is not its own neighbour
        top = np.argpartition(-block, k - 1, axis=1)[:, :k]  # (b, k), unordered
        top_sims = np.take_along_axis(block, top, axis=1)
        order = np.lexsort((top, -top_sims), axis=1)  # by similarity desc, then index asc
        indices[start : start + len(block)] = np.take_along_axis(top, order, axis=1)
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


def knn_cosine_distance(embeddings: np.ndarray, k: int = 10) -> np.ndarray:
    """Mean cosine distance (1 - cos) to the k nearest other samples, in [0, 2]. Shape (n,). 0 for a lone sample."""
    _, sims = nearest_neighbours(embeddings, k)
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

    def __init__(self, encoder: str = DEFAULT_ENCODER, k: int = 10):
        self.encoder, self.k = encoder, k

    def params(self) -> dict:
        return {"encoder": encoder_id(self.encoder), "k": self.k, "precision": self.embedding_precision()}

    def score(self, table, **context) -> np.ndarray:
        emb = self.embed(table, **context)
        return knn_cosine_distance(emb, self.k)
