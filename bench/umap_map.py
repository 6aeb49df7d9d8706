"""umap_100k: the embedding map (PCA 50 + UMAP + HDBSCAN) vs umap-learn defaults."""

from __future__ import annotations

import time

import numpy as np

from bench.common import line


def synthetic_mixture(n: int, dim: int = 384, k: int = 30, seed: int = 0) -> np.ndarray:
    """(n, dim) float32: a 30-cluster Gaussian mixture (unit-variance-ish noise around random centres)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim)).astype(np.float32)
    return centres[rng.integers(0, k, n)] + rng.normal(scale=0.6, size=(n, dim)).astype(np.float32)


def bench_umap(quick: bool) -> list[str]:
    """Seconds for compute_embedding_map (PCA 50 + UMAP 100 epochs + HDBSCAN) vs umap-learn defaults on the raw data."""
    import umap
    from sklearn.manifold import trustworthiness

    from euds_core.selection.embed_map import compute_embedding_map

    n = 15_000 if quick else 100_000
    x = synthetic_mixture(n)
    small = synthetic_mixture(2_000, seed=1)
    compute_embedding_map(small, seed=0), umap.UMAP().fit_transform(small)  # numba compilation, not timed
    t = time.perf_counter()
    baseline = umap.UMAP().fit_transform(x)
    t_base = time.perf_counter() - t
    t = time.perf_counter()
    emap = compute_embedding_map(x, seed=0)
    t_ours = time.perf_counter() - t
    sample = np.random.default_rng(0).choice(n, 5_000, replace=False)
    tw_base = trustworthiness(x[sample], baseline[sample], n_neighbors=5)
    tw_ours = trustworthiness(x[sample], emap.coords[sample], n_neighbors=5)
    name = "umap_100k" if not quick else "umap_100k"
    size = f"n={n:,} (quick: 15k, not 100k)" if quick else f"n={n:,}"
    return [
        line(
            name,
            t_ours,
            "s",
            t_base,
            t_base / t_ours,
            f"[{size} x 384, 30 clusters, warm; trustworthiness@5 on 5k: ours {tw_ours:.4f}, default {tw_base:.4f}, "
            f"diff {tw_ours - tw_base:+.4f}; {emap.n_clusters} HDBSCAN clusters]",
        )
    ]
