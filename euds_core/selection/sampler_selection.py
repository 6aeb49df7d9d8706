"""Run a sampler on a scores file (the frame `score` writes): the code path of `select --sampler` and the pages."""

from __future__ import annotations

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError
from euds_core.selection.samplers import get_sampler, keep_count

TABLE_COLUMNS = ("id", "text", "label", "question", "answer")


def frame_embeddings(frame: pd.DataFrame, *, encoder: str | None = None, device: str = "auto") -> np.ndarray:
    """(n, dim) unit embeddings of the frame's ``text``, cached under the dataset the frame holds.

    A file written by `score` is already normalised, so its own content hash is its dataset id and the
    embeddings cached while scoring (semantic, knn_distance, ...) are reused without loading the encoder.
    """
    from euds_core.data.table import dataset_hash
    from euds_core.models.embeddings import compute_embeddings
    from euds_core.models.loading import DEFAULT_ENCODER, resolve_device
    from euds_core.storage.cache import DatasetCache

    if "text" not in frame.columns:
        raise EudsInputError("the scores file has no text column; use the file written by `score`")
    table = frame[[c for c in TABLE_COLUMNS if c in frame.columns]].copy()
    for column in table.columns:
        table[column] = table[column].astype(str)  # a CSV round trip may have turned labels into numbers
    return compute_embeddings(
        table,
        encoder=encoder or DEFAULT_ENCODER,
        device=resolve_device(device),
        cache=DatasetCache(dataset_hash(table)),
    )


def sampler_groups(frame: pd.DataFrame, name: str) -> list | None:
    """The groups a sampler balances over: MIG takes the ``tags`` column when there is one; otherwise every
    sampler finds its own groups (k-means clusters of the embeddings). Class labels are never the groups, so
    ``select --sampler`` and a fine-tune grid's sampler strategy pick the same way (docs/experiments.md)."""
    return frame["tags"].tolist() if name == "mig" and "tags" in frame.columns else None


def run_sampler(
    frame: pd.DataFrame,
    name: str,
    keep: float,
    *,
    score: str | None = None,
    encoder: str | None = None,
    seed: int = 0,
    options: dict | None = None,
    device: str = "auto",
) -> np.ndarray:
    """Row indices (pick order) that the named sampler keeps: round(keep * N) of them."""
    sampler = get_sampler(name, {"seed": seed, **(options or {})})
    count = keep_count(keep, len(frame))
    values = None
    if score is not None:
        if score not in frame.columns:
            raise EudsInputError(
                f"no score column '{score}' in the scores file; it has: {', '.join(map(str, frame.columns))}"
            )
        values = pd.to_numeric(frame[score], errors="coerce").to_numpy(dtype=np.float64)
    elif sampler.needs_score:
        raise EudsInputError(f"the '{name}' sampler needs a score to rank by; pass --score NAME")
    embeddings = frame_embeddings(frame, encoder=encoder, device=device) if sampler.needs_embeddings else None
    return sampler.sample(count, embeddings=embeddings, score=values, groups=sampler_groups(frame, name))
