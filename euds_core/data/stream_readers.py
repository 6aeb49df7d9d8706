"""Reading a table file in bounded batches: the readers behind ``score FILE --stream``.

Parquet, CSV/TSV, JSONL or a Hugging Face ``save_to_disk`` folder is read as Arrow record batches of
``batch_rows`` rows and each batch is normalised by :func:`~euds_core.data.table.normalise_table` (the same
columns, cleaning and messages as the in-memory readers), so memory is one batch whatever the file's size.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
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
from euds_core.data.table import column_options, guess_text_column, normalise_table
from euds_core.errors import EudsInputError

DEFAULT_BATCH_ROWS = 50_000


@dataclass
class StreamSource:
    """A streamable input: its format, data files, and what the in-memory reader would use as row labels."""

    path: Path
    fmt: str  # parquet | csv | jsonl | hf
    files: list[Path]
    total_rows: int | None = None  # raw rows when the format says so up front (Parquet), else None
    index_columns: list[str] = field(default_factory=list)  # Parquet written with a pandas index: its columns
    range_start: int = 0  # Parquet written with a pandas RangeIndex(start, ..., step): row i is start + i * step
    range_step: int = 1


def open_stream_source(path: str | Path) -> StreamSource:
    """The input described as a :class:`StreamSource`; EudsInputError when it is missing or not streamable."""
    path = Path(path).expanduser()
    if not path.exists():
        raise EudsInputError(f"no such file or folder: {path}")
    if path.is_dir():
        return StreamSource(path, "hf", _hf_arrow_files(path))
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
    return StreamSource(path, "csv" if suffix in CSV_SUFFIXES else "jsonl", [path])


def _parquet_source(path: Path) -> StreamSource:
    """A Parquet source; a pandas index stored in the file labels the rows, as ``pd.read_parquet`` would."""
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        total = pq.read_metadata(path).num_rows
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise EudsInputError(
            f"could not read {path.name}: {first_error_line(exc)}; is it really a parquet file?"
        ) from None
    source = StreamSource(path, "parquet", [path], total_rows=total)
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


def _arrow_batches(source: StreamSource, columns: list[str] | None) -> Iterator:
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
def _read_errors(source: StreamSource) -> Iterator[None]:
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


def _raw_frames(source: StreamSource, columns: list[str] | None, batch_rows: int) -> Iterator[pd.DataFrame]:
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


def _source_columns(source: StreamSource, batch_rows: int) -> list[str]:
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
    path: str | Path, *, batch_rows: int = DEFAULT_BATCH_ROWS, skipped: dict[str, int] | None = None, **columns
) -> Iterator[pd.DataFrame]:
    """Normalised tables (``normalise_table``'s columns and cleaning) of ``batch_rows`` input rows each;
    ``columns`` are the column options (``text_col`` ... ``id_col``).

    A batch whose rows were all skipped yields an empty table, so batch ``i`` always covers the same input rows.
    Without ``id_col`` the ids are the global row numbers (``row-{i}``), as the in-memory path gives for the
    same file; with it, ids are checked unique across batches. Skipped rows are added by reason to ``skipped``.
    Without ``text_col`` (and no Q&A columns) the text column is guessed once, from the first batch. Raises
    EudsInputError for a missing column, an unsupported or empty file, or when no row is usable.
    """
    if batch_rows <= 0:
        raise EudsInputError("--stream-batch-rows must be a positive number of rows")
    source = open_stream_source(path)
    skipped = skipped if skipped is not None else {}
    yield from iter_source_batches(source, column_options(**columns), batch_rows, skipped)


def iter_source_batches(
    source: StreamSource, columns: dict, batch_rows: int, skipped: dict[str, int]
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


def release_arrow_memory() -> None:
    """Hand Arrow's freed buffers back to the OS: its allocator otherwise keeps each batch's peak, growing RSS."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
