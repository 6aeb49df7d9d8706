"""IGSE and its pairs: the mean of the members' percentile ranks (scale-free, so bits and nats can mix).

A combination's identity is its members': ``params()`` nests every member's params (tokenizer, LM and
encoder fingerprints, precision), so rescoring a member with another model gives the combination a new cache
key and its manifest names every model hash.
"""

from __future__ import annotations

import numpy as np

from euds_core.scores.base import Scorer
from euds_core.scores.generative import GenerativeScorer
from euds_core.scores.information import InformationScorer
from euds_core.scores.semantic import SemanticScorer
from euds_core.selection.intervals import percentile_rank


def rank_mean(arrays: list[np.ndarray]) -> np.ndarray:
    """Mean of the percentile ranks (average rank for ties, in [0, 1]) of each array. Shape (n_samples,)."""
    return np.mean([percentile_rank(a) for a in arrays], axis=0).astype(np.float32)


class _RankMeanScorer(Scorer):
    """Mean percentile rank of the member scores, in [0, 1]; higher = higher on the members together."""

    unit = "mean percentile rank"
    members: tuple[type[Scorer], ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.depends_on = tuple(m.name for m in cls.members)

    def __init__(self, member_scorers: tuple[Scorer, ...] | None = None):
        self.member_scorers = member_scorers or tuple(m() for m in self.members)

    @classmethod
    def from_options(cls, options: dict | None = None) -> _RankMeanScorer:
        return cls(tuple(m.from_options(options) for m in cls.members))

    def params(self) -> dict:
        return {"members": {m.name: m.params() for m in self.member_scorers}}

    def score(self, table, *, inputs=None, progress=None, **_) -> np.ndarray:
        values = rank_mean([inputs[m] for m in self.depends_on])
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
