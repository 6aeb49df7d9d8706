"""Review: curate by hand on top of the interval selection. Every click is committed to SQLite at once.

The interval is the current selection (``ui/shared/selection.py``: the same on Explore, Review and Export, kept in
the URL) and can be changed here; overrides (keep / drop, with a note) win over it. Dataset text is shown as plain text only.
"""

from __future__ import annotations

import streamlit as st

from euds_core.curation import double_review
from euds_core.curation.decision_log import can_undo, effective_decisions
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
from ui.shared.map_view import dataset_map
from ui.shared.review_interval import shown_selection
from ui.shared.state import page_dataset

st.title("Review")
dataset = page_dataset()
no_scores = "No scores yet: every row starts as kept. Score the dataset on the Score page to review an interval."
current, scored, in_interval = shown_selection(dataset, "review", no_scores)
scores = scored.frame
interval = current.intervals[0] if current.intervals else None
decisions = effective_decisions(dataset.id)
mapped = dataset_map(dataset)
table = review_table(dataset, scores, in_interval, decisions, mapped[1] if mapped else None, current.score)
ids = table["id"].tolist()
who = reviewer_name()

m1, m2, m3, m4 = st.columns(4)
m1.metric("Kept", f"{int((table['status'] == 'kept').sum()):,}")
m2.metric("Dropped", f"{int((table['status'] == 'dropped').sum()):,}")
m3.metric("Overrides", f"{len(decisions):,}", help="samples whose manual keep/drop wins over the interval")
m4.metric("Interval keeps", f"{int(in_interval.sum()):,}")
if note := access_note(who):
    st.caption(note)
show_flash()

f1, f2, f3, f4 = st.columns([1, 2, 2, 2])
view = f1.radio("Show", VIEWS, key="review_view")
search = f2.text_input("Search text or id", key="review_search")
labels = f3.multiselect("Label", sorted(table["label"].unique()), key="review_labels") if "label" in table else []
clusters = (
    f4.multiselect("Cluster", sorted(table["cluster"].unique()), key="review_clusters") if "cluster" in table else []
)
if "cluster" not in table:
    f4.caption("Clusters appear once the Explore page's map is computed.")
g1, g2 = st.columns([3, 2])
reviewers = g1.multiselect("Decided by", sorted(set(table["reviewer"]) - {""}), key="review_reviewers")
queue = double_review.reviewer_queue(dataset.id, who)
only_queue = g2.toggle(f"Only my double-review queue ({len(queue):,})", key="review_queue", disabled=not queue)
sortable = [c for c in ["id", *scores.columns, "label", "cluster", "override"] if c in table]
s1, s2, s3 = st.columns([2, 1, 1])
sort_by = s1.selectbox("Sort by", sortable, index=sortable.index(interval.score) if interval else 0, key="review_sort")
descending = s2.toggle("Descending", key="review_desc")
filters = {"labels": labels, "clusters": clusters, "reviewers": reviewers, "only_ids": queue if only_queue else None}
shown = sort_table(filter_table(table, view=view, search=search, **filters), sort_by, descending)
pages = max(1, -(-len(shown) // PAGE_SIZE))
st.session_state["review_page"] = min(max(int(st.session_state.get("review_page") or 1), 1), pages)
page = s3.number_input(f"Page (of {pages})", 1, pages, key="review_page")
page_rows = shown.iloc[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
st.caption(f"{len(shown):,} samples match the filter · showing {len(page_rows)}")
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

st.subheader("Decide one sample")
d1, d2 = st.columns([2, 3])
options = page_rows["id"].tolist()
if st.session_state.get("review_sample") not in options:  # follow the filter and paging
    st.session_state["review_sample"] = options[0] if options else None
d1.selectbox("Sample", options, key="review_sample", accept_new_options=True, help="pick from this page or type any id")
d1.text_input("Note (optional)", key="review_note")
for column, action in zip(d1.columns(3), ("keep", "drop", "clear"), strict=True):
    column.button(
        action.title(), key=f"review_{action}_one", on_click=decide_one, args=(dataset.id, ids, action), width="stretch"
    )
chosen = table[table["id"] == st.session_state.get("review_sample")]
if len(chosen):
    row = chosen.iloc[0]
    d2.caption(
        f"{row['status']} · interval {row['interval']}"
        + (f" · override {row['override']} by {row['reviewer'] or '?'}" if row["override"] else "")
    )
    d2.text(row["text"][:3000])  # st.text: plain text, never HTML

st.subheader("Bulk actions")
st.text_input("Note for bulk actions (optional)", key="review_bulk_note")
filtered_ids = shown["id"].tolist()
for column, action in zip(st.columns(3), ("keep", "drop", "clear"), strict=True):
    column.button(
        f"{action.title()} all {len(filtered_ids):,} filtered",
        key=f"review_{action}_filter",
        on_click=decide_many,
        args=(dataset.id, filtered_ids, action, "the current filter"),
    )
group_col = "cluster" if "cluster" in table else ("label" if "label" in table else None)
if group_col:
    h1, h2, h3 = st.columns([2, 1, 1])
    group = h1.selectbox(f"Whole {group_col}", sorted(table[group_col].unique()), key="review_group")
    group_ids = table.loc[table[group_col] == group, "id"].tolist()
    what = f"{group_col} {group}"
    for column, action in ((h2, "keep"), (h3, "drop")):
        column.button(
            f"{action.title()} {group_col} ({len(group_ids):,})",
            key=f"review_{action}_group",
            on_click=decide_many,
            args=(dataset.id, group_ids, action, what),
        )

draw_double_review(dataset.id, shown["id"].tolist())
st.button(
    "Undo my last action",
    key="review_undo",
    on_click=undo,
    args=(dataset.id,),
    disabled=not can_undo(dataset.id, reviewer=who),
    help="appends the reverse of your last click or bulk action",
)
