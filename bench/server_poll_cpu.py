"""server_poll_cpu: CPU seconds per minute of a real Streamlit server while a page polls a job."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

from bench.common import ROOT, cpu_model, line, process_cpu_seconds

# A stand-in for a running job's process: it reports progress like a real job (JobReporter, twice a second)
# but burns no CPU, so the figure is the server's polling cost alone.
STAND_IN_JOB = """
import sys, time
from euds_core.runtime.job_reporter import JobReporter
reporter, seconds, t0 = JobReporter(sys.argv[1]), float(sys.argv[2]), time.monotonic()
while (elapsed := time.monotonic() - t0) < seconds:
    reporter.update(elapsed / seconds, f"batch {int(elapsed)}", force=True)
    time.sleep(0.5)
"""
OLD_SERVER_SETTINGS = (
    {"server.fileWatcherType": "auto", "runner.postScriptGC": "true"},  # Streamlit's defaults, before issue 14
    {"EUDS_JOB_POLL_SECONDS": "1"},  # the jobs panel's old poll interval
)


def _start_stand_in_job(dataset_id: str, seconds: float):
    """A 'score' job row whose process is the stand-in above; returns (job id, process)."""
    import subprocess
    import uuid

    from euds_core.storage.store import connect, now, to_json

    job_id = uuid.uuid4().hex[:12]
    proc = subprocess.Popen([sys.executable, "-c", STAND_IN_JOB, job_id, str(seconds)], cwd=ROOT)
    with connect() as conn:
        conn.execute(
            "INSERT INTO jobs (id, kind, dataset_id, args, status, pid, created, updated) VALUES (?,?,?,?,?,?,?,?)",
            (job_id, "score", dataset_id, to_json({"scores": ["generative"]}), "running", proc.pid, now(), now()),
        )
    return job_id, proc


def _finish_job(job_id: str, proc) -> None:
    from euds_core.storage.store import connect, now

    proc.terminate()
    proc.wait(timeout=10)
    with connect() as conn:
        conn.execute("UPDATE jobs SET status='done', progress=1, updated=? WHERE id=?", (now(), job_id))


def _server_cpu_per_minute(browser, home: Path, dataset_id: str, settings: tuple[dict, dict], window: float):
    """(CPU s per minute while the Score page polls a running job, the same once the job is done and it idles)."""
    import signal

    from tests.browser.conftest import open_app, start_streamlit_server

    flags, env = settings
    server, url = start_streamlit_server(home, flags={"server.address": "127.0.0.1", **flags}, env=env)
    job_id, stand_in = _start_stand_in_job(dataset_id, window * 3 + 120)
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=url)
    try:
        page = context.new_page()
        page.set_default_timeout(120_000)
        open_app(page, "/Score", dataset="bbc_news")
        progress = page.get_by_text(re.compile(r"generative\*? — batch \d+")).first
        progress.wait_for()
        time.sleep(5)  # first-run imports and caches settle
        t, cpu, shown = time.monotonic(), process_cpu_seconds(server.pid), progress.inner_text()
        time.sleep(window)
        polling = (process_cpu_seconds(server.pid) - cpu) / (time.monotonic() - t) * 60
        if progress.inner_text() == shown:
            raise RuntimeError(f"the page did not poll: its progress stayed at {shown!r}")
        _finish_job(job_id, stand_in)
        time.sleep(8)  # the panel sees the job end, reruns the page once, then stops polling
        t, cpu = time.monotonic(), process_cpu_seconds(server.pid)
        time.sleep(window / 2)
        idle = (process_cpu_seconds(server.pid) - cpu) / (time.monotonic() - t) * 60
        return polling, idle
    finally:
        context.close()
        if stand_in.poll() is None:
            stand_in.kill()
            stand_in.wait()
        os.killpg(server.pid, signal.SIGTERM)  # the server runs in its own session (see start_streamlit_server)
        server.wait(timeout=30)


def bench_server_poll_cpu(quick: bool) -> list[str]:
    """CPU seconds per minute of a real ``streamlit run`` server (127.0.0.1) while one headless Chromium page
    polls a running job, with this repo's settings vs the old ones (file watcher on, post-run GC, 1 s poll)."""
    import shutil

    chromium = shutil.which("chromium")
    if chromium is None:
        return ["server_poll_cpu: skipped: chromium not installed (apt-get install -y chromium)"]
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM_ARGS, seed_scores

    window = 10.0 if quick else 60.0
    home = Path(os.environ["EUDS_HOME"])
    dataset_id = seed_scores(home, scores=("information",))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            ours = _server_cpu_per_minute(browser, home, dataset_id, ({}, {}), window)
            old = _server_cpu_per_minute(browser, home, dataset_id, OLD_SERVER_SETTINGS, window)
        finally:
            browser.close()
    return [
        line(
            "server_poll_cpu",
            ours[0],
            "CPU-s/min",
            old[0],
            old[0] / max(ours[0], 1e-9),
            f"[one page polling a running job, {window:.0f} s windows; baseline: fileWatcherType auto, "
            f"postScriptGC true, 1 s poll; idle after the job: ours {ours[1]:.2f}, baseline {old[1]:.2f} CPU-s/min; "
            f"{cpu_model()}]",
        )
    ]
