"""Fine-tune: does the selected subset train as well as all the data? (docs/experiments.md)

Runs a grid (strategies x subset sizes x seeds) in the background; the curve of accuracy vs subset size
updates as runs land in SQLite. The interval search grid is a heat map: a click opens that interval on Explore.
"""

from __future__ import annotations

import streamlit as st

from euds_core.experiments.interval_search import load_search_grid
from euds_core.experiments.run_store import latest_grid_runs, load_runs
from euds_core.experiments.selection_check import majority_accuracy
from euds_core.experiments.statistics import paired_verdicts
from euds_core.experiments.subsets import SELECTION, available_strategies
from euds_core.runtime.jobs import Job
from ui.finetune.charts import (
    accuracy_vs_size_figure,
    accuracy_vs_time_figure,
    clicked_cell,
    explore_link_params,
    interval_grid_figure,
    runs_csv,
    runs_table,
)
from ui.finetune.test_set import test_set_section
from ui.finetune.view import (
    GRID_KEY,
    MIN_KEEP,
    SIZE_COLUMN,
    best_cell_actions,
    explore_kept_ids,
    grid_form,
    live_job_section,
    search_score_select,
    selection_study_section,
    show_verdicts,
    start_grid,
    start_training_job,
)
from ui.shared.form_state import initial, remember
from ui.shared.page_stop import end_page
from ui.shared.score_variants import selection_scores
from ui.shared.scores import cached_scores, complete_scores_only_note, score_options
from ui.shared.selection import (
    DEFAULT_LABEL,
    current_selection,
    describe_selection,
    mark_loaded,
    widgets_need_loading,
)
from ui.shared.selection_checks import selection_check_results
from ui.shared.state import current_dataset, current_dataset_spec

st.title("Fine-tune")
dataset = current_dataset()
if dataset is None:
    end_page()
st.caption(f"**{dataset.name}** · {len(dataset.table):,} rows · task {dataset.task}")
if dataset.task not in ("classification", "qa"):
    st.info(
        "Fine-tuning needs labels (classification) or question/answer columns (Q&A). Load such data on the Load page."
    )
    end_page()

scores_now = cached_scores(dataset)
score_names = list(scores_now.columns)
complete_scores_only_note(dataset)
strategies_all = available_strategies(score_names)
current = current_selection()
if current.score in score_names and widgets_need_loading("finetune", current):
    st.session_state["ft_score"] = current.score  # the grid's interval score starts as the current selection's
    mark_loaded("finetune", current)
variant_labels = selection_scores(dataset, current.variant_map()).labels  # every member's own variant
other_settings = [s for s in current.variant_map() if variant_labels.get(s, DEFAULT_LABEL) != DEFAULT_LABEL]
kept_ids = explore_kept_ids(dataset)
trains = (
    f"The grid's default strategy, **selection**, trains exactly the {len(kept_ids):,} rows Explore keeps (those in "
    "the pool) against label-stratified random at the same size; its verdict is drawn on the curve. "
    if kept_ids is not None
    else ""
)
st.info(
    f"Current selection: {describe_selection(current, variant_labels)}. {trains}Explore's **Train this selection** "
    "runs the same check (its verdicts are listed below). The other strategies train their own "
    "pick at each subset size (the interval strategy: a band of the score you choose"
    + (
        f"; the grid reads {', '.join(other_settings)} with the app's settings, not the selection's variant)."
        if other_settings
        else ")."
    ),
    icon=":material/filter_alt:",
)
st.markdown("**This selection against random** (trained on Explore: exactly the kept rows)")
selection_check_results(dataset.id, kept_ids)
test_set_section(dataset)
submitted, spec = grid_form(dataset, score_names, strategies_all, has_selection=kept_ids is not None)
if submitted:
    start_grid(dataset, spec, scores_now, score_options())
grid_key = st.session_state.get(GRID_KEY)


def grid_results(job: Job | None) -> None:
    key = grid_key or (job.args.get("grid_key") if job else None)
    runs = load_runs(dataset.id, key) if key else latest_grid_runs(dataset.id)  # one grid per answer
    if runs.empty:
        st.info("No finished runs yet. Choose the grid above and run it; runs appear here as they finish.")
        return
    majority = majority_accuracy(dataset.table, spec.config)
    verdicts = paired_verdicts(runs, balanced={SELECTION})
    figure = accuracy_vs_size_figure(runs, majority=majority, verdicts=verdicts)
    st.plotly_chart(figure, key="ft_curve", width="stretch")
    show_verdicts(runs)
    left, right = st.columns([3, 2])
    left.plotly_chart(accuracy_vs_time_figure(runs), key="ft_time", width="stretch")
    right.dataframe(runs_table(runs), hide_index=True, width="stretch", height=320, column_config=SIZE_COLUMN)
    right.download_button(
        "Download results CSV",
        runs_csv(runs),
        file_name=f"finetune-{dataset.name}.csv",
        mime="text/csv",
        key="ft_download",
    )


live_job_section(dataset.id, "finetune", "ft", grid_results)

st.subheader("Optimal-interval search")
st.caption(
    "Logistic regression on frozen encoder embeddings per (p_lo, p_hi) cell, trained on the pool and scored on a "
    "validation split inside it (the test split is never seen). Colour = gain over random subsets of the same size. "
    "Click a cell to open it on Explore; confirm the best one with a fine-tune on the test split."
)
if not score_names or dataset.task != "classification":
    st.info("The search needs labelled data and at least one computed score (Score page).")
    end_page()
s1, s2, s3 = st.columns([2, 2, 1], vertical_alignment="bottom")
search_score = search_score_select(s1, score_names, current.score)
min_keep = s2.slider("Minimum kept fraction", 0.1, 1.0, initial(MIN_KEEP), 0.1, key="ft_min_keep")
remember([MIN_KEEP])
if s3.button("Search", key="ft_search"):
    args = {"dataset_id": dataset.id, "score": search_score, "min_keep": min_keep, "options": score_options()}
    start_training_job(st, "interval_search", args, dataset.id, "a search")


def search_results(_job: Job | None) -> None:
    grid = load_search_grid(dataset.id, search_score)
    if grid is None:
        st.info("No search grid for this score yet.")
        return
    event = st.plotly_chart(
        interval_grid_figure(grid), key="ft_heatmap", on_select="rerun", selection_mode=("points",), width="stretch"
    )
    cell = best_cell_actions(dataset, grid, search_score, spec, scores_now, score_options()) or clicked_cell(event)
    if cell is not None:
        st.switch_page(
            "pages/3_Explore.py", query_params=explore_link_params(current_dataset_spec(), search_score, *cell)
        )


live_job_section(dataset.id, "interval_search", "ft_search", search_results)

selection_study_section(dataset, spec, score_names)
