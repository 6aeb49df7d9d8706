"""The progress and cancel handle a background job's function receives (written to and read from SQLite)."""

from __future__ import annotations

import time

from euds_core.storage.store import connect, now

REPORT_INTERVAL_S = 0.5  # progress writes at most twice a second: cheap for SQLite, smooth for the page


class JobReporter:
    """Handed to a job function: ``update(fraction, message)`` and ``cancelled()``."""

    def __init__(self, job_id: str):
        self.job_id = job_id
        self.started = time.monotonic()
        self._last_write = 0.0
        self._last_cancel_check = 0.0
        self._cancelled = False

    def update(self, fraction: float, message: str, *, force: bool = False) -> None:
        t = time.monotonic()
        if not force and t - self._last_write < REPORT_INTERVAL_S:
            return
        self._last_write = t
        fraction = min(max(fraction, 0.0), 1.0)
        elapsed = t - self.started
        eta = elapsed * (1 - fraction) / fraction if fraction > 0.01 else None
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
