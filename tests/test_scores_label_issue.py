"""The confident-learning label-issue score (cleanlab on the cross-fitted proxy's probabilities)."""

import numpy as np
import pandas as pd

from euds_core.scores import get_scorer_class
from euds_core.scores.classifier import crossfit_probabilities
from euds_core.scores.label_issues import LabelIssueScorer, label_issue_flags, label_issue_scores


def _three_clusters_with_flips(n=300, flips=15, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.normal(0, 1.0, size=(n, 8))
    x[np.arange(n), y] += 4.0  # each class well separated along its own axis
    noisy = y.copy()
    flipped = rng.choice(n, flips, replace=False)
    noisy[flipped] = (y[flipped] + 1) % 3
    return x, noisy, flipped


def test_flipped_labels_score_highest_and_are_flagged():
    from sklearn.metrics import roc_auc_score

    x, y, flipped = _three_clusters_with_flips()
    probs = crossfit_probabilities(x, y, 3, folds=5, c=0.1, seed=0)
    values = label_issue_scores(probs, y)
    truth = np.isin(np.arange(len(y)), flipped)
    assert values.dtype == np.float32 and np.all((values >= 0) & (values <= 1))
    assert roc_auc_score(truth, values) > 0.95
    flags = label_issue_flags(probs, y)
    assert truth[flags].mean() > 0.8 and flags[truth].mean() > 0.8  # precision and recall of cleanlab's filter


def test_scorer_is_registered_refits_on_fit_rows_and_records_its_identity():
    texts = ["red sun hot", "red sun fire", "sun red warm", "blue moon cold", "moon blue sea", "blue ice moon"] * 5
    labels = (["warm"] * 3 + ["cool"] * 3) * 5
    table = pd.DataFrame({"text": texts, "label": labels})
    assert get_scorer_class("label_issue") is LabelIssueScorer
    pool = np.arange(24)
    values = LabelIssueScorer(encoder="hashing", fit_rows=pool).score(table)
    assert values.shape == (30,) and np.all(np.isfinite(values))
    # Labels outside fit_rows reach no model: changing them leaves every pool row's score as it was.
    other = table.copy()
    other.loc[24:, "label"] = "warm"
    again = LabelIssueScorer(encoder="hashing", fit_rows=pool).score(other)
    np.testing.assert_array_equal(values[pool], again[pool])
    params = LabelIssueScorer(encoder="hashing", fit_rows=pool).params()
    assert params["method"] == "self_confidence" and params["cleanlab"] and params["fit_rows"]
