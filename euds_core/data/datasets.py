"""Load any dataset by name, path or workspace id, and keep normalised copies in the workspace.

:func:`load_dataset` is the one entry point: a built-in name (:mod:`euds_core.data.builtins`), a user
file or folder (:mod:`euds_core.data.readers`, normalised by :mod:`euds_core.data.table`), or the 16-hex
id of a dataset already saved in the workspace.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from euds_core.data.builtins import BUILTIN_DATASETS, load_builtin
from euds_core.data.readers import read_table_file
from euds_core.data.table import Dataset, guess_label_column, guess_text_column, normalise_table
from euds_core.errors import EudsInputError
from euds_core.storage.atomic_files import atomic_path, write_json_atomic
from euds_core.storage.workspace import workspace_dir

LIMIT_SEED = 0  # --limit draws a seeded sample so a limited run is representative and reproducible


def load_dataset(
    spec: str | Path,
    *,
    text_col: str | None = None,
    label_col: str | None = None,
    question_col: str | None = None,
    answer_col: str | None = None,
    id_col: str | None = None,
    limit: int | None = None,
    guess_label: bool = False,
) -> Dataset:
    """Load a built-in (by name), a user file/folder (by path), or a dataset saved in the workspace (by id).

    ``guess_label`` (the app's ``?dataset=/path.csv`` links and the CLI's default): without ``label_col`` or Q&A
    columns, a file's label column is guessed as the Load page's default is (table.guess_label_column), so the
    app and the CLI give one file one dataset id.
    """
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
        if guess_label and label_col is None and question_col is None:
            label_col = guess_label_column(raw, text_col or guess_text_column(raw))
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
        with atomic_path(target) as tmp:
            dataset.table.to_parquet(tmp, index=False)
    meta = {
        "id": dataset_id,
        "name": dataset.name,
        "task": dataset.task,
        "source": dataset.source,
        "rows": len(dataset.table),
        "skipped": dataset.skipped,  # so the Load page, which reads the saved copy, can say why rows are missing
    }
    write_json_atomic(folder / f"{dataset_id}.json", meta, indent=1)
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
        skipped=meta.get("skipped", {}),
    )
