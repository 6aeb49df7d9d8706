"""SQLite store (``EUDS_HOME/euds.sqlite``, WAL mode) for jobs, review decisions, selections and fine-tune runs.

Each call opens its own short connection and commits before returning, so any number of processes (app
sessions, CLI, job children) can share the file; a killed process loses at most its uncommitted call.
Review decisions are an append-only log: the latest decision per sample wins and undo appends.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from euds_core.storage.workspace import euds_home

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    dataset_id TEXT,
    args TEXT NOT NULL,               -- JSON
    status TEXT NOT NULL,             -- queued | running | done | failed | cancelled
    progress REAL NOT NULL DEFAULT 0, -- 0..1 overall
    message TEXT NOT NULL DEFAULT '',
    eta_seconds REAL,
    pid INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    result TEXT,                      -- JSON
    error TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_dataset ON jobs(dataset_id, created);
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    decision TEXT NOT NULL,           -- keep | drop | clear (clear = back to the interval's verdict)
    note TEXT NOT NULL DEFAULT '',
    reviewer TEXT NOT NULL DEFAULT '',
    action_id TEXT,                   -- groups a bulk action so undo removes it whole; undo:<id> rows remove one
    created REAL NOT NULL,
    selection TEXT NOT NULL DEFAULT '' -- where the decision was made from (a selection, a file, a review round)
);
CREATE INDEX IF NOT EXISTS decisions_by_sample ON decisions(dataset_id, sample_id, seq);
CREATE INDEX IF NOT EXISTS decisions_by_action ON decisions(dataset_id, action_id);
CREATE TABLE IF NOT EXISTS review_rounds (
    round_id TEXT PRIMARY KEY,
    dataset_id TEXT NOT NULL,
    reviewers TEXT NOT NULL,          -- JSON: the two reviewers who each review every sample of the round
    sample_ids TEXT NOT NULL,         -- JSON, in the sampled order
    requested_by TEXT NOT NULL DEFAULT '',
    selection TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS selections (
    dataset_id TEXT NOT NULL,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,               -- SelectionSpec JSON
    created REAL NOT NULL,
    PRIMARY KEY (dataset_id, name)
);
CREATE TABLE IF NOT EXISTS finetune_runs (
    dataset_id TEXT NOT NULL,
    grid_key TEXT NOT NULL,           -- hash of the grid's fixed settings (model, epochs, split, spec)
    strategy TEXT NOT NULL,
    size_fraction REAL NOT NULL,
    seed INTEGER NOT NULL,
    n_train INTEGER NOT NULL,
    accuracy REAL NOT NULL,
    macro_f1 REAL NOT NULL,
    train_seconds REAL NOT NULL,
    params TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    PRIMARY KEY (dataset_id, grid_key, strategy, size_fraction, seed)
);
"""


def db_path() -> Path:
    return euds_home() / "euds.sqlite"


_initialised: set[str] = set()


@contextmanager
def connect() -> Iterator[sqlite3.Connection]:
    """A connection in WAL mode that commits on success and always closes."""
    path = str(db_path())
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)  # autocommit; explicit BEGIN when needed
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        if path not in _initialised:
            _initialise(conn)
            _initialised.add(path)
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable across app crashes, fast commits
        yield conn
    finally:
        conn.close()


def _initialise(conn: sqlite3.Connection, wait_s: float = 30.0) -> None:
    """WAL mode and the schema, retried while another process holds the lock.

    Switching a fresh database to WAL can fail with "database is locked" at once, without the busy
    handler, when a second process opens it at the same moment (seen in CI: two CLI processes recording
    review decisions into a new workspace). WAL is persistent, so the loser usually finds it already set.
    """
    deadline = time.monotonic() + wait_s
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(SCHEMA)
            _add_missing_columns(conn)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """Columns added after a workspace was created (CREATE TABLE IF NOT EXISTS leaves an old table as it is)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(decisions)")}
    if "selection" not in columns:
        try:
            conn.execute("ALTER TABLE decisions ADD COLUMN selection TEXT NOT NULL DEFAULT ''")
        except sqlite3.OperationalError as exc:  # another process added it first
            if "duplicate column" not in str(exc):
                raise


def now() -> float:
    return time.time()


def to_json(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)
