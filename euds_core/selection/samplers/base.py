"""The sampler interface: choose a set (not score a sample) and return ordered row indices (docs/scores.md)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from euds_core.errors import EudsInputError


class Sampler:
    """Choose ``count`` rows; the returned int64 indices are in pick order, so any prefix is itself a pick.

    Subclasses set ``name`` (refused when missing), ``needs_embeddings`` / ``needs_score`` and ``description``.
    Constructors only store parameters (sklearn style); ``params()`` returns them for the selection spec.
    """

    name: ClassVar[str] = ""
    needs_embeddings: ClassVar[bool] = False
    needs_score: ClassVar[bool] = False
    description: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name") and not cls.__name__.startswith("_"):
            raise TypeError(f"sampler class {cls.__name__} must set a non-empty `name`")

    def params(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}

    def sample(
        self,
        count: int,
        *,
        embeddings: np.ndarray | None = None,
        score: np.ndarray | None = None,
        groups=None,
    ) -> np.ndarray:
        """``count`` distinct row indices in pick order. ``groups``: a label per row (or a list of tags per row)."""
        raise NotImplementedError

    # helpers for subclasses -------------------------------------------------------------------------------

    def _check(self, count: int, embeddings: np.ndarray | None, score: np.ndarray | None) -> int:
        """Validate the inputs this sampler needs; returns the pool size."""
        if self.needs_embeddings and embeddings is None:
            raise EudsInputError(f"the '{self.name}' sampler needs embeddings of the texts")
        if self.needs_score and score is None:
            raise EudsInputError(f"the '{self.name}' sampler needs a score; pass --score NAME")
        sizes = {len(a) for a in (embeddings, score) if a is not None}
        if len(sizes) != 1:
            raise EudsInputError(f"the '{self.name}' sampler got inputs of different lengths {sorted(sizes)}")
        n = sizes.pop()
        if score is not None and not np.all(np.isfinite(score)):
            raise EudsInputError("the score has missing or non-finite values; rescore the file")
        if not 0 <= count <= n:
            raise EudsInputError(f"cannot pick {count} rows from a pool of {n}")
        return n


def keep_count(fraction: float, n: int) -> int:
    """round(fraction * n) for a fraction in [0, 1] (the same count the interval modes keep)."""
    if not 0.0 <= float(fraction) <= 1.0:
        raise EudsInputError(f"--keep must be between 0 and 1, got {fraction}")
    return int(round(fraction * n))
