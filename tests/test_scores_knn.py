import numpy as np
import pandas as pd
import pytest

from euds_core.scores.knn import KNNDistanceScorer, knn_cosine_distance, nearest_neighbours

# Four unit vectors in 2-D: e2 duplicates e0; cosines e0.e1 = 0, e0.e3 = .6, e1.e3 = .8.
E = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.6, 0.8]], dtype=np.float32)


def test_nearest_neighbours_hand_example():
    idx, sims = nearest_neighbours(E, 2)
    np.testing.assert_array_equal(idx, [[2, 3], [3, 0], [0, 3], [1, 0]])  # ties (e3: .6 twice) -> lower index
    np.testing.assert_allclose(sims, [[1, 0.6], [0.8, 0], [1, 0.6], [0.8, 0.6]], atol=1e-6)


def test_knn_distance_hand_values():
    # Mean cosine distance to the 2 nearest: e0 1 - (1 + .6)/2 = .2; e1 1 - (.8 + 0)/2 = .6; e3 1 - (.8 + .6)/2 = .3
    np.testing.assert_allclose(knn_cosine_distance(E, 2), [0.2, 0.6, 0.2, 0.3], atol=1e-6)
    assert knn_cosine_distance(E[:1], 10).tolist() == [0.0]  # a lone sample has no neighbour
    assert knn_cosine_distance(E, 10).shape == (4,)  # k above n - 1 is capped


def test_blocks_give_the_same_answer(monkeypatch):
    from euds_core.scores import knn

    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 6)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    whole = nearest_neighbours(x, 5)
    monkeypatch.setattr(knn, "BLOCK_ROWS", 7)
    blocked = nearest_neighbours(x, 5)
    np.testing.assert_array_equal(whole[0], blocked[0])
    # Against brute force: sort every row of the full similarity matrix.
    full = x @ x.T
    np.fill_diagonal(full, -np.inf)
    np.testing.assert_allclose(whole[1], -np.sort(-full, axis=1)[:, :5], atol=1e-6)


def test_scorer_isolated_text_scores_highest():
    table = pd.DataFrame({"text": ["the cat sat", "the cat sat down", "the cat sat up", "quantum flux capacitor"]})
    values = KNNDistanceScorer(encoder="hashing", k=2).score(table)
    assert values.dtype == np.float32 and values.argmax() == 3
    assert KNNDistanceScorer(encoder="hashing").params() == {"encoder": "hashing", "k": 10, "precision": "fp32"}


@pytest.mark.slow  # pynndescent compiles with numba on first use (~20 s)
def test_approximate_index_agrees_with_exact():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(5, 16))
    x = (centres[rng.integers(5, size=300)] + 0.1 * rng.normal(size=(300, 16))).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    exact = knn_cosine_distance(x, 10)
    idx, sims = nearest_neighbours(x, 10, exact_limit=0)
    assert idx.shape == (300, 10) and not np.any(idx == np.arange(300)[:, None])
    np.testing.assert_allclose(1 - sims.mean(axis=1), exact, atol=0.02)
