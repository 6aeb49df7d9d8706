"""Issue 25: jobs you can see and stop. An identical start attaches to the running job, finished job processes are
reaped (no zombie under the server), a chunk is computed in steps (progress and cancel every few seconds), and
the 2-D map is computed by a background job, never by a page."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from euds_core.errors import ScoringCancelled
from euds_core.runtime.jobs import get_job, list_jobs, start_job
from euds_core.storage.cache import ChunkPlan, run_chunked
from tests.test_jobs import OPTIONS, saved_dataset


def _wait_done(job_id: str, timeout_s: float = 120) -> None:
    deadline = time.time() + timeout_s
    while get_job(job_id).active and time.time() < deadline:
        time.sleep(0.2)
    assert not get_job(job_id).active


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def test_starting_the_same_job_twice_leaves_one_running_and_it_is_reaped():
    ds = saved_dataset(2000)
    args = {"dataset_id": ds.id, "scores": ["information", "semantic"], "options": OPTIONS}
    ids: list[str] = []
    starters = [threading.Thread(target=lambda: ids.append(start_job("score", args, dataset_id=ds.id))) for _ in "ab"]
    for t in starters:
        t.start()
    for t in starters:
        t.join()
    again = start_job("score", args, dataset_id=ds.id)
    assert len(set(ids + [again])) == 1, ids + [again]
    assert len(list_jobs(ds.id, "score")) == 1
    other = start_job("score", {**args, "scores": ["information"]}, dataset_id=ds.id)  # other args: its own job
    assert other != again
    for job_id in (again, other):
        _wait_done(job_id)
        assert get_job(job_id).status == "done", get_job(job_id).error
    from euds_core.storage.store import connect

    with connect() as conn:
        pids = [row["pid"] for row in conn.execute("SELECT pid FROM jobs").fetchall()]
    deadline = time.time() + 60  # a finished job's interpreter takes a moment to exit; then the reaper waits on it
    while any(_state(pid) not in (None, "Z") for pid in pids) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    assert pids and all(_state(pid) is None for pid in pids), [(pid, _state(pid)) for pid in pids]  # reaped


def test_a_chunk_is_computed_in_steps_with_progress_and_cancel_between_them():
    calls, reports = [], []
    order = np.arange(1000)

    def compute(rows):
        calls.append(len(rows))
        return rows.astype(np.float32) * 2

    values = run_chunked(
        None, ChunkPlan(order, chunk_rows=1000), compute, step_rows=100, progress=lambda d, n, m: reports.append(d)
    )
    np.testing.assert_array_equal(values, order * 2)
    assert calls == [100] * 10
    assert reports == [100 * i for i in range(1, 11)]
    calls.clear()
    with pytest.raises(ScoringCancelled):
        run_chunked(None, ChunkPlan(order, chunk_rows=1000), compute, step_rows=100, cancel=lambda: len(calls) >= 3)
    assert calls == [100] * 3  # stopped inside the chunk, not after all of it


def test_the_map_is_computed_by_a_job_and_pages_only_read_it():
    from euds_core.models.embeddings import compute_embeddings
    from euds_core.selection.embed_map import cached_embedding_map
    from euds_core.storage.cache import DatasetCache

    ds = saved_dataset(300)
    embeddings = compute_embeddings(ds.table, encoder="hashing", cache=DatasetCache(ds.id))
    assert cached_embedding_map(embeddings, DatasetCache(ds.id)) is None
    job_id = start_job("map", {"dataset_id": ds.id, "encoder": "hashing"}, dataset_id=ds.id, wait=True)
    assert get_job(job_id).status == "done", get_job(job_id).error
    emap = cached_embedding_map(embeddings, DatasetCache(ds.id))
    assert emap is not None and emap.n_rows == 300 and emap.coords.shape == (300, 2)


def test_a_step_without_progress_shows_its_elapsed_time(monkeypatch):
    from euds_core.runtime import job_reporter
    from euds_core.runtime.job_reporter import JobReporter
    from euds_core.storage.store import connect, now

    monkeypatch.setattr(job_reporter, "HEARTBEAT_S", 0.5)
    with connect() as conn:
        conn.execute(
            "INSERT INTO jobs (id, kind, dataset_id, args, status, created, updated) VALUES (?,?,?,?,?,?,?)",
            ("hb", "score", None, "{}", "running", now(), now()),
        )
    reporter = JobReporter("hb")
    reporter.update(0.1, "loading the causal LM", force=True)
    reporter.start_heartbeat()
    seen = set()
    deadline = time.time() + 10
    while len(seen) < 2 and time.time() < deadline:
        time.sleep(0.3)
        message = get_job("hb").message
        if message != "loading the causal LM":
            seen.add(message)
    assert len(seen) >= 2 and all(m.startswith("loading the causal LM · ") for m in seen), seen  # it moves
