"""Load-page helpers: built-in listing, safe storage of uploads, column choosers, dataset summary."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from euds_core.data.builtins import describe_builtins
from euds_core.data.readers import READABLE_SUFFIXES, file_suffix, read_table_file, readable_formats_text
from euds_core.data.table import Dataset, guess_label_column, guess_text_column
from euds_core.errors import EudsInputError
from euds_core.storage.atomic_files import atomic_path
from euds_core.storage.workspace import workspace_dir
from ui.shared.charts import label_balance_figure, label_balance_table, length_histogram

NONE = "(none)"


@st.cache_data(show_spinner="Checking the built-in datasets…")
def builtin_table() -> pd.DataFrame:
    """One row per built-in: rows, labels, and which asset package is missing (install hint)."""
    frame = pd.DataFrame(describe_builtins())
    frame["rows"] = frame["rows"].astype("Int64")
    return frame


def store_upload(name: str, data: bytes) -> Path:
    """Write an upload under ``EUDS_HOME/uploads/<content hash><suffix>``.

    The user's file name never becomes a path (no traversal, no odd characters): only its suffix is kept,
    and only when it is one we read.
    """
    suffix = file_suffix(Path(name))
    if suffix not in READABLE_SUFFIXES:
        raise EudsInputError(f"unsupported file type '{suffix or name}'; upload {readable_formats_text()}")
    if not data:
        raise EudsInputError(f"{name} is empty; it needs a header line and at least one row")
    target = workspace_dir("uploads") / f"{hashlib.sha256(data).hexdigest()[:16]}{suffix}"
    if not target.exists():
        with atomic_path(target) as tmp:
            tmp.write_bytes(data)
    return target


def user_file_name(name: str) -> str:
    """The name an upload is shown under (sidebar, headers, exports, manifests): its base name, never a path."""
    return Path(name.replace("\\", "/")).name.strip()[:120] or "upload"


def in_users_words(message: str, path: str, name: str | None) -> str:
    """A reader's message about a stored upload, naming the user's file instead of its content-hash name."""
    if not name:
        return message
    return message.replace(str(Path(path).expanduser()), user_file_name(name)).replace(
        Path(path).name, user_file_name(name)
    )


@st.cache_data(show_spinner="Reading the file…", max_entries=4)
def read_raw(path: str, mtime: float) -> pd.DataFrame:
    return read_table_file(path)


def read_raw_file(path: str) -> pd.DataFrame:
    p = Path(path).expanduser()
    if not p.exists():
        raise EudsInputError(f"no such file or folder: {p}")
    return read_raw(str(p), p.stat().st_mtime)


def column_choices(raw: pd.DataFrame, key: str) -> dict:
    """Widgets choosing the text / label (or question / answer) columns, pre-set to the guesses."""
    columns = [str(c) for c in raw.columns]
    kind = st.radio(
        "Kind of data", ["Text (+ optional label)", "Question & answer"], key=f"{key}_kind", horizontal=True
    )
    c1, c2 = st.columns(2)
    if kind.startswith("Question"):
        q_guess = next(
            (c for c in columns if "question" in c.lower() or c.lower() in ("q", "prompt", "input")), columns[0]
        )
        a_guess = next(
            (c for c in columns if "answer" in c.lower() or c.lower() in ("a", "response", "output")), columns[-1]
        )
        question = c1.selectbox("Question column", columns, index=columns.index(q_guess), key=f"{key}_q")
        answer = c2.selectbox("Answer column", columns, index=columns.index(a_guess), key=f"{key}_a")
        label = st.selectbox("Label column (optional)", [NONE, *columns], key=f"{key}_qlabel")
        chosen = {"question_col": question, "answer_col": answer, "label_col": None if label == NONE else label}
        return {**chosen, "id_col": id_choice(columns, key)}
    try:
        text_guess = guess_text_column(raw)
    except EudsInputError:
        text_guess = columns[0]
    label_guess = guess_label_column(raw, text_guess)
    text = c1.selectbox("Text column", columns, index=columns.index(text_guess), key=f"{key}_text")
    options = [NONE, *columns]
    label = c2.selectbox(
        "Label column", options, index=options.index(label_guess) if label_guess in options else 0, key=f"{key}_label"
    )
    return {"text_col": text, "label_col": None if label == NONE else label, "id_col": id_choice(columns, key)}


def id_choice(columns: list[str], key: str) -> str | None:
    """The optional id column (the CLI's ``--id-col``): exports and review decisions then carry the file's own ids
    instead of ``row-<n>``. Not guessed, so a file loads as the same dataset id here and in the CLI by default."""
    chosen = st.selectbox(
        "Id column (optional)",
        [NONE, *columns],
        key=f"{key}_id",
        help="a column of unique ids; without one, rows are named row-0, row-1, … by their position in the file",
    )
    return None if chosen == NONE else chosen


def dataset_summary(dataset: Dataset) -> None:
    """Row count, id, label balance, text-length distribution and the first rows (text as plain cells)."""
    table = dataset.table
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Rows", f"{len(table):,}")
    c2.metric("Task", dataset.task)
    c3.metric("Labels", len(dataset.labels) if dataset.has_labels else "—")
    c4.metric("Median length", f"{int(np.median(table['text'].str.len())):,} chars")
    st.markdown("Dataset id (use it in links: `/Explore?dataset=<id>`)")
    st.code(dataset.id, language=None)
    if dataset.skipped:
        st.info(
            "Skipped while loading: "
            + ", ".join(f"{n:,} row{'' if n == 1 else 's'} ({reason})" for reason, n in dataset.skipped.items())
        )
    left, right = st.columns(2)
    with left:
        st.markdown("**Text length**")
        st.plotly_chart(length_histogram(table["text"].str.len().to_numpy()), width="stretch", key="load_lengths")
    with right:
        if dataset.has_labels:
            st.markdown("**Label balance**")
            st.plotly_chart(
                label_balance_figure(label_balance_table(table["label"])), width="stretch", key="load_labels"
            )
        else:
            st.caption("No label column: label balance and fine-tuning need one.")
    st.markdown("**First rows**")
    st.dataframe(
        table.head(20),
        hide_index=True,
        width="stretch",
        column_config={"text": st.column_config.TextColumn(width="large")},
    )
