"""User files and folders -> raw pandas frames: CSV/TSV, JSON/JSONL, Parquet, Hugging Face save_to_disk."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd

from euds_core.errors import EudsInputError

CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".csv.bz2", ".tsv.gz")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
# Every file suffix read_table_file reads (a .txt is read as delimited text, like .csv): the Load page's upload
# box and its messages take this one list, so the app accepts exactly what the library reads.
READABLE_SUFFIXES = CSV_SUFFIXES + JSONL_SUFFIXES + (".json",) + PARQUET_SUFFIXES


def readable_formats_text() -> str:
    """The readable suffixes in words: ``.csv, .tsv, ... or .pq``."""
    return ", ".join(READABLE_SUFFIXES[:-1]) + f" or {READABLE_SUFFIXES[-1]}"


def file_suffix(path: Path) -> str:
    """The lower-case suffix that names the format: ``.csv.gz`` for a compressed file, else the last one."""
    return "".join(path.suffixes[-2:]).lower() if path.suffix.lower() in (".bz2", ".gz") else path.suffix.lower()


def sniff_csv_delimiter(sample: str) -> str:
    """The delimiter of a CSV sample among , ; tab | (an unrestricted sniffer picks letters: "t" in "text")."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","  # one column, or nothing to tell: plain CSV


def read_table_file(path: str | Path) -> pd.DataFrame:
    """Read a user's CSV / TSV / JSONL / JSON / Parquet file or HF ``save_to_disk`` folder into a raw frame."""
    path = Path(path).expanduser()
    if not path.exists():
        raise EudsInputError(f"no such file or folder: {path}")
    if path.is_dir():
        return _read_hf_folder(path)
    suffix = file_suffix(path)
    try:
        if suffix in CSV_SUFFIXES:
            return _read_csv(path)
        if suffix in JSONL_SUFFIXES:
            return pd.read_json(path, lines=True, dtype=False)
        if suffix == ".json":
            return _read_json(path)
        if suffix in PARQUET_SUFFIXES:
            return pd.read_parquet(path)
    except EudsInputError:
        raise
    except UnicodeDecodeError as exc:
        raise EudsInputError(f"{path.name} is not valid UTF-8 text ({exc.reason}); re-save it as UTF-8") from None
    except ValueError as exc:
        raise EudsInputError(f"could not read {path.name} as {suffix[1:]}: {first_error_line(exc)}") from None
    except Exception as exc:  # pyarrow/parsers raise many types for a corrupt file
        raise EudsInputError(
            f"could not read {path.name}: {first_error_line(exc)}; is it really a {suffix[1:]} file?"
        ) from None
    raise EudsInputError(
        f"unsupported file type '{path.suffix}'; use {readable_formats_text()}, or a save_to_disk folder"
    )


def first_error_line(exc: BaseException) -> str:
    """The first line of an exception's message (parsers write pages), at most 300 characters."""
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _read_csv(path: Path) -> pd.DataFrame:
    head = path.open("rb").read(4)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    elif head.startswith(b"PK\x03\x04"):
        raise EudsInputError(f"{path.name} is a zip archive, not a CSV; unzip it first")
    else:
        encoding = "utf-8-sig"
    if path.stat().st_size == 0:
        raise EudsInputError(f"{path.name} is empty; it needs a header line and at least one row")
    if path.suffix.lower() == ".tsv":
        sep = "\t"
    else:
        with path.open("rb") as fh:
            sep = sniff_csv_delimiter(fh.read(1 << 16).decode(encoding.replace("-sig", ""), errors="ignore"))
    try:
        return pd.read_csv(path, sep=sep, encoding=encoding, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise EudsInputError(f"{path.name} is empty; it needs a header line and at least one row") from None


def _read_json(path: Path) -> pd.DataFrame:
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        lists = [k for k, v in data.items() if isinstance(v, list)]
        if len(lists) == 1:
            data = data[lists[0]]
        else:
            raise EudsInputError(f"{path.name} holds a JSON object, not a list of records; give a list or JSONL")
    return pd.DataFrame.from_records(data)


def _read_hf_folder(path: Path) -> pd.DataFrame:
    """A Hugging Face ``Dataset.save_to_disk`` folder (or a DatasetDict: its 'train' split, else the first)."""
    if not (
        (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists() or (path / "state.json").exists()
    ):
        raise EudsInputError(f"{path} is a folder but not a Hugging Face save_to_disk folder (no dataset_info.json)")
    try:
        from datasets import DatasetDict, load_from_disk
    except ImportError:  # pragma: no cover - datasets is in requirements.txt
        raise EudsInputError(
            "reading save_to_disk folders needs the 'datasets' package: pip install datasets"
        ) from None
    loaded = load_from_disk(str(path))
    if isinstance(loaded, DatasetDict):
        split = "train" if "train" in loaded else next(iter(loaded))
        loaded = loaded[split]
    return loaded.to_pandas()
