"""Content-addressed cache of scores and per-row features, shared by the CLI, the app and jobs.

Layout under ``EUDS_HOME/cache/<dataset id>/``:

* ``scores/<scorer>-<params hash>.npy``: the final float32 score array, one value per row;
* ``features/<feature key>/chunk-<start>.npy``: per-row model outputs (embeddings, LM entropies) written one
  chunk at a time, so a killed job resumes from its last finished chunk.

Every file is written to a unique temporary name and renamed (``storage.atomic_files``), with a sha256 sidecar; a file whose
checksum does not match is treated as missing and recomputed, never trusted.
"""

from __future__ import annotations

import errno
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from euds_core.errors import EudsInputError, ScoringCancelled
from euds_core.storage.atomic_files import atomic_path, write_json_atomic, write_text_atomic
from euds_core.storage.workspace import workspace_dir

ProgressFn = Callable[[int, int, str], None]  # (rows done, rows total, message)
CancelFn = Callable[[], bool]


def params_hash(params: dict) -> str:
    """Stable short hash of a JSON-able parameter dict (key order does not matter)."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_array(path: Path, array: np.ndarray) -> None:
    """Write ``array`` atomically (unique temporary name, fsync, rename), then its checksum sidecar."""
    try:
        with atomic_path(path, fsync=True) as tmp:
            with tmp.open("wb") as f:
                np.save(f, array, allow_pickle=False)
            checksum = _checksum(tmp)
        write_text_atomic(path.with_suffix(".sha256"), checksum)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise EudsInputError(
                f"the disk holding the workspace is full while writing {path.name}; free some space "
                "(or point EUDS_HOME elsewhere) and run again: finished chunks and scores are kept"
            ) from None
        raise


def load_array(path: Path) -> np.ndarray | None:
    """The cached array, or None when it is missing, half-written or fails its checksum."""
    sidecar = path.with_suffix(".sha256")
    try:
        if sidecar.read_text().strip() != _checksum(path):
            path.unlink(missing_ok=True)
            sidecar.unlink(missing_ok=True)
            return None
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:  # never written, or another process finished and removed its chunks meanwhile
        return None


class DatasetCache:
    """The cache folder of one dataset (by content hash)."""

    def __init__(self, dataset_id: str, root: Path | None = None):
        self.dataset_id = dataset_id
        self.root = (root or workspace_dir("cache")) / dataset_id

    def score_path(self, scorer: str, params: dict) -> Path:
        return self.root / "scores" / f"{scorer}-{params_hash(params)}.npy"

    def load_score(self, scorer: str, params: dict) -> np.ndarray | None:
        return load_array(self.score_path(scorer, params))

    def save_score(self, scorer: str, params: dict, values: np.ndarray) -> None:
        save_array(self.score_path(scorer, params), values)
        meta = self.score_path(scorer, params).with_suffix(".json")
        write_json_atomic(meta, {"scorer": scorer, "params": params}, sort_keys=True, default=str)

    def cached_scores(self) -> list[dict]:
        """What is cached for this dataset: ``{"scorer", "params", "path"}`` per finished score."""
        out = []
        for meta in sorted((self.root / "scores").glob("*.json")):
            npy = meta.with_suffix(".npy")
            if npy.exists():
                out.append({**json.loads(meta.read_text()), "path": npy})
        return out

    def feature_dir(self, feature: str, params: dict) -> Path:
        return self.root / "features" / f"{feature}-{params_hash(params)}"


def run_chunked(
    folder: Path | None,
    order: np.ndarray,
    compute: Callable[[np.ndarray], np.ndarray],
    *,
    chunk_rows: int = 256,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    label: str = "",
) -> np.ndarray:
    """Per-row values for all rows, computed chunk by chunk in ``order`` and cached per chunk under ``folder``.

    ``order`` is a permutation of the row indices (e.g. sorted by length, so each batch pads little);
    ``compute(rows)`` returns an array with ``len(rows)`` rows. The result is in row order. A killed run
    resumes from its finished chunks; ``folder=None`` caches nothing.
    """
    n = len(order)
    if folder is not None:
        done = load_array(folder / "all.npy")
        if done is not None and len(done) == n:
            if progress:
                progress(n, n, f"{label}: cached")
            return done
    parts: list[np.ndarray] = []
    rows_done = 0
    for start in range(0, n, chunk_rows):
        rows = order[start : start + chunk_rows]
        chunk_path = folder / f"chunk-{start:09d}-{len(rows)}.npy" if folder is not None else None
        values = load_array(chunk_path) if chunk_path is not None else None
        if values is None:
            if cancel is not None and cancel():
                raise ScoringCancelled(f"{label} cancelled after {rows_done} of {n} rows (finished chunks are kept)")
            values = np.asarray(compute(rows))
            if chunk_path is not None:
                save_array(chunk_path, values)
        parts.append(values)
        rows_done += len(rows)
        if progress:
            progress(rows_done, n, label)
    if not parts:
        return np.zeros((0,), dtype=np.float32)
    sorted_values = np.concatenate(parts, axis=0)
    result = np.empty_like(sorted_values)
    result[order] = sorted_values  # back from processing order to row order
    if folder is not None:
        save_array(folder / "all.npy", result)
        for chunk in folder.glob("chunk-*"):
            chunk.unlink(missing_ok=True)
    return result
