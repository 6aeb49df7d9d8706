"""A live panel of a dataset's background jobs: progress bar, ETA, Cancel; polls SQLite with st.fragment.

The fragment reruns itself every ``POLL_SECONDS`` (2.5 s, the one poll interval of every page) only while a
job is active, and reruns the whole page when a job finishes, so newly cached scores appear without a click. Each poll is one SQLite query and a few
elements: a 1-second poll kept the server busy (with Streamlit's post-run GC, about half a core; issue 14).
``EUDS_JOB_POLL_SECONDS`` overrides the interval (``bench/run.py`` measures the old 1 s against it).
"""

from __future__ import annotations

import json
import os
import time

import streamlit as st

from euds_core.runtime.jobs import Job, cancel_job, list_jobs
from euds_core.storage.workspace import workspace_dir
from ui.shared.verdict_wording import readable_message

DEFAULT_POLL_SECONDS = 2.5


def poll_seconds() -> float:
    """The job panel's poll interval: ``EUDS_JOB_POLL_SECONDS`` when it is a number from 0.2 to 60, else 2.5 s."""
    try:
        value = float(os.environ.get("EUDS_JOB_POLL_SECONDS", DEFAULT_POLL_SECONDS))
    except ValueError:
        return DEFAULT_POLL_SECONDS
    return value if 0.2 <= value <= 60 else DEFAULT_POLL_SECONDS


POLL_SECONDS = poll_seconds()
_SEEN_ACTIVE = "_jobs_seen_active"
_CANCELLING = "_jobs_cancelling"  # ids whose Cancel was clicked in this session


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "estimating…"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s left"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s left"
    return f"{seconds // 3600} h {(seconds % 3600) // 60:02d} min left"


def _job_title(job: Job) -> str:
    scores = job.args.get("scores")
    return ", ".join(scores) if scores else job.kind


def _cancel(job_id: str, title: str) -> None:
    # A callback: it runs before the panel redraws, so the click shows "cancelling…" at once.
    cancel_job(job_id)
    st.session_state.setdefault(_CANCELLING, set()).add(job_id)
    st.toast(f"Cancelling {title}…")


def _draw_job(job: Job) -> None:
    title = _job_title(job)
    if job.active:
        cancelling = job.cancel_requested or job.id in st.session_state.get(_CANCELLING, set())
        left, right = st.columns([6, 1], vertical_alignment="bottom")
        state = (
            "cancelling… (stops after the current batch)" if cancelling else readable_message(job.message or job.status)
        )
        left.progress(job.progress, text=f"**{title}** — {state} · {format_eta(job.eta_seconds)}")
        right.button(
            "Cancel",
            key=f"cancel_{job.id}",
            help="stop after the current batch; every finished row stays cached",
            on_click=_cancel,
            args=(job.id, title),
            disabled=cancelling,
        )
    elif job.status == "done":
        st.success(f"**{title}** — done", icon=":material/check_circle:")
    elif job.status == "cancelled":
        st.warning(
            f"**{title}** — cancelled. Start it again to resume where it stopped.", icon=":material/stop_circle:"
        )
    else:
        st.error(f"**{title}** — failed: {job.error}", icon=":material/error:")


def _panel(dataset_id: str, kind: str, limit: int) -> None:
    jobs = list_jobs(dataset_id, kind, limit=limit)
    active = {j.id for j in jobs if j.active}
    seen = st.session_state.get(_SEEN_ACTIVE, set())
    st.session_state[_SEEN_ACTIVE] = active
    for job in jobs:
        _draw_job(job)
    if seen - active:  # a job finished since the last poll: redraw the page with its results
        st.rerun(scope="app")


def jobs_panel(dataset_id: str, kind: str = "score", limit: int = 4) -> bool:
    """Draw the dataset's recent jobs of ``kind``; returns True when one is still running."""
    active = any(j.active for j in list_jobs(dataset_id, kind, limit=limit))
    st.fragment(_panel, run_every=POLL_SECONDS if active else None)(dataset_id, kind, limit)
    return active


def _job_dataset_name(job: Job) -> str:
    meta = workspace_dir("datasets") / f"{job.dataset_id}.json"
    try:
        return json.loads(meta.read_text()).get("name", job.dataset_id)
    except (OSError, ValueError):
        return job.dataset_id or ""


def _running_jobs_panel() -> None:
    jobs = [j for j in list_jobs(None, None, limit=50) if j.active]
    seen = st.session_state.get("_workspace_jobs_seen", set())
    st.session_state["_workspace_jobs_seen"] = {j.id for j in jobs}
    if not jobs:
        st.caption("No job running.")
    for job in jobs:
        cancelling = job.cancel_requested or job.id in st.session_state.get(_CANCELLING, set())
        title = f"{job.kind}: {_job_title(job)}" if job.kind == "score" else job.kind
        # The job's fixed lines first, then Cancel, then the lines that change as it runs: a progress text that
        # wraps onto another line must not move the button under the user's pointer.
        st.text(title)
        st.button(
            "Cancel",
            key=f"sidebar_cancel_{job.id}",
            on_click=_cancel,
            args=(job.id, title),
            disabled=cancelling,
            icon=":material/stop_circle:",
        )
        state = (
            "cancelling…"
            if cancelling
            else readable_message(job.message or "") or f"starting · {int(time.time() - job.created)} s"
        )
        st.progress(job.progress, text=format_eta(job.eta_seconds))
        st.text(f"{_job_dataset_name(job)} — {state}")  # a queued job counts its start-up seconds: the text moves
    if seen - {j.id for j in jobs}:  # one finished: the page redraws with its results
        st.rerun(scope="app")


def running_jobs_sidebar() -> None:
    """Every running job of the workspace (any dataset, any kind) with its progress and Cancel: one place to see
    and stop them. Polls only while a job runs."""
    active = any(j.active for j in list_jobs(None, None, limit=50))
    st.fragment(_running_jobs_panel, run_every=POLL_SECONDS if active else None)()
