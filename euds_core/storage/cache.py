"""Content-addressed cache of scores and per-row features, shared by the CLI, the app and jobs.

Layout under ``EUDS_HOME/cache/<dataset id>/``:

* ``scores/<scorer>-<params hash>.npy``: the final float32 score array, one value per row;
* ``features/<feature key>/chunk-<plan>-<start>-<rows>.npy``: per-row model outputs (embeddings, LM entropies)
  written one chunk at a time, so a killed job resumes from its last finished chunk; ``plan-<plan>.npy`` is the
  processing order those chunks cut (so a reader can tell which rows a chunk covers while the job runs);
* ``features/<feature key>/all.npy``: the finished per-row array (the chunks and plan are then deleted).

Sample first (:func:`sample_first_order`): a seeded random sample is processed first, then the rest in seeded
random chunks, so the rows finished at any moment are a random sample and a partial view
(:func:`load_partial_rows`) can be drawn long before the pass ends.

Every file is written to a unique temporary name and renamed (``storage.atomic_files``), with a sha256 sidecar; a file whose
checksum does not match is treated as missing and recomputed, never trusted.
"""

from __future__ import annotations

import errno
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
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


def remove_array(path: Path) -> None:
    """Delete a :func:`save_array` file and its checksum sidecar (either may be missing)."""
    path.unlink(missing_ok=True)
    path.with_suffix(".sha256").unlink(missing_ok=True)


def load_array(path: Path) -> np.ndarray | None:
    """The cached array, or None when it is missing, half-written or fails its checksum."""
    sidecar = path.with_suffix(".sha256")
    try:
        if sidecar.read_text().strip() != _checksum(path):
            remove_array(path)
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


SAMPLE_FIRST_SEED = 0  # fixed: the order never changes the values, only when each row is done


def sample_first_order(lengths, *, first_rows: int, chunk_rows: int, seed: int = SAMPLE_FIRST_SEED) -> np.ndarray:
    """A processing order (permutation of the rows); :func:`sample_first_plan` cuts it into chunks.

    The first ``first_rows`` rows are a seeded random sample; the rest follow in a seeded random order, cut
    into ``chunk_rows``-row chunks. Within each chunk rows are sorted by ``lengths`` so batches pad little.
    The chunks are random draws rather than length bands: generative entropy moves with text length, so
    finishing one length band after another would make the partial view a biased sample.
    """
    lengths = np.asarray(lengths)  # (n,)
    n = len(lengths)
    perm = np.random.default_rng(seed).permutation(n)  # (n,)
    first = min(max(int(first_rows), 0), n)
    stages = [perm[:first]] + [perm[s : s + chunk_rows] for s in range(first, n, max(1, chunk_rows))]
    parts = [rows[np.argsort(lengths[rows], kind="stable")] for rows in stages if len(rows)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


CHARS_PER_TOKEN = 4  # rough English rate: sizes a first stage in tokens before anything is tokenised


def first_stage_rows(row_costs, budget: float, minimum: int = 32) -> int:
    """How many random rows fit a first stage of ``budget`` cost units (e.g. tokens), at the pool's mean row cost."""
    costs = np.asarray(row_costs, dtype=np.float64)
    if len(costs) == 0:
        return 0
    return int(min(len(costs), max(minimum, budget // max(float(costs.mean()), 1.0))))


@dataclass(frozen=True)
class ChunkPlan:
    """How :func:`run_chunked` walks the rows: ``order`` (a permutation of the row indices, e.g. sorted by
    length) cut into a first chunk of ``first_chunk_rows`` rows (when given), then chunks of ``chunk_rows``."""

    order: np.ndarray
    chunk_rows: int = 256
    first_chunk_rows: int | None = None

    def bounds(self) -> list[tuple[int, int]]:
        """(start, stop) of each chunk, positions in ``order``."""
        n = len(self.order)
        first = min(max(int(self.first_chunk_rows), 0), n) if self.first_chunk_rows else 0
        starts = ([0] if first else []) + list(range(first, n, max(1, self.chunk_rows)))
        return [(a, starts[i + 1] if i + 1 < len(starts) else n) for i, a in enumerate(starts)]

    def fingerprint(self) -> str:
        """A short id of the order and the chunk cuts: chunks of another plan are never reused."""
        digest = hashlib.sha256(np.ascontiguousarray(self.order, dtype=np.int64).tobytes())
        digest.update(json.dumps(self.bounds()).encode())
        return digest.hexdigest()[:10]


def sample_first_plan(lengths, *, first_rows: int, chunk_rows: int) -> ChunkPlan:
    """The plan of :func:`sample_first_order`: its first chunk is exactly the random sample."""
    order = sample_first_order(lengths, first_rows=first_rows, chunk_rows=chunk_rows)
    return ChunkPlan(order, chunk_rows=chunk_rows, first_chunk_rows=first_rows)


def run_chunked(
    folder: Path | None,
    plan: ChunkPlan,
    compute: Callable[[np.ndarray], np.ndarray],
    *,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    label: str = "",
    first_stage_only: bool = False,
    step_rows: int | None = None,
    step_units: Callable[[np.ndarray], list[np.ndarray]] | None = None,
) -> np.ndarray | None:
    """Per-row values for all rows, computed chunk by chunk as ``plan`` says and cached per chunk under ``folder``.

    ``compute(rows)`` returns an array with ``len(rows)`` rows. The result is in row order. A killed run resumes
    from its finished chunks (of the same plan); a cancelled one also from the finished steps of the chunk it was
    in (kept as ``partial-*`` files, which the partial view reads too); ``folder=None`` caches nothing.
    ``first_stage_only`` computes (or finds) just the first chunk and returns None: every pass's first stage runs before any pass's rest (all partial views
    early; scoring.engine.score_dataset). A chunk is computed in steps, with progress and a cancel check each
    step (a 1,500-row LM chunk on 2 cores froze the progress for minutes): ``step_rows`` rows at a time, or
    timed steps of whole units (:class:`_Step`): ``step_units(rows)`` cuts the chunk into units (positions in
    ``rows``, e.g. the LM's token-budget batches planned over the whole chunk), so stepping never changes how
    the pass packs its batches.
    """
    order = plan.order
    n = len(order)
    if folder is not None:
        done = load_array(folder / "all.npy")
        if done is not None and len(done) == n:
            if progress:
                progress(n, n, f"{label}: cached")
            return done
    plan_id = plan.fingerprint()
    if folder is not None and load_array(folder / f"plan-{plan_id}.npy") is None:
        save_array(folder / f"plan-{plan_id}.npy", np.asarray(order, dtype=np.int64))
    parts: list[np.ndarray] = []
    rows_done = 0
    for start, stop in plan.bounds():
        rows = order[start:stop]
        chunk_path = folder / f"chunk-{plan_id}-{start:09d}-{len(rows)}.npy" if folder is not None else None
        values = load_array(chunk_path) if chunk_path is not None else None
        if values is None:
            partial = partial_chunk_paths(chunk_path) if chunk_path is not None else None
            step = _Step(compute, progress, cancel, label, rows_done, n, partial)
            values = step.run(rows, step_units(rows) if step_units and len(rows) else None, step_rows)
            if chunk_path is not None:
                save_array(chunk_path, values)
                for path in partial:
                    remove_array(path)
        parts.append(values)
        rows_done += len(rows)
        if progress:
            progress(rows_done, n, label)
        if first_stage_only:
            return None
    return _finished(folder, order, parts)


def _finished(folder: Path | None, order: np.ndarray, parts: list[np.ndarray]) -> np.ndarray:
    """The chunks' values back in row order, saved as ``all.npy`` (the chunks and plans then deleted)."""
    if not parts:
        return np.zeros((0,), dtype=np.float32)
    sorted_values = np.concatenate(parts, axis=0)
    result = np.empty_like(sorted_values)
    result[order] = sorted_values  # back from processing order to row order
    if folder is not None:
        save_array(folder / "all.npy", result)
        for leftover in [*folder.glob("chunk-*"), *folder.glob("plan-*"), *folder.glob("partial-*")]:
            leftover.unlink(missing_ok=True)
    return result


STEP_SECONDS = 2.0  # a timed step's target length: progress and the cancel check about this often


def partial_chunk_paths(chunk_path: Path) -> tuple[Path, Path]:
    """Where a cancelled chunk keeps its finished steps: (positions in the chunk, their values)."""
    stem = chunk_path.stem.replace("chunk-", "partial-", 1)
    return chunk_path.with_name(f"{stem}-rows.npy"), chunk_path.with_name(f"{stem}-values.npy")


def load_partial_chunk(paths: tuple[Path, Path], chunk_rows: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(positions, values) a cancelled run kept of one chunk; None when absent or inconsistent (a kill between the
    two writes leaves lengths that differ: the chunk is then computed whole, as before)."""
    positions, values = load_array(paths[0]), load_array(paths[1])
    if positions is None or values is None or len(positions) != len(values) or not len(positions):
        return None
    if positions.min() < 0 or positions.max() >= chunk_rows:
        return None
    return positions.astype(np.int64), values


class _Step:
    """Computes one chunk a step at a time: progress after each step, the cancel check before each.

    Fixed steps: ``step_rows`` rows each (the whole chunk when None). Timed steps: consecutive whole units, as
    many as took about :data:`STEP_SECONDS` at the rate of the step before (the first step one unit, each next
    at most twice the last), so progress comes every few seconds on an idle or a busy machine while the units,
    and so every batch, are those of the whole chunk.
    """

    def __init__(self, compute, progress, cancel, label: str, rows_done: int, n: int, partial=None):
        self.compute, self.progress, self.cancel = compute, progress, cancel
        self.label, self.rows_done, self.n = label, rows_done, n
        self.partial = partial  # partial_chunk_paths(...): a cancel keeps the finished steps there, a rerun resumes

    def _resumed(self, rows: np.ndarray, units: list[np.ndarray]):
        """(out, have, units left): the steps a cancelled run kept, and the units still to compute."""
        kept = load_partial_chunk(self.partial, len(rows)) if self.partial is not None else None
        have = np.zeros(len(rows), dtype=bool)
        if kept is None:
            return None, have, units
        positions, values = kept
        out = np.empty((len(rows), *values.shape[1:]), dtype=values.dtype)
        out[positions], have[positions] = values, True
        return out, have, [u for u in units if not have[u].all()]

    def _keep(self, out: np.ndarray | None, have: np.ndarray) -> None:
        if self.partial is None or out is None or not have.any():
            return
        positions = np.flatnonzero(have)
        save_array(self.partial[1], out[positions])  # values first: the positions file completes the pair
        save_array(self.partial[0], positions)

    def run(self, rows: np.ndarray, units: list[np.ndarray] | None, step_rows: int | None) -> np.ndarray:
        if not len(rows):
            return np.asarray(self.compute(rows))
        timed = units is not None
        if units is None:
            size = max(1, step_rows or len(rows))
            units = [np.arange(s, min(s + size, len(rows))) for s in range(0, len(rows), size)]
        if sum(len(u) for u in units) != len(rows):
            raise ValueError(f"{self.label}: the step units cover {sum(len(u) for u in units)} of {len(rows)} rows")
        out, have, units = self._resumed(rows, units)
        done, first, take = int(have.sum()), 0, 1
        while first < len(units):
            if self.cancel is not None and self.cancel():
                self._keep(out, have)
                raise ScoringCancelled(
                    f"{self.label} cancelled after {self.rows_done + done} of {self.n} rows (every finished row is kept)"
                )
            positions = np.concatenate(units[first : first + take])
            started = time.perf_counter()
            values = np.asarray(self.compute(rows[positions]))
            seconds = time.perf_counter() - started
            if out is None:
                out = np.empty((len(rows), *values.shape[1:]), dtype=values.dtype)
            out[positions], have[positions] = values, True
            first, done = first + take, done + len(positions)
            if self.progress and first < len(units):
                self.progress(self.rows_done + done, self.n, self.label)
            if timed:
                take = max(1, min(2 * take, int(take * STEP_SECONDS / max(seconds, 1e-3))))
        return out


def load_partial_rows(folder: Path, n_rows: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``(rows, values)`` finished so far under a :func:`run_chunked` folder, read while the job may be running.

    ``rows`` (sorted row indices) and ``values`` (one per row, in that order) come from the finished chunks of
    the newest plan, or from ``all.npy`` when the pass is complete; None when nothing is finished. A chunk the
    job deletes while it is read is skipped: it is in ``all.npy`` by then, read on the next call.
    """
    done = load_array(folder / "all.npy")
    if done is not None and len(done) == n_rows:
        return np.arange(n_rows), done
    plans = sorted(folder.glob("plan-*.npy"), key=_mtime_or_zero)
    if not plans:
        return None
    plan = plans[-1].stem.removeprefix("plan-")
    try:
        order = load_array(plans[-1])
    except OSError:
        return None
    if order is None or len(order) != n_rows:
        return None
    rows_parts, value_parts = [], []
    for chunk in folder.glob(f"chunk-{plan}-*.npy"):
        start, count = (int(x) for x in chunk.stem.split("-")[-2:])
        try:
            values = load_array(chunk)
        except OSError:  # deleted by the finishing job between glob and read
            continue
        if values is not None and len(values) == count:
            rows_parts.append(order[start : start + count])
            value_parts.append(values)
    for rows_file in folder.glob(f"partial-{plan}-*-rows.npy"):  # a cancelled run's finished steps
        start, count = (int(x) for x in rows_file.stem.split("-")[-3:-1])
        chunk = folder / f"chunk-{plan}-{start:09d}-{count}.npy"
        kept = None if chunk.exists() else load_partial_chunk(partial_chunk_paths(chunk), count)
        if kept is not None:
            rows_parts.append(order[start + kept[0]])
            value_parts.append(kept[1])
    if not rows_parts:
        return None
    rows = np.concatenate(rows_parts)
    values = np.concatenate(value_parts, axis=0)
    by_row = np.argsort(rows, kind="stable")
    return rows[by_row], values[by_row]


def _mtime_or_zero(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
