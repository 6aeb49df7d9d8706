"""Manual review: an append-only decision log in SQLite and named selections (docs/review-and-export.md).

Every write is one short transaction that commits before the function returns, so a killed app server or
CLI loses nothing that was acknowledged, and any number of processes can write at once (SQLite WAL +
``BEGIN IMMEDIATE`` serialises the writers). Rows are never updated or deleted:

* the latest decision per (dataset, sample) wins; ``clear`` means "back to the interval's verdict";
* a bulk action shares one ``action_id``, so undo reverts it whole;
* undo appends: for each sample whose decision in effect is still the last action's, it writes the decision
  that was effective before that action, tagged ``undo:<action id>`` and naming who pressed undo; a sample
  someone decided again later keeps that later decision.

Decisions are keyed by the dataset's content hash, so a review of dataset A never shows on dataset B.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from euds_core.data.datasets import load_dataset
from euds_core.data.table import dataset_hash
from euds_core.data.table_io import read_scores_file
from euds_core.errors import EudsInputError
from euds_core.selection.intervals import SelectionSpec
from euds_core.storage import store

DECISIONS = ("keep", "drop", "clear")
UNDO_PREFIX = "undo:"
LIST_COLUMNS = ["id", "decision", "note", "reviewer", "timestamp"]
MAX_NOTE_CHARS = 2000


@dataclass(frozen=True)
class DecisionInput:
    """One decision to record: a sample id, keep | drop | clear, and an optional note."""

    sample_id: str
    decision: str
    note: str = ""


# ---------------------------------------------------------------------------------------------- validation


def normalise_decision(value: str) -> str:
    decision = str(value).strip().lower()
    if decision not in DECISIONS:
        raise EudsInputError(f"decision must be keep, drop or clear, not '{value}'")
    return decision


def check_sample_ids(sample_ids: Iterable[str], known_ids: Iterable[str]) -> None:
    """Raise a clear error naming (a few of) the ids that are not in the dataset."""
    known = set(map(str, known_ids))
    unknown = [s for s in dict.fromkeys(map(str, sample_ids)) if s not in known]
    if unknown:
        shown = ", ".join(f"'{s}'" for s in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        example = next(iter(sorted(known)), "")
        raise EudsInputError(
            f"{len(unknown)} sample id(s) not in this dataset: {shown}{more}; ids look like '{example}' "
            "(see the id column of `score` output)"
        )


def resolve_dataset_id(spec: str) -> str:
    """The content hash of a dataset given as a workspace id (16 hex chars), a built-in name or a file path."""
    import re

    spec = str(spec).strip()
    if re.fullmatch(r"[0-9a-f]{16}", spec) and not Path(spec).exists():
        return spec
    return load_dataset(spec).id


def parse_set_arguments(values: Iterable[str], note: str = "") -> list[DecisionInput]:
    """``ID=keep|drop|clear`` strings (the CLI's ``--set``) into decisions."""
    out = []
    for value in values:
        sample_id, sep, decision = str(value).rpartition("=")
        if not sep or not sample_id:
            raise EudsInputError(f"--set takes ID=keep|drop|clear, not '{value}'")
        out.append(DecisionInput(sample_id, normalise_decision(decision), note))
    return out


def read_decisions_csv(path: str | Path) -> list[DecisionInput]:
    """A CSV with the columns id, decision and (optionally) note: one decision per row."""
    path = Path(path)
    if not path.is_file():
        raise EudsInputError(f"no such CSV file: {path}")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise EudsInputError(f"{path.name} is empty; it needs a header line id,decision,note") from None
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise EudsInputError(f"could not read {path.name} as CSV: {str(exc).splitlines()[0]}") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = {"id", "decision"} - set(frame.columns)
    if missing:
        raise EudsInputError(f"{path.name} needs the columns id,decision[,note]; missing: {', '.join(sorted(missing))}")
    notes = frame["note"] if "note" in frame.columns else pd.Series([""] * len(frame))
    out = []
    for line, (sample_id, decision, note) in enumerate(
        zip(frame["id"], frame["decision"], notes, strict=True), start=2
    ):
        if not str(sample_id).strip():
            raise EudsInputError(f"{path.name} line {line}: empty id")
        try:
            out.append(DecisionInput(str(sample_id).strip(), normalise_decision(decision), str(note)))
        except EudsInputError as exc:
            raise EudsInputError(f"{path.name} line {line}: {exc}") from None
    return out


# ---------------------------------------------------------------------------------------------- writes


def record_decisions(
    dataset_id: str,
    decisions: Iterable[DecisionInput],
    *,
    reviewer: str = "",
    action_id: str | None = None,
) -> str:
    """Append decisions as one action (one transaction, committed on return); returns the action id."""
    rows = list(decisions)
    if not rows:
        raise EudsInputError("no decisions given")
    action_id = action_id or uuid.uuid4().hex
    created = store.now()
    params = [
        (
            dataset_id,
            str(d.sample_id),
            normalise_decision(d.decision),
            str(d.note or "")[:MAX_NOTE_CHARS],
            str(reviewer or ""),
            action_id,
            created,
        )
        for d in rows
    ]
    with store.connect() as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO decisions (dataset_id, sample_id, decision, note, reviewer, action_id, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                params,
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return action_id


def set_decision(dataset_id: str, sample_id: str, decision: str, *, note: str = "", reviewer: str = "") -> str:
    """Record one decision (its own action); returns the action id."""
    return record_decisions(dataset_id, [DecisionInput(sample_id, decision, note)], reviewer=reviewer)


def set_bulk_decision(
    dataset_id: str, sample_ids: Iterable[str], decision: str, *, note: str = "", reviewer: str = ""
) -> str:
    """The same decision for many samples as one action (undo reverts all of them)."""
    decision = normalise_decision(decision)
    return record_decisions(dataset_id, [DecisionInput(s, decision, note) for s in sample_ids], reviewer=reviewer)


@dataclass(frozen=True)
class _UndoPlan:
    """What undoing one action writes: the action, and per still-owned sample the (decision, note) before it."""

    action_id: str
    restore: dict[str, tuple[str, str]]


def _plan_undo(log: list, reviewer: str | None) -> _UndoPlan | None:
    """The latest not-yet-undone action (of ``reviewer`` when given) that still owns at least one sample.

    ``log`` is the dataset's decision rows in ``seq`` order. Replaying it gives each sample's owner: the action
    whose decision is in effect (an ``undo:X`` row hands ownership back to whoever owned the sample before X).
    A sample a later action decided again is not the undone action's any more, so undo leaves it; an action
    whose every sample was decided again has nothing left to revert and is passed over.
    """
    owner: dict[str, str | None] = {}  # sample -> action whose decision is in effect (None: no decision)
    state: dict[str, tuple[str, str]] = {}  # sample -> (decision, note) in effect
    before: dict[tuple[str, str], tuple[str | None, tuple[str, str]]] = {}  # (sample, action) -> state before it
    undone: set[str] = set()
    actions: dict[str, tuple[int, str]] = {}  # action -> (last seq, reviewer), for the undo stack
    samples_of: dict[str, list[str]] = {}  # action -> its samples, in log order
    for row in log:
        sample, action = row["sample_id"], row["action_id"]
        if action is not None and action.startswith(UNDO_PREFIX):
            target = action[len(UNDO_PREFIX) :]
            undone.add(target)
            owner[sample] = before.get((sample, target), (None, None))[0]
        else:
            if action is not None:
                if (sample, action) not in before:
                    before[(sample, action)] = (owner.get(sample), state.get(sample, ("clear", "")))
                    samples_of.setdefault(action, []).append(sample)
                actions[action] = (row["seq"], row["reviewer"])
            owner[sample] = action
        state[sample] = (row["decision"], row["note"])
    stack = sorted(
        (a for a, (_, who) in actions.items() if a not in undone and (reviewer is None or who == reviewer)),
        key=lambda a: actions[a][0],
        reverse=True,
    )
    for action in stack:
        restore = {s: before[(s, action)][1] for s in samples_of[action] if owner.get(s) == action}
        if restore:
            return _UndoPlan(action, restore)
    return None


def _decision_rows(conn, dataset_id: str) -> list:
    return conn.execute(
        "SELECT seq, sample_id, decision, note, reviewer, action_id FROM decisions WHERE dataset_id = ? ORDER BY seq",
        (dataset_id,),
    ).fetchall()


def undo_last_action(dataset_id: str, *, reviewer: str | None = None) -> int:
    """Revert the latest not-yet-undone action (of ``reviewer`` when given) by appending; returns rows reverted.

    Each sample the action still owns gets back the decision (and note) it had just before the action, or
    ``clear``; a sample someone decided again after the action keeps that later decision. The undo rows name
    ``reviewer``, the person who pressed undo (not whoever made the restored decision). Undo is a stack:
    calling it again reverts the action before.
    """
    with store.connect() as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            plan = _plan_undo(_decision_rows(conn, dataset_id), reviewer)
            if plan is None:
                conn.execute("COMMIT")
                return 0
            created = store.now()
            rows = [
                (dataset_id, sample, decision, note, reviewer or "", UNDO_PREFIX + plan.action_id, created)
                for sample, (decision, note) in plan.restore.items()
            ]
            conn.executemany(
                "INSERT INTO decisions (dataset_id, sample_id, decision, note, reviewer, action_id, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(rows)


# ---------------------------------------------------------------------------------------------- reads


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def effective_decisions(dataset_id: str) -> pd.DataFrame:
    """The latest keep/drop decision per sample (cleared ones left out), oldest first.

    Columns: id, decision, note, reviewer, timestamp (ISO 8601 UTC).
    """
    with store.connect() as conn:
        rows = conn.execute(
            """SELECT d.sample_id, d.decision, d.note, d.reviewer, d.created FROM decisions d
               JOIN (SELECT MAX(seq) AS seq FROM decisions WHERE dataset_id = ? GROUP BY sample_id) m ON d.seq = m.seq
               WHERE d.decision != 'clear' ORDER BY d.seq""",
            (dataset_id,),
        ).fetchall()
    return pd.DataFrame([(r[0], r[1], r[2], r[3], _iso(r[4])) for r in rows], columns=LIST_COLUMNS)


def effective_overrides(dataset_id: str) -> dict[str, str]:
    """Sample id -> keep | drop: what :class:`SelectionSpec.overrides` takes."""
    frame = effective_decisions(dataset_id)
    return dict(zip(frame["id"], frame["decision"], strict=True))


def decision_log(dataset_id: str) -> pd.DataFrame:
    """Every decision ever recorded for the dataset, in order (the audit trail)."""
    with store.connect() as conn:
        frame = pd.read_sql_query(
            "SELECT seq, sample_id AS id, decision, note, reviewer, action_id, created FROM decisions WHERE dataset_id = ? ORDER BY seq",
            conn,
            params=(dataset_id,),
        )
    return frame


def count_decisions(dataset_id: str) -> int:
    """Rows in the log for the dataset (undo rows included)."""
    with store.connect() as conn:
        return int(conn.execute("SELECT COUNT(*) FROM decisions WHERE dataset_id = ?", (dataset_id,)).fetchone()[0])


def can_undo(dataset_id: str, *, reviewer: str | None = None) -> bool:
    """Whether :func:`undo_last_action` with the same ``reviewer`` would revert anything."""
    with store.connect() as conn:
        return _plan_undo(_decision_rows(conn, dataset_id), reviewer) is not None


# ---------------------------------------------------------------------------------------------- named selections


def save_selection(name: str, spec: SelectionSpec) -> None:
    """Save (or replace) a named selection spec for its dataset; committed on return."""
    name = str(name).strip()
    if not name:
        raise EudsInputError("a saved selection needs a name")
    with store.connect() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO selections (dataset_id, name, spec, created) VALUES (?, ?, ?, ?)",
            (spec.dataset_id, name, spec.to_json(), store.now()),
        )


def load_selection(dataset_id: str, name: str) -> SelectionSpec:
    with store.connect() as conn:
        row = conn.execute(
            "SELECT spec FROM selections WHERE dataset_id = ? AND name = ?", (dataset_id, name)
        ).fetchone()
    if row is None:
        known = ", ".join(list_selections(dataset_id)) or "none saved yet"
        raise EudsInputError(f"no saved selection '{name}' for dataset {dataset_id}; saved: {known}")
    return SelectionSpec.from_json(row["spec"])


def list_selections(dataset_id: str) -> list[str]:
    with store.connect() as conn:
        return [
            r[0]
            for r in conn.execute(
                "SELECT name FROM selections WHERE dataset_id = ? ORDER BY created DESC", (dataset_id,)
            )
        ]


def delete_selection(dataset_id: str, name: str) -> None:
    with store.connect() as conn:
        conn.execute("DELETE FROM selections WHERE dataset_id = ? AND name = ?", (dataset_id, name))


def apply_review_to_mask(frame: pd.DataFrame, mask: np.ndarray, dataset_spec: str) -> tuple[np.ndarray, int]:
    """Overrides of the dataset's review applied to ``mask``; the dataset must be the scores file's dataset."""
    if "id" not in frame.columns:
        raise EudsInputError("the scores file has no id column; --apply-review needs the file written by `score`")
    file_id = dataset_hash(frame)
    # A file written by `score` (or an export) is already normalised: its own hash is its dataset id.
    as_normalised = Path(dataset_spec).is_file() and dataset_hash(read_scores_file(dataset_spec)) == file_id
    dataset_id = file_id if as_normalised else resolve_dataset_id(dataset_spec)
    if dataset_id != file_id:
        raise EudsInputError(
            f"--apply-review {dataset_spec} is dataset {dataset_id} but the scores file holds dataset {file_id}; "
            f"pass --apply-review {file_id} (the id `score` printed)"
        )
    overrides = effective_overrides(dataset_id)
    decisions = frame["id"].astype(str).map(overrides)
    mask = np.where(decisions == "keep", True, np.where(decisions == "drop", False, mask))
    return mask, len(overrides)
