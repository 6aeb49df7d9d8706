"""Decisions as a user writes them: the CLI's ``--set ID=keep`` strings, a decisions CSV, and their checks.

Nothing here touches the decision log; :mod:`euds_core.curation.decision_log` records what these return.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from euds_core.errors import EudsInputError

DECISIONS = ("keep", "drop", "clear")
MAX_NOTE_CHARS = 2000


@dataclass(frozen=True)
class DecisionInput:
    """One decision to record: a sample id, keep | drop | clear, and an optional note."""

    sample_id: str
    decision: str
    note: str = ""


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


def parse_set_arguments(values: Iterable[str], note: str = "") -> list[DecisionInput]:
    """``ID=keep|drop|clear`` strings (the CLI's ``--set``) into decisions."""
    out = []
    for value in values:
        sample_id, sep, decision = str(value).rpartition("=")
        if not sep or not sample_id:
            raise EudsInputError(f"--set takes ID=keep|drop|clear, not '{value}'")
        out.append(DecisionInput(sample_id, normalise_decision(decision), note))
    return out


def _read_csv_frame(path: Path) -> pd.DataFrame:
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
    return frame


def read_decisions_csv(path: str | Path) -> list[DecisionInput]:
    """A CSV with the columns id, decision and (optionally) note: one decision per row."""
    path = Path(path)
    if not path.is_file():
        raise EudsInputError(f"no such CSV file: {path}")
    frame = _read_csv_frame(path)
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
