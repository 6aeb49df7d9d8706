import numpy as np
import pandas as pd
import pytest

from euds_core.errors import EudsInputError
from euds_core.scores import classifier
from euds_core.scores.classifier import (
    ClassifierEntropyScorer,
    LeastConfidenceScorer,
    MarginScorer,
    crossfit_probabilities,
    encode_labels,
    uncertainty_table,
)
from euds_core.storage.cache import DatasetCache


def test_uncertainty_hand_values():
    table = uncertainty_table(np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.7, 0.2, 0.1]]))
    entropy_3 = -(0.7 * np.log(0.7) + 0.2 * np.log(0.2) + 0.1 * np.log(0.1))  # 0.8018 nats
    np.testing.assert_allclose(table[:, 0], [np.log(2), 0.0, entropy_3], atol=1e-6)  # entropy (nats)
    np.testing.assert_allclose(table[:, 1], [0.5, 0.0, 0.3], atol=1e-6)  # 1 - p_max
    np.testing.assert_allclose(table[:, 2], [1.0, 0.0, 0.5], atol=1e-6)  # 1 - (p1 - p2)


def _clusters_with_a_flipped_label(dim=40, per_class=12, seed=0):
    """Two tight clusters in more dimensions than samples (a model that saw a row can memorise it)."""
    rng = np.random.default_rng(seed)
    centre = rng.normal(size=(2, dim))
    y = np.repeat([0, 1], per_class)
    x = centre[y] + 0.3 * rng.normal(size=(len(y), dim))
    y_noisy = y.copy()
    y_noisy[0] = 1  # row 0 sits in cluster 0 but is labelled 1
    return x, y_noisy


def test_cross_fitting_scores_each_row_with_a_model_that_did_not_see_it():
    from sklearn.linear_model import LogisticRegression

    from euds_core.scores.classifier import standardise

    x, y = _clusters_with_a_flipped_label()
    in_sample = LogisticRegression(C=100.0, max_iter=2000).fit(standardise(x), y).predict_proba(standardise(x))
    assert in_sample[0, 1] > 0.9  # a model that saw row 0 has memorised its wrong label ...
    out_of_fold = crossfit_probabilities(x, y, 2, folds=4, c=100.0)
    assert out_of_fold[0, 1] < 0.5  # ... the cross-fitted one has not
    np.testing.assert_allclose(out_of_fold.sum(axis=1), 1.0)


def test_labels_need_two_classes():
    with pytest.raises(EudsInputError, match="two different labels"):
        encode_labels(["a", "a", "a"])
    assert encode_labels(["b", "a", "b"])[0].tolist() == [1, 0, 1]


def test_three_scores_share_one_cached_pass(monkeypatch):
    texts = ["red sun", "red sun moon", "sun red red", "blue moon", "moon blue sea", "blue blue moon"] * 2
    table = pd.DataFrame({"text": texts, "label": (["warm"] * 3 + ["cool"] * 3) * 2})
    cache = DatasetCache("clf-test")
    ent = ClassifierEntropyScorer(encoder="hashing").score(table, cache=cache)
    monkeypatch.setattr(classifier, "crossfit_probabilities", lambda *a, **k: pytest.fail("second proxy pass"))
    lc = LeastConfidenceScorer(encoder="hashing").score(table, cache=cache)
    margin = MarginScorer(encoder="hashing").score(table, cache=cache)
    for values in (ent, lc, margin):
        assert values.shape == (12,) and values.dtype == np.float32 and np.all(np.isfinite(values))
    assert np.all(ent <= np.log(2) + 1e-6) and np.all(lc <= 0.5 + 1e-6) and np.all(margin <= 1 + 1e-6)
    # The three orderings agree for two classes (all are monotone in p_max).
    np.testing.assert_array_equal(np.argsort(lc, kind="stable"), np.argsort(margin, kind="stable"))
