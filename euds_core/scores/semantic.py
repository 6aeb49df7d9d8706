"""Semantic entropy: how evenly a sample's embedding is shared between the pool's topics (k-means centroids)."""

from __future__ import annotations

import numpy as np

from euds_core.models.embeddings import encoder_id, load_partial_embeddings
from euds_core.models.loading import DEFAULT_ENCODER
from euds_core.scores.base import EmbeddingScorer, with_fit_rows


def fit_unit_centroids(embeddings: np.ndarray, k: int, seed: int, n_init: int = 1) -> np.ndarray:
    """(k, dim) unit-length k-means centroids of unit-length embeddings (seeded, so reruns agree)."""
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, random_state=seed, n_init=n_init).fit(embeddings)
    centroids = km.cluster_centers_.astype(np.float32)  # (k, dim)
    return centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)


def fit_centroid_sets(embeddings: np.ndarray, k: int, seed: int, n_fits: int) -> list[np.ndarray]:
    """``n_fits`` sets of (k, dim) unit centroids, k-means seeded ``seed``, ``seed + 1``, ... (see SemanticScorer)."""
    return [fit_unit_centroids(embeddings, k, seed + i) for i in range(n_fits)]


def ensemble_entropy(embeddings: np.ndarray, centroid_sets: list[np.ndarray], tau: float) -> np.ndarray:
    """(n_samples,) float32 mean of :func:`soft_assignment_entropy` over the centroid sets."""
    return np.mean([soft_assignment_entropy(embeddings, c, tau) for c in centroid_sets], axis=0).astype(np.float32)


def soft_assignment_entropy(embeddings: np.ndarray, centroids: np.ndarray, tau: float) -> np.ndarray:
    """H_S = -Σ_k q_k log q_k / log K with q = softmax_k(cos(e, c_k) / τ); in [0, 1]. Shape (n_samples,)."""
    k = len(centroids)
    if k < 2:
        return np.zeros(len(embeddings), dtype=np.float32)
    # float64: float32 matmuls round differently with the number of rows (BLAS blocking), which reordered
    # rows of equal entropy between a table and its pool alone
    logits = embeddings.astype(np.float64) @ centroids.T.astype(np.float64) / tau  # (n_samples, k)
    logits -= logits.max(axis=1, keepdims=True)
    logq = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    entropy = -(np.exp(logq) * logq).sum(axis=1) / np.log(k)
    return np.clip(entropy, 0.0, 1.0).astype(np.float32)


PARTIAL_VIEW_FITS = 8  # a partial view refits as each chunk lands: fewer fits keep those refits cheap


class SemanticScorer(EmbeddingScorer):
    """Normalised entropy of the soft assignment of the sample's embedding to K k-means topics, in [0, 1].

    High = the sample sits between topics; low = squarely inside one. K = 16, τ = 0.05 (docs/scores.md:
    τ = 0.1 crowds every sample near 0.89, τ = 0.02 piles them near 0 on rotten_tomatoes).

    The entropy is the mean over ``n_fits`` = 32 k-means fits of one initialisation each (seeds ``seed`` ..
    ``seed + 31``), not one fit: with one fit (best of 3 initialisations), the score depended on the seed
    (bbc_news, MiniLM: Spearman 0.75-0.86 between two seeds' scores). The mean of 8 agreed with 8 other seeds'
    at 0.96 (bbc_news) and 0.94 (rotten_tomatoes 3,000), and ONNX and bf16 embeddings of the same texts (cosine
    ≥ 0.99995) gave 0.975, enough to swap a third of a 10 % band's rows and undo a fine-tune verdict; the mean of
    32 gives 0.987, 0.986 and 0.994 (bench/RESULTS.md). k-means time: 0.78 s instead of 0.29 s on bbc_news's
    2,225 rows, small next to embedding them. Partial views, refitted as rows land, keep 8 fits.
    """

    name = "semantic"
    unit = "fraction of log K"
    description = "entropy of the soft k-means topic assignment of the sample's embedding (EUDS semantic entropy)"
    reads_other_rows = True

    def __init__(
        self,
        encoder: str = DEFAULT_ENCODER,
        k: int = 16,
        tau: float = 0.05,
        seed: int = 0,
        precision: str = "auto",
        n_fits: int = 32,
        fit_rows: np.ndarray | None = None,
    ):
        self.encoder, self.k, self.tau, self.seed, self.precision = encoder, k, tau, seed, precision
        self.n_fits, self.fit_rows = n_fits, fit_rows

    def params(self) -> dict:
        params = {
            "encoder": encoder_id(self.encoder),
            "k": self.k,
            "tau": self.tau,
            "seed": self.seed,
            "n_fits": self.n_fits,
            "precision": self.embedding_precision(),
        }
        return with_fit_rows(params, self.fit_rows)

    def centroid_sets(self, embeddings: np.ndarray, n_fits: int | None = None) -> list[np.ndarray]:
        """The k-means fits (``n_fits``, default the scorer's) on ``embeddings`` (fewer clusters when there are fewer
        than K distinct points: k-means needs k); none when there are fewer than 2, where every entropy is 0."""
        k = min(self.k, len(np.unique(embeddings.round(6), axis=0)))
        return fit_centroid_sets(embeddings, k, self.seed, n_fits or self.n_fits) if k >= 2 else []

    def entropy(self, embeddings: np.ndarray, centroid_sets: list[np.ndarray]) -> np.ndarray:
        if not centroid_sets:
            return np.zeros(len(embeddings), dtype=np.float32)
        return ensemble_entropy(embeddings, centroid_sets, self.tau)

    def score(self, table, **context) -> np.ndarray:
        """The entropy of every row against centroids fitted on ``fit_rows`` (default: every row)."""
        emb = self.embed(table, **context)
        reference = emb if self.fit_rows is None else emb[np.sort(np.asarray(self.fit_rows, dtype=np.int64))]
        return self.entropy(emb, self.centroid_sets(reference))

    def partial_scores(self, table, *, cache, **_):
        """Semantic entropy of the rows embedded so far, against k-means centroids fitted on those rows only.

        A partial view only: the rows are a random sample, so their centroids estimate the pool's; the final
        score refits k-means on every row (``score``), so a row's partial and final values can differ.
        """
        got = load_partial_embeddings(cache, len(table), self.encoder)
        if got is None:
            return None
        rows, emb = got
        return rows, self.entropy(emb, self.centroid_sets(emb, min(self.n_fits, PARTIAL_VIEW_FITS)))
