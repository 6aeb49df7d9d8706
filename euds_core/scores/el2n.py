"""EL2N (Paul et al. 2021, "Deep Learning on a Data Diet"): ‖softmax − onehot(label)‖₂ early in training.

Proxy: a softmax (multinomial logistic) layer on frozen, standardised encoder embeddings, trained with
minibatch SGD for a few epochs (the "early checkpoint"), from R seeded initialisations and data orders; the
score is the mean error norm over the R runs. The paper trains the whole network; a linear head on cached
embeddings costs a few seconds instead of R fine-tunes (see classifier.py for that trade-off).

Cross-fitting (default K = 5 folds, re-split per seed): each sample's error comes from a head that did not
train on it. A linear head on n < dim samples can separate its training set within an epoch or two, which
would flatten in-sample EL2N on small datasets; ``folds=0`` gives the paper's in-sample variant.

``fit_rows`` (a grid or search passes the pool): heads train on those rows only; a row outside them is scored
(with its own label) by the mean error of the heads of every fold, none of which saw its label.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from euds_core.models.loading import DEFAULT_ENCODER
from euds_core.scores.classifier import (
    CrossFittedProxyScorer,
    encode_labels,
    fit_and_outside_rows,
    fold_count,
    standardise,
    stratified_fold_rows,
)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def train_softmax_head(
    x: np.ndarray, y: np.ndarray, n_classes: int, *, epochs: int, lr: float, batch: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(W, b) of a softmax layer after ``epochs`` epochs of minibatch SGD on cross-entropy (small random init)."""
    onehot = np.eye(n_classes)[y]  # (n, C)
    w = rng.normal(0.0, 0.01, size=(x.shape[1], n_classes))  # (d, C)
    b = np.zeros(n_classes)  # (C,)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            rows = order[start : start + batch]
            grad = (_softmax(x[rows] @ w + b) - onehot[rows]) / len(rows)  # (B, C)
            w -= lr * x[rows].T @ grad
            b -= lr * grad.sum(axis=0)
    return w, b


class EL2NScorer(CrossFittedProxyScorer):
    """EL2N: ‖softmax − onehot(label)‖₂ of a proxy softmax head at an early checkpoint, mean over R seeds.

    Range [0, √2]; unit: L2 norm of the probability error. Higher = harder (or mislabelled) sample.
    Defaults: R = 5 seeds, checkpoint = 2 epochs of SGD (lr 2.0, batch 32), cross-fitted over 5 folds.
    """

    name = "el2n"
    unit = "L2 norm"
    description = "error L2 norm of a proxy softmax head early in training, averaged over seeds (Data Diet)"
    batch = 32  # rows per SGD step of the head

    def __init__(
        self,
        encoder: str = DEFAULT_ENCODER,
        seeds: int = 5,
        epochs: int = 2,
        lr: float = 2.0,
        folds: int = 5,
        seed: int = 0,
        fit_rows: np.ndarray | None = None,
    ):
        self.encoder, self.seeds, self.epochs, self.lr, self.folds, self.seed = encoder, seeds, epochs, lr, folds, seed
        self.fit_rows = fit_rows

    def proxy_settings(self) -> dict:
        head = {"seeds": self.seeds, "checkpoint_epochs": self.epochs, "lr": self.lr, "batch": self.batch}
        return {**head, "folds": self.folds, "seed": self.seed, "proxy": "softmax-head-v1"}

    def score(self, table: pd.DataFrame, **context) -> np.ndarray:
        # The final array is cached by score_dataset under params(); only the embeddings need their own cache.
        return self.errors(self.embed(table, **context), *encode_labels(table["label"]))

    def errors(self, features: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
        """Mean over ``seeds`` runs of ‖softmax(x) − onehot(y)‖₂, in [0, √2]. Shape (n,). ``folds=0``: in-sample.

        Heads train on ``fit_rows`` only (default: all rows); other rows get the mean error of every head of a run.
        """
        n = len(y)
        inside, outside = fit_and_outside_rows(n, self.fit_rows)
        # rows of norm ~1, so one lr fits any encoder
        x = standardise(features, inside) / np.sqrt(features.shape[1])  # (n, d)
        onehot = np.eye(n_classes)[y]
        k = fold_count(y[inside], self.folds)
        total = np.zeros(n)
        for r in range(self.seeds):
            rng = np.random.default_rng([self.seed, r])
            cross_fit = self.folds and k >= 2  # re-split per run, from the run's generator
            splits = stratified_fold_rows(y, inside, k, int(rng.integers(2**31))) if cross_fit else [(inside, inside)]
            for train, test in splits:
                w, b = train_softmax_head(
                    x[train], y[train], n_classes, epochs=self.epochs, lr=self.lr, batch=self.batch, rng=rng
                )
                total[test] += np.linalg.norm(_softmax(x[test] @ w + b) - onehot[test], axis=1)
                if len(outside):
                    error = np.linalg.norm(_softmax(x[outside] @ w + b) - onehot[outside], axis=1)
                    total[outside] += error / len(splits)
        return (total / self.seeds).astype(np.float32)
