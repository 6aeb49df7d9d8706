"""The Selection study's break-even picture: gain over random against an injected defect rate, for this dataset.

One button starts the ``inject_sweep`` background job (euds_core/experiments/inject_sweep.py: per rate, the test
split held out clean, defects injected into the rest, a linear-proxy benchmark of auto vs random vs full and the
auto-curate study); a fragment polls it, so the page never waits. The latest finished sweep is drawn below.
"""

from __future__ import annotations

import streamlit as st

from euds_core.data.table import Dataset
from euds_core.errors import EudsInputError

RATES_KEY = "ft_sweep_rates"


def parse_sweep_rates(text: str) -> list[float]:
    """The rates field ('0, 0.15, 0.3') as sorted fractions; EudsInputError with the expected form otherwise."""
    from euds_core.experiments.inject_sweep import parse_rates_list

    return parse_rates_list(str(text).replace(" ", ""))


def sweep_args(dataset_id: str, rates: list[float], size: float, seeds: int, scores: list[str], options: dict) -> dict:
    """The job's args: each noisy pool is scored anew, so with the benchmark's default (model-free and encoder)
    scores among the cached ones only; the LM scores would take ~20 min per pool on 2 CPU cores."""
    from euds_core.experiments.benchmark import DEFAULT_SCORES

    scores = [s for s in scores if s in DEFAULT_SCORES] or list(DEFAULT_SCORES)
    return {
        "dataset_id": dataset_id,
        "rates": rates,
        "sizes": [float(size)],
        "seeds": list(range(int(seeds))),
        "scores": list(scores),
        "options": options,
    }


def sweep_results(dataset_id: str) -> None:
    """The latest sweep: the chart (gain over random vs rate) and its table."""
    from euds_core.experiments.inject_sweep import load_sweep, sweep_figure

    sweep = load_sweep(dataset_id)
    if sweep is None:
        st.info("No defect-rate sweep yet for this dataset: press the button above (linear proxy; minutes).")
        return
    st.plotly_chart(sweep_figure(sweep, dataset_id[:12]), key="ft_sweep_chart", width="stretch")
    st.dataframe(sweep, hide_index=True, width="stretch")


def break_even_section(dataset: Dataset, score_names: list[str], size: float, seeds: int, options: dict) -> None:
    """Rates field, a Run button (a lead's, like every training job) and the live results fragment."""
    from ui.finetune.view import live_job_section, start_training_job

    st.markdown("**Where curation pays: the break-even sweep**")
    st.caption(
        "Holds this dataset's test split out clean, injects defects (near-copies, boilerplate, label flips, "
        "garbled and off-topic rows) into the rest at each rate, and measures auto, auto-curate and the full "
        "pool against random at the same size (linear proxy, the study's size and seeds)."
    )
    if dataset.task != "classification" or not score_names:
        st.info("The sweep needs labelled data and at least one computed score (Score page).")
        return
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    left.text_input("Defect rates", "0, 0.15, 0.3", key=RATES_KEY, help="total shares of defect rows, in [0, 0.9)")
    if right.button("Run the defect-rate sweep", key="ft_sweep"):
        try:
            rates = parse_sweep_rates(st.session_state[RATES_KEY])
        except EudsInputError as exc:
            left.error(str(exc))
        else:
            args = sweep_args(dataset.id, rates, size, seeds, score_names, options)
            start_training_job(right, "inject_sweep", args, dataset.id, "a defect-rate sweep")
    live_job_section(dataset.id, "inject_sweep", "ft_sweep_job", lambda _job: sweep_results(dataset.id))
