"""Uncertainty of a cross-fitted proxy classifier: predictive entropy, least confidence and margin.

The proxy is a logistic regression on frozen encoder embeddings, not a short fine-tune of the encoder: on
2 CPU threads a 1-epoch MiniLM fine-tune of 1,600 docs took 137 s (docs/data-and-models.md) and K-fold cross-fitting
multiplies that by K, while K logistic regressions on cached embeddings take about a second for a few
thousand rows. The linear probe sees the same representation a fine-tune starts from, so it ranks the
ambiguous samples similarly; it is weaker on samples only a tuned encoder would separate.

Cross-fitting: the dataset's rows (``fit_rows`` when given) are split into K stratified folds; each sample is scored by the model trained on the
other K - 1 folds, so no sample is scored by a model that saw its label. One pass yields all three scores;
the (n, 3) result is cached per dataset.

``fit_rows``: when the score drives a fine-tune grid or a search, the proxies fit on those rows only (the
pool, or the pool minus validation; see ``euds_core/experiments/splits.py``). Rows outside are scored by the
mean of the K fold models, so no label outside ``fit_rows`` reaches any model. A digest of the rows is part
of the cache key.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError
from euds_core.models.embeddings import encoder_id
from euds_core.models.loading import DEFAULT_ENCODER
from euds_core.scores.base import EmbeddingScorer, rows_digest
from euds_core.storage.cache import DatasetCache, load_array, save_array


def encode_labels(labels) -> tuple[np.ndarray, int]:
    """(class index per row, number of classes); refuses rows with fewer than two classes."""
    classes, y = np.unique(np.asarray(labels).astype(str), return_inverse=True)
    if len(classes) < 2:
        raise EudsInputError("a proxy classifier needs at least two different labels; check --label-col")
    return y.astype(np.int64), len(classes)


def standardise(features: np.ndarray, fit_rows: np.ndarray | None = None) -> np.ndarray:
    """Zero-mean, unit-variance columns, with the mean and spread of ``fit_rows`` (default: all rows), so rows
    outside them (a test split) do not shape the features the proxies learn from."""
    x = features.astype(np.float64)
    ref = x if fit_rows is None else x[fit_rows]
    std = ref.std(axis=0)
    return (x - ref.mean(axis=0)) / np.where(std > 1e-12, std, 1.0)


def fit_and_outside_rows(n: int, fit_rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(rows the proxies may fit on, the other rows), each sorted; ``None`` = every row."""
    if fit_rows is None:
        return np.arange(n), np.zeros(0, dtype=np.int64)
    inside = np.zeros(n, dtype=bool)
    inside[np.asarray(fit_rows, dtype=np.int64)] = True
    return np.flatnonzero(inside), np.flatnonzero(~inside)


def fold_count(y_fit: np.ndarray, folds: int) -> int:
    """K for stratified folds over labels ``y_fit``: ``folds``, lowered to the largest class's size and the row
    count when the rows are few (below 2 there is nothing to cross-fit)."""
    return int(min(folds, np.bincount(y_fit).max() if len(y_fit) else 0, len(y_fit)))


def stratified_fold_rows(
    y: np.ndarray, inside: np.ndarray, k: int, random_state: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train rows, held-out rows) of ``k`` shuffled stratified folds over the table rows ``inside`` only: the
    proxies' folds, so a row outside ``inside`` is in no fold and its label is never read."""
    from sklearn.model_selection import StratifiedKFold

    y_fit = y[inside]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "least populated class has only 1 member" on tiny datasets
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=random_state)
        # fold positions -> table rows; the features play no part in a stratified split, only the row count
        return [(inside[a], inside[b]) for a, b in splitter.split(np.zeros((len(y_fit), 1)), y_fit)]


def crossfit_probabilities(
    features: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    *,
    folds: int = 5,
    c: float = 0.1,
    seed: int = 0,
    fit_rows: np.ndarray | None = None,
) -> np.ndarray:
    """(n, n_classes) out-of-fold softmax probabilities of a logistic regression (stratified K folds, seeded).

    K is lowered to the size of the largest class when the rows are few. A class absent from a training fold
    gets probability 0 for that fold's samples. Only ``fit_rows`` (default: all) are folded and fitted; the
    other rows get the mean of the K fold models' probabilities, and their labels are never read.
    The result is kept in this process: classifier_entropy/margin and label_issue fit the same proxies.
    """
    import hashlib

    digest = hashlib.sha256()
    for part in (np.ascontiguousarray(features), np.asarray(y), np.sort(fit_rows) if fit_rows is not None else None):
        digest.update(b"-" if part is None else np.ascontiguousarray(part).tobytes() + str(part.dtype).encode())
    key = (digest.hexdigest(), features.shape, n_classes, folds, c, seed)
    if key not in _PROBABILITIES:
        while len(_PROBABILITIES) >= 16:
            _PROBABILITIES.pop(next(iter(_PROBABILITIES)))
        _PROBABILITIES[key] = fitted_probabilities(features, y, n_classes, folds, c, seed, fit_rows)
    return _PROBABILITIES[key].copy()


_PROBABILITIES: dict[tuple, np.ndarray] = {}  # crossfit_probabilities' results in this process (few, small)


def fitted_probabilities(features, y, n_classes, folds, c, seed, fit_rows) -> np.ndarray:
    """:func:`crossfit_probabilities` without the reuse."""
    from sklearn.linear_model import LogisticRegression

    n = len(y)
    inside, outside = fit_and_outside_rows(n, fit_rows)
    k = fold_count(y[inside], folds)
    if k < 2:
        raise EudsInputError("cross-fitting needs at least 2 samples of some label; add rows or use another score")
    x = standardise(features, inside)
    probs = np.zeros((n, n_classes), dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warnings on tiny, nearly one-class folds
        for train, test in stratified_fold_rows(y, inside, k, seed):
            classes = np.unique(y[train])
            if len(classes) == 1:  # nothing to learn: the fold's only class gets all the mass
                probs[np.ix_(test, classes)] = 1.0
                probs[np.ix_(outside, classes)] += 1.0 / k
                continue
            model = LogisticRegression(C=c, max_iter=500).fit(x[train], y[train])
            probs[np.ix_(test, model.classes_)] = model.predict_proba(x[test])
            if len(outside):
                probs[np.ix_(outside, model.classes_)] += model.predict_proba(x[outside]) / k
    return probs


def uncertainty_table(probs: np.ndarray) -> np.ndarray:
    """(n, 3) float32: predictive entropy (nats), least confidence 1 - p_max, and margin 1 - (p_1 - p_2)."""
    p = np.clip(probs, 0.0, 1.0)
    p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
    top2 = -np.sort(-p, axis=1)[:, :2]  # (n, 2)
    least_confidence = 1.0 - top2[:, 0]
    margin = 1.0 - (top2[:, 0] - top2[:, 1])
    return np.stack([entropy, least_confidence, margin], axis=1).astype(np.float32)


class CrossFittedProxyScorer(EmbeddingScorer):
    """Base of the scores read from proxies cross-fitted on the frozen embeddings of ``encoder`` and the labels
    (this file's three, el2n, label_issue): the proxies fit on ``fit_rows`` only (default: every row)."""

    abstract = True
    needs = frozenset({"text", "label"})

    def __init__(
        self,
        encoder: str = DEFAULT_ENCODER,
        folds: int = 5,
        c: float = 0.1,
        seed: int = 0,
        fit_rows: np.ndarray | None = None,
    ):
        self.encoder, self.folds, self.c, self.seed, self.fit_rows = encoder, folds, c, seed, fit_rows

    def proxy_settings(self) -> dict:
        """Everything besides the encoder, the embeddings' precision and ``fit_rows`` that shapes the output."""
        return {"folds": self.folds, "c": self.c, "seed": self.seed, "proxy": "logreg-v1"}

    def params(self) -> dict:
        params = {"encoder": encoder_id(self.encoder), **self.proxy_settings(), "precision": self.embedding_precision()}
        if self.fit_rows is not None:
            params["fit_rows"] = rows_digest(self.fit_rows)
        return params


class ClassifierEntropyScorer(CrossFittedProxyScorer):
    """Predictive entropy of a cross-fitted proxy classifier's softmax, in nats; range [0, ln C] for C classes.

    Higher = the proxy (logistic regression on frozen encoder embeddings, K = 5 folds) is less sure of the class.
    Regularisation C = 0.1 on standardised features: at C = 1 the out-of-fold NLL on 300 rotten_tomatoes rows was
    1.36 (over-confident) against 0.84 at C = 0.1, with the same accuracy (0.65).
    """

    name = "classifier_entropy"
    unit = "nats"
    description = "predictive entropy of a cross-fitted proxy classifier (logistic regression on embeddings)"
    column = 0  # which column of the shared pass this score reads

    def score(self, table: pd.DataFrame, *, cache: DatasetCache | None = None, **context) -> np.ndarray:
        return self.uncertainty(table, cache, context)[:, self.column].astype(np.float32)

    def uncertainty(self, table: pd.DataFrame, cache: DatasetCache | None, context: dict) -> np.ndarray:
        """Cached (n_rows, 3) [entropy, least confidence, margin] of the proxy: one pass for the three scores
        (their params are the same, so the three share one cached array)."""
        path = cache.feature_dir("classifier_uncertainty", self.params()) / "all.npy" if cache is not None else None
        done = load_array(path) if path is not None else None
        if done is not None and len(done) == len(table):
            return done
        emb = self.embed(table, cache=cache, **context)
        y, n_classes = encode_labels(table["label"])
        probs = crossfit_probabilities(
            emb, y, n_classes, folds=self.folds, c=self.c, seed=self.seed, fit_rows=self.fit_rows
        )
        values = uncertainty_table(probs)
        if path is not None:
            save_array(path, values)
        return values


class LeastConfidenceScorer(ClassifierEntropyScorer):
    """1 - max_k p_k of the cross-fitted proxy classifier, in [0, 1 - 1/C]; unitless. Higher = less confident."""

    name = "least_confidence"
    unit = "probability"
    description = "1 - top class probability of the cross-fitted proxy classifier (same pass as classifier_entropy)"
    column = 1


class MarginScorer(ClassifierEntropyScorer):
    """1 - (p_top1 - p_top2) of the cross-fitted proxy classifier, in [0, 1]; unitless.

    Inverted margin so that higher = the two likeliest classes are closer (more uncertain), as every score here.
    """

    name = "margin"
    unit = "probability"
    description = "1 - (top1 - top2 probability) of the cross-fitted proxy (same pass as classifier_entropy)"
    column = 2
