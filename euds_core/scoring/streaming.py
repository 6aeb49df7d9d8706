"""Streaming scoring with bounded memory: ``score FILE --stream`` for a pool larger than memory.

The input is read in Arrow record batches of ``batch_rows`` rows (Parquet, CSV/TSV, JSONL, or a Hugging Face
``save_to_disk`` folder); each batch is normalised by :func:`~euds_core.data.datasets.normalise_table`, scored, and
written to a shard in a work folder beside OUT (``OUT.parts/part-00012.parquet``). At the end the shards are
streamed into OUT with one ``ParquetWriter`` and the work folder is deleted; a killed run resumes from its
finished shards.

Which scores stream is decided per scorer, by what one row's value depends on:

* row-local (the row alone), so batch-by-batch values equal the in-memory values row for row:
  ``information`` (token variant; the ``corpus`` variant counts words over the pool), ``generative``,
  ``perplexity``, ``ifd``, ``ttr``, ``mtld``, ``distinct_2``;
* two passes: ``semantic``. Embeddings are per row and go to an on-disk ``.npy`` memmap; the k-means topics are
  fitted on a seeded sample of at most 20,000 rows (all rows when fewer: then the values equal the in-memory
  scorer's), and every row is then assigned chunk by chunk;
* combinations (``igse``, ``ig``, ``is``, ``gs``): percentile ranks over the finished member columns, at the end;
* anything else compares a row with the other rows (kNN distance, near duplicates, a classifier or
  EL2N head trained on them) and is refused up front.

Memory: one batch of rows plus a few bytes per row, whatever the dataset's size (4 per row for each member of a
combination, and 8 per row with ``--id-col`` to check the ids are unique across batches).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock, Timeout

from euds_core.data.stream_readers import (
    DEFAULT_BATCH_ROWS,
    StreamSource,
    iter_source_batches,
    open_stream_source,
    release_arrow_memory,
)
from euds_core.data.table import TABLE_COLUMNS, Dataset, column_options
from euds_core.errors import EudsInputError
from euds_core.scores import make_scorer
from euds_core.scoring.engine import DEFAULT_BATCH_SIZES, check_columns, checked_scores, expand_score_names
from euds_core.storage.atomic_files import atomic_path, write_json_atomic
from euds_core.storage.cache import DatasetCache, load_array, save_array
from euds_core.storage.workspace import workspace_dir

SEMANTIC_SAMPLE_ROWS = 20_000  # k-means rows: 20k x 384 float32 is 30 MB and fits in seconds on 2 cores
ASSIGN_CHUNK_ROWS = 16_384  # embedding rows read back at once: 25 MB at 384 dims, whatever the pool
ROW_LOCAL_SCORES = ("information", "generative", "perplexity", "ifd", "ttr", "mtld", "distinct_2")
TWO_PASS_SCORES = ("semantic",)
COMBINATION_SCORES = ("igse", "ig", "is", "gs")
WORK_FORMAT = 1  # part of the work folder's identity: bump when the shard layout changes


# (stage, rows done, rows total or None when unknown, message); stages: scoring, semantic, writing
StreamProgressFn = Callable[[str, int, "int | None", str], None]


# ---------------------------------------------------------------------------------------------- scoring


@dataclass
class StreamResult:
    """What a streaming run wrote: OUT, its row count, the score columns, skipped rows and the dataset id."""

    out: Path
    rows: int
    names: list[str]
    skipped: dict[str, int]
    dataset_id: str  # datasets.dataset_hash of the scored table: the id the in-memory path gives the same data


def streamable(scorer) -> bool:
    """Whether ``scorer`` can be computed batch by batch (see the module docstring for the rule)."""
    if scorer.name == "information":
        return getattr(scorer, "variant", "token") == "token"
    return scorer.name in ROW_LOCAL_SCORES + TWO_PASS_SCORES + COMBINATION_SCORES


def _streamable_names() -> str:
    """The names --stream accepts, comma-separated, for error messages."""
    return ", ".join(ROW_LOCAL_SCORES + TWO_PASS_SCORES + COMBINATION_SCORES)


def score_file_streaming(
    path: str | Path,
    names: list[str],
    *,
    out: str | Path,
    device: str = "auto",
    batch_size: int | None = None,
    options: dict | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: StreamProgressFn | None = None,
    **columns: str | None,
) -> StreamResult:
    """Score the file at ``path`` batch by batch into the Parquet file ``out``; returns a :class:`StreamResult`.
    ``columns`` are the column options (``text_col`` ... ``id_col``, as ``load_dataset`` takes them).

    OUT gets the columns of ``scoring.scores_with_table`` (id, text, label, question/answer, then one float32
    column per score, dependencies included, in ``expand_score_names`` order) with the values the in-memory
    ``score_dataset`` gives (semantic: up to the k-means sample, see the module docstring). Work goes to
    ``OUT.parts/``; a rerun with the same arguments resumes from its finished shards, one with other
    arguments starts clean.
    """
    out = _checked_stream_output(out, batch_rows)
    columns = column_options(**columns)
    names = expand_score_names(names)
    scorers = _streamable_scorers(names, options, columns)
    source = open_stream_source(path)
    identity = {
        "format": WORK_FORMAT,
        "input": str(source.path.resolve()),
        "files": _fingerprint(source),
        "columns": columns,
        "batch_rows": batch_rows,
        "scores": {n: scorers[n].params() for n in names if n not in COMBINATION_SCORES},
        "semantic_sample_rows": SEMANTIC_SAMPLE_ROWS,
    }
    with exclusive_output(out):
        work = _open_work_folder(out.with_name(out.name + ".parts"), identity)
        device_name, rows_per_batch = _device_and_batch(scorers, device, batch_size)
        skipped: dict[str, int] = {}
        counts = _score_row_local_batches(
            source, columns, batch_rows, skipped, work, scorers, device_name, rows_per_batch, progress
        )
        extra = _score_pool_columns(work, counts, names, scorers, progress)
        _write_output(work, counts, names, extra, out, progress)
        dataset_id = file_dataset_hash(out)
        shutil.rmtree(work)
    return StreamResult(out=out, rows=sum(counts), names=names, skipped=skipped, dataset_id=dataset_id)


@contextmanager
def exclusive_output(out: Path):
    """Hold the one lock of ``out`` for the run: a second ``score --stream`` to the same file would share its
    work folder (and empty it when its identity differs), so it stops with a clear message instead. The lock
    is a ``filelock`` lock in the workspace (``locks/``): an OS lock (flock on POSIX, msvcrt on Windows) that the
    kernel releases when the process ends, even on kill -9.
    """
    key = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:16]
    lock = FileLock(workspace_dir("locks") / f"stream-{key}.lock", timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise EudsInputError(
            f"another `score --stream` is writing {out}; wait for it to finish or choose another --out"
        ) from None
    try:
        yield
    finally:
        lock.release()


def _checked_stream_output(out: str | Path, batch_rows: int) -> Path:
    out = Path(out).expanduser()
    if out.suffix.lower() != ".parquet":
        raise EudsInputError(f"--stream writes Parquet only; give --out ending in .parquet, not '{out.name}'")
    if not out.parent.exists():
        raise EudsInputError(f"the folder of --out does not exist: {out.parent}")
    if batch_rows <= 0:
        raise EudsInputError("--stream-batch-rows must be a positive number of rows")
    return out


def _streamable_scorers(names: list[str], options: dict | None, columns: dict) -> dict:
    """name -> scorer for every requested score; a clear error for one that cannot stream or lacks a column."""
    scorers = {name: make_scorer(name, options) for name in names}
    refused = [name for name, scorer in scorers.items() if not streamable(scorer)]
    if refused:
        why = "its 'corpus' variant counts words over" if refused[0] == "information" else "it compares each row with"
        raise EudsInputError(
            f"score '{refused[0]}' cannot be streamed ({why} the whole pool); --stream supports "
            f"{_streamable_names()}; score it without --stream"
        )
    table_columns = [
        "id",
        "text",
        *(["label"] if columns["label_col"] else []),
        *(["question", "answer"] if columns["question_col"] else []),
    ]
    check_columns(Dataset("stream", "unlabelled", pd.DataFrame(columns=table_columns)), names)
    return scorers


def _device_and_batch(scorers: dict, device: str, batch_size: int | None) -> tuple[str, int]:
    if not any(s.uses_model for s in scorers.values()):  # torch is imported only when a model runs
        return "cpu", batch_size or DEFAULT_BATCH_SIZES["cpu"]
    from euds_core.models.loading import resolve_device

    device_name = resolve_device(device)
    return device_name, batch_size or DEFAULT_BATCH_SIZES["cuda" if device_name.startswith("cuda") else "cpu"]


def _score_row_local_batches(
    source: StreamSource,
    columns: dict,
    batch_rows: int,
    skipped: dict[str, int],
    work: Path,
    scorers: dict,
    device_name: str,
    rows_per_batch: int,
    progress: StreamProgressFn | None,
) -> list[int]:
    """Pass 1: each batch's row-local scores to a shard (and its semantic embeddings to a .npy); resumable.

    Returns the usable rows per batch: shard i holds rows sum(counts[:i]) .. sum(counts[:i+1]).
    """
    row_local = [n for n in scorers if n in ROW_LOCAL_SCORES]
    semantic = scorers.get("semantic")
    counts: list[int] = []
    embeddings_done = (work / "embeddings.done").exists()
    for i, table in enumerate(iter_source_batches(source, columns, batch_rows, skipped)):
        shard, emb_path = work / f"part-{i:05d}.parquet", work / f"emb-{i:05d}.npy"
        resumed = _shard_rows(shard) == len(table) and (
            semantic is None or embeddings_done or load_array(emb_path) is not None
        )
        if not resumed:
            scratch = DatasetCache(f"batch-{i:05d}", root=work / "scratch")
            frame = table.copy()
            for name in row_local:
                values = np.zeros(0, dtype=np.float32)
                if len(table):
                    # A per-batch scratch cache: generative and perplexity share one LM pass, and a killed
                    # batch resumes from its finished LM chunks. It does not change the values.
                    values = scorers[name].score(table, device=device_name, batch_size=rows_per_batch, cache=scratch)
                frame[name] = checked_scores(name, values, len(table))
            if semantic is not None:
                emb = np.zeros((0, 0), dtype=np.float32)  # (n_batch, dim); an empty batch has no dim
                if len(table):
                    emb = semantic.embed(table, device=device_name, batch_size=rows_per_batch, cache=None)
                save_array(emb_path, np.asarray(emb, dtype=np.float32))  # before the shard, which marks the batch done
            _write_shard(frame, shard)
            shutil.rmtree(scratch.root, ignore_errors=True)
        counts.append(len(table))
        release_arrow_memory()
        if progress:
            read = sum(counts) + sum(skipped.values())
            progress("scoring", read, source.total_rows, f"batch {i + 1}" + (" (resumed)" if resumed else ""))
    if progress:
        read = sum(counts) + sum(skipped.values())
        progress("scoring", read, read, "done")
    return counts


def _score_pool_columns(
    work: Path, counts: list[int], names: list[str], scorers: dict, progress: StreamProgressFn | None
) -> dict[str, np.ndarray]:
    """Pass 2: the scores that need the whole pool (semantic, combinations), (n_rows,) each, by name."""
    n_rows = sum(counts)
    extra: dict[str, np.ndarray] = {}
    if "semantic" in scorers:
        extra["semantic"] = _semantic_entropy(work, counts, scorers["semantic"], progress)
    for name in names:
        if name in COMBINATION_SCORES:
            scorer = scorers[name]
            members = {d: extra[d] if d in extra else _shard_column(work, counts, d) for d in scorer.depends_on}
            rows = pd.DataFrame(index=pd.RangeIndex(n_rows))  # combinations read only the row count (ranks, no model)
            values = scorer.score(rows, inputs=members)
            extra[name] = checked_scores(name, values, n_rows)
    return extra


def _fingerprint(source: StreamSource) -> list[list]:
    """[name, size, mtime_ns] of every data file: a changed input restarts the work folder."""
    return [[str(f.relative_to(source.path.parent)), f.stat().st_size, f.stat().st_mtime_ns] for f in source.files]


def _open_work_folder(work: Path, identity: dict) -> Path:
    """The work folder for a run with ``identity``: kept when it matches (resume), else emptied and started."""
    meta = work / "run.json"
    identity = json.loads(json.dumps(identity, sort_keys=True, default=str))  # as it reads back from disk
    if work.exists():
        if meta.exists() and json.loads(meta.read_text()) == identity:
            return work
        if not meta.exists() and any(work.iterdir()):
            raise EudsInputError(
                f"{work} exists and is not a --stream work folder; move it away or choose another --out"
            )
        shutil.rmtree(work)  # another run's shards (other input, columns or scores): start clean
    work.mkdir()
    write_json_atomic(meta, identity, indent=1, sort_keys=True)
    return work


def _write_shard(frame: pd.DataFrame, shard: Path) -> None:
    """Write one batch's table + row-local scores atomically (unique temp file + rename: a shard is whole or absent)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with atomic_path(shard) as tmp:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)


def _shard_rows(shard: Path) -> int | None:
    """Rows of a finished shard; None when it is missing or unreadable (then it is recomputed)."""
    import pyarrow.parquet as pq

    try:
        return pq.read_metadata(shard).num_rows if shard.exists() else None
    except Exception:  # a damaged file is recomputed, not trusted
        return None


def _shard_column(work: Path, counts: list[int], name: str) -> np.ndarray:
    """(n_rows,) float32 column ``name`` of all shards in row order (4 bytes per row)."""
    import pyarrow.parquet as pq

    parts = [pq.read_table(work / f"part-{i:05d}.parquet", columns=[name]).column(0) for i in range(len(counts))]
    return np.concatenate([p.to_numpy() for p in parts]).astype(np.float32)


def _semantic_entropy(work: Path, counts: list[int], scorer, progress: StreamProgressFn | None) -> np.ndarray:
    """(n_rows,) float32 semantic entropy: per-batch embeddings -> one memmap -> k-means on a sample -> assignment."""
    from numpy.lib.format import open_memmap

    path, done = work / "embeddings.npy", work / "embeddings.done"
    n_rows = sum(counts)
    if not done.exists():
        offset = 0
        for i, count in enumerate(counts):
            if not count:
                continue
            emb_path = work / f"emb-{i:05d}.npy"
            emb = load_array(emb_path)  # (count, dim)
            if emb is None or len(emb) != count:
                raise RuntimeError(f"{emb_path} is missing or damaged after pass 1")  # a bug: pass 1 checked it
            if offset == 0:
                # Created once, then reopened per batch, so only one batch's pages are mapped (and in RSS) at a time.
                open_memmap(path, mode="w+", dtype=np.float32, shape=(n_rows, emb.shape[1])).flush()
            target = np.load(path, mmap_mode="r+")  # (n_rows, dim) on disk
            target[offset : offset + count] = emb
            target.flush()
            del target
            offset += count
        done.write_text("ok")
        for emb_file in work.glob("emb-*"):
            emb_file.unlink()

    def rows(start: int, stop: int) -> np.ndarray:
        """(stop - start, dim) rows of the memmap, copied so the map closes: pages of an open map count in RSS."""
        mapped = np.load(path, mmap_mode="r")
        values = np.array(mapped[start:stop], dtype=np.float32)
        del mapped
        return values

    if n_rows <= SEMANTIC_SAMPLE_ROWS:
        sample = rows(0, n_rows)  # every row: the in-memory scorer's fit exactly
    else:
        rng = np.random.default_rng(scorer.seed)
        picked = np.sort(rng.choice(n_rows, size=SEMANTIC_SAMPLE_ROWS, replace=False))  # (sample,)
        # Gathered chunk by chunk: random reads through one map would fault in (and count) most of the file.
        parts = []
        for start in range(0, n_rows, ASSIGN_CHUNK_ROWS):
            inside = picked[(picked >= start) & (picked < start + ASSIGN_CHUNK_ROWS)] - start
            if len(inside):
                parts.append(rows(start, min(n_rows, start + ASSIGN_CHUNK_ROWS))[inside])
        sample = np.concatenate(parts)  # (sample, dim)
    centroid_sets = scorer.centroid_sets(sample)  # as SemanticScorer.score, fitted on the sample
    values = np.zeros(n_rows, dtype=np.float32)
    if centroid_sets:
        for start in range(0, n_rows, ASSIGN_CHUNK_ROWS):
            stop = min(n_rows, start + ASSIGN_CHUNK_ROWS)
            values[start:stop] = scorer.entropy(rows(start, stop), centroid_sets)
            if progress:
                progress("semantic", stop, n_rows, "topic assignment")
    elif progress:
        progress("semantic", n_rows, n_rows, "fewer than 2 distinct embeddings")
    return values


def _write_output(
    work: Path,
    counts: list[int],
    names: list[str],
    extra: dict[str, np.ndarray],
    out: Path,
    progress: StreamProgressFn | None,
) -> None:
    """Stream the shards plus the ``extra`` columns into ``out`` with one ParquetWriter (unique temp file + rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    first = next(i for i, count in enumerate(counts) if count)  # a shard with rows has the real column types
    base = [f for f in pq.read_schema(work / f"part-{first:05d}.parquet") if f.name in TABLE_COLUMNS]
    schema = pa.schema(base + [pa.field(n, pa.float32()) for n in names])
    offset = 0
    with atomic_path(out) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for i, count in enumerate(counts):
            table = pq.read_table(work / f"part-{i:05d}.parquet")
            for name, values in extra.items():
                table = table.append_column(name, pa.array(values[offset : offset + count], type=pa.float32()))
            writer.write_table(table.select(schema.names).cast(schema))
            offset += count
            release_arrow_memory()
            if progress:
                progress("writing", offset, sum(counts), out.name)


def file_dataset_hash(path: str | Path) -> str:
    """``datasets.dataset_hash`` of a normalised Parquet table, read one column and one row group at a time."""
    import hashlib

    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    digest = hashlib.sha256()
    for column in TABLE_COLUMNS:
        if column in file.schema_arrow.names:
            digest.update(column.encode())
            sep = b""
            for group in range(file.num_row_groups):
                values = [str(v) for v in file.read_row_group(group, columns=[column]).column(0).to_pylist()]
                if values:
                    # The same bytes as "\x1f".join(all values): a separator between row groups too.
                    digest.update(sep + "\x1f".join(values).encode("utf-8", "surrogatepass"))
                    sep = b"\x1f"
                release_arrow_memory()
    return digest.hexdigest()[:16]
