"""k-center greedy (Sener & Savarese 2018): each pick is the row farthest from everything picked so far."""

from __future__ import annotations

import numpy as np

from euds_core.selection.samplers.base import Sampler


def kcenter_greedy(embeddings: np.ndarray, count: int) -> np.ndarray:
    """Greedy 2-approximation of the k-center cover in cosine distance on unit-length embeddings.

    Starts from the row most similar to the pool's mean direction (deterministic, no seed), then repeatedly
    adds the row whose distance to its nearest picked row is largest (ties: lowest index). O(count · n · dim).
    """
    emb = np.asarray(embeddings, dtype=np.float32)  # (n, d)
    n = len(emb)
    if count <= 0 or n == 0:
        return np.zeros(0, dtype=np.int64)
    picks = [int(np.argmax(emb @ emb.mean(axis=0)))]
    min_dist = (1.0 - emb @ emb[picks[0]]).astype(np.float64)  # (n,) distance to the nearest pick
    min_dist[picks[0]] = -np.inf
    for _ in range(count - 1):
        i = int(np.argmax(min_dist))
        picks.append(i)
        np.minimum(min_dist, 1.0 - emb @ emb[i], out=min_dist)
        min_dist[i] = -np.inf
    return np.array(picks, dtype=np.int64)


class KCenterSampler(Sampler):
    """k-center greedy coverage of the embedding space: spreads the picks so no region is left far from a pick."""

    name = "kcenter"
    needs_embeddings = True
    description = "k-center greedy: each pick is the sample farthest (cosine) from all earlier picks"

    def sample(self, count, *, embeddings=None, score=None, groups=None) -> np.ndarray:
        self._check(count, embeddings, None)
        return kcenter_greedy(embeddings, count)
