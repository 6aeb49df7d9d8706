"""The 2-D map of a dataset: UMAP of the sentence embeddings, HDBSCAN clusters, downsampled past ~100 k points.

One call for the Explore page::

    emap = compute_embedding_map(embeddings, seed=0, cache=DatasetCache(dataset.id))
    emap.rows      # (m,) int64 row indices of the drawn points (all rows when n <= max_points)
    emap.coords    # (m, 2) float32 map coordinates of those rows
    emap.clusters  # (m,) int32 HDBSCAN cluster per drawn point, -1 = noise
    emap.n_rows    # n, the pool size; emap.sampled is True when m < n

Speed (bench/RESULTS.md, ``umap_100k``): the embeddings are first reduced to ``pca_dims`` (50) with PCA, which
makes UMAP's nearest-neighbour search several times cheaper than on 384 dims, and the layout runs fewer epochs
than umap-learn's default (100 instead of 200 for large data). Past
``max_points`` rows a seeded uniform sample of ``max_points`` rows is mapped; the page draws those (WebGL) and
reports the rest as aggregated counts. Results are cached under the dataset's cache folder, keyed by the
embeddings' content and every parameter, with ``cache.save_array`` (atomic, checksummed).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from euds_core.errors import EudsInputError
from euds_core.storage.cache import DatasetCache, load_array, params_hash, save_array

DEFAULT_MAX_POINTS = 100_000
HDBSCAN_MAX_POINTS = 20_000  # HDBSCAN fits on at most this many map points; the rest take their nearest's label
HDBSCAN_MIN_SAMPLES = 10
NOT_DRAWN = -2  # cluster id of a row a sampled map left out


@dataclass(frozen=True)
class EmbeddingMap:
    """A 2-D map of (a sample of) the pool; see the module docstring."""

    rows: np.ndarray  # (m,) int64
    coords: np.ndarray  # (m, 2) float32
    clusters: np.ndarray  # (m,) int32, -1 = noise
    n_rows: int

    @property
    def sampled(self) -> bool:
        return len(self.rows) < self.n_rows

    @property
    def n_clusters(self) -> int:
        return int(self.clusters.max() + 1) if len(self.clusters) else 0

    def coords_for_all_rows(self) -> np.ndarray:
        """(n_rows, 2) coordinates in pool row order; NaN for rows left out of a sampled map."""
        out = np.full((self.n_rows, 2), np.nan, dtype=np.float32)
        out[self.rows] = self.coords
        return out

    def clusters_for_all_rows(self) -> np.ndarray:
        """(n_rows,) cluster per pool row: -1 = noise, -2 = not in the (sampled) map."""
        out = np.full(self.n_rows, NOT_DRAWN, dtype=np.int32)
        out[self.rows] = self.clusters
        return out


@dataclass(frozen=True)
class MapParams:
    """Every parameter that changes the map (hashed into the cache key with the embeddings' fingerprint)."""

    seed: int = 0
    max_points: int = DEFAULT_MAX_POINTS
    pca_dims: int = 50
    n_neighbors: int = 15
    min_dist: float = 0.1
    n_epochs: int | None = None
    min_cluster_size: int | None = None
    version: int = 2


def embeddings_fingerprint(embeddings: np.ndarray) -> str:
    """sha256 of the array's shape, dtype and bytes (~0.3 s for 100 k x 384 float32)."""
    digest = hashlib.sha256(json.dumps([list(embeddings.shape), str(embeddings.dtype)]).encode())
    digest.update(np.ascontiguousarray(embeddings).data)
    return digest.hexdigest()[:16]


def compute_embedding_map(embeddings: np.ndarray, *, cache: DatasetCache | None = None, **settings) -> EmbeddingMap:
    """UMAP 2-D coordinates and HDBSCAN clusters of ``embeddings`` (n, dim), seeded and cached.

    ``settings`` are :class:`MapParams`' fields (``seed``, ``max_points``, ``pca_dims``, ``n_neighbors``,
    ``min_dist``, ``n_epochs``, ``min_cluster_size``), defaults there. ``n_epochs`` None picks 100 epochs past 10 k points and 300 below (umap-learn: 200 / 500);
    ``min_cluster_size`` None picks max(10, m // 200) points. HDBSCAN runs on the 2-D layout, which is what
    the page shows, so the clusters match what the eye sees. A pool with fewer than 4 rows gets a trivial map.
    """
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2:
        raise EudsInputError(f"embeddings must be a (rows, dim) array, got shape {embeddings.shape}")
    if not np.all(np.isfinite(embeddings)):
        raise EudsInputError("embeddings contain NaN or infinite values; recompute them")
    params = MapParams(**settings)  # the settings and their defaults, written once
    if params.max_points < 4:
        raise EudsInputError("max_points must be at least 4")
    path = None if cache is None else map_path(cache, params, embeddings)
    if path is not None:
        packed = load_array(path)
        if packed is not None:
            return _unpack(packed, len(embeddings))
    emap = _compute(embeddings, params)
    if path is not None:
        save_array(path, _pack(emap))
    return emap


def map_path(cache: DatasetCache, params: MapParams, embeddings: np.ndarray) -> Path:
    key = params_hash({**asdict(params), "embeddings": embeddings_fingerprint(embeddings)})
    return cache.root / "maps" / f"map-{key}.npy"


def cached_embedding_map(embeddings: np.ndarray, cache: DatasetCache, *, seed: int = 0) -> EmbeddingMap | None:
    """The map :func:`compute_embedding_map` (default parameters) cached for ``embeddings``, or None: for pages,
    which never compute one themselves (a background ``map`` job does)."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    packed = load_array(map_path(cache, MapParams(seed=seed), embeddings))
    return None if packed is None else _unpack(packed, len(embeddings))


def _compute(embeddings: np.ndarray, p: MapParams) -> EmbeddingMap:
    n = len(embeddings)
    rng = np.random.default_rng(p.seed)
    rows = np.sort(rng.choice(n, p.max_points, replace=False)) if n > p.max_points else np.arange(n)  # (m,)
    x = embeddings[rows]  # (m, dim)
    m = len(rows)
    if m < 4:  # too few points for a neighbour graph: a line, one cluster
        coords = np.stack([np.arange(m, dtype=np.float32), np.zeros(m, dtype=np.float32)], axis=1)
        return EmbeddingMap(rows.astype(np.int64), coords, np.zeros(m, dtype=np.int32), n)
    x = reduce_dimensions(x, p.pca_dims, p.seed)  # (m, <= pca_dims)
    coords = umap_layout(x, seed=p.seed, n_neighbors=p.n_neighbors, min_dist=p.min_dist, n_epochs=p.n_epochs)  # (m, 2)
    clusters = hdbscan_clusters(coords, p.min_cluster_size or max(10, m // 200), seed=p.seed)
    return EmbeddingMap(rows.astype(np.int64), coords, clusters, n)


def reduce_dimensions(x: np.ndarray, dims: int, seed: int) -> np.ndarray:
    """PCA to ``dims`` components (randomised SVD) when the data has more; float32 (m, min(dim, dims))."""
    if x.shape[1] <= dims or len(x) <= dims:
        return x
    from sklearn.decomposition import PCA

    return PCA(n_components=dims, svd_solver="randomized", random_state=seed).fit_transform(x).astype(np.float32)


def umap_layout(
    x: np.ndarray, *, seed: int, n_neighbors: int = 15, min_dist: float = 0.1, n_epochs: int | None = None
) -> np.ndarray:
    """(m, 2) float32 UMAP coordinates with fewer epochs than umap-learn's defaults (spectral initialisation).

    Seeded, so umap-learn runs its layout single-threaded; on 2 cores that cost little (measured), and a PCA
    initialisation was no faster once compiled.
    """
    import warnings

    import umap

    m = len(x)
    epochs = n_epochs or (100 if m > 10_000 else 300)
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=min(n_neighbors, m - 1),
        min_dist=min_dist,
        n_epochs=epochs,
        init="spectral" if m > n_neighbors + 1 else "random",
        random_state=seed,
        low_memory=True,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*random_state.*")  # "n_jobs overridden by setting random_state"
        return reducer.fit_transform(x).astype(np.float32)


def hdbscan_clusters(
    coords: np.ndarray, min_cluster_size: int, *, seed: int = 0, max_points: int = HDBSCAN_MAX_POINTS
) -> np.ndarray:
    """(m,) int32 HDBSCAN labels of the 2-D points (sklearn.cluster.HDBSCAN), -1 = noise.

    HDBSCAN's cost grows fast with m and with ``min_samples`` (which defaults to ``min_cluster_size``): on
    100 k points with min_cluster_size 500 it took ~75 s here. So it runs with ``min_samples`` 10 on a seeded
    sample of at most ``max_points`` points (the cluster size scaled down with it), and every other point takes
    the label of its nearest sampled point in the map (a k-d tree query).
    """
    from sklearn.cluster import HDBSCAN
    from sklearn.neighbors import KDTree

    m = len(coords)
    fit_rows = (
        np.sort(np.random.default_rng(seed).choice(m, max_points, replace=False)) if m > max_points else np.arange(m)
    )
    size = max(2, min(int(round(min_cluster_size * len(fit_rows) / m)), len(fit_rows)))
    fitted = HDBSCAN(min_cluster_size=size, min_samples=min(HDBSCAN_MIN_SAMPLES, size), copy=True).fit_predict(
        coords[fit_rows]
    )
    if len(fit_rows) == m:
        return fitted.astype(np.int32)
    nearest = KDTree(coords[fit_rows]).query(coords, k=1, return_distance=False)[:, 0]  # (m,)
    return fitted[nearest].astype(np.int32)


def _pack(emap: EmbeddingMap) -> np.ndarray:
    """(m, 4) float64: row, x, y, cluster (one array, so one atomic checksummed file)."""
    return np.column_stack([emap.rows, emap.coords.astype(np.float64), emap.clusters]).astype(np.float64)


def _unpack(packed: np.ndarray, n_rows: int) -> EmbeddingMap:
    return EmbeddingMap(
        packed[:, 0].astype(np.int64), packed[:, 1:3].astype(np.float32), packed[:, 3].astype(np.int32), n_rows
    )
