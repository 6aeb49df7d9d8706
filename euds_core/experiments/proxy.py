"""The cheap proxy every search and the proxy benchmark train: a linear model on frozen embeddings.

* :func:`proxy_features` — the embeddings on the top principal components of the pool rows, standardised on
  them (no test text shapes the projection);
* :func:`linear_proxy_predictions` (the proxy) and :func:`knn_proxy_predictions` (a second, non-linear one);
* :func:`random_correct` — the random baseline both searches measure a gain against: per-row correctness of
  proxies trained on seeded random subsets of the same count.

``PROXY_DERIVED_SCORES`` are scores computed from the predictions of the same kind of linear model on the same
embeddings: the linear proxy finds their bands easy by construction, so a search never ranks them by that proxy
alone (see :mod:`euds_core.experiments.selection_search`).
"""

from __future__ import annotations

import numpy as np

KNN_NEIGHBOURS = 10
PROXY_DERIVED_SCORES = frozenset({"classifier_entropy", "least_confidence", "margin", "el2n", "label_issue"})


def proxy_features(embeddings: np.ndarray, fit_rows: np.ndarray, *, dims: int = 64, seed: int = 0) -> np.ndarray:
    """(n, dims) embeddings projected on the top ``dims`` principal components of ``fit_rows`` and standardised
    with the mean and spread of those rows."""
    from sklearn.decomposition import PCA

    fit_rows = np.asarray(fit_rows)
    x = embeddings.astype(np.float64)  # (n, dim); float64: see ensemble_entropy on float32 matmuls
    if dims and dims < x.shape[1] and dims < len(fit_rows):
        x = PCA(n_components=dims, random_state=seed, svd_solver="randomized").fit(x[fit_rows]).transform(x)
    mean, std = x[fit_rows].mean(axis=0), np.maximum(x[fit_rows].std(axis=0), 1e-6)
    return ((x - mean) / std).astype(np.float64)  # standardised: lbfgs converges in fewer steps


def linear_proxy_predictions(
    x: np.ndarray, y: np.ndarray, train: np.ndarray, evaluate: np.ndarray, *, max_iter: int = 200
) -> np.ndarray:
    """Predictions on ``evaluate`` of a logistic regression fitted on ``train`` (one class: that class)."""
    from sklearn.linear_model import LogisticRegression

    present = np.unique(y[train])
    if len(present) < 2:
        return np.full(len(evaluate), present[0] if len(present) else 0)
    model = LogisticRegression(C=1.0, max_iter=max_iter, tol=1e-3)
    return model.fit(x[train], y[train]).predict(x[evaluate])


def knn_proxy_predictions(x: np.ndarray, y: np.ndarray, train: np.ndarray, evaluate: np.ndarray) -> np.ndarray:
    """Predictions of a distance-weighted k-nearest-neighbour vote (the second, non-linear proxy)."""
    from sklearn.neighbors import KNeighborsClassifier

    if len(train) == 0:
        return np.zeros(len(evaluate), dtype=y.dtype)
    model = KNeighborsClassifier(n_neighbors=min(KNN_NEIGHBOURS, len(train)), weights="distance")
    return model.fit(x[train], y[train]).predict(x[evaluate])


PROXIES = {"linear": linear_proxy_predictions, "knn": knn_proxy_predictions}


def random_correct(
    x: np.ndarray,
    y: np.ndarray,
    rows: np.ndarray,
    evaluate: np.ndarray,
    count: int,
    *,
    draws: int,
    seed: int,
    proxies: tuple[str, ...] = ("linear",),
    groups: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Proxy name -> (draws, |evaluate|) 0/1 correctness of proxies trained on ``count`` random rows of ``rows``.

    Seeded by (seed, count), so every candidate of one count meets the same random subsets. ``groups`` (indexed
    by table row, e.g. labels) draws a stratified subset instead: each group keeps its share of ``rows``.
    """
    rng = np.random.default_rng([seed, count])
    correct: dict[str, list[np.ndarray]] = {name: [] for name in proxies}
    for _ in range(draws):
        kept = random_rows(rows, count, rng, groups)
        for name in proxies:
            correct[name].append(PROXIES[name](x, y, kept, evaluate) == y[evaluate])
    return {name: np.asarray(v, dtype=np.float64) for name, v in correct.items()}


def random_rows(rows: np.ndarray, count: int, rng: np.random.Generator, groups: np.ndarray | None = None) -> np.ndarray:
    """Sorted ``count`` rows drawn from ``rows`` without replacement; stratified by ``groups`` when given (each
    group keeps round(count * share) rows, the rounding remainder going to the largest remainders)."""
    rows = np.asarray(rows)
    if groups is None:
        return np.sort(rng.choice(rows, size=count, replace=False))
    names, inverse = np.unique(np.asarray(groups)[rows], return_inverse=True)
    sizes = np.bincount(inverse, minlength=len(names))
    exact = count * sizes / max(len(rows), 1)
    quota = np.floor(exact).astype(int)
    for g in np.argsort(-(exact - quota), kind="stable")[: count - int(quota.sum())]:
        quota[g] += 1
    picked = [
        rng.choice(rows[inverse == g], size=min(int(quota[g]), int(sizes[g])), replace=False) for g in range(len(names))
    ]
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)
