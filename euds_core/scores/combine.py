"""IGSE and its pairs: the mean of the members' percentile ranks (scale-free, so bits and nats can mix)."""

from __future__ import annotations

import numpy as np

from euds_core.scores.base import Scorer
from euds_core.selection.intervals import percentile_rank


def rank_mean(arrays: list[np.ndarray]) -> np.ndarray:
    """Mean of the percentile ranks (average rank for ties, in [0, 1]) of each array. Shape (n_samples,)."""
    return np.mean([percentile_rank(a) for a in arrays], axis=0).astype(np.float32)


class _RankMeanScorer(Scorer):
    """Mean percentile rank of the member scores, in [0, 1]; higher = higher on the members together."""

    unit = "mean percentile rank"

    def score(self, table, *, inputs=None, progress=None, **_) -> np.ndarray:
        values = rank_mean([inputs[m] for m in self.depends_on])
        if progress:
            progress(len(table), len(table), self.name)
        return values


class IGSEScorer(_RankMeanScorer):
    name = "igse"
    depends_on = ("information", "generative", "semantic")
    description = "mean percentile rank of information, generative and semantic entropy"


class IGScorer(_RankMeanScorer):
    name = "ig"
    depends_on = ("information", "generative")
    description = "mean percentile rank of information and generative entropy"


class ISScorer(_RankMeanScorer):
    name = "is"
    depends_on = ("information", "semantic")
    description = "mean percentile rank of information and semantic entropy"


class GSScorer(_RankMeanScorer):
    name = "gs"
    depends_on = ("generative", "semantic")
    description = "mean percentile rank of generative and semantic entropy"
