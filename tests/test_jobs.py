import time

import pandas as pd
import pytest

from euds_core.data.datasets import save_dataset
from euds_core.data.table import Dataset
from euds_core.runtime.jobs import cancel_job, get_job, list_jobs, start_job
from euds_core.scoring.engine import score_dataset
from euds_core.storage.store import connect

OPTIONS = {"tokenizer": "whitespace", "encoder": "hashing"}


def saved_dataset(n=300):
    ds = Dataset(
        "t",
        "unlabelled",
        pd.DataFrame(
            {"id": [str(i) for i in range(n)], "text": [f"text number {i} with word{i % 13}" for i in range(n)]}
        ),
    )
    save_dataset(ds)
    return ds


def test_score_job_runs_in_child_and_fills_the_shared_cache():
    ds = saved_dataset()
    job_id = start_job(
        "score",
        {"dataset_id": ds.id, "scores": ["information", "semantic"], "options": OPTIONS},
        dataset_id=ds.id,
        wait=True,
    )
    job = get_job(job_id)
    assert job.status == "done", job.error
    assert job.progress == 1.0 and job.result == {"rows": 300, "scores": ["information", "semantic"]}
    cached = score_dataset(ds, ["information", "semantic"], options=OPTIONS, cached_only=True)
    assert list(cached.columns) == ["information", "semantic"]
    assert [j.id for j in list_jobs(ds.id)] == [job_id]


def test_cancel_flag_stops_a_job_between_batches(tiny_causal_lm_dir):
    ds = saved_dataset(3000)
    args = {
        "dataset_id": ds.id,
        "scores": ["generative"],
        "options": {"lm": str(tiny_causal_lm_dir)},
        "batch_size": 4,
        "device": "cpu",
    }
    job_id = start_job("score", args, dataset_id=ds.id)
    deadline = time.time() + 120
    while get_job(job_id).status == "queued" and time.time() < deadline:
        time.sleep(0.2)
    cancel_job(job_id)
    while get_job(job_id).active and time.time() < deadline:
        time.sleep(0.2)
    job = get_job(job_id)
    assert job.status == "cancelled", (job.status, job.error)
    assert "cancelled" in job.error


def test_failed_job_records_one_line_reason():
    job_id = start_job("score", {"dataset_id": "0" * 16, "scores": ["information"]}, wait=True)
    job = get_job(job_id)
    assert job.status == "failed" and "no dataset with id" in job.error


def test_dead_process_is_marked_failed():
    with connect() as conn:
        conn.execute(
            "INSERT INTO jobs (id, kind, args, status, pid, created, updated) VALUES ('ghost','score','{}','running',999999,0,0)"
        )
    assert get_job("ghost").status == "failed"


def test_unknown_kind_rejected():
    from euds_core.errors import EudsInputError

    with pytest.raises(EudsInputError):
        start_job("nope", {})


def test_eta_follows_the_recent_rate_not_the_whole_run():
    from collections import deque

    from euds_core.runtime.job_reporter import eta_from_samples

    # 60 s of warm-up to reach 10 %, then 1 % per second: the recent rate says 10 s for the last 10 %.
    samples = deque([(0.0, 0.0), (60.0, 0.10)] + [(60.0 + s, 0.10 + 0.01 * s) for s in range(1, 81)])
    eta = eta_from_samples(samples, window_s=30.0)
    assert eta == pytest.approx(10.0, rel=1e-6)
    assert samples[0][0] >= 140.0 - 31.0  # trimmed to about the window
    assert eta_from_samples(deque([(0.0, 0.0), (5.0, 0.0)])) is None  # no progress yet: no guess
