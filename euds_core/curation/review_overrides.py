"""A dataset's review applied outside the app: resolving the dataset a user names, and overriding a mask.

``select --apply-review DATASET`` names the dataset as a workspace id, a built-in or a file; this module
finds its content hash (loading the file when it must) and applies the decisions in effect to a mask.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from euds_core.curation.decision_log import effective_overrides
from euds_core.data.datasets import load_dataset
from euds_core.data.table import dataset_hash
from euds_core.data.table_io import read_scores_file
from euds_core.errors import EudsInputError


def resolve_dataset_id(spec: str) -> str:
    """The content hash of a dataset given as a workspace id (16 hex chars), a built-in name or a file path."""
    spec = str(spec).strip()
    if re.fullmatch(r"[0-9a-f]{16}", spec) and not Path(spec).exists():
        return spec
    return load_dataset(spec).id


def apply_review_to_mask(frame: pd.DataFrame, mask: np.ndarray, dataset_spec: str) -> tuple[np.ndarray, int]:
    """Overrides of the dataset's review applied to ``mask``; the dataset must be the scores file's dataset."""
    if "id" not in frame.columns:
        raise EudsInputError("the scores file has no id column; --apply-review needs the file written by `score`")
    file_id = dataset_hash(frame)
    # A file written by `score` (or an export) is already normalised: its own hash is its dataset id.
    as_normalised = Path(dataset_spec).is_file() and dataset_hash(read_scores_file(dataset_spec)) == file_id
    dataset_id = file_id if as_normalised else resolve_dataset_id(dataset_spec)
    if dataset_id != file_id:
        raise EudsInputError(
            f"--apply-review {dataset_spec} is dataset {dataset_id} but the scores file holds dataset {file_id}; "
            f"pass --apply-review {file_id} (the id `score` printed)"
        )
    overrides = effective_overrides(dataset_id)
    decisions = frame["id"].astype(str).map(overrides)
    mask = np.where(decisions == "keep", True, np.where(decisions == "drop", False, mask))
    return mask, len(overrides)
