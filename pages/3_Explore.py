"""Explore: set entropy intervals by looking — histograms, range sliders, box-select, a 2-D map, previews.

URL: ``?dataset=bbc_news&score=information&plo=0.25&phi=0.75`` (or ``lo``/``hi`` raw values, or
``keep``/``band``) restores a view; the page keeps the URL in step so a view can be bookmarked. An interval
change recomputes only masks and counts: scores, embeddings and the map come from caches.
"""

from __future__ import annotations

import json

import numpy as np
import streamlit as st

from euds_core.curation.decision_log import effective_overrides
from euds_core.scores import get_scorer_class
from euds_core.selection.kept_count import apply_overrides
from ui.explore.context import label_share_warning
from ui.explore.interval import (
    apply_box_selection,
    apply_selection,
    interval_bounds,
    interval_controls,
    interval_mask,
    label_balanced_control,
    remember_applied,
    stored_interval,
)
from ui.explore.score_choice import choose_scores, remembered_variants
from ui.explore.train import train_selection_section
from ui.explore.views import (
    defect_counts,
    kept_summary,
    label_balance,
    main_histogram,
    other_histograms,
    partial_banner,
    partial_sample,
    preview,
    refresh_while_scoring,
    score_it_prompt,
    subset_report_panel,
)
from ui.shared.charts import box_bounds
from ui.shared.jobs_view import jobs_panel
from ui.shared.map_view import embedding_map_section
from ui.shared.named_selections import save_selection_section
from ui.shared.page_stop import end_page
from ui.shared.review_interval import dataset_labels, selection_count, selection_spec
from ui.shared.score_variants import selection_scores, variant_key
from ui.shared.scores import partial_scores, running_scores, score_options
from ui.shared.selection import (
    Selection,
    current_selection,
    describe_selection,
    notice,
    selection_banner,
    set_selection,
    widgets_need_loading,
)
from ui.shared.state import page_dataset

st.title("Explore")
dataset = full_dataset = page_dataset()
top = st.container()  # the selection line and any notice, filled once the widgets are read
current = current_selection()
scored = selection_scores(dataset, remembered_variants(current, widgets_need_loading("explore", current), dataset.id))
scores = scored.frame
refresh_while_scoring(dataset.id)
so_far = partial_scores(dataset)  # None unless a pass is part-way: then every view uses its random sample
if so_far is not None:
    dataset, scores = partial_sample(full_dataset, so_far)
    partial_banner(so_far, len(full_dataset.table), len(scores), running=bool(running_scores(full_dataset.id)))
else:  # a score the URL names may simply not have finished yet: say so only once nothing is part-way
    for problem in scored.problems:
        notice(top, problem)
if scores.empty:
    score_it_prompt(full_dataset)
    end_page()
if running_scores(full_dataset.id):
    with st.expander("Scoring in progress — more scores appear here as they finish", expanded=False):
        jobs_panel(full_dataset.id, "score")

names = list(scores.columns)
units = {n: get_scorer_class(n).unit for n in names}
apply_selection(current, names, lambda s: scores[s].to_numpy(), top)

choice = choose_scores(scores, scored, units)
combine, active, values, members = choice.combine, choice.active, choice.values, choice.members

# A box drawn on the histogram (previous run) becomes the interval before the slider is drawn.
selection = (st.session_state.get(f"hist_{active}") or {}).get("selection")
bounds_dragged = box_bounds(selection)
if bounds_dragged and st.session_state.get("_applied_box") != (active, bounds_dragged):
    st.session_state["_applied_box"] = (active, bounds_dragged)
    apply_box_selection(active, values, bounds_dragged)

interval = interval_controls(active, values)
label_values = dataset_labels(dataset)
interval = label_balanced_control(interval, label_values)
# names the arrays: the options, the columns, and the params of any other variant shown
index_key = (dataset.id, json.dumps(score_options(), sort_keys=True), json.dumps(scored.params, sort_keys=True))
kept = interval_mask(interval, values, (*index_key, active), label_values)
drawn_bounds = {}
for member in members[1:]:
    member_values = scores[member].to_numpy()
    member_mask = interval_mask(stored_interval(member, member_values), member_values, (*index_key, member))
    drawn_bounds[member] = interval_bounds(stored_interval(member, member_values), member_values, member_mask)
    kept &= member_mask
# the kept count of every page: the interval's rows, then the review's overrides (none on a partial view's sample)
overrides = effective_overrides(full_dataset.id) if so_far is None else {}  # none on a partial view's sample
count = selection_count(dataset, kept, overrides)
final = apply_overrides(kept, dataset.table["id"].to_numpy(), overrides)  # the rows Review and Export keep
if combine == "Intersection" and len(members) > 1:
    st.caption("Intersection of: " + ", ".join(members) + ". Pick another score above to edit its interval.")
if combine == "Rank mean":
    notice(
        top,
        "Rank mean is a view of this page only: Review and Export keep the current selection, "
        f"{describe_selection(current, scored.labels)}. Choose One score or Intersection to change it.",
    )
else:
    intervals = [interval, *[stored_interval(m, scores[m].to_numpy()) for m in members[1:]]]
    variants = {m: variant_key(scored, m) for m in members}  # every member's, not only the active score's
    current = Selection(current.dataset, tuple(intervals), variants=variants)
    set_selection(current)
    remember_applied(current)
    selection_banner(top, current, count, scored.labels, total_rows=len(full_dataset.table))
    save_selection_section(full_dataset, selection_spec(full_dataset, current, scored, {}), "explore")

kept_summary(count, dataset, len(full_dataset.table))
defect_counts(kept, dataset, partial=so_far is not None)
label_share_warning(dataset, kept, interval)
if so_far is None:  # training acts on complete scores only: a partial view's kept rows are a sample
    train_selection_section(dataset, kept)
left, right = st.columns([2, 1])
with left:
    main_histogram(active, values, kept, interval, units.get(active, ""))
with right:
    st.markdown("**Label balance: kept vs all**")
    label_balance(final, dataset)  # the rows the headline counts, overrides applied
other_histograms(scores, active, kept, drawn_bounds, units)
subset_report_panel(dataset, scores, final, json.dumps(scored.params, sort_keys=True))

st.subheader("Map")
if so_far is None:
    embedding_map_section(dataset, scores, kept, active, values)
else:  # UMAP + HDBSCAN of a growing sample would be refitted at every chunk; one map, of every row, at the end
    st.caption("The map is drawn when scoring has finished (it lays out every row once).")

st.subheader("Samples")
preview(dataset, active, np.asarray(values), final)  # the rows the headline counts, overrides applied
