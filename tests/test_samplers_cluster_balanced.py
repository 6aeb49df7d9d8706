import numpy as np

from euds_core.selection.samplers import get_sampler
from euds_core.selection.samplers.cluster_balanced import round_robin


def test_round_robin_takes_equal_shares():
    groups = np.array([0] * 6 + [1] * 3 + [2] * 1)
    picks = round_robin(groups, 7, seed=0)
    counts = np.bincount(groups[picks], minlength=3)
    assert counts.tolist() == [3, 3, 1]  # 7 picks: group 2 runs out at 1, the others share the rest equally
    assert len(set(picks.tolist())) == 7
    first_round = groups[picks[:3]]
    assert sorted(first_round.tolist()) == [0, 1, 2]  # every prefix is balanced
    assert round_robin(groups, 10, seed=0).tolist() != round_robin(groups, 10, seed=1).tolist()


def test_balances_kmeans_clusters_and_given_groups():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8))
    groups = np.repeat(np.arange(3), [60, 30, 10])
    emb = centres[groups] + 0.05 * rng.normal(size=(100, 8))
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    picks = get_sampler("cluster_balanced", {"k": 3}).sample(30, embeddings=emb)
    assert np.bincount(groups[picks], minlength=3).tolist() == [10, 10, 10]
    by_label = get_sampler("cluster_balanced").sample(12, groups=groups)
    assert np.bincount(groups[by_label], minlength=3).tolist() == [4, 4, 4]


def test_hdbscan_finds_the_blobs_or_falls_back():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 8)) * 5
    groups = np.repeat(np.arange(3), 30)
    emb = (centres[groups] + 0.1 * rng.normal(size=(90, 8))).astype(np.float32)
    picks = get_sampler("cluster_balanced", {"method": "hdbscan"}).sample(9, embeddings=emb)
    assert np.bincount(groups[picks], minlength=3).tolist() == [3, 3, 3]
    flat = np.zeros((20, 8), dtype=np.float32)  # no structure: HDBSCAN finds < 2 clusters -> k-means fallback
    assert len(get_sampler("cluster_balanced", {"method": "hdbscan"}).sample(5, embeddings=flat + 1)) == 5
