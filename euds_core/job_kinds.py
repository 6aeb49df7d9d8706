"""The built-in background job kinds. Each takes JSON-able args and a JobReporter, returns a JSON-able result."""

from __future__ import annotations

from euds_core.jobs import JobReporter, register_job_kind


@register_job_kind("score")
def score_job(args: dict, reporter: JobReporter) -> dict:
    """Score a workspace dataset: args = {dataset_id, scores: [...], device, batch_size, options}."""
    from euds_core.datasets import load_saved_dataset
    from euds_core.scoring import expand_score_names, score_dataset

    dataset = load_saved_dataset(args["dataset_id"])
    names = expand_score_names(args["scores"])

    def progress(name: str, done: int, total: int, message: str) -> None:
        # Overall fraction: finished scores count whole, the current one by its rows.
        i = names.index(name)
        fraction = (i + (done / total if total else 1.0)) / len(names)
        reporter.update(
            fraction,
            f"{name}: {done:,} of {total:,} rows" + (f" ({message})" if message and message != name else ""),
            force=done >= total,
        )

    scores = score_dataset(
        dataset,
        names,
        device=args.get("device", "auto"),
        batch_size=args.get("batch_size"),
        options=args.get("options"),
        progress=progress,
        cancel=reporter.cancelled,
    )
    return {"scores": list(scores.columns), "rows": len(scores)}


@register_job_kind("finetune")
def finetune_job(args: dict, reporter: JobReporter) -> dict:
    """A fine-tune grid (strategies x sizes x seeds); runs land in SQLite as they finish (euds_core/finetune.py)."""
    from euds_core.finetune import grid_job

    return grid_job(args, reporter.update, reporter.cancelled)


@register_job_kind("interval_search")
def interval_search_job(args: dict, reporter: JobReporter) -> dict:
    """The optimal-interval grid of one score; the grid is saved as CSV in the workspace (interval_search.py)."""
    from euds_core.interval_search import search_job

    return search_job(args, reporter.update, reporter.cancelled)
