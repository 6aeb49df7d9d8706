"""Where fine-tune runs are kept: the ``finetune_runs`` table of the workspace's SQLite store.

One row per (grid key, strategy, size, seed), written as the run finishes; its ``params`` JSON holds the subset's
digest, the score the grid ranked by and the packed per-test-row results (``correct``). A page or report reads
one grid's runs (:func:`load_runs` with a grid key, or :func:`latest_grid_runs`), never several joined.
"""

from __future__ import annotations

import json

import pandas as pd

from euds_core.experiments.training import RunResult
from euds_core.storage.store import connect, now, to_json

RESULT_COLUMNS = ["strategy", "size_fraction", "n_train", "seed", "accuracy", "macro_f1", "train_seconds"]


def save_run(dataset_id: str, grid_key: str, strategy: str, size_fraction: float, seed: int, result: RunResult) -> None:
    """One finished run; its per-test-row correctness goes into ``params`` (packed), for the intervals."""
    from euds_core.experiments.statistics import pack_correct

    if result.correct is not None:
        result.params = {**result.params, "correct": pack_correct(result.correct)}
    with connect() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO finetune_runs (dataset_id, grid_key, strategy, size_fraction, seed, n_train, accuracy,"
            " macro_f1, train_seconds, params, created) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                dataset_id,
                grid_key,
                strategy,
                float(size_fraction),
                int(seed),
                int(result.n_train),
                result.accuracy,
                result.macro_f1,
                result.train_seconds,
                to_json(result.params),
                now(),
            ),
        )


def load_runs(dataset_id: str, grid_key: str | None = None) -> pd.DataFrame:
    """Finished runs (the CSV columns plus grid_key, params, created, and ``correct``: the packed per-test-row
    results, empty for runs saved before them), oldest first. Without ``grid_key``: every grid's runs, which
    only :func:`latest_grid_runs` or a grid key may turn into one answer."""
    query, params = "SELECT * FROM finetune_runs WHERE dataset_id=?", [dataset_id]
    if grid_key is not None:
        query, params = query + " AND grid_key=?", [*params, grid_key]
    with connect() as conn:
        rows = [dict(r) for r in conn.execute(query + " ORDER BY created", params)]
    frame = (
        pd.DataFrame(rows, columns=["dataset_id", "grid_key", *RESULT_COLUMNS, "params", "created"])
        if not rows
        else pd.DataFrame(rows)
    )
    frame = frame[["grid_key", *RESULT_COLUMNS, "params", "created"]]
    return frame.assign(correct=[json.loads(p or "{}").get("correct", "") for p in frame["params"]])


def latest_grid_runs(dataset_id: str, score: str | None = None) -> pd.DataFrame:
    """The runs of the dataset's most recently active grid (grids with other settings never mix); with
    ``score``, of the latest grid whose bands ranked by that score (a run's params record it)."""
    runs = load_runs(dataset_id)
    if score is not None and not runs.empty:
        runs = runs[[json.loads(p or "{}").get("score") == score for p in runs["params"]]]
    if runs.empty:
        return runs
    newest = runs.sort_values("created").iloc[-1]["grid_key"]
    return runs[runs["grid_key"] == newest].reset_index(drop=True)
