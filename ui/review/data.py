"""Review-page data: the review table (interval verdict + overrides), filters, clusters, and the click handlers.

Every handler runs as a widget ``on_click`` callback, i.e. before the page script reruns, and writes through
``euds_core.curation.decision_log`` (committed before it returns), so the table drawn after a click already shows it and a
killed server loses nothing. Decisions are read from SQLite on every run, so two reviewers see each other's
work on their next rerun.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import streamlit as st

from euds_core.curation.decision_inputs import check_sample_ids
from euds_core.curation.decision_log import set_bulk_decision, set_decision, undo_last_action
from euds_core.data.table import Dataset
from euds_core.errors import EudsInputError
from euds_core.selection.embed_map import NOT_DRAWN
from ui.shared.identity import current_identity
from ui.shared.selection import current_selection_text

FLASH_KEY = "review_flash"
PAGE_SIZE = 25
VIEWS = ("Kept", "Dropped", "All")


def access_note(who: str) -> str:
    """A line under the counts saying what this person may do here ("" when they may do everything)."""
    from euds_core.curation.roles import ANONYMOUS_PREFIX, allowed, role_of

    if not allowed(who, "decide"):
        role = role_of(who)
        return f"You are {'a ' + role if role else 'not in the team'}: you can read this page; keep / drop is refused."
    if who.startswith(ANONYMOUS_PREFIX):
        return "Tip: set your reviewer name in the sidebar; decisions are stored with it."
    return ""


def reviewer_name() -> str:
    """Who decides: the signed-in identity, the sidebar's name, or this session's anonymous id."""
    return current_identity()


# ---------------------------------------------------------------------------------------------- clusters


def cluster_names(clusters: np.ndarray) -> np.ndarray:
    names = np.where(clusters == -1, "noise", np.char.add("c", clusters.astype(str)))
    return np.where(clusters == NOT_DRAWN, "not mapped", names)


# ---------------------------------------------------------------------------------------------- table


def review_table(
    dataset: Dataset,
    scores: pd.DataFrame,
    in_interval: np.ndarray,
    decisions: pd.DataFrame,
    clusters: np.ndarray | None,
    primary: str | None = None,
) -> pd.DataFrame:
    """One row per sample: status (effective), interval verdict, why (``reason``), override + note, label, cluster,
    scores, text. ``primary``: the selection's first score, whose kept range says "below" or "above"."""
    table = dataset.table
    frame = pd.DataFrame({"id": table["id"].astype(str).to_numpy()})
    latest = decisions.set_index("id") if len(decisions) else pd.DataFrame(columns=["decision", "note", "reviewer"])
    frame["override"] = frame["id"].map(latest["decision"]).fillna("")
    effective = np.where(frame["override"] == "keep", True, np.where(frame["override"] == "drop", False, in_interval))
    frame.insert(1, "status", np.where(effective, "kept", "dropped"))
    frame.insert(2, "interval", np.where(in_interval, "in", "out"))
    values = scores[primary].to_numpy() if primary in scores.columns else None
    frame.insert(3, "reason", row_reasons(frame["override"].to_numpy(), in_interval, values))
    frame["note"] = frame["id"].map(latest["note"]).fillna("")
    frame["reviewer"] = frame["id"].map(latest["reviewer"]).fillna("")
    if dataset.has_labels:
        frame["label"] = table["label"].astype(str).to_numpy()
    if clusters is not None:
        frame["cluster"] = cluster_names(clusters)
    for name in scores.columns:
        frame[name] = scores[name].to_numpy()
    frame["text"] = table["text"].to_numpy()
    return frame


def row_reasons(overrides: np.ndarray, in_interval: np.ndarray, values: np.ndarray | None) -> np.ndarray:
    """Why each row is kept or out: a review override, in the interval, below or above the first score's kept
    range, or out by another interval (an intersection) or by its label's band (label-balanced)."""
    reasons = np.where(in_interval, "in the interval", "out: another interval or its label's band").astype(object)
    if values is not None and in_interval.any():
        lo, hi = values[in_interval].min(), values[in_interval].max()
        reasons[~in_interval & (values < lo)] = "below the interval"
        reasons[~in_interval & (values > hi)] = "above the interval"
    for decision in ("keep", "drop"):
        reasons[overrides == decision] = f"review override: {decision}"
    return reasons


def filter_table(
    frame: pd.DataFrame,
    *,
    view: str,
    search: str,
    labels: list[str],
    clusters: list[str],
    reviewers: list[str] = (),
    only_ids: list[str] | None = None,
) -> pd.DataFrame:
    """The rows matching every filter given (``only_ids``: a double-review queue, in the table's order)."""
    mask = np.ones(len(frame), dtype=bool)
    if reviewers:
        mask &= frame["reviewer"].isin(reviewers).to_numpy()
    if only_ids is not None:
        mask &= frame["id"].isin(set(only_ids)).to_numpy()
    if view == "Kept":
        mask &= (frame["status"] == "kept").to_numpy()
    elif view == "Dropped":
        mask &= (frame["status"] == "dropped").to_numpy()
    if search.strip():
        needle = search.strip()
        mask &= (
            frame["text"].str.contains(needle, case=False, regex=False)
            | frame["id"].str.contains(needle, case=False, regex=False)
        ).to_numpy()
    if labels and "label" in frame.columns:
        mask &= frame["label"].isin(labels).to_numpy()
    if clusters and "cluster" in frame.columns:
        mask &= frame["cluster"].isin(clusters).to_numpy()
    return frame[mask]


_DIGITS = re.compile(r"(\d+)")
NATURAL_SORT_MAX_ROWS = 200_000  # a Python key per row: past this, plain text order keeps a rerun fast


def natural_key(text: str) -> tuple:
    """Sort key reading digit runs as numbers: ``row-2`` before ``row-10``."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in _DIGITS.split(str(text)) if p)


def sort_table(frame: pd.DataFrame, by: str, descending: bool) -> pd.DataFrame:
    if by not in frame.columns:
        return frame
    if pd.api.types.is_numeric_dtype(frame[by]) or len(frame) > NATURAL_SORT_MAX_ROWS:
        return frame.sort_values(by, ascending=not descending, kind="stable")
    order = sorted(range(len(frame)), key=lambda i: natural_key(frame[by].iat[i]), reverse=descending)
    return frame.iloc[order]


# ---------------------------------------------------------------------------------------------- handlers


def flash(kind: str, message: str) -> None:
    st.session_state[FLASH_KEY] = (kind, message)


def show_flash() -> None:
    kind, message = st.session_state.pop(FLASH_KEY, (None, None))
    if kind == "success":
        st.success(message)
    elif kind == "error":
        st.error(message)
    elif kind == "info":
        st.info(message)


def decide_one(dataset_id: str, known_ids: list[str], decision: str) -> None:
    """Keep / Drop / Clear the sample chosen in ``review_sample`` with the note in ``review_note``."""
    sample_id = str(st.session_state.get("review_sample") or "").strip()
    note = str(st.session_state.get("review_note") or "")
    try:
        if not sample_id:
            raise EudsInputError("choose a sample first")
        check_sample_ids([sample_id], known_ids)
        set_decision(
            dataset_id, sample_id, decision, note=note, reviewer=reviewer_name(), selection=current_selection_text()
        )
    except EudsInputError as exc:
        flash("error", str(exc))
        return
    st.session_state["review_note"] = ""
    flash("success", f"{sample_id}: {decision}" + (f" ({note})" if note else ""))


def decide_many(dataset_id: str, sample_ids: list[str], decision: str, what: str) -> None:
    """One bulk action (undo reverts it whole)."""
    if not sample_ids:
        flash("info", f"no samples in {what}")
        return
    note = str(st.session_state.get("review_bulk_note") or "")
    try:
        set_bulk_decision(
            dataset_id, sample_ids, decision, note=note, reviewer=reviewer_name(), selection=current_selection_text()
        )
    except EudsInputError as exc:
        flash("error", str(exc))
        return
    flash("success", f"{decision} for {len(sample_ids):,} samples ({what})")


def undo(dataset_id: str) -> None:
    try:
        n = undo_last_action(dataset_id, reviewer=reviewer_name())
    except EudsInputError as exc:
        flash("error", str(exc))
        return
    flash("success" if n else "info", f"undid the last action ({n} decisions)" if n else "nothing of yours to undo")
