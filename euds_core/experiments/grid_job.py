"""The ``finetune`` background job: a grid from the job's JSON args, its progress as ``[run i/n p%]`` messages."""

from __future__ import annotations

import re
from collections.abc import Callable

from euds_core.errors import EudsInputError
from euds_core.experiments.finetune import DEFAULT_SIZES, GridSpec, grid_score_names, run_grid
from euds_core.experiments.training import CancelFn, FinetuneConfig


def grid_message(done: int, total: int, fraction: float, text: str) -> str:
    """The job message for a grid: ``[run 3/12 45%] text`` (see :func:`parse_grid_message`)."""
    return f"[run {min(done + 1, total)}/{total} {fraction * 100:.0f}%] {text}"


def parse_grid_message(message: str) -> tuple[int, int, float] | None:
    """(current run, runs planned, current run's fraction) from :func:`grid_message`'s text."""
    m = re.match(r"\[run (\d+)/(\d+) (\d+)%\]", message or "")
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)) / 100) if m else None


def grid_spec_from_args(args: dict) -> GridSpec:
    """A :class:`GridSpec` from a job's JSON args (``config`` holds :class:`FinetuneConfig` fields)."""
    config = FinetuneConfig(
        **{k: v for k, v in (args.get("config") or {}).items() if k in FinetuneConfig.__dataclass_fields__}
    )
    return GridSpec(
        strategies=list(args["strategies"]),
        sizes=[float(s) for s in args.get("sizes", DEFAULT_SIZES)],
        seeds=[int(s) for s in args.get("seeds", [0])],
        score=args.get("score"),
        band=args.get("band", "middle"),
        config=config,
        label_balanced=bool(args.get("label_balanced", False)),
    )


def grid_job(args: dict, update: Callable[[float, str], None], cancelled: CancelFn) -> dict:
    """The ``finetune`` job: args = {dataset_id, strategies, sizes, seeds, score, band, config, options, threads,
    selection_key (when a strategy is ``selection``)}.

    Scores come from the cache only (score the dataset first); progress goes to the job row as
    :func:`grid_message` text so the page can draw a bar per run and one overall.
    """
    import torch

    from euds_core.data.datasets import load_saved_dataset
    from euds_core.scoring.engine import score_dataset

    if args.get("threads"):
        torch.set_num_threads(int(args["threads"]))  # share the CPU politely with the app and other jobs
    spec = grid_spec_from_args(args)
    dataset = load_saved_dataset(args["dataset_id"])
    if args.get("selection_key"):  # the selection strategy: the ids the page saved (Explore's kept rows)
        from euds_core.experiments.finetune import with_selection
        from euds_core.experiments.selection_check import load_selection_ids

        spec = with_selection(spec, dataset.table, load_selection_ids(args["selection_key"]))
    names = grid_score_names(spec)
    scores = None
    if names:
        scores = score_dataset(dataset, names, options=args.get("options"), cached_only=True)
        missing = [n for n in names if n not in scores.columns]
        if missing:
            raise EudsInputError(
                f"the score(s) {', '.join(missing)} are not computed for this dataset yet; score them first"
            )

    def progress(done: int, total: int, fraction: float, message: str) -> None:
        update((done + fraction) / max(total, 1), grid_message(done, total, fraction, message))

    runs = run_grid(
        dataset.id,
        dataset.table,
        spec,
        task=dataset.task,
        scores=scores,
        score_options=args.get("options"),
        progress=progress,
        cancel=cancelled,
    )
    return {"grid_key": spec.key(dataset.id, scores), "runs": len(runs)}
