"""Your own test set: a file of test rows appended to the pool, marked by an id prefix.

:func:`attach_test_file` returns one dataset holding the pool rows followed by the test file's rows, whose ids
start with :data:`TEST_ID_PREFIX`. Experiments read :func:`appended_test_rows` and use exactly those rows as the
test split (``experiment_split(test_rows=...)``); no choice sees them. Because the mark is in the table, the
combined dataset saved in the workspace keeps its test split on every page and in every job.

Pool rows whose normalised text (case and spacing folded) equals a test row's are counted and reported:
a model trained on them has seen the test row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from euds_core.data.table import Dataset
from euds_core.errors import EudsInputError

TEST_ID_PREFIX = "testfile:"


@dataclass
class PoolWithTestFile:
    dataset: Dataset  # pool rows, then the test rows
    test_rows: np.ndarray  # row indices of the test rows in dataset.table
    pool_duplicates: np.ndarray  # pool row indices whose normalised text equals a test row's


def normalised_texts(texts: pd.Series) -> np.ndarray:
    return texts.astype(str).str.lower().str.split().str.join(" ").to_numpy()


def attach_test_file(pool: Dataset, test: Dataset) -> PoolWithTestFile:
    """The pool with the test file's rows appended (see the module docstring); checks both have the same task."""
    if pool.task != test.task:
        raise EudsInputError(
            f"the test file is {test.task} data but the pool is {pool.task}; give the same columns for both"
        )
    if pool.has_labels:
        unknown = sorted(set(test.table["label"].astype(str)) - set(pool.table["label"].astype(str)))
        if unknown:
            raise EudsInputError(f"the test file has labels the pool lacks: {', '.join(unknown[:5])}")
    if (pool.table["id"].astype(str).str.startswith(TEST_ID_PREFIX)).any():
        raise EudsInputError("the pool already holds test-file rows; attach the test file to the plain pool")
    columns = [c for c in pool.table.columns if c != "defect"]
    missing = sorted(set(columns) - set(test.table.columns))
    if missing:
        raise EudsInputError(f"the test file lacks the column(s) {', '.join(missing)} that the pool has")
    tail = test.table[columns].copy()
    tail["id"] = TEST_ID_PREFIX + tail["id"].astype(str)
    if "defect" in pool.table.columns:
        tail["defect"] = ""
    table = pd.concat([pool.table, tail], ignore_index=True)
    test_rows = np.arange(len(pool.table), len(table))
    test_texts = set(normalised_texts(tail["text"]))
    duplicates = np.flatnonzero([t in test_texts for t in normalised_texts(pool.table["text"])])
    combined = Dataset(
        name=f"{pool.name}+test:{test.name}",
        task=pool.task,
        table=table,
        source=f"{pool.source} + test {test.source}",
        skipped={**pool.skipped, **{f"test file: {k}": v for k, v in test.skipped.items()}},
    )
    return PoolWithTestFile(combined, test_rows, duplicates)


def appended_test_rows(table: pd.DataFrame) -> np.ndarray | None:
    """Row indices of appended test-file rows, or None when the table has none (the usual fraction split)."""
    marked = table["id"].astype(str).str.startswith(TEST_ID_PREFIX).to_numpy()
    return np.flatnonzero(marked) if marked.any() else None


def duplicates_message(attachment: PoolWithTestFile) -> str:
    n = len(attachment.pool_duplicates)
    if n == 0:
        return f"test file: {len(attachment.test_rows)} rows; no pool row duplicates a test row"
    return (
        f"test file: {len(attachment.test_rows)} rows; {n} pool row(s) duplicate a test row (same text up to "
        "case and spacing) and can inflate the test accuracy; remove them from the pool file to be safe"
    )
