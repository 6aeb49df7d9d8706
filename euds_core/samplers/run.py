"""Run a sampler on a scores file (the frame `score` writes): the code path of `select --sampler` and the pages."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError
from euds_core.samplers import get_sampler, keep_count

TABLE_COLUMNS = ("id", "text", "label", "question", "answer")


def frame_embeddings(frame: pd.DataFrame, *, encoder: str | None = None, device: str = "auto") -> np.ndarray:
    """(n, dim) unit embeddings of the frame's ``text``, cached under the dataset the frame holds.

    A file written by `score` is already normalised, so its own content hash is its dataset id and the
    embeddings cached while scoring (semantic, knn_distance, ...) are reused without loading the encoder.
    """
    from euds_core.cache import DatasetCache
    from euds_core.datasets import dataset_hash
    from euds_core.embeddings import compute_embeddings
    from euds_core.models import DEFAULT_ENCODER, resolve_device

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
    groups = frame["tags"].tolist() if name == "mig" and "tags" in frame.columns else None
    return sampler.sample(count, embeddings=embeddings, score=values, groups=groups)


def select_with_sampler(args) -> int:
    """`select FILE --sampler NAME --keep F [--score S] [--encoder E] [--seed N] --out KEPT`: prints `kept K of N`."""
    from euds_core.cli import _apply_review_to_mask, _check_output_path, read_scores_file, write_table

    if args.keep is None:
        raise EudsInputError(f"--sampler {args.sampler} needs --keep F (the fraction of rows to pick)")
    clashing = [o for o in ("lo", "hi", "plo", "phi") if getattr(args, o) is not None]
    if clashing:
        raise EudsInputError(f"--sampler picks a set by itself; drop --{clashing[0]}")
    if not args.scores_file:
        raise EudsInputError("select --sampler needs a scores file (written by `score`)")
    out = _check_output_path(args.out)
    frame = read_scores_file(args.scores_file)
    picks = run_sampler(frame, args.sampler, args.keep, score=args.score, encoder=args.encoder, seed=args.seed)
    if args.apply_review:
        mask = np.zeros(len(frame), dtype=bool)
        mask[picks] = True
        reviewed, n_overrides = _apply_review_to_mask(frame, mask, args.apply_review)
        # Review drops leave the pick order; review keeps come after the picks.
        picks = np.concatenate([picks[reviewed[picks]], np.flatnonzero(reviewed & ~mask)])
        print(f"applied {n_overrides} review overrides", file=sys.stderr)
    write_table(frame.iloc[picks].reset_index(drop=True), out)  # rows in pick order
    print(f"kept {len(picks)} of {len(frame)}")
    return 0
