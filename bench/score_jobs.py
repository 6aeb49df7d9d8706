"""The app's "Score it" jobs on bbc_news in the bench's fresh workspace: shared by time_to_first_view and
full_pass_bbc_news."""

from __future__ import annotations

import os
import time


def start_app_score_jobs():
    """Save bbc_news into the (fresh) workspace and start the jobs the app starts for "Score it"
    (scoring.engine.score_job_groups: the model-free scores; every model pass in one process, first stages
    first), packaged models, default options. Returns (dataset, job ids, the dataset's feature folder)."""
    from euds_core.data.builtins import load_builtin
    from euds_core.data.datasets import save_dataset
    from euds_core.runtime.jobs import start_job
    from euds_core.scores import EUDS_SCORES
    from euds_core.scoring.engine import score_job_groups
    from euds_core.storage.cache import DatasetCache

    dataset = load_builtin("bbc_news")
    save_dataset(dataset)
    job_ids = [
        start_job(
            "score", {"dataset_id": dataset.id, "scores": group, "device": "cpu", "options": {}}, dataset_id=dataset.id
        )
        for group in score_job_groups(list(EUDS_SCORES))
    ]
    return dataset, job_ids, DatasetCache(dataset.id).root / "features"


def job_states(job_ids: list[str]) -> list:
    """The jobs' rows; raises when one failed (the figure would otherwise wait forever)."""
    from euds_core.runtime.jobs import get_job

    jobs = [get_job(j) for j in job_ids]
    if any(j.status == "failed" for j in jobs):
        raise RuntimeError(f"a score job failed: {[j.error for j in jobs if j.error]}")
    return jobs


def stop_jobs(job_ids: list[str]) -> None:
    """Cancel the bench's own jobs and end their processes (by id) now, not after the chunk in progress."""
    import signal

    from euds_core.runtime.jobs import cancel_job
    from euds_core.storage.store import connect

    for job_id in job_ids:
        cancel_job(job_id)
        with connect() as conn:
            row = conn.execute("SELECT pid, status FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row and row[0] and row[1] in ("queued", "running"):
            try:
                os.kill(int(row[0]), signal.SIGTERM)
            except ProcessLookupError:
                pass


def pass_started(features, prefix: str) -> bool:
    """Whether the feature pass ``prefix`` (``lm_stats``, ``embedding``) has written any rows yet."""
    return any(features.glob(f"{prefix}-*/chunk-*.npy")) or any(features.glob(f"{prefix}-*/all.npy"))


def pass_finished_at(features, prefix: str, t0_wall: float) -> float | None:
    """Seconds after ``t0_wall`` (time.time()) at which the pass ``prefix`` wrote its finished array, if it did."""
    done = [p.stat().st_mtime for p in features.glob(f"{prefix}-*/all.npy")]
    return max(done) - t0_wall if done else None


def wait_until_done(job_ids: list[str], poll: float = 2.0) -> None:
    while not all(j.status == "done" for j in job_states(job_ids)):
        time.sleep(poll)
