"""Label issues by confident learning (Northcutt et al. 2021), from the maintained ``cleanlab`` package.

The predicted probabilities are the cross-fitted proxy classifier's (logistic regression on the cached
encoder embeddings, K = 5 stratified folds; :func:`euds_core.scores.classifier.crossfit_probabilities`), so no
row is judged by a model that saw its label. cleanlab's ``get_label_quality_scores`` (self-confidence: the
out-of-fold probability of the given label, the ranking its ``find_label_issues`` uses by default) turns them
into a quality in [0, 1]; the score is ``1 - quality``, so higher = more likely mislabelled, like every score
here ("higher = harder / more unusual").

``fit_rows`` as for el2n: a grid or search fits the folds on the pool only; other rows get the mean
probabilities of the K fold models and are scored against their own label, which no model read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from euds_core.scores.classifier import CrossFittedProxyScorer, crossfit_probabilities, encode_labels


def label_issue_scores(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(n,) 1 - cleanlab's self-confidence label quality of each row's given label ``y`` under ``probs``."""
    from cleanlab.rank import get_label_quality_scores

    p = np.clip(probs, 1e-12, 1.0)
    p = p / p.sum(axis=1, keepdims=True)
    quality = get_label_quality_scores(y, p, method="self_confidence")
    return (1.0 - quality).astype(np.float32)


def label_issue_flags(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(n,) bool: rows cleanlab's ``find_label_issues`` flags (confident joint, prune by noise rate)."""
    from cleanlab.filter import find_label_issues

    p = np.clip(probs, 1e-12, 1.0)
    return np.asarray(find_label_issues(y, p / p.sum(axis=1, keepdims=True)), dtype=bool)


class LabelIssueScorer(CrossFittedProxyScorer):
    """1 - the confident-learning label quality (cleanlab, self-confidence) of a row's label; range [0, 1].

    Higher = the cross-fitted proxy gives the row's own label little probability: a likely label error
    (or an ambiguous row). Defaults: logistic regression, C = 0.1, K = 5 folds, seed 0 (classifier.py).
    """

    name = "label_issue"
    unit = "1 - label quality"
    description = "confident learning (cleanlab): 1 - self-confidence of the given label, cross-fitted proxy"

    def proxy_settings(self) -> dict:
        from importlib.metadata import version

        return {**super().proxy_settings(), "method": "self_confidence", "cleanlab": version("cleanlab")}

    def score(self, table: pd.DataFrame, **context) -> np.ndarray:
        emb = self.embed(table, **context)
        y, n_classes = encode_labels(table["label"])
        probs = crossfit_probabilities(
            emb, y, n_classes, folds=self.folds, c=self.c, seed=self.seed, fit_rows=self.fit_rows
        )
        return label_issue_scores(probs, y)
