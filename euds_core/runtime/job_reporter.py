"""The progress and cancel handle a background job's function receives (written to and read from SQLite)."""

from __future__ import annotations

import threading
import time
from collections import deque

from euds_core.storage.store import connect, now

HEARTBEAT_S = 3.0  # a step with no progress for this long shows its elapsed time (model loading, a slow batch)
REPORT_INTERVAL_S = 0.5  # progress writes at most twice a second: cheap for SQLite, smooth for the page
ETA_WINDOW_S = 30.0  # the ETA's rate is the progress over about the last 30 s


def eta_from_samples(samples: deque[tuple[float, float]], window_s: float = ETA_WINDOW_S) -> float | None:
    """Seconds left at the rate of the recent progress: ``samples`` holds (time, fraction) pairs, newest last,
    trimmed here to the window. A moving average: neither the last chunk alone (jumpy) nor the whole run since
    start (model loading and warm-up drag it)."""
    t, fraction = samples[-1]
    while len(samples) > 2 and t - samples[1][0] >= window_s:
        samples.popleft()
    t0, f0 = samples[0]
    if fraction <= f0 or t <= t0 or fraction <= 0.01:
        return None
    return (1 - fraction) * (t - t0) / (fraction - f0)


class JobReporter:
    """Handed to a job function: ``update(fraction, message)`` and ``cancelled()``."""

    def __init__(self, job_id: str):
        self.job_id = job_id
        self.started = time.monotonic()
        self._last_write = 0.0
        self._last_cancel_check = 0.0
        self._cancelled = False
        self._samples: deque[tuple[float, float]] = deque([(self.started, 0.0)])
        self._message, self._message_at = "starting", self.started
        self._lock = threading.Lock()

    def start_heartbeat(self) -> None:
        """While the job runs, a step that reports nothing for ``HEARTBEAT_S`` (loading a model, a long batch) shows
        ``… · 12 s on this step``, so the page's text moves and a hung job is told from a slow one."""
        threading.Thread(target=self._heartbeat, name="job-heartbeat", daemon=True).start()

    def _heartbeat(self) -> None:
        while True:
            time.sleep(HEARTBEAT_S)
            with self._lock:
                idle = time.monotonic() - self._message_at
                text = f"{self._message} · {int(idle)} s on this step"
            if idle >= HEARTBEAT_S:
                with connect() as conn:
                    conn.execute("UPDATE jobs SET message=?, updated=? WHERE id=?", (text, now(), self.job_id))

    def update(self, fraction: float, message: str, *, force: bool = False) -> None:
        t = time.monotonic()
        if not force and t - self._last_write < REPORT_INTERVAL_S:
            return
        self._last_write = t
        with self._lock:
            if message != self._message:
                self._message, self._message_at = message, t
        fraction = min(max(fraction, 0.0), 1.0)
        self._samples.append((t, fraction))
        eta = eta_from_samples(self._samples)
        with connect() as conn:
            conn.execute(
                "UPDATE jobs SET progress=?, message=?, eta_seconds=?, updated=? WHERE id=?",
                (fraction, message, eta, now(), self.job_id),
            )

    def cancelled(self) -> bool:
        t = time.monotonic()
        if not self._cancelled and t - self._last_cancel_check >= REPORT_INTERVAL_S:
            self._last_cancel_check = t
            with connect() as conn:
                row = conn.execute("SELECT cancel_requested FROM jobs WHERE id=?", (self.job_id,)).fetchone()
            self._cancelled = bool(row and row["cancel_requested"])
        return self._cancelled
