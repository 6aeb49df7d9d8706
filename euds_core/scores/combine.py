"""IGSE and its pairs: the mean of the members' percentile ranks (scale-free, so bits and nats can mix).

A combination's identity is its members': ``params()`` nests every member's params (tokenizer, LM and
encoder fingerprints, precision), so rescoring a member with another model gives the combination a new cache
key and its manifest names every model hash.
"""

from __future__ import annotations

import numpy as np

from euds_core.scores.base import Scorer, with_fit_rows
from euds_core.scores.generative import GenerativeScorer
from euds_core.scores.information import InformationScorer
from euds_core.scores.semantic import SemanticScorer
from euds_core.selection.intervals import percentile_rank


def rank_mean(arrays: list[np.ndarray], reference: np.ndarray | None = None) -> np.ndarray:
    """Mean of the percentile ranks (average rank for ties, in [0, 1]) of each array. Shape (n_samples,).

    ``reference`` (row indices): each value is ranked among the reference rows' values only (a reference row
    gets exactly its percentile rank within them; any other row where it would fall among them)."""
    if reference is None:
        return np.mean([percentile_rank(a) for a in arrays], axis=0).astype(np.float32)
    reference = np.asarray(reference, dtype=np.int64)
    return np.mean([rank_among(a, a[reference]) for a in arrays], axis=0).astype(np.float32)


def rank_among(values: np.ndarray, reference_values: np.ndarray) -> np.ndarray:
    """Percentile rank of each value among ``reference_values``, in [0, 1]: for a value that is one of them,
    its average rank among them scaled like :func:`percentile_rank`. Shape (n,)."""
    ordered = np.sort(np.asarray(reference_values, dtype=np.float64))
    if len(ordered) <= 1:
        return np.full(len(values), 0.5)
    less = np.searchsorted(ordered, values, side="left")
    at_most = np.searchsorted(ordered, values, side="right")
    return np.clip((less + at_most - 1) / 2.0 / (len(ordered) - 1), 0.0, 1.0)


class _RankMeanScorer(Scorer):
    """Mean percentile rank of the member scores, in [0, 1]; higher = higher on the members together."""

    unit = "mean percentile rank"
    members: tuple[type[Scorer], ...] = ()
    reads_other_rows = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.depends_on = tuple(m.name for m in cls.members)

    def __init__(self, member_scorers: tuple[Scorer, ...] | None = None, fit_rows: np.ndarray | None = None):
        self.member_scorers = member_scorers or tuple(m() for m in self.members)
        self.fit_rows = fit_rows

    @classmethod
    def from_options(cls, options: dict | None = None) -> _RankMeanScorer:
        """Members built from the same options; ``fit_rows`` (when given) fits the combination and its
        members that read other rows (semantic's centroids) on those rows."""
        return cls(tuple(m.from_options(options) for m in cls.members), (options or {}).get("fit_rows"))

    def params(self) -> dict:
        return with_fit_rows({"members": {m.name: m.params() for m in self.member_scorers}}, self.fit_rows)

    def score(self, table, *, inputs=None, progress=None, **_) -> np.ndarray:
        """``inputs`` holds the members' values (fitted on ``fit_rows`` too when they read other rows)."""
        values = rank_mean([inputs[m] for m in self.depends_on], reference=self.fit_rows)
        if progress:
            progress(len(table), len(table), self.name)
        return values


class IGSEScorer(_RankMeanScorer):
    name = "igse"
    members = (InformationScorer, GenerativeScorer, SemanticScorer)
    description = "mean percentile rank of information, generative and semantic entropy"


class IGScorer(_RankMeanScorer):
    name = "ig"
    members = (InformationScorer, GenerativeScorer)
    description = "mean percentile rank of information and generative entropy"


class ISScorer(_RankMeanScorer):
    name = "is"
    members = (InformationScorer, SemanticScorer)
    description = "mean percentile rank of information and semantic entropy"


class GSScorer(_RankMeanScorer):
    name = "gs"
    members = (GenerativeScorer, SemanticScorer)
    description = "mean percentile rank of generative and semantic entropy"
