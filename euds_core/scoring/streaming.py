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
* anything else compares a row with the rest of the pool (kNN distance, near duplicates, a classifier or
  EL2N head trained on the pool) and is refused up front.

Memory: one batch of rows plus a few bytes per row, whatever the pool size (4 per row for each member of a
combination, and 8 per row with ``--id-col`` to check the ids are unique across batches).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from euds_core.data.readers import (
    CSV_SUFFIXES,
    JSONL_SUFFIXES,
    PARQUET_SUFFIXES,
    file_suffix,
    first_error_line,
    sniff_csv_delimiter,
)
from euds_core.data.table import TABLE_COLUMNS, Dataset, guess_text_column, normalise_table
from euds_core.errors import EudsInputError
from euds_core.scores import make_scorer
from euds_core.scoring.engine import DEFAULT_BATCH_SIZES, check_columns, checked_scores, expand_score_names
from euds_core.storage.atomic_files import atomic_path, write_json_atomic
from euds_core.storage.cache import DatasetCache, load_array, save_array

DEFAULT_BATCH_ROWS = 50_000
SEMANTIC_SAMPLE_ROWS = 20_000  # k-means rows: 20k x 384 float32 is 30 MB and fits in seconds on 2 cores
ASSIGN_CHUNK_ROWS = 16_384  # embedding rows read back at once: 25 MB at 384 dims, whatever the pool
ROW_LOCAL_SCORES = ("information", "generative", "perplexity", "ifd", "ttr", "mtld", "distinct_2")
TWO_PASS_SCORES = ("semantic",)
COMBINATION_SCORES = ("igse", "ig", "is", "gs")
WORK_FORMAT = 1  # part of the work folder's identity: bump when the shard layout changes


# (stage, rows done, rows total or None when unknown, message); stages: scoring, semantic, writing
StreamProgressFn = Callable[[str, int, "int | None", str], None]


# ---------------------------------------------------------------------------------------------- reading


@dataclass
class _Source:
    """A streamable input: its format, data files, and what the in-memory reader would use as row labels."""

    path: Path
    fmt: str  # parquet | csv | jsonl | hf
    files: list[Path]
    total_rows: int | None = None  # raw rows when the format says so up front (Parquet), else None
    index_columns: list[str] = field(default_factory=list)  # Parquet written with a pandas index: its columns
    range_start: int = 0  # Parquet written with a pandas RangeIndex(start, ..., step): row i is start + i * step
    range_step: int = 1


def _open_source(path: str | Path) -> _Source:
    """The input described as a :class:`_Source`; EudsInputError when it is missing or not streamable."""
    path = Path(path).expanduser()
    if not path.exists():
        raise EudsInputError(f"no such file or folder: {path}")
    if path.is_dir():
        return _Source(path, "hf", _hf_arrow_files(path))
    suffix = file_suffix(path)
    if suffix == ".json":
        raise EudsInputError(
            f"{path.name} is one JSON document, which cannot be read in batches; convert it to .jsonl "
            "(one record per line) or .parquet, or score it without --stream"
        )
    if suffix not in CSV_SUFFIXES + JSONL_SUFFIXES + PARQUET_SUFFIXES:
        raise EudsInputError(
            f"unsupported file type '{path.suffix}' for --stream; use .csv, .tsv, .jsonl, .parquet "
            "or a save_to_disk folder"
        )
    if path.stat().st_size == 0:
        raise EudsInputError(f"{path.name} is empty; it needs a header line and at least one row")
    if suffix in PARQUET_SUFFIXES:
        return _parquet_source(path)
    return _Source(path, "csv" if suffix in CSV_SUFFIXES else "jsonl", [path])


def _parquet_source(path: Path) -> _Source:
    """A Parquet source; a pandas index stored in the file labels the rows, as ``pd.read_parquet`` would."""
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        total = pq.read_metadata(path).num_rows
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise EudsInputError(
            f"could not read {path.name}: {first_error_line(exc)}; is it really a parquet file?"
        ) from None
    source = _Source(path, "parquet", [path], total_rows=total)
    index = (schema.pandas_metadata or {}).get("index_columns") or []
    if all(isinstance(i, str) for i in index):
        source.index_columns = [i for i in index if i in schema.names]
    elif len(index) == 1 and index[0].get("kind") == "range":
        source.range_start, source.range_step = int(index[0].get("start", 0)), int(index[0].get("step", 1))
    return source


def _hf_arrow_files(path: Path) -> list[Path]:
    """The ``.arrow`` files of a save_to_disk folder in row order (a DatasetDict: its 'train' split, else the first)."""
    if (path / "dataset_dict.json").exists():
        splits = json.loads((path / "dataset_dict.json").read_text()).get("splits") or []
        if not splits:
            raise EudsInputError(f"{path} is a DatasetDict folder with no splits")
        return _hf_arrow_files(path / ("train" if "train" in splits else splits[0]))
    if not ((path / "dataset_info.json").exists() or (path / "state.json").exists()):
        raise EudsInputError(f"{path} is a folder but not a Hugging Face save_to_disk folder (no dataset_info.json)")
    state = path / "state.json"
    if state.exists():
        files = [path / f["filename"] for f in json.loads(state.read_text()).get("_data_files") or []]
    else:
        files = sorted(path.glob("*.arrow"))
    if not files or not all(f.exists() for f in files):
        raise EudsInputError(f"{path} is missing its .arrow data files; save it again with save_to_disk")
    return files


def _csv_read_options(path: Path) -> tuple[str, str]:
    """(encoding, delimiter) as ``datasets._read_csv`` chooses them: BOM -> UTF-16, .tsv -> tab, else sniffed."""
    import pyarrow as pa

    with pa.input_stream(str(path), compression="detect") as fh:  # sniff the text, not the gzip bytes
        sample = fh.read(1 << 16)
    if sample.startswith(b"PK\x03\x04"):
        raise EudsInputError(f"{path.name} is a zip archive, not a CSV; unzip it first")
    encoding = "utf-16" if sample.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf8"
    if path.name.lower().endswith((".tsv", ".tsv.gz")):
        return encoding, "\t"
    return encoding, sniff_csv_delimiter(sample.decode("utf-16" if encoding == "utf-16" else "utf-8", errors="ignore"))


def _arrow_batches(source: _Source, columns: list[str] | None) -> Iterator:
    """pyarrow RecordBatches of the source with only ``columns`` (None: all), in file order, any size."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if source.fmt == "parquet":
        wanted = None if columns is None else list(dict.fromkeys(columns + source.index_columns))
        yield from pq.ParquetFile(source.path).iter_batches(batch_size=65_536, columns=wanted)
    elif source.fmt == "csv":
        encoding, delimiter = _csv_read_options(source.path)
        read = pcsv.ReadOptions(encoding=encoding)
        parse = pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
        with pcsv.open_csv(source.path, read_options=read, parse_options=parse) as probe:
            names = probe.schema.names
        # As datasets._read_csv: every column a string, and only an empty field is missing (not "NA", "null").
        convert = pcsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            null_values=[""],
            strings_can_be_null=True,
            include_columns=columns,
        )
        with pcsv.open_csv(source.path, read_options=read, parse_options=parse, convert_options=convert) as reader:
            yield from reader
    else:  # hf: Arrow IPC streams
        for path in source.files:
            # OSFile, not memory_map: mapped pages count in RSS for as long as the map is open (the whole file).
            with pa.OSFile(str(path)) as fh, pa.ipc.open_stream(fh) as reader:
                for batch in reader:
                    yield batch if columns is None else batch.select(columns)


def _rebatch(batches: Iterable, rows: int) -> Iterator:
    """pyarrow Tables of exactly ``rows`` rows (the last one shorter) cut from batches of any size (zero-copy)."""
    import pyarrow as pa

    pending, count = [], 0
    for batch in batches:
        while batch.num_rows:
            take = min(rows - count, batch.num_rows)
            pending.append(batch.slice(0, take))
            count, batch = count + take, batch.slice(take)
            if count == rows:
                yield pa.Table.from_batches(pending)
                pending, count = [], 0
    if count:
        yield pa.Table.from_batches(pending)


@contextmanager
def _read_errors(source: _Source) -> Iterator[None]:
    """Turn a parser's exception while reading ``source`` into a one-line EudsInputError (as read_table_file)."""
    kind = {"hf": "save_to_disk"}.get(source.fmt, source.fmt)
    try:
        yield
    except EudsInputError:
        raise
    except UnicodeDecodeError as exc:
        raise EudsInputError(
            f"{source.path.name} is not valid UTF-8 text ({exc.reason}); re-save it as UTF-8"
        ) from None
    except Exception as exc:  # pyarrow and the parsers raise many types for a corrupt file
        if "invalid UTF8" in str(exc):  # pyarrow's wording for what read_table_file reports as UnicodeDecodeError
            raise EudsInputError(f"{source.path.name} is not valid UTF-8 text; re-save it as UTF-8") from None
        raise EudsInputError(
            f"could not read {source.path.name}: {first_error_line(exc)}; is it really a {kind} file?"
        ) from None


def _raw_frames(source: _Source, columns: list[str] | None, batch_rows: int) -> Iterator[pd.DataFrame]:
    """Raw (not yet normalised) frames of ``batch_rows`` rows with only ``columns`` (None: all)."""
    with _read_errors(source):
        if source.fmt == "jsonl":
            with pd.read_json(source.path, lines=True, dtype=False, chunksize=batch_rows) as reader:
                for chunk in reader:
                    # A JSONL chunk lacks a key no record in it has; the whole-file frame has it as missing.
                    yield chunk if columns is None else chunk.reindex(columns=columns)
        else:
            for table in _rebatch(_arrow_batches(source, columns), batch_rows):
                # Without the pandas metadata: the index columns are set by iter_table_batches, not by pyarrow.
                yield table.replace_schema_metadata(None).to_pandas()


def _source_columns(source: _Source, batch_rows: int) -> list[str]:
    """The input's column names (for a JSONL file: those of its first batch), without a stored pandas index."""
    if source.fmt == "jsonl":
        first = next(_raw_frames(source, None, batch_rows), None)
        return [] if first is None else [str(c) for c in first.columns]
    with _read_errors(source):
        batches = _arrow_batches(source, None)
        batch = next(batches, None)
        batches.close()
    names = [] if batch is None else batch.schema.names
    return [n for n in names if n not in source.index_columns]


def iter_table_batches(
    path: str | Path,
    *,
    text_col: str | None = None,
    label_col: str | None = None,
    question_col: str | None = None,
    answer_col: str | None = None,
    id_col: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    skipped: dict[str, int] | None = None,
) -> Iterator[pd.DataFrame]:
    """Normalised tables (``normalise_table``'s columns and cleaning) of ``batch_rows`` input rows each.

    A batch whose rows were all skipped yields an empty table, so batch ``i`` always covers the same input rows.
    Without ``id_col`` the ids are the global row numbers (``row-{i}``), as the in-memory path gives for the
    same file; with it, ids are checked unique across batches. Skipped rows are added by reason to ``skipped``.
    Without ``text_col`` (and no Q&A columns) the text column is guessed once, from the first batch. Raises
    EudsInputError for a missing column, an unsupported or empty file, or when no row is usable.
    """
    if batch_rows <= 0:
        raise EudsInputError("--stream-batch-rows must be a positive number of rows")
    source = _open_source(path)
    yield from _iter_source_batches(
        source,
        {
            "text_col": text_col,
            "label_col": label_col,
            "question_col": question_col,
            "answer_col": answer_col,
            "id_col": id_col,
        },
        batch_rows,
        skipped if skipped is not None else {},
    )


def _iter_source_batches(
    source: _Source, columns: dict, batch_rows: int, skipped: dict[str, int]
) -> Iterator[pd.DataFrame]:
    """:func:`iter_table_batches` over an opened source (see there)."""
    names = _source_columns(source, batch_rows)
    if not names:
        raise EudsInputError("the data has no rows; check the file is not empty and has a header line")
    # normalise_table's own column checks (same messages as the in-memory path) on a one-row probe.
    normalise_table(pd.DataFrame({n: ["x"] for n in names}), **columns)
    columns = dict(columns)
    if columns["text_col"] is None and columns["question_col"] is None:
        first = next(_raw_frames(source, None, batch_rows), None)
        if first is None or first.empty:
            raise EudsInputError("the data has no rows; check the file is not empty and has a header line")
        columns["text_col"] = guess_text_column(first)  # once: a per-batch guess could change between batches
    needed = list(dict.fromkeys(c for c in columns.values() if c is not None))
    seen_ids = np.empty(0, dtype=np.uint64)  # (n_seen,) sorted hashes of the ids so far (with id_col only)
    offset = kept = 0
    for raw in _raw_frames(source, needed, batch_rows):
        if source.index_columns:
            raw = raw.set_index(source.index_columns)
        else:
            raw.index = pd.RangeIndex(len(raw)) * source.range_step + source.range_start + offset * source.range_step
        offset += len(raw)
        table, batch_skipped = normalise_table(raw, **columns, allow_empty=True)  # a batch may lose every row
        for reason, count in batch_skipped.items():
            skipped[reason] = skipped.get(reason, 0) + count
        if columns["id_col"] is not None and len(table):
            # 64-bit hashes: a false clash among 10^8 ids has odds ~3e-4; normalise_table checked within the batch.
            hashes = pd.util.hash_array(table["id"].to_numpy(dtype=object))  # (n_batch,)
            clash = np.isin(hashes, seen_ids)
            if clash.any():
                raise EudsInputError(
                    f"the id column '{columns['id_col']}' has duplicate values (e.g. "
                    f"'{table['id'][clash].iloc[0]}'); ids must be unique"
                )
            seen_ids = np.union1d(seen_ids, hashes)
        kept += len(table)
        yield table
    if offset == 0:
        raise EudsInputError("the data has no rows; check the file is not empty and has a header line")
    if kept == 0:
        reasons = ", ".join(f"{n} {r}" for r, n in skipped.items()) or "no rows"
        raise EudsInputError(f"no usable rows left after loading ({reasons}); check the chosen text column")


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
    text_col: str | None = None,
    label_col: str | None = None,
    question_col: str | None = None,
    answer_col: str | None = None,
    id_col: str | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    options: dict | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: StreamProgressFn | None = None,
) -> StreamResult:
    """Score the file at ``path`` batch by batch into the Parquet file ``out``; returns a :class:`StreamResult`.

    OUT gets the columns of ``scoring.scores_with_table`` (id, text, label, question/answer, then one float32
    column per score, dependencies included, in ``expand_score_names`` order) with the values the in-memory
    ``score_dataset`` gives (semantic: up to the k-means sample, see the module docstring). Work goes to
    ``OUT.parts/``; a rerun with the same arguments resumes from its finished shards, one with other
    arguments starts clean.
    """
    out = Path(out).expanduser()
    if out.suffix.lower() != ".parquet":
        raise EudsInputError(f"--stream writes Parquet only; give --out ending in .parquet, not '{out.name}'")
    if not out.parent.exists():
        raise EudsInputError(f"the folder of --out does not exist: {out.parent}")
    if batch_rows <= 0:
        raise EudsInputError("--stream-batch-rows must be a positive number of rows")
    names = expand_score_names(names)
    scorers = {name: make_scorer(name, options) for name in names}
    refused = [name for name, scorer in scorers.items() if not streamable(scorer)]
    if refused:
        why = "its 'corpus' variant counts words over" if refused[0] == "information" else "it compares each row with"
        raise EudsInputError(
            f"score '{refused[0]}' cannot be streamed ({why} the whole pool); --stream supports "
            f"{_streamable_names()}; score it without --stream"
        )
    columns = {
        "text_col": text_col,
        "label_col": label_col,
        "question_col": question_col,
        "answer_col": answer_col,
        "id_col": id_col,
    }
    table_columns = ["id", "text", *(["label"] if label_col else []), *(["question", "answer"] if question_col else [])]
    check_columns(Dataset("stream", "unlabelled", pd.DataFrame(columns=table_columns)), names)
    source = _open_source(path)

    row_local = [n for n in names if n in ROW_LOCAL_SCORES]
    semantic = scorers.get("semantic")
    identity = {
        "format": WORK_FORMAT,
        "input": str(source.path.resolve()),
        "files": _fingerprint(source),
        "columns": columns,
        "batch_rows": batch_rows,
        "scores": {n: scorers[n].params() for n in names if n not in COMBINATION_SCORES},
        "semantic_sample_rows": SEMANTIC_SAMPLE_ROWS,
    }
    work = _open_work_folder(out.with_name(out.name + ".parts"), identity)

    device_name, rows_per_batch = "cpu", batch_size or DEFAULT_BATCH_SIZES["cpu"]
    if any(s.uses_model for s in scorers.values()):  # torch is imported only when a model runs
        from euds_core.models.loading import resolve_device

        device_name = resolve_device(device)
        rows_per_batch = batch_size or DEFAULT_BATCH_SIZES["cuda" if device_name.startswith("cuda") else "cpu"]

    skipped: dict[str, int] = {}
    counts: list[int] = []  # usable rows per batch; shard i holds rows sum(counts[:i]) .. sum(counts[:i+1])
    embeddings_done = (work / "embeddings.done").exists()
    for i, table in enumerate(_iter_source_batches(source, columns, batch_rows, skipped)):
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
        _release_arrow_memory()
        if progress:
            read = sum(counts) + sum(skipped.values())
            progress("scoring", read, source.total_rows, f"batch {i + 1}" + (" (resumed)" if resumed else ""))
    n_rows = sum(counts)
    if progress:
        read = n_rows + sum(skipped.values())
        progress("scoring", read, read, "done")

    extra: dict[str, np.ndarray] = {}  # (n_rows,) per score not stored in the shards
    if semantic is not None:
        extra["semantic"] = _semantic_entropy(work, counts, semantic, progress)
    for name in names:
        if name in COMBINATION_SCORES:
            scorer = scorers[name]
            members = {d: extra[d] if d in extra else _shard_column(work, counts, d) for d in scorer.depends_on}
            values = scorer.score(
                pd.DataFrame(index=pd.RangeIndex(n_rows)),  # combinations read only the row count
                device=device_name,
                batch_size=rows_per_batch,
                cache=None,
                inputs=members,
            )
            extra[name] = checked_scores(name, values, n_rows)
    _write_output(work, counts, names, extra, out, progress)
    dataset_id = file_dataset_hash(out)
    shutil.rmtree(work)
    return StreamResult(out=out, rows=n_rows, names=names, skipped=skipped, dataset_id=dataset_id)


def _fingerprint(source: _Source) -> list[list]:
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

    from euds_core.scores.semantic import fit_unit_centroids, soft_assignment_entropy

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
    k = min(scorer.k, len(np.unique(sample.round(6), axis=0)))  # as SemanticScorer.score: k distinct points
    values = np.zeros(n_rows, dtype=np.float32)
    if k >= 2:
        centroids = fit_unit_centroids(sample, k, scorer.seed)  # (k, dim)
        for start in range(0, n_rows, ASSIGN_CHUNK_ROWS):
            stop = min(n_rows, start + ASSIGN_CHUNK_ROWS)
            values[start:stop] = soft_assignment_entropy(rows(start, stop), centroids, scorer.tau)
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
            _release_arrow_memory()
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
                _release_arrow_memory()
    return digest.hexdigest()[:16]


def _release_arrow_memory() -> None:
    """Hand Arrow's freed buffers back to the OS: its allocator otherwise keeps each batch's peak, growing RSS."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
