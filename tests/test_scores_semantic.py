import numpy as np
import pandas as pd
import pytest

from euds_core.models.embeddings import hashing_embed
from euds_core.scores.semantic import SemanticScorer, soft_assignment_entropy
from euds_core.storage.cache import DatasetCache
from tests.helpers import requires_assets


def test_soft_assignment_entropy_hand_checked():
    centroids = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    on_topic = np.array([[1.0, 0.0]], dtype=np.float32)
    between = np.array([[np.sqrt(0.5), np.sqrt(0.5)]], dtype=np.float32)
    # equidistant from both centroids -> uniform q -> exactly 1 (normalised by log K)
    assert soft_assignment_entropy(between, centroids, tau=0.05)[0] == pytest.approx(1.0)
    # cos 1 vs 0 at tau 0.5: q = softmax([2, 0]) = (0.8808, 0.1192) -> 0.5271 of log 2
    q1 = 1 / (1 + np.exp(-2.0))
    expected = -(q1 * np.log(q1) + (1 - q1) * np.log(1 - q1)) / np.log(2)
    assert expected == pytest.approx(0.5271, abs=1e-4)
    assert soft_assignment_entropy(on_topic, centroids, tau=0.5)[0] == pytest.approx(expected, rel=1e-5)


def test_temperature_spreads_entropy():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(200, 8)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    cent = emb[:4]
    hot, cold = soft_assignment_entropy(emb, cent, 1.0), soft_assignment_entropy(emb, cent, 0.02)
    assert hot.mean() > cold.mean()
    assert (hot >= 0).all() and (hot <= 1).all()


def test_the_mean_of_several_k_means_fits_depends_less_on_the_seed():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 32))
    emb = centres[rng.integers(0, 6, 600)] + rng.normal(scale=1.2, size=(600, 32))  # overlapping topics
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)

    def entropy(seed: int, n_fits: int) -> np.ndarray:
        scorer = SemanticScorer(seed=seed, n_fits=n_fits)
        return scorer.entropy(emb, scorer.centroid_sets(emb))

    one_fit = spearmanr(entropy(0, 1), entropy(100, 1))[0]
    eight_fits = spearmanr(entropy(0, 8), entropy(100, 8))[0]
    assert eight_fits > one_fit + 0.2, (one_fit, eight_fits)
    assert SemanticScorer().params()["n_fits"] == 32 and SemanticScorer(n_fits=1).params() != SemanticScorer().params()


def test_scorer_deterministic_and_in_range():
    texts = [f"topic {'sport' if i % 2 else 'money'} word{i % 7} extra{i % 3}" for i in range(60)]
    table = pd.DataFrame({"text": texts})
    a = SemanticScorer(encoder="hashing", k=4).score(table)
    b = SemanticScorer(encoder="hashing", k=4).score(table)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1 and a.std() > 0


def test_fewer_distinct_points_than_k_is_fine():
    table = pd.DataFrame({"text": ["same text"] * 5 + ["other words"] * 5})
    values = SemanticScorer(encoder="hashing", k=16).score(table)
    assert values.shape == (10,) and np.isfinite(values).all()


def test_hashing_embeddings_are_unit_length():
    emb = hashing_embed(["a b c", "hello"])
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-6)


@pytest.mark.slow
@requires_assets
def test_real_encoder_embeddings_cached_and_topical():
    table = pd.DataFrame(
        {
            "text": [
                "The striker scored twice in the cup final.",
                "Shares fell as the bank cut its forecast.",
                "The goalkeeper saved a penalty.",
            ]
            * 10
        }
    )
    cache = DatasetCache("semtest")
    values = SemanticScorer(k=2).score(table, cache=cache)
    assert values.shape == (30,) and np.isfinite(values).all()
    assert any((cache.root / "features").iterdir())  # the embeddings were cached for reuse
