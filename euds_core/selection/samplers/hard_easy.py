"""Hard/easy composition: a share of the subset from the hardest tail of a score, the rest from the other rows."""

from __future__ import annotations

import numpy as np

from euds_core.errors import EudsInputError
from euds_core.selection.intervals import seeded_order
from euds_core.selection.samplers.base import Sampler


class HardEasySampler(Sampler):
    """``hard_fraction`` of the picks are the highest-scoring rows (hardest first); the rest come from the other
    rows, at random (``easy="random"``, seed 002's 10 % hard + 90 % random mix) or lowest score first
    (``easy="easiest"``). Ties in the score are broken by a seeded key.
    """

    name = "hard_easy"
    needs_score = True
    description = "10 % from the hardest tail of a score + 90 % at random from the rest (fractions configurable)"

    def __init__(self, hard_fraction: float = 0.1, easy: str = "random", seed: int = 0):
        if not 0.0 <= hard_fraction <= 1.0:
            raise EudsInputError(f"hard_fraction must be between 0 and 1, got {hard_fraction}")
        if easy not in ("random", "easiest"):
            raise EudsInputError(f"easy must be 'random' or 'easiest', not {easy!r}")
        self.hard_fraction, self.easy, self.seed = hard_fraction, easy, seed

    def sample(self, count, *, embeddings=None, score=None, groups=None) -> np.ndarray:
        self._check(count, None, score)
        n_hard = int(round(self.hard_fraction * count))
        descending = seeded_order(np.asarray(score, dtype=np.float64), self.seed)[::-1]  # (n,) hardest first
        hard, rest = descending[:n_hard], descending[n_hard:]
        if self.easy == "random":
            rest = np.random.default_rng(self.seed).permutation(rest)
        else:
            rest = rest[::-1]  # lowest score first
        return np.concatenate([hard, rest[: count - n_hard]]).astype(np.int64)
