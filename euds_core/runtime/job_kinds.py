"""The background job kinds: a plain table from kind name to function, read by :mod:`euds_core.runtime.jobs`.

Each function takes JSON-able args and a :class:`JobReporter`, and returns a JSON-able result. The work's
modules are imported inside each function, so reading the table (e.g. the server checking a kind) stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable

from euds_core.runtime.job_reporter import JobReporter


def score_job(args: dict, reporter: JobReporter) -> dict:
    """Score a workspace dataset: args = {dataset_id, scores: [...], device, batch_size, options}."""
    from euds_core.data.datasets import load_saved_dataset
    from euds_core.scoring.engine import expand_score_names, score_dataset

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


def finetune_job(args: dict, reporter: JobReporter) -> dict:
    """A fine-tune grid (strategies x sizes x seeds); runs land in SQLite as they finish (euds_core/experiments/finetune.py)."""
    from euds_core.experiments.grid_job import grid_job

    return grid_job(args, reporter.update, reporter.cancelled)


def interval_search_job(args: dict, reporter: JobReporter) -> dict:
    """The optimal-interval grid of one score; the grid is saved as CSV in the workspace (interval_search.py)."""
    from euds_core.experiments.interval_search import search_job

    return search_job(args, reporter.update, reporter.cancelled)


def selection_study_job(args: dict, reporter: JobReporter) -> dict:
    """The wider search's winner vs random vs full, confirmed by fine-tunes (experiments/study.py)."""
    from euds_core.experiments.study import study_job

    return study_job(args, reporter.update, reporter.cancelled)


def inject_sweep_job(args: dict, reporter: JobReporter) -> dict:
    """The Selection study's break-even sweep: gain over random against injected defect rates (inject_sweep.py)."""
    from euds_core.experiments.inject_sweep import sweep_job

    return sweep_job(args, reporter.update, reporter.cancelled)


def train_selection_job(args: dict, reporter: JobReporter) -> dict:
    """Explore's "Train this selection": its kept rows vs label-stratified random (experiments/selection_check.py)."""
    from euds_core.experiments.selection_check import check_job

    return check_job(args, reporter.update, reporter.cancelled)


def map_job(args: dict, reporter: JobReporter) -> dict:
    """The 2-D map (UMAP + HDBSCAN) of a dataset's cached embeddings: args = {dataset_id, encoder}. Pages only read
    the cached map; computing it in the server blocked Review's first click for ~90 s (issue 25)."""
    from euds_core.data.datasets import load_saved_dataset
    from euds_core.errors import EudsInputError
    from euds_core.models.embeddings import load_cached_embeddings
    from euds_core.selection.embed_map import compute_embedding_map
    from euds_core.storage.cache import DatasetCache

    dataset = load_saved_dataset(args["dataset_id"])
    embeddings = load_cached_embeddings(dataset.id, len(dataset.table), args["encoder"])
    if embeddings is None:
        raise EudsInputError("the map needs the encoder embeddings: score semantic first")
    reporter.update(0.05, f"UMAP + HDBSCAN of {len(embeddings):,} embeddings", force=True)
    emap = compute_embedding_map(embeddings, seed=0, cache=DatasetCache(dataset.id))
    return {"rows": emap.n_rows, "clusters": emap.n_clusters}


JobFunction = Callable[[dict, JobReporter], dict]
JOB_KINDS: dict[str, JobFunction] = {
    "score": score_job,
    "finetune": finetune_job,
    "interval_search": interval_search_job,
    "selection_study": selection_study_job,
    "map": map_job,
    "train_selection": train_selection_job,
    "inject_sweep": inject_sweep_job,
}
