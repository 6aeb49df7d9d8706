import numpy as np
import pandas as pd

from euds_core.scores.el2n import EL2NScorer
from tests.test_scores_classifier import _clusters_with_a_flipped_label


def el2n_errors(x, y, n_classes, **settings):
    return EL2NScorer(encoder="hashing", **settings).errors(x, y, n_classes)


def test_untrained_head_gives_the_uniform_error_norm():
    # No training (checkpoint 0 epochs, tiny init): softmax ~ (1/2, 1/2), so ||p - onehot|| = sqrt(1/2).
    x, y = _clusters_with_a_flipped_label()
    values = el2n_errors(x, y, 2, epochs=0)
    np.testing.assert_allclose(values, np.sqrt(0.5), atol=0.01)
    # Three classes: sqrt((2/3)^2 + 2 (1/3)^2) = sqrt(2/3).
    np.testing.assert_allclose(el2n_errors(x, np.arange(len(y)) % 3, 3, epochs=0), np.sqrt(2 / 3), atol=0.01)


def test_mislabelled_row_has_the_largest_error():
    x, y = _clusters_with_a_flipped_label()
    for folds in (5, 0):  # cross-fitted (default) and the paper's in-sample variant
        values = el2n_errors(x, y, 2, folds=folds)
        assert values.argmax() == 0
        assert np.all((values >= 0) & (values <= np.sqrt(2)))


def test_seeded_and_params_record_seeds_and_checkpoint():
    x, y = _clusters_with_a_flipped_label()
    np.testing.assert_array_equal(el2n_errors(x, y, 2, seed=3), el2n_errors(x, y, 2, seed=3))
    assert not np.array_equal(el2n_errors(x, y, 2, seeds=1, seed=3), el2n_errors(x, y, 2, seeds=1, seed=4))
    params = EL2NScorer(encoder="hashing").params()
    assert params["seeds"] == 5 and params["checkpoint_epochs"] == 2 and params["folds"] == 5


def test_scorer_on_a_table():
    texts = ["red sun", "red sun moon", "sun red red", "blue moon", "moon blue sea", "blue blue moon"] * 2
    table = pd.DataFrame({"text": texts, "label": (["warm"] * 3 + ["cool"] * 3) * 2})
    values = EL2NScorer(encoder="hashing").score(table)
    assert values.shape == (12,) and values.dtype == np.float32 and np.all(np.isfinite(values))
