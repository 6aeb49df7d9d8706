"""The Review page's decision area: counts, filters, the sample table, Keep / Drop / Clear, bulk actions, double
review and undo, drawn as one ``st.fragment``.

A click here reruns only this fragment: the decisions are read again from SQLite and the table rebuilt from
arrays the page computed once per selection (scores, interval mask, map clusters), so a keep / drop never waits
on the selection inputs, the score cache, the map lookup or the sidebar.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from euds_core.curation import double_review
from euds_core.curation.decision_log import can_undo, effective_decisions
from euds_core.data.table import Dataset
from euds_core.selection.kept_count import KeptCount
from ui.review.data import (
    PAGE_SIZE,
    VIEWS,
    access_note,
    decide_many,
    decide_one,
    filter_table,
    review_table,
    reviewer_name,
    show_flash,
    sort_table,
    undo,
)
from ui.review.double_review_view import draw_double_review
from ui.shared.review_interval import ShownSelection, selection_count


def _counts(count: KeptCount, decisions: pd.DataFrame) -> None:
    """The page's counts: the kept count of every page (``ui/shared/review_interval.py``), overrides named."""
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Kept", f"{count.kept:,}", help="the number Explore, the banner and Export show")
    m2.metric("Dropped", f"{count.total - count.kept:,}")
    m3.metric("Overrides", f"{len(decisions):,}", help="samples whose manual keep/drop wins over the interval")
    m4.metric("Interval keeps", f"{count.by_interval:,}")
    if count.changed:
        st.caption(f"Kept: {count.breakdown()}")


def _filtered(table: pd.DataFrame, scores: pd.DataFrame, dataset_id: str, first_score: str | None) -> pd.DataFrame:
    """The filter and sort widgets, and the rows they leave, in their order."""
    f1, f2, f3, f4 = st.columns([1, 2, 2, 2])
    view = f1.radio("Show", VIEWS, key="review_view")
    search = f2.text_input("Search text or id", key="review_search")
    labels = f3.multiselect("Label", sorted(table["label"].unique()), key="review_labels") if "label" in table else []
    clusters = (
        f4.multiselect("Cluster", sorted(table["cluster"].unique()), key="review_clusters")
        if "cluster" in table
        else []
    )
    if "cluster" not in table:
        f4.caption("Clusters appear once the Explore page's map is computed.")
    g1, g2 = st.columns([3, 2])
    reviewers = g1.multiselect("Decided by", sorted(set(table["reviewer"]) - {""}), key="review_reviewers")
    queue = double_review.reviewer_queue(dataset_id, reviewer_name())
    only_queue = g2.toggle(f"Only my double-review queue ({len(queue):,})", key="review_queue", disabled=not queue)
    sortable = [c for c in ["id", *scores.columns, "label", "cluster", "override"] if c in table]
    s1, s2 = st.columns([3, 1])
    start = sortable.index(first_score) if first_score in sortable else 0
    sort_by = s1.selectbox("Sort by", sortable, index=start, key="review_sort")
    descending = s2.toggle("Descending", key="review_desc")
    filters = {
        "labels": labels,
        "clusters": clusters,
        "reviewers": reviewers,
        "only_ids": queue if only_queue else None,
    }
    return sort_table(filter_table(table, view=view, search=search, **filters), sort_by, descending)


def _page_of(shown: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """The page chooser and the table of that page's rows (dataset text as plain text cells)."""
    pages = max(1, -(-len(shown) // PAGE_SIZE))
    st.session_state["review_page"] = min(max(int(st.session_state.get("review_page") or 1), 1), pages)
    c1, c2 = st.columns([1, 3], vertical_alignment="bottom")
    page = c1.number_input(f"Page (of {pages})", 1, pages, key="review_page")
    page_rows = shown.iloc[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    matching = "1 sample matches" if len(shown) == 1 else f"{len(shown):,} samples match"
    c2.caption(f"{matching} the filter · showing {len(page_rows)}")
    st.dataframe(
        page_rows,
        hide_index=True,
        key="review_table",
        column_config={
            "id": st.column_config.TextColumn("id", width="small", pinned=True),
            "status": st.column_config.TextColumn("status", width="small"),
            "interval": st.column_config.TextColumn("in interval", width="small"),
            "override": st.column_config.TextColumn("override", width="small"),
            "label": st.column_config.TextColumn("label", width="small"),
            **{name: st.column_config.NumberColumn(name, format="%.3f", width="small") for name in scores.columns},
            "text": st.column_config.TextColumn("text", width="large"),
            "note": st.column_config.TextColumn("note", width="medium"),
        },
    )
    return page_rows


def _decide_one(dataset_id: str, table: pd.DataFrame, page_rows: pd.DataFrame) -> None:
    st.subheader("Decide one sample")
    d1, d2 = st.columns([2, 3])
    options = page_rows["id"].tolist()
    if st.session_state.get("review_sample") not in options:  # follow the filter and paging
        st.session_state["review_sample"] = options[0] if options else None
    d1.selectbox(
        "Sample", options, key="review_sample", accept_new_options=True, help="pick from this page or type any id"
    )
    d1.text_input("Note (optional)", key="review_note")
    ids = table["id"].tolist()
    for column, action in zip(d1.columns(3), ("keep", "drop", "clear"), strict=True):
        column.button(
            action.title(),
            key=f"review_{action}_one",
            on_click=decide_one,
            args=(dataset_id, ids, action),
            width="stretch",
        )
    chosen = table[table["id"] == st.session_state.get("review_sample")]
    if len(chosen):
        row = chosen.iloc[0]
        d2.caption(
            f"{row['status']} · interval {row['interval']}"
            + (f" · override {row['override']} by {row['reviewer'] or '?'}" if row["override"] else "")
        )
        d2.text(row["text"][:3000])  # st.text: plain text, never HTML


def _bulk_actions(dataset_id: str, table: pd.DataFrame, shown: pd.DataFrame) -> None:
    st.subheader("Bulk actions")
    st.text_input("Note for bulk actions (optional)", key="review_bulk_note")
    filtered_ids = shown["id"].tolist()
    for column, action in zip(st.columns(3), ("keep", "drop", "clear"), strict=True):
        column.button(
            f"{action.title()} all {len(filtered_ids):,} filtered",
            key=f"review_{action}_filter",
            on_click=decide_many,
            args=(dataset_id, filtered_ids, action, "the current filter"),
        )
    group_col = "cluster" if "cluster" in table else ("label" if "label" in table else None)
    if group_col is None:
        return
    h1, h2, h3 = st.columns([2, 1, 1])
    group = h1.selectbox(f"Whole {group_col}", sorted(table[group_col].unique()), key="review_group")
    group_ids = table.loc[table[group_col] == group, "id"].tolist()
    for column, action in ((h2, "keep"), (h3, "drop")):
        column.button(
            f"{action.title()} {group_col} ({len(group_ids):,})",
            key=f"review_{action}_group",
            on_click=decide_many,
            args=(dataset_id, group_ids, action, f"{group_col} {group}"),
        )


def decision_area(dataset: Dataset, shown: ShownSelection, clusters: np.ndarray | None) -> None:
    """Everything a decision changes, as one fragment: the banner at the page's top, the counts, the table."""
    scores, in_interval, first = shown.scored.frame, shown.in_interval, shown.selection.score
    decisions = effective_decisions(dataset.id)
    table = review_table(dataset, scores, in_interval, decisions, clusters, first)
    overrides = dict(zip(decisions["id"], decisions["decision"], strict=True)) if len(decisions) else {}
    count = selection_count(dataset, in_interval, overrides)
    shown.draw_banner(count)
    who = reviewer_name()
    _counts(count, decisions)
    if note := access_note(who):
        st.caption(note)
    show_flash()
    shown = _filtered(table, scores, dataset.id, first)
    page_rows = _page_of(shown, scores)
    _decide_one(dataset.id, table, page_rows)
    _bulk_actions(dataset.id, table, shown)
    draw_double_review(dataset.id, shown["id"].tolist())
    st.button(
        "Undo my last action",
        key="review_undo",
        on_click=undo,
        args=(dataset.id,),
        disabled=not can_undo(dataset.id, reviewer=who),
        help="appends the reverse of your last click or bulk action",
    )


def draw_decision_area(dataset: Dataset, shown: ShownSelection, clusters: np.ndarray | None) -> None:
    st.fragment(decision_area)(dataset, shown, clusters)
