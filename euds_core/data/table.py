"""The one normalised table every dataset becomes (docs/data-and-models.md), its content hash, and column guessing.

``normalise_table`` turns any raw frame into the columns ``id`` (unique string), ``text`` (what is scored),
``label`` (optional) and, for Q&A, ``question`` and ``answer`` with ``text = question + "\\n\\n" + answer``.
``dataset_hash`` of that table is the dataset's id, so the same data loaded twice hits the same cache entries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError

TABLE_COLUMNS = ("id", "text", "label", "question", "answer", "defect")  # defect: data/defects.py
QA_SEPARATOR = "\n\n"
COLUMN_OPTIONS = ("text_col", "label_col", "question_col", "answer_col", "id_col")  # --text-col ... --id-col


def column_options(**chosen: str | None) -> dict[str, str | None]:
    """All five column options (:data:`COLUMN_OPTIONS`), None where not chosen; a misspelt one is a TypeError."""
    unknown = sorted(set(chosen) - set(COLUMN_OPTIONS))
    if unknown:
        raise TypeError(f"unknown column option(s) {', '.join(unknown)}; expected {', '.join(COLUMN_OPTIONS)}")
    return {name: chosen.get(name) for name in COLUMN_OPTIONS}


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
    raw: pd.DataFrame, *, allow_empty: bool = False, **columns: str | None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Turn a user table into the normalised table; returns it with counts of skipped rows by reason.

    ``columns`` are the column options (:data:`COLUMN_OPTIONS`, as ``load_dataset`` takes them). Q&A data is given by ``question_col`` + ``answer_col`` (then ``text`` is built from them); otherwise
    ``text_col`` (guessed when None). Rows whose text is missing or empty are skipped and counted, not fatal;
    when none is left that is an error, unless ``allow_empty`` (one batch of a streamed pool).
    """
    text_col, label_col, question_col, answer_col, id_col = column_options(**columns).values()
    if raw.empty or len(raw.columns) == 0:
        raise EudsInputError("the data has no rows; check the file is not empty and has a header line")
    raw = raw.copy()
    raw.columns = [str(c) for c in raw.columns]
    if id_col is None and {"defect", "id"} <= set(raw.columns):
        id_col = "id"  # an injected pool (data/defects.py): its ids name the near-copy groups
    _check_chosen_columns(
        list(raw.columns), text=text_col, label=label_col, question=question_col, answer=answer_col, id=id_col
    )
    skipped: dict[str, int] = {}
    if question_col is not None:
        raw = _drop_rows(raw, raw[question_col].isna() | raw[answer_col].isna(), "missing question or answer", skipped)
        out = pd.DataFrame(index=raw.index)
        out["question"], out["answer"] = _clean_text(raw[question_col]), _clean_text(raw[answer_col])
        out["text"] = out["question"] + QA_SEPARATOR + out["answer"]
    else:
        text_col = text_col or guess_text_column(raw)
        raw = _drop_rows(raw, raw[text_col].isna(), "missing text", skipped)
        out = pd.DataFrame({"text": _clean_text(raw[text_col])}, index=raw.index)
    keep = _drop_rows(out, out["text"].str.len() == 0, "empty text", skipped).index
    if label_col is not None:
        keep = _drop_rows(raw.loc[keep], raw.loc[keep, label_col].isna(), "missing label", skipped).index
        out.loc[keep, "label"] = _label_strings(raw.loc[keep, label_col])
    out, raw = out.loc[keep], raw.loc[keep]
    if "defect" in raw.columns and "defect" not in (text_col, label_col, question_col, answer_col, id_col):
        out["defect"] = raw["defect"].fillna("").astype(str).str.strip()  # injected-defect flags travel along
    out["id"] = _unique_ids(raw[id_col], id_col) if id_col is not None else [f"row-{i}" for i in out.index]
    if out.empty and not allow_empty:
        reasons = ", ".join(f"{n} {r}" for r, n in skipped.items()) or "no rows"
        raise EudsInputError(f"no usable rows left after loading ({reasons}); check the chosen text column")
    ordered = [c for c in TABLE_COLUMNS if c in out.columns]
    return out[ordered].reset_index(drop=True), skipped


def _check_chosen_columns(columns: list[str], **chosen: str | None) -> None:
    """Every chosen column exists (a message listing the real ones), and Q&A names both its columns."""
    for role, col in chosen.items():
        if col is not None and col not in columns:
            raise EudsInputError(
                f"no column '{col}' for the {role}; the columns are: {', '.join(columns[:30])}. "
                f"Pass --{role}-col with one of them"
            )
    if (chosen["question"] is None) != (chosen["answer"] is None):
        raise EudsInputError("Q&A data needs both --question-col and --answer-col")


def _drop_rows(frame: pd.DataFrame, drop: pd.Series, reason: str, skipped: dict[str, int]) -> pd.DataFrame:
    """``frame`` without the rows ``drop`` marks, counted under ``reason`` in ``skipped`` (skipped, not fatal)."""
    if drop.any():
        skipped[reason] = skipped.get(reason, 0) + int(drop.sum())
    return frame[~drop]


def _unique_ids(ids: pd.Series, id_col: str) -> np.ndarray:
    ids = ids.astype(str)
    dup = ids[ids.duplicated()]
    if len(dup):
        raise EudsInputError(
            f"the id column '{id_col}' has {len(dup)} duplicate values (e.g. '{dup.iloc[0]}'); ids must be unique"
        )
    return ids.to_numpy()


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
