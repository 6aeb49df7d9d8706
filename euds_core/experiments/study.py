"""The Fine-tune page's selection study: the benchmark restricted to the search's winner and its baselines.

``study_job`` (the ``selection_study`` background job) searches a selection on the pool (cross-fitted linear
proxy, the permutation guard), then fine-tunes the winner, ``random`` and ``random:balanced`` at the same size
and the full pool, each measured on the test split. Its files live in ``EUDS_HOME/selection_study/<dataset>/``
(the benchmark's folder layout), so a rerun resumes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from euds_core.experiments.benchmark import BenchmarkConfig, run_benchmark
from euds_core.experiments.benchmark_store import CELL_COLUMNS, read_cells, read_searches
from euds_core.experiments.leaderboard import write_leaderboard
from euds_core.experiments.training import FinetuneConfig

STUDY_METHODS = ["random", "random:balanced", "full", "auto"]


def study_dir(dataset_id: str) -> Path:
    """Where the Fine-tune page's selection study of a dataset keeps its cells and leaderboard."""
    from euds_core.storage.workspace import workspace_dir

    return workspace_dir("selection_study") / dataset_id


def page_job_fields(args: dict) -> dict:
    """The sizes, seeds, scores and options of a page's benchmark job (the study's and the defect sweep's)."""
    return {
        "sizes": [float(s) for s in args.get("sizes", [0.16])],
        "seeds": [int(s) for s in args.get("seeds", [0, 1, 2])],
        "scores": list(args["scores"]),
        "options": args.get("options") or {},
    }


def study_config(args: dict) -> BenchmarkConfig:
    """The benchmark settings of a study job's args (cached scores only, the study's methods)."""
    fields = FinetuneConfig.__dataclass_fields__
    return BenchmarkConfig(
        mode="finetune",
        **page_job_fields(args),
        label_balanced=bool(args.get("label_balanced", True)),
        finetune=FinetuneConfig(**{k: v for k, v in (args.get("config") or {}).items() if k in fields}),
        methods=list(STUDY_METHODS),
        cached_only=True,
    )


def study_job(args: dict, update: Callable[[float, str], None], cancelled: Callable[[], bool]) -> dict:
    """The ``selection_study`` job. args = {dataset_id, sizes, seeds, scores, options, config (FinetuneConfig
    fields), label_balanced, threads}."""
    import torch

    from euds_core.data.datasets import load_saved_dataset

    if args.get("threads"):
        torch.set_num_threads(int(args["threads"]))
    dataset = load_saved_dataset(args["dataset_id"])
    out = study_dir(dataset.id)

    def progress(done: int, total: int, message: str) -> None:
        update(done / total if total else 0.0, message)

    cells = run_benchmark(dataset, study_config(args), out, progress=progress, cancel=cancelled)
    board = write_leaderboard(cells, out, mode="finetune", run_keys=[cells.attrs["run_key"]])
    return {"cells": len(cells), "rows": len(board)}


def load_study(dataset_id: str) -> tuple[pd.DataFrame, list[dict]]:
    """(cells of the latest study, its search summaries); empty when none ran yet."""
    out = study_dir(dataset_id)
    if not (out / "leaderboard.csv").exists():
        return pd.DataFrame(columns=CELL_COLUMNS), []
    cells = read_cells(out / "leaderboard.csv")
    keys = json.loads((out / "leaderboard.json").read_text(encoding="utf-8"))["run_keys"]
    return cells, read_searches(out, keys)
