"""Scores refitted on the pool: what a grid, a search or the benchmark may rank by.

Two kinds of score look beyond the row they score:

* **label-using** ones (``classifier_entropy``, ``least_confidence``, ``margin``, ``el2n``, ``label_issue``)
  train proxies on labels;
* **other-row** ones (``knn_distance``, ``near_duplicate``: neighbours; ``semantic``: k-means centroids;
  ``igse``, ``ig``, ``is``, ``gs``: percentile ranks among the rows) use other rows as a reference.

Scored over the whole table (as Explore does), both depend on the test rows: a band could prefer pool rows
that resemble test rows. So an experiment recomputes them with ``fit_rows`` = the rows it may learn from (the
pool, or a search fold's training rows): proxies fit, neighbours, centroids and rank references come from those
rows only, and every other row is scored against them. The values in a scores file or the score cache are not
used for them; the recomputation reuses the cached embeddings. Scores of the row alone (information, generative,
the lexical ones) are kept as they are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError
from euds_core.models.loading import resolve_device
from euds_core.scores import get_scorer_class, make_scorer
from euds_core.storage.cache import DatasetCache

# Fitted values computed in this process: (dataset id, score, params with the fit rows' digest) -> (n,) values.
# A benchmark fits the same scores on the same rows several times (its methods, each size's search and the
# recipe search use the same pool and the same cross-fitting folds); each fit is done once. Small: one float
# per row and entry, the oldest entries dropped past the bound.
_FITTED: dict[tuple[str, str, str], np.ndarray] = {}
_FITTED_ENTRIES = 64


def uses_labels(name: str) -> bool:
    """Whether the registered score of that name reads the label column."""
    try:
        return "label" in get_scorer_class(name).needs
    except EudsInputError:  # a column that is not a registered score (e.g. a user's own) reads no labels of ours
        return False


def needs_pool_fit(name: str, options: dict | None = None) -> bool:
    """Whether a registered score (built with ``options``) must be refitted on an experiment's pool: it reads
    labels or other rows (``information`` does only in its ``corpus`` variant)."""
    try:
        cls = get_scorer_class(name)
    except EudsInputError:  # a user's own column: taken as given
        return False
    return "label" in cls.needs or bool(make_scorer(name, options).reads_other_rows)


def pool_fitted_scores(
    table: pd.DataFrame,
    scores: pd.DataFrame,
    fit_rows: np.ndarray,
    *,
    dataset_id: str | None = None,
    options: dict | None = None,
    device: str = "auto",
) -> pd.DataFrame:
    """``scores`` with every column that looks beyond its row replaced by values fitted on ``fit_rows`` only."""
    names = [str(n) for n in scores.columns if needs_pool_fit(str(n), options)]
    if not names:
        return scores
    out = scores.copy()
    fit = _PoolFit(table, scores, np.sort(np.asarray(fit_rows, dtype=np.int64)), dataset_id, options, device)
    for name in names:
        out[name] = fit.values(name)
    return out


class _PoolFit:
    """Fitted values of one experiment's scores, computed once each (a combination reuses its members')."""

    def __init__(self, table, scores, fit_rows, dataset_id, options, device):
        self.table, self.scores, self.fit_rows = table, scores, fit_rows
        self.cache = DatasetCache(dataset_id) if dataset_id else None
        self.options, self.device = options or {}, resolve_device(device)
        self.done: dict[str, np.ndarray] = {}

    def values(self, name: str) -> np.ndarray:
        """(n,) float32 values of ``name``: refitted when it looks beyond its row, else as given (or cached)."""
        if name not in self.done:
            if needs_pool_fit(name, self.options):
                raw = self.fitted(name)
            elif name in self.scores.columns:
                raw = self.scores[name].to_numpy()
            else:  # a member of a combination that the frame lacks: the cache, else computed
                raw = self.row_score(name)
            self.done[name] = np.asarray(raw, dtype=np.float32)
        return self.done[name]

    def fitted(self, name: str) -> np.ndarray:
        """``name`` fitted on the fit rows, or the same fit made earlier in this process (same data and params)."""
        import json

        scorer = make_scorer(name, {**self.options, "fit_rows": self.fit_rows})
        params = scorer.params()
        key = None
        if self.cache is not None and "fit_rows" in params:
            key = (self.cache.dataset_id, name, json.dumps(params, sort_keys=True, default=str))
            if key in _FITTED:
                return _FITTED[key].copy()
        inputs = {member: self.values(member) for member in scorer.depends_on}
        raw = np.asarray(scorer.score(self.table, device=self.device, cache=self.cache, inputs=inputs), np.float32)
        if key is not None:
            while len(_FITTED) >= _FITTED_ENTRIES:
                _FITTED.pop(next(iter(_FITTED)))
            _FITTED[key] = raw.copy()
        return raw

    def row_score(self, name: str) -> np.ndarray:
        scorer = make_scorer(name, self.options)
        cached = self.cache.load_score(name, scorer.params()) if self.cache is not None else None
        if cached is not None and len(cached) == len(self.table):
            return cached
        return scorer.score(self.table, device=self.device, cache=self.cache)


def fold_fitted_scores(
    table: pd.DataFrame,
    scores: pd.DataFrame,
    *,
    dataset_id: str | None = None,
    options: dict | None = None,
    device: str = "auto",
):
    """What a cross-fitted search ranks by: a function of a fold's training rows returning every score column
    as (n,) values fitted on those rows only (:func:`pool_fitted_scores`)."""

    def fitted(train_rows: np.ndarray) -> dict[str, np.ndarray]:
        frame = pool_fitted_scores(table, scores, train_rows, dataset_id=dataset_id, options=options, device=device)
        return {str(name): frame[name].to_numpy(dtype=np.float64) for name in frame.columns}

    return fitted
