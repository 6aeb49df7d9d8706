import numpy as np
import pytest

from euds_core.errors import EudsInputError
from euds_core.selection import embed_map
from euds_core.selection.embed_map import compute_embedding_map
from euds_core.storage.cache import DatasetCache


def three_blobs(n_per: int = 40, dim: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=6.0, size=(3, dim))
    labels = np.repeat(np.arange(3), n_per)
    return (centers[labels] + rng.normal(size=(len(labels), dim))).astype(np.float32), labels


def test_map_shapes_and_clusters_follow_blobs():
    x, labels = three_blobs()
    emap = compute_embedding_map(x, seed=0, min_cluster_size=10)
    assert emap.coords.shape == (120, 2) and emap.coords.dtype == np.float32
    assert np.array_equal(emap.rows, np.arange(120)) and not emap.sampled
    assert np.all(np.isfinite(emap.coords))
    assert emap.n_clusters == 3
    # Each blob lands in one HDBSCAN cluster (noise aside).
    for blob in range(3):
        found = emap.clusters[(labels == blob) & (emap.clusters >= 0)]
        assert len(np.unique(found)) == 1


def test_same_seed_same_map_and_cache_hit(monkeypatch):
    x, _ = three_blobs()
    cache = DatasetCache("map-test")
    first = compute_embedding_map(x, seed=3, cache=cache)
    monkeypatch.setattr(embed_map, "_compute", lambda *a, **k: pytest.fail("recomputed despite the cache"))
    second = compute_embedding_map(x, seed=3, cache=cache)
    np.testing.assert_allclose(first.coords, second.coords)
    assert np.array_equal(first.clusters, second.clusters) and np.array_equal(first.rows, second.rows)
    assert list((cache.root / "maps").glob("map-*.npy"))


def test_changed_embeddings_miss_the_cache():
    x, _ = three_blobs()
    cache = DatasetCache("map-test")
    compute_embedding_map(x, seed=0, cache=cache)
    compute_embedding_map(x + 1.0, seed=0, cache=cache)
    assert len(list((cache.root / "maps").glob("map-*.npy"))) == 2


def test_downsampling_past_max_points():
    x, _ = three_blobs(n_per=50)
    emap = compute_embedding_map(x, seed=0, max_points=60)
    assert emap.sampled and emap.n_rows == 150 and len(emap.rows) == 60
    assert len(np.unique(emap.rows)) == 60 and np.all(np.diff(emap.rows) > 0)


def test_tiny_pool_gets_a_trivial_map():
    emap = compute_embedding_map(np.eye(3, dtype=np.float32), seed=0)
    assert emap.coords.shape == (3, 2) and emap.n_clusters == 1


def test_bad_input_is_input_error():
    with pytest.raises(EudsInputError, match="rows, dim"):
        compute_embedding_map(np.zeros(5), seed=0)
    with pytest.raises(EudsInputError, match="NaN"):
        compute_embedding_map(np.full((5, 3), np.nan), seed=0)


def test_hdbscan_on_a_sample_labels_every_point_by_its_nearest():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0]])
    blob = np.repeat(np.arange(3), 200)
    coords = (centres[blob] + rng.normal(size=(600, 2))).astype(np.float32)
    labels = embed_map.hdbscan_clusters(coords, 30, seed=0, max_points=150)
    assert labels.shape == (600,) and len(np.unique(labels[labels >= 0])) == 3
    for b in range(3):
        assert len(np.unique(labels[(blob == b) & (labels >= 0)])) == 1
