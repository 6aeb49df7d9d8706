"""Where a benchmark keeps what it measured, in its output folder (each file written atomically).

* ``cells.csv``: one row per finished cell (:data:`CELL_COLUMNS` plus ``run_key``), appended as cells finish;
* ``search.json`` and ``search-KEY-SIZE.csv``: each search's summary and every candidate;
* ``datasets.json``: per run key, what the leaderboard says about the data (pool rows near-duplicating a test
  row, and whether they were removed).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

CELL_COLUMNS = [
    "dataset",
    "method",
    "size_fraction",
    "seed",
    "n_train",
    "accuracy",
    "macro_f1",
    "seconds",
    "choice",
    "balanced",  # the method's rows are label-balanced (its matching baseline is random:balanced)
    "proxy_accuracy",  # the linear proxy on the same rows (= accuracy in proxy mode)
    "correct",  # per-test-row results, packed (experiments.statistics.pack_correct)
]


def read_cells(path: Path) -> pd.DataFrame:
    """Every finished cell of a folder (columns a file written before them lacks are empty)."""
    if not path.exists():
        return pd.DataFrame(columns=[*CELL_COLUMNS, "run_key"])
    cells = pd.read_csv(path, dtype={"run_key": str, "choice": str, "correct": str}, keep_default_na=False)
    for column in CELL_COLUMNS:
        if column not in cells.columns:
            cells[column] = ""
    return cells


def append_cell(path: Path, saved: pd.DataFrame, record: dict) -> pd.DataFrame:
    """``saved`` plus one finished cell, written to ``path`` at once (a crash keeps every finished cell)."""
    from euds_core.storage.atomic_files import atomic_path

    saved = pd.concat([saved, pd.DataFrame([record])], ignore_index=True)
    with atomic_path(path) as tmp:
        saved.to_csv(tmp, index=False)
    return saved


def finished_cell(saved: pd.DataFrame, run_key: str, dataset: str, method: str, size: float, seed: int):
    """The last finished cell of (method, size, seed) under ``run_key``, or None."""
    same = saved[
        (saved["run_key"] == run_key)
        & (saved["dataset"] == dataset)
        & (saved["method"] == method)
        & (saved["seed"].astype(int) == seed)
        & ((saved["size_fraction"].astype(float) - size).abs() < 1e-9)
    ]
    return None if same.empty else same.iloc[-1]


def search_summary_path(out_dir: Path) -> Path:
    return Path(out_dir) / "search.json"


def read_searches(out_dir: Path, run_keys: list[str] | None = None) -> list[dict]:
    """The saved search summaries (of ``run_keys`` only, when given)."""
    path = search_summary_path(out_dir)
    saved = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    return saved if run_keys is None else [s for s in saved if s.get("run_key") in run_keys]


def cached_searches(out_dir: Path, run_key: str) -> dict[float, dict]:
    return {round(float(s["size"]), 6): s for s in read_searches(out_dir, [run_key])}


def save_search(out_dir: Path, dataset_name: str, run_key: str, result) -> None:
    """A :class:`~euds_core.experiments.selection_search.SearchResult`'s summary and candidates."""
    from euds_core.storage.atomic_files import atomic_path, write_json_atomic

    saved = [
        s for s in read_searches(out_dir) if not (s.get("run_key") == run_key and np.isclose(s["size"], result.size))
    ]
    saved.append({**result.summary(), "dataset": dataset_name, "run_key": run_key})
    write_json_atomic(search_summary_path(out_dir), saved, indent=1)
    with atomic_path(Path(out_dir) / f"search-{run_key}-{result.size:g}.csv") as tmp:
        result.candidates.to_csv(tmp, index=False)


def save_dataset_note(out_dir: Path, run_key: str, note: dict) -> None:
    """What the leaderboard says about one run's data (``datasets.json``, keyed by run key)."""
    from euds_core.storage.atomic_files import write_json_atomic

    notes = read_dataset_notes(out_dir)
    notes[run_key] = note
    write_json_atomic(Path(out_dir) / "datasets.json", notes, indent=1)


def read_dataset_notes(out_dir: Path) -> dict[str, dict]:
    path = Path(out_dir) / "datasets.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
