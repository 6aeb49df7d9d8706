"""Background jobs: long work (scoring, maps, fine-tune grids) in a child process that outlives the page.

``start_job`` records the job in SQLite and spawns ``python -m euds_core job-run JOB_ID`` in its own
process session, so a page rerun, a closed tab or a server restart does not stop it. The child runs the
function registered for the job's kind with a :class:`JobReporter`, which writes progress and ETA to
SQLite (throttled) and reads the cancel flag between batches. Pages poll :func:`get_job`. The kinds are a
plain table, :data:`euds_core.runtime.job_kinds.JOB_KINDS`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path

from euds_core.errors import EudsInputError, ScoringCancelled
from euds_core.runtime.job_kinds import JOB_KINDS
from euds_core.runtime.job_reporter import JobReporter
from euds_core.storage.store import connect, now, to_json
from euds_core.storage.workspace import workspace_dir

ACTIVE = ("queued", "running")


@dataclass
class Job:
    id: str
    kind: str
    dataset_id: str | None
    args: dict
    status: str
    progress: float
    message: str
    eta_seconds: float | None
    result: dict | None
    error: str | None
    created: float
    updated: float
    cancel_requested: bool = False  # asked to stop; still active until the job notices at its next batch

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


def _row_to_job(row) -> Job:
    return Job(
        id=row["id"],
        kind=row["kind"],
        dataset_id=row["dataset_id"],
        args=json.loads(row["args"]),
        status=row["status"],
        progress=row["progress"],
        message=row["message"],
        eta_seconds=row["eta_seconds"],
        result=json.loads(row["result"]) if row["result"] else None,
        error=row["error"],
        created=row["created"],
        updated=row["updated"],
        cancel_requested=bool(row["cancel_requested"]),
    )


def log_path(job_id: str) -> Path:
    return workspace_dir("jobs") / f"{job_id}.log"


def start_job(kind: str, args: dict, *, dataset_id: str | None = None, wait: bool = False) -> str:
    """Record and launch a job; returns its id. A job of the same kind, dataset and args that is still active is
    not started twice: its id is returned (a double click, Enter in a form, two tabs). ``wait=True`` runs it to
    the end (tests, scripts)."""
    if kind not in JOB_KINDS:
        raise EudsInputError(f"unknown job kind '{kind}'")
    job_id, args_json = uuid.uuid4().hex[:12], to_json(args)
    with connect() as conn:
        conn.execute("BEGIN IMMEDIATE")  # one writer at a time: two identical starts cannot both insert
        try:
            same = _active_twin(conn, kind, dataset_id, args_json)
            if same is None:
                conn.execute(
                    "INSERT INTO jobs (id, kind, dataset_id, args, status, created, updated) VALUES (?,?,?,?,?,?,?)",
                    (job_id, kind, dataset_id, args_json, "queued", now(), now()),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    if same is not None:
        return same
    proc = _spawn(job_id)
    with connect() as conn:
        conn.execute("UPDATE jobs SET pid=? WHERE id=? AND pid IS NULL", (proc.pid, job_id))
    if wait:
        proc.wait()
    else:  # reap it when it ends, so no finished job lingers as a zombie under the server
        threading.Thread(target=proc.wait, name=f"reap-job-{job_id}", daemon=True).start()
    return job_id


def _active_twin(conn, kind: str, dataset_id: str | None, args_json: str) -> str | None:
    """The id of an active job with exactly this kind, dataset and args (a live process), or None."""
    rows = conn.execute(
        "SELECT * FROM jobs WHERE kind=? AND dataset_id IS ? AND args=? AND status IN ('queued','running') "
        "AND cancel_requested=0 ORDER BY created DESC",
        (kind, dataset_id, args_json),
    ).fetchall()
    return next((row["id"] for row in rows if not _dead(row)), None)


def _spawn(job_id: str) -> subprocess.Popen:
    with log_path(job_id).open("ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "euds_core", "job-run", job_id],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the server's process group (page reruns, Ctrl-C of streamlit)
            cwd=str(Path(__file__).resolve().parents[2]),  # the repository root
            env={**os.environ, "PYTHONUNBUFFERED": "1"},  # python -m euds_core sets OMP_WAIT_POLICY (__main__.py)
        )


def run_job(job_id: str) -> int:
    """The child's side: run the job's function, record done / failed / cancelled. Exit code for the CLI."""
    with connect() as conn:
        row = conn.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row is None:
            raise EudsInputError(f"no job {job_id}")
        conn.execute("UPDATE jobs SET status='running', pid=?, updated=? WHERE id=?", (os.getpid(), now(), job_id))
    job = _row_to_job(row)
    reporter = JobReporter(job_id)
    reporter.start_heartbeat()
    status, result, error, code = "done", None, None, 0
    try:
        result = JOB_KINDS[job.kind](job.args, reporter)
    except ScoringCancelled as exc:
        status, error, code = "cancelled", str(exc), 130
    except EudsInputError as exc:
        status, error, code = "failed", str(exc), 2
    except Exception as exc:  # a bug: keep the traceback in the job's log, a one-line reason in the row
        traceback.print_exc()
        status, error, code = "failed", f"{type(exc).__name__}: {exc} (see {log_path(job_id)})", 1
    with connect() as conn:
        conn.execute(
            "UPDATE jobs SET status=?, result=?, error=?, progress=CASE WHEN ?='done' THEN 1 ELSE progress END, eta_seconds=NULL, updated=? WHERE id=?",
            (status, to_json(result) if result is not None else None, error, status, now(), job_id),
        )
    return code


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process counts as dead; reap it.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def _dead(row) -> bool:
    """An active row whose process has ended without a word. A row with no pid yet gets a few seconds' grace
    (its process is being started); one whose recorded process is gone is dead at once (killed in its first
    seconds, it must not be attached to by the next identical start)."""
    if row["status"] not in ACTIVE:
        return False
    if row["pid"] is None:
        return now() - row["created"] > 5
    return not _pid_alive(row["pid"])


def _mark_if_dead(conn, row):
    """The row, marked failed first when it is active but its process died without a word."""
    if _dead(row):
        conn.execute(
            "UPDATE jobs SET status='failed', error=?, updated=? WHERE id=? AND status IN ('queued','running')",
            (
                f"the job process ended unexpectedly (see {log_path(row['id'])}); start it again to resume",
                now(),
                row["id"],
            ),
        )
        row = conn.execute("SELECT * FROM jobs WHERE id=?", (row["id"],)).fetchone()
    return row


def get_job(job_id: str) -> Job | None:
    """The job's current state; a job whose process died without a word is marked failed here."""
    with connect() as conn:
        row = conn.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return None if row is None else _row_to_job(_mark_if_dead(conn, row))


def list_jobs(dataset_id: str | None = None, kind: str | None = None, limit: int = 20) -> list[Job]:
    """The latest ``limit`` jobs, newest first, in one connection and one query (pages poll this every few s)."""
    query, params = "SELECT * FROM jobs WHERE 1=1", []
    if dataset_id:
        query, params = query + " AND dataset_id=?", [*params, dataset_id]
    if kind:
        query, params = query + " AND kind=?", [*params, kind]
    with connect() as conn:
        rows = conn.execute(query + " ORDER BY created DESC LIMIT ?", (*params, limit)).fetchall()
        return [_row_to_job(_mark_if_dead(conn, row)) for row in rows]


def find_active_job(kind: str, dataset_id: str | None) -> Job | None:
    return next((j for j in list_jobs(dataset_id, kind) if j.active), None)


def cancel_job(job_id: str) -> None:
    """Ask the job to stop at its next batch boundary (what it finished stays cached)."""
    with connect() as conn:
        conn.execute("UPDATE jobs SET cancel_requested=1, updated=? WHERE id=?", (now(), job_id))
