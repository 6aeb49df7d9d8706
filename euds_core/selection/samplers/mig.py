"""MIG (Chen et al. 2025): greedy maximisation of the information gain of a set in a label graph.

Each sample spreads its quality s_i evenly over its labels (u_i, a row of (n, L)); a label graph W (cosine
similarity of label embeddings, thresholded) propagates it with the column-normalised P = W / colsum(W), so
the information of a set S is x = Σ_{i∈S} u_i P and its value Φ(x) = Σ_l φ(x_l) with the concave
φ(x) = (x + a)^b, a = 1e-6, b = 0.8. Each step picks the sample with the largest first-order gain
(u_i P) · ∇Φ(x). Concavity rewards labels the set covers little, so quality and diversity trade off.

Labels: a list of tags per row when given; otherwise k-means clusters of the embeddings (soft: each row's
top-m clusters weighted by softmax(cos / τ)). A label's embedding is the normalised mean of its rows'
embeddings (k-means: the centroid), so numeric or opaque tags work without embedding their names.
"""

from __future__ import annotations

import numpy as np

from euds_core.errors import EudsInputError
from euds_core.selection.samplers.base import Sampler
from euds_core.selection.samplers.cluster_balanced import _unit, default_cluster_count, kmeans_clusters

PHI_A = 1e-6
PHI_B = 0.8


def label_graph(label_embeddings: np.ndarray, threshold: float = 0.9, knn: int | None = None) -> np.ndarray:
    """(L, L) weighted adjacency: cosine similarity of unit label embeddings, kept where >= ``threshold``.

    With ``knn``, each label instead keeps its ``knn`` most similar other labels (symmetrised). The diagonal is 1.
    """
    sim = np.clip(label_embeddings @ label_embeddings.T, 0.0, 1.0).astype(np.float64)  # (L, L)
    if knn is None:
        w = np.where(sim >= threshold, sim, 0.0)
    else:
        off = sim - 2.0 * np.eye(len(sim))  # a label is not its own neighbour
        keep = np.zeros_like(sim, dtype=bool)
        top = np.argsort(-off, axis=1, kind="stable")[:, : max(0, min(knn, len(sim) - 1))]  # (L, knn)
        keep[np.arange(len(sim))[:, None], top] = True
        w = np.where(keep | keep.T, sim, 0.0)
    np.fill_diagonal(w, 1.0)
    return w


def propagation_matrix(adjacency: np.ndarray) -> np.ndarray:
    """P = W / column sums of W (each label's unit of information is shared among its neighbours)."""
    return adjacency / adjacency.sum(axis=0, keepdims=True)


def mig_greedy(
    label_weights: np.ndarray,
    adjacency: np.ndarray,
    count: int,
    *,
    quality: np.ndarray | None = None,
    phi_a: float = PHI_A,
    phi_b: float = PHI_B,
    seed: int | None = None,
) -> np.ndarray:
    """Row indices in MIG pick order.

    ``label_weights`` (n, L): a row's labels (multi-hot or soft weights); each row is normalised to sum 1 and
    multiplied by ``quality`` (default 1). Ties go to the lowest index, or to a seeded random order when
    ``seed`` is given. Gains are updated only on the labels the last pick touched, O(n · touched) per step.
    """
    weights = np.asarray(label_weights, dtype=np.float64)  # (n, L)
    n = len(weights)
    q = np.ones(n) if quality is None else np.asarray(quality, dtype=np.float64)
    if np.any(q < 0) or not np.all(np.isfinite(q)):
        raise EudsInputError("the MIG quality score must be finite and non-negative; pick another --score")
    u = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12) * q[:, None]  # (n, L)
    priority = np.arange(n) if seed is None else np.random.default_rng(seed).permutation(n)
    info = np.asfortranarray((u @ propagation_matrix(adjacency))[priority])  # (n, L), rows in tie order
    x = np.zeros(info.shape[1])  # (L,) information of the picked set
    grad = phi_b * (x + phi_a) ** (phi_b - 1.0)  # (L,) ∇Φ(x)
    gains = info @ grad  # (n,)
    picks = []
    for _ in range(count):
        j = int(np.argmax(gains))  # first maximum = earliest in tie order
        picks.append(priority[j])
        touched = np.flatnonzero(info[j])
        x[touched] += info[j, touched]
        new_grad = phi_b * (x[touched] + phi_a) ** (phi_b - 1.0)
        gains += info[:, touched] @ (new_grad - grad[touched])
        grad[touched] = new_grad
        gains[j] = -np.inf
    return np.array(picks, dtype=np.int64)


def soft_cluster_weights(embeddings: np.ndarray, centroids: np.ndarray, top_m: int, tau: float) -> np.ndarray:
    """(n, K) weights: softmax(cos / τ) over each row's ``top_m`` nearest centroids, zero elsewhere."""
    logits = embeddings @ centroids.T / tau  # (n, K)
    m = min(top_m, centroids.shape[0])
    top = np.argsort(-logits, axis=1, kind="stable")[:, :m]  # (n, m), ties -> lower cluster index
    keep = np.zeros(logits.shape, dtype=bool)
    keep[np.arange(len(logits))[:, None], top] = True
    logits = np.where(keep, logits, -np.inf)
    logits -= logits.max(axis=1, keepdims=True)
    w = np.exp(logits)
    return w / w.sum(axis=1, keepdims=True)


def tags_to_weights(groups) -> tuple[np.ndarray, list[str]]:
    """(n, L) multi-hot weights and the label names, from one label per row or a list of tags per row."""
    rows = [list(g) if isinstance(g, list | tuple | set | np.ndarray) else [g] for g in groups]
    names = sorted({str(t) for r in rows for t in r})
    index = {t: i for i, t in enumerate(names)}
    weights = np.zeros((len(rows), len(names)))
    for i, r in enumerate(rows):
        for t in r:
            weights[i, index[str(t)]] = 1.0
    if np.any(weights.sum(axis=1) == 0):
        raise EudsInputError("every row needs at least one tag for MIG; fill the empty tag lists or drop --groups")
    return weights, names


class MIGSampler(Sampler):
    """MIG greedy information gain over a label graph (labels = tags, else soft k-means clusters).

    Parameters as in the paper's code: φ(x) = (x + 1e-6)^0.8, label graph threshold 0.9 (or ``knn``), quality =
    ``score`` when given (must be ≥ 0), else 1. Clusters: K = round(sqrt(n)), soft top-3, τ = 0.05.
    """

    name = "mig"
    needs_embeddings = True
    description = "MIG: greedy information gain in a label graph (quality x diversity)"

    def __init__(
        self,
        threshold: float = 0.9,
        knn: int | None = None,
        k: int | None = None,
        top_m: int = 3,
        tau: float = 0.05,
        hard: bool = False,
        seed: int = 0,
    ):
        self.threshold, self.knn = threshold, knn  # label graph
        self.k, self.top_m, self.tau, self.hard = k, top_m, tau, hard  # k-means labels when no tags
        self.seed = seed

    def label_weights(self, embeddings: np.ndarray, groups=None) -> tuple[np.ndarray, np.ndarray]:
        """(row label weights (n, L), unit label embeddings (L, dim))."""
        if groups is not None:
            weights, _ = tags_to_weights(groups)
            return weights, _unit(weights.T @ embeddings)
        clusters, centroids = kmeans_clusters(embeddings, self.k or default_cluster_count(len(embeddings)), self.seed)
        if self.hard or len(centroids) < 2:
            return np.eye(len(centroids))[clusters], centroids
        return soft_cluster_weights(embeddings, centroids, self.top_m, self.tau), centroids

    def sample(self, count, *, embeddings=None, score=None, groups=None) -> np.ndarray:
        self._check(count, embeddings, score)
        emb = np.asarray(embeddings, dtype=np.float32)
        weights, label_emb = self.label_weights(emb, groups)
        adjacency = label_graph(label_emb, self.threshold, self.knn)
        return mig_greedy(weights, adjacency, count, quality=score, seed=self.seed)
