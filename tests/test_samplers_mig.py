import numpy as np
import pytest

from euds_core.errors import EudsInputError
from euds_core.selection.samplers import get_sampler
from euds_core.selection.samplers.mig import (
    label_graph,
    mig_greedy,
    propagation_matrix,
    soft_cluster_weights,
    tags_to_weights,
)

# Five points, three labels A, B, C. Labels A and B are similar (cos .95 >= .9), C stands alone:
W = np.array([[1.0, 0.95, 0.0], [0.95, 1.0, 0.0], [0.0, 0.0, 1.0]])
LABELS = np.array(
    [
        [1, 0, 0],  # p0: A, quality 1.0
        [1, 0, 0],  # p1: A, quality 0.5
        [0, 1, 0],  # p2: B, quality 0.8
        [0, 0, 1],  # p3: C, quality 0.6
        [1, 0, 1],  # p4: A and C (each gets half), quality 0.9
    ]
)
QUALITY = np.array([1.0, 0.5, 0.8, 0.6, 0.9])


def test_five_point_greedy_order_by_hand():
    # P = W / colsum(W): columns A and B are divided by 1.95. A row's information is u P, u = q * labels / #labels:
    #   p0 [.5128, .4872, 0]   p1 [.2564, .2436, 0]   p2 [.3897, .4103, 0]   p3 [0, 0, .6]   p4 [.2308, .2192, .45]
    # phi'(x) = .8 (x + 1e-6)^-.2.
    # Step 1, x = 0: the gradient is the same on every label, so the gain is the row sum = quality: p0 (1.0).
    # Step 2, x = [.5128, .4872, 0], grad = [.9143, .9237, 12.68]: gains p1 .459, p2 .735, p3 7.61, p4 6.12 -> p3.
    # Step 3, x = [.5128, .4872, .6], grad_C = .8 * .6^-.2 = .8861: p4 .4135 + .45 * .8861 = .812 > p2 .735 -> p4.
    # Step 4, x = [.7436, .7064, 1.05], grad = [.8488, .8576, .]: p2 .683 > p1 .427 -> p2, then p1.
    order = mig_greedy(LABELS, W, 5, quality=QUALITY)
    assert order.tolist() == [0, 3, 4, 2, 1]
    p = propagation_matrix(W)
    np.testing.assert_allclose(p.sum(axis=0), 1.0)
    np.testing.assert_allclose(p[0], [1 / 1.95, 0.95 / 1.95, 0.0])


def test_gains_match_the_dense_formula():
    # The incremental gain update equals recomputing u P . grad Phi(x) from scratch at every step.
    rng = np.random.default_rng(0)
    weights = rng.random((40, 6)) * (rng.random((40, 6)) < 0.4) + np.eye(6)[rng.integers(6, size=40)]
    adjacency = label_graph(_unit(rng.normal(size=(6, 4))), threshold=0.3)
    quality = rng.random(40)
    u = weights / weights.sum(axis=1, keepdims=True) * quality[:, None]
    info = u @ propagation_matrix(adjacency)
    x, free, expected = np.zeros(6), np.ones(40, dtype=bool), []
    for _ in range(15):
        gains = np.where(free, info @ (0.8 * (x + 1e-6) ** -0.2), -np.inf)
        i = int(np.argmax(gains))
        expected.append(i)
        x += info[i]
        free[i] = False
    assert mig_greedy(weights, adjacency, 15, quality=quality).tolist() == expected


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_label_graph_threshold_and_knn():
    emb = _unit(np.array([[1.0, 0.0], [0.99, 0.14], [0.0, 1.0]]))  # labels 0 and 1: cos .99
    w = label_graph(emb, threshold=0.9)
    assert w[0, 1] == pytest.approx(0.99, abs=1e-3) and w[0, 2] == 0.0 and np.all(np.diag(w) == 1.0)
    w_knn = label_graph(emb, knn=1)
    assert w_knn[2, 1] > 0 and w_knn[1, 2] > 0  # 2's nearest is 1, symmetrised
    assert w_knn[0, 2] == 0.0


def test_soft_weights_and_tags():
    centroids = np.eye(3)
    weights = soft_cluster_weights(np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0]]), centroids, top_m=2, tau=0.05)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert weights[0, 2] == 0.0 and weights[1, 1] > weights[1, 0] > 0  # only the top-2 clusters get weight
    multi, names = tags_to_weights([["x", "y"], "y", ("z",)])
    assert names == ["x", "y", "z"] and multi.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_sampler_spreads_over_clusters_and_validates():
    rng = np.random.default_rng(0)
    centres = _unit(rng.normal(size=(4, 8)))
    groups = np.repeat(np.arange(4), [40, 20, 10, 5])
    emb = _unit(centres[groups] + 0.05 * rng.normal(size=(75, 8))).astype(np.float32)
    picks = get_sampler("mig", {"k": 4}).sample(8, embeddings=emb)
    assert len(set(picks.tolist())) == 8
    assert set(groups[picks[:4]].tolist()) == {0, 1, 2, 3}  # diminishing returns: every cluster before a repeat
    tagged = get_sampler("mig").sample(4, embeddings=emb, groups=groups.tolist())
    assert set(groups[tagged].tolist()) == {0, 1, 2, 3}
    with pytest.raises(EudsInputError, match="non-negative"):
        get_sampler("mig").sample(3, embeddings=emb, score=-np.ones(75))
    with pytest.raises(EudsInputError, match="needs embeddings"):
        get_sampler("mig").sample(3)
