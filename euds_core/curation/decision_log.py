"""The review decision log: an append-only table in SQLite, who decided what, when, from which selection.

Every write is one short transaction that commits before the function returns, so a killed app server or
CLI loses nothing that was acknowledged, and any number of processes can write at once (SQLite WAL +
``BEGIN IMMEDIATE`` serialises the writers). Rows are never updated or deleted:

* the latest *live* decision per (dataset, sample) wins; ``clear`` means "back to the interval's verdict";
* a bulk action shares one ``action_id``, so undo removes it whole;
* undo appends rows tagged ``undo:<action id>`` (naming who pressed undo) that take that action out of the
  history: each reviewer's undo removes their own latest action still in effect, and every sample it touched
  falls back to the latest decision that remains, with that decision's own reviewer. So interleaved undos
  of two reviewers never leave a decision nobody can remove, and credit always goes to whoever decided.

Every write checks the writer's role first (:mod:`euds_core.curation.roles`). Decisions are keyed by the
dataset's content hash, so a review of dataset A never shows on dataset B.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

import pandas as pd

from euds_core.curation.decision_inputs import MAX_NOTE_CHARS, DecisionInput, normalise_decision
from euds_core.curation.roles import require
from euds_core.errors import EudsInputError
from euds_core.storage import store

UNDO_PREFIX = "undo:"
UNDO_DECISION = "undo"
LIST_COLUMNS = ["id", "decision", "note", "reviewer", "timestamp", "selection"]
_COLUMNS = "dataset_id, sample_id, decision, note, reviewer, action_id, created, selection"

# The dataset's rows still in effect: not an undo row, and not part of an action someone undid. Old workspaces'
# undo rows (which restored a decision instead of removing one) read the same way.
LIVE_ROWS = f"""live AS (
    SELECT * FROM decisions WHERE dataset_id = :dataset AND (action_id IS NULL OR (
        action_id NOT LIKE '{UNDO_PREFIX}%' AND action_id NOT IN (
            SELECT substr(action_id, {len(UNDO_PREFIX) + 1}) FROM decisions
            WHERE dataset_id = :dataset AND action_id LIKE '{UNDO_PREFIX}%'))))"""


def _insert(rows: list[tuple]) -> None:
    with store.connect() as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(f"INSERT INTO decisions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


# ---------------------------------------------------------------------------------------------- writes


def record_decisions(
    dataset_id: str,
    decisions: Iterable[DecisionInput],
    *,
    reviewer: str = "",
    selection: str = "",
    action_id: str | None = None,
    permission: str = "decide",
) -> str:
    """Append decisions as one action (one transaction, committed on return); returns the action id.

    ``reviewer`` is who decides (their role must allow ``permission``), ``selection`` where they decided from
    (the page's selection, a CSV file, a double-review round).
    """
    rows = list(decisions)
    if not rows:
        raise EudsInputError("no decisions given")
    require(reviewer, permission)
    action_id = action_id or uuid.uuid4().hex
    created = store.now()
    _insert(
        [
            (
                dataset_id,
                str(d.sample_id),
                normalise_decision(d.decision),
                str(d.note or "")[:MAX_NOTE_CHARS],
                str(reviewer or ""),
                action_id,
                created,
                str(selection or ""),
            )
            for d in rows
        ]
    )
    return action_id


def set_decision(
    dataset_id: str, sample_id: str, decision: str, *, note: str = "", reviewer: str = "", selection: str = ""
) -> str:
    """Record one decision (its own action); returns the action id."""
    return record_decisions(
        dataset_id, [DecisionInput(sample_id, decision, note)], reviewer=reviewer, selection=selection
    )


def set_bulk_decision(
    dataset_id: str,
    sample_ids: Iterable[str],
    decision: str,
    *,
    note: str = "",
    reviewer: str = "",
    selection: str = "",
) -> str:
    """The same decision for many samples as one action (undo removes all of them)."""
    decision = normalise_decision(decision)
    return record_decisions(
        dataset_id, [DecisionInput(s, decision, note) for s in sample_ids], reviewer=reviewer, selection=selection
    )


def _last_live_action(conn, dataset_id: str, reviewer: str | None) -> str | None:
    """The latest action still in effect whose rows ``reviewer`` wrote (anyone's when None)."""
    row = conn.execute(
        f"""WITH {LIVE_ROWS} SELECT action_id FROM live WHERE action_id IS NOT NULL
            AND (:reviewer IS NULL OR reviewer = :reviewer) GROUP BY action_id ORDER BY MAX(seq) DESC LIMIT 1""",
        {"dataset": dataset_id, "reviewer": reviewer},
    ).fetchone()
    return None if row is None else row[0]


def undo_last_action(dataset_id: str, *, reviewer: str | None = None) -> int:
    """Remove ``reviewer``'s latest action still in effect (anyone's when None); returns the decisions removed.

    Appends one ``undo:<action>`` row per sample of the action, naming ``reviewer``; each of those samples then
    shows the latest decision that remains (anyone's), or none. Calling it again removes the action before.
    """
    require(reviewer, "undo")
    with store.connect() as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            action = _last_live_action(conn, dataset_id, reviewer)
            samples = (
                []
                if action is None
                else [
                    r[0]
                    for r in conn.execute(
                        "SELECT DISTINCT sample_id FROM decisions WHERE dataset_id = ? AND action_id = ?",
                        (dataset_id, action),
                    )
                ]
            )
            created = store.now()
            conn.executemany(
                f"INSERT INTO decisions ({_COLUMNS}) VALUES (?, ?, ?, '', ?, ?, ?, '')",
                [(dataset_id, s, UNDO_DECISION, reviewer or "", UNDO_PREFIX + str(action), created) for s in samples],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(samples)


def can_undo(dataset_id: str, *, reviewer: str | None = None) -> bool:
    """Whether :func:`undo_last_action` with the same ``reviewer`` would remove anything."""
    with store.connect() as conn:
        return _last_live_action(conn, dataset_id, reviewer) is not None


# ---------------------------------------------------------------------------------------------- reads


def iso_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def effective_decisions(dataset_id: str) -> pd.DataFrame:
    """The latest live keep/drop decision per sample (cleared ones left out), oldest first.

    Columns: id, decision, note, reviewer, timestamp (ISO 8601 UTC), selection (where it was decided from).
    """
    with store.connect() as conn:
        rows = conn.execute(
            f"""WITH {LIVE_ROWS}
                SELECT l.sample_id, l.decision, l.note, l.reviewer, l.created, l.selection FROM live l
                JOIN (SELECT MAX(seq) AS seq FROM live GROUP BY sample_id) m ON l.seq = m.seq
                WHERE l.decision != 'clear' ORDER BY l.seq""",
            {"dataset": dataset_id},
        ).fetchall()
    return pd.DataFrame([(r[0], r[1], r[2], r[3], iso_time(r[4]), r[5]) for r in rows], columns=LIST_COLUMNS)


def effective_overrides(dataset_id: str) -> dict[str, str]:
    """Sample id -> keep | drop: what :class:`SelectionSpec.overrides` takes."""
    frame = effective_decisions(dataset_id)
    return dict(zip(frame["id"], frame["decision"], strict=True))


def reviewer_counts(decisions: pd.DataFrame) -> list[dict]:
    """Per reviewer, how many of ``decisions`` (an :func:`effective_decisions` frame) they keep and drop."""
    if decisions.empty:
        return []
    counts = decisions.groupby(["reviewer", "decision"]).size().unstack(fill_value=0)
    return [
        {"reviewer": str(who), "keep": int(row.get("keep", 0)), "drop": int(row.get("drop", 0))}
        for who, row in counts.sort_index().iterrows()
    ]


def decision_log(dataset_id: str) -> pd.DataFrame:
    """Every row ever recorded for the dataset, in order (the audit trail), undo rows included."""
    with store.connect() as conn:
        return pd.read_sql_query(
            """SELECT seq, sample_id AS id, decision, note, reviewer, action_id, created, selection
               FROM decisions WHERE dataset_id = ? ORDER BY seq""",
            conn,
            params=(dataset_id,),
        )


def count_decisions(dataset_id: str) -> int:
    """Rows in the log for the dataset (undo rows included)."""
    with store.connect() as conn:
        return int(conn.execute("SELECT COUNT(*) FROM decisions WHERE dataset_id = ?", (dataset_id,)).fetchone()[0])
