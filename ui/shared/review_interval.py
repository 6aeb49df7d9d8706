"""The selection inputs of the Review and Export pages, and the mask and spec they build from the selection.

Both pages show the current selection (``ui/shared/selection.py``) in their own inputs (``review_*`` keys), loaded
whenever it changes (another page, a link, a reload); a change in these inputs becomes the current selection,
so Explore, Review and Export show one selection.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import streamlit as st

from euds_core.curation.decision_log import effective_overrides
from euds_core.data.table import Dataset
from euds_core.selection.intervals import Interval, SelectionSpec
from euds_core.selection.kept_count import KeptCount, kept_count
from ui.shared.score_variants import SelectionScores, selection_scores, variant_key
from ui.shared.scores import complete_scores_only_note
from ui.shared.selection import (
    BANDS,
    DEFAULT_LABEL,
    MODES,
    SEED,
    Selection,
    current_selection,
    describe_selection,
    mark_loaded,
    notice,
    selection_banner,
    set_selection,
    widgets_need_loading,
)

NO_SCORE = "(none: every row)"


def page_selection(dataset: Dataset):
    """The top of Review and Export: a container for the selection line, the current selection, and its complete
    cached scores (with a notice for anything the URL names that cannot be shown, and for scores still running)."""
    top = st.container()  # the selection line and any notice, filled once the inputs are read
    current = current_selection()
    scored = selection_scores(dataset, current.variant_map())  # every member read with its own variant
    for problem in scored.problems:
        notice(top, problem)
    complete_scores_only_note(dataset)
    return top, current, scored


def _load_into_widgets(interval: Interval | None, scores: pd.DataFrame) -> None:
    if interval is None:
        st.session_state["review_score"] = NO_SCORE
        return
    values = scores[interval.score].to_numpy(dtype=np.float64)
    st.session_state["review_score"] = interval.score
    st.session_state["review_mode"] = interval.mode
    st.session_state["review_plo"] = float(interval.lo) if interval.mode == "percentile" else 0.0
    st.session_state["review_phi"] = float(interval.hi) if interval.mode == "percentile" else 1.0
    lo = interval.lo if interval.mode == "threshold" and np.isfinite(interval.lo) else float(values.min())
    hi = interval.hi if interval.mode == "threshold" and np.isfinite(interval.hi) else float(values.max())
    st.session_state["review_lo"], st.session_state["review_hi"] = float(lo), float(hi)
    st.session_state["review_keep"] = float(interval.keep) if interval.keep is not None else 0.5
    st.session_state["review_band"] = str(interval.band) if interval.band in BANDS else "middle"


def selection_inputs(scored: SelectionScores, selection: Selection, top, page: str) -> Selection:
    """Score + bounds inputs showing the current selection (loaded into the widgets whenever it changes);
    a change here becomes the current selection. Further intervals (an intersection set on Explore) are kept
    and named under the inputs."""
    names, scores = scored.names, scored.frame
    missing = [i.score for i in selection.intervals if i.score not in names]
    usable = selection if not missing else Selection(selection.dataset)
    if missing:
        notice(
            top,
            f"The selection names the score '{missing[0]}', which is not cached for this dataset"
            + (f" (cached: {', '.join(names)})" if names else "")
            + "; this page shows every row instead. Score it on the Score page, or pick a score below.",
        )
    if widgets_need_loading(page, selection):
        _load_into_widgets(usable.intervals[0] if usable.intervals else None, scores)
    if st.session_state.get("review_score") not in [NO_SCORE, *names]:
        st.session_state["review_score"] = NO_SCORE

    c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
    score = c1.selectbox(
        "Interval score",
        [NO_SCORE, *names],
        key="review_score",
        format_func=lambda n: (
            n if scored.labels.get(n, DEFAULT_LABEL) == DEFAULT_LABEL else f"{n} · {scored.labels[n]}"
        ),
    )
    if score == NO_SCORE:
        return _make_current(page, Selection(selection.dataset))
    values = scores[score].to_numpy(dtype=np.float64)
    st.session_state.setdefault("review_mode", "percentile")
    mode = c2.radio("Bounds", list(MODES), format_func=MODES.get, key="review_mode", horizontal=True)
    if mode == "percentile":
        st.session_state.setdefault("review_plo", 0.0), st.session_state.setdefault("review_phi", 1.0)
        lo = c3.number_input("Lower percentile", 0.0, 1.0, step=0.05, key="review_plo")
        hi = c4.number_input("Upper percentile", 0.0, 1.0, step=0.05, key="review_phi")
        interval = Interval(score, "percentile", lo=float(min(lo, hi)), hi=float(max(lo, hi)))
    elif mode == "threshold":
        st.session_state.setdefault("review_lo", float(values.min()))
        st.session_state.setdefault("review_hi", float(values.max()))
        lo = c3.number_input("Lower bound", key="review_lo", format="%.4f")
        hi = c4.number_input("Upper bound", key="review_hi", format="%.4f")
        interval = Interval(score, "threshold", lo=float(min(lo, hi)), hi=float(max(lo, hi)))
    else:
        st.session_state.setdefault("review_keep", 0.5), st.session_state.setdefault("review_band", "middle")
        keep = c3.number_input("Keep fraction", 0.01, 1.0, step=0.05, key="review_keep")
        band = c4.selectbox("Band", ["low", "middle", "high"], key="review_band")
        interval = Interval(score, "keep", keep=float(keep), band=band)
    previous = usable.intervals[0] if usable.intervals else None
    if previous is not None and previous.label_balanced and interval.mode != "threshold":
        interval = replace(interval, label_balanced=True)  # set on Explore; this editor has no such box
    extras = tuple(i for i in usable.intervals[1:] if i.score != score)
    if extras:
        named = describe_selection(Selection(selection.dataset, extras), scored.labels)
        st.caption("Intersected with (set on Explore): " + named.replace(" ∩ ", "; "))
    members = (interval, *extras)
    variants = {i.score: variant_key(scored, i.score) for i in members}  # as read, so the URL names what is shown
    return _make_current(page, Selection(selection.dataset, members, variants=variants))


def shown_selection(dataset: Dataset, page: str, empty_note: str, expander: str | None = None) -> ShownSelection:
    """The selection block of Review and Export: a note while nothing is scored, the inputs (inside an
    ``expander`` with that label when given). The page draws the banner (``draw_banner``) once it knows the count."""
    top, current, scored = page_selection(dataset)
    with st.expander(expander, expanded=scored.frame.empty) if expander else nullcontext():  # Review: top level
        if scored.frame.empty:
            st.info(empty_note)
        current = selection_inputs(scored, current, top, page)
    in_interval = selection_mask(current, scored.frame, dataset)
    return ShownSelection(current, scored, in_interval, top)


@dataclass(frozen=True)
class ShownSelection:
    """What Review and Export show: the selection, its scores, the rows in its intervals, the banner's container."""

    selection: Selection
    scored: SelectionScores
    in_interval: np.ndarray
    top: object

    def draw_banner(self, count: KeptCount) -> None:
        selection_banner(self.top, self.selection, count, self.scored.labels)


def selection_count(dataset: Dataset, in_interval: np.ndarray, overrides: dict[str, str] | None = None) -> KeptCount:
    """The kept count every page shows: the selection's rows, then the review's overrides (the stored ones unless
    the page read them already, so its count and its export see the same overrides)."""
    overrides = effective_overrides(dataset.id) if overrides is None else overrides
    return kept_count(in_interval, dataset.table["id"].to_numpy(), overrides)


def _make_current(page: str, selection: Selection) -> Selection:
    set_selection(selection)
    mark_loaded(page, selection)
    return selection


def dataset_labels(dataset: Dataset) -> np.ndarray | None:
    """The label column as strings (what a label-balanced interval groups by); None without labels."""
    return dataset.table["label"].astype(str).to_numpy() if "label" in dataset.table.columns else None


def selection_mask(selection: Selection, scores: pd.DataFrame, dataset: Dataset | None = None) -> np.ndarray:
    """(n,) bool: the rows inside every interval of the selection (all rows without one); the ``dataset``'s
    labels serve a label-balanced interval."""
    labels = dataset_labels(dataset) if dataset is not None else None
    mask = np.ones(len(scores), dtype=bool)
    for interval in selection.intervals:
        mask &= interval.mask(scores[interval.score].to_numpy(dtype=np.float64), SEED, labels)
    return mask


def selection_spec(dataset: Dataset, selection: Selection, scored: SelectionScores, overrides: dict) -> SelectionSpec:
    """The spec of what the page shows: the intervals, the params of the score variants read, the overrides."""
    intervals = list(selection.intervals)
    params = {i.score: scored.params.get(i.score, {}) for i in intervals}
    return SelectionSpec(dataset.id, intervals, seed=SEED, score_params=params, overrides=dict(overrides))
