"""The scorer interface: one small class per score, registered by name (docs/scores.md)."""

from __future__ import annotations

import inspect
from typing import ClassVar

import numpy as np
import pandas as pd

from euds_core.storage.cache import CancelFn, DatasetCache, ProgressFn


class Scorer:
    """One value per row, float32, higher = more entropy / harder / more unusual for that score.

    Subclasses set ``name`` (refused when missing), ``needs`` (table columns), ``unit``, ``description``;
    ``depends_on`` names scores whose arrays ``score`` receives in ``inputs`` (combinations). Constructors
    only store parameters (no model loading), so ``params()`` is cheap and a cache hit does no model work.
    """

    name: ClassVar[str] = ""
    needs: ClassVar[frozenset[str]] = frozenset({"text"})
    depends_on: ClassVar[tuple[str, ...]] = ()
    unit: ClassVar[str] = ""
    description: ClassVar[str] = ""
    uses_model: ClassVar[bool] = False  # True when scoring loads a neural model (slow on CPU)
    # True when a row's value depends on other rows (neighbours, centroids, ranks): such a scorer takes
    # ``fit_rows``, the only rows it may use as a reference (an experiment passes its pool)
    reads_other_rows: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name") and not cls.__name__.startswith("_") and not cls.__dict__.get("abstract"):
            raise TypeError(f"scorer class {cls.__name__} must set a non-empty `name`")

    @classmethod
    def from_options(cls, options: dict | None = None) -> Scorer:
        """An instance built from shared options (``lm``, ``encoder``, ...), passing only those it takes."""
        accepted = inspect.signature(cls.__init__).parameters
        return cls(**{k: v for k, v in (options or {}).items() if k in accepted and v is not None})

    def params(self) -> dict:
        """Everything that changes the output; hashed into the cache key."""
        return {}

    def score(
        self,
        table: pd.DataFrame,
        *,
        device: str = "cpu",
        batch_size: int = 32,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
        cache: DatasetCache | None = None,
        inputs: dict[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        raise NotImplementedError

    def score_first_stage(self, table: pd.DataFrame, **context) -> None:
        """Score (and cache) only the first random sample of this scorer's model pass, if it has one.

        A job with several model passes calls this for each before any ``score``, so every pass has a partial
        view within the first minute instead of the LM's waiting for the encoder's whole pass (issue 17).
        ``context`` is what ``score`` takes. Default: nothing (no staged pass).
        """

    def partial_scores(self, table: pd.DataFrame, *, cache: DatasetCache) -> tuple[np.ndarray, np.ndarray] | None:
        """``(rows, values)`` for the rows a running pass has finished so far, or None (nothing yet, or no
        partial view for this scorer). The finished rows are a random sample (storage.cache.sample_first_order);
        the final array comes from ``score``, never from this."""
        return None


class EmbeddingScorer(Scorer):
    """Base of the scores computed from the sentence embeddings of ``self.encoder`` (cached per chunk, shared
    by every such score and the map, so the encoder runs once per dataset)."""

    abstract = True
    uses_model = True
    encoder: str

    precision: str = "auto"  # of the embeddings; auto = what the default device runs best (models.loading)

    def embedding_precision(self) -> str:
        """The embeddings' resolved precision: part of ``params()`` of every such score (see embed)."""
        from euds_core.models.embeddings import resolved_embedding_precision

        return resolved_embedding_precision(self.encoder, self.precision)

    def score_first_stage(self, table, **context) -> None:
        self.embed(table, first_stage_only=True, **context)

    def embed(
        self,
        table: pd.DataFrame,
        *,
        device="cpu",
        batch_size=64,
        progress=None,
        cancel=None,
        cache=None,
        precision: str | None = None,
        first_stage_only: bool = False,
        **_,
    ) -> np.ndarray | None:
        """The cached embeddings, computed at ``embedding_precision()`` unless told otherwise (so the score's
        key and its computation agree)."""
        from euds_core.models.embeddings import compute_embeddings

        return compute_embeddings(
            table,
            encoder=self.encoder,
            device=device,
            batch_size=batch_size,
            cache=cache,
            progress=progress,
            cancel=cancel,
            precision=precision or self.embedding_precision(),
            first_stage_only=first_stage_only,
        )


def with_fit_rows(params: dict, fit_rows: np.ndarray | None) -> dict:
    """``params`` plus a digest of ``fit_rows`` when a scorer is fitted on some rows only (its cache key)."""
    return params if fit_rows is None else {**params, "fit_rows": rows_digest(fit_rows)}


def rows_digest(rows: np.ndarray | None) -> str | None:
    """A short digest of a row set (the ``fit_rows`` part of a fitted score's cache key)."""
    import hashlib

    if rows is None:
        return None
    return hashlib.sha256(np.sort(np.asarray(rows, dtype=np.int64)).tobytes()).hexdigest()[:16]
