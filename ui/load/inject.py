"""Load-page section: add flagged defects to the current dataset, saved as a new dataset (for demos)."""

from __future__ import annotations

import streamlit as st

from euds_core.data.defects import DEFECT_KINDS, has_defects, rates_for_total
from euds_core.data.table import Dataset
from euds_core.errors import EudsInputError

KIND_LABELS = {
    "near_duplicate": "near-duplicates (edited copies)",
    "boilerplate": "boilerplate / content-free rows",
    "label_flip": "label flips",
    "garbled": "garbled text",
    "off_topic": "off-topic rows (another built-in dataset)",
}


def inject_section(dataset: Dataset) -> None:
    """Rate, kinds and seed, and a button that saves the noisy copy as a new dataset and makes it current.

    Not a background job: injection takes a second or two (off-topic rows read another built-in dataset).
    """
    from ui.shared.state import set_current_dataset

    with st.expander("Inject defects (a noisy copy for demos and benchmarks)", expanded=False):
        if dataset.task == "qa":
            st.info("Defect injection works on text data (with or without labels), not on question-answer pairs.")
            return
        if has_defects(dataset.table):
            st.info("This dataset already carries injected defects (a `defect` column); inject into the clean one.")
            return
        kinds_allowed = [k for k in DEFECT_KINDS if dataset.has_labels or k != "label_flip"]
        rate = st.slider("Share of defect rows in the copy", 0.05, 0.5, 0.3, 0.05, key="load_inject_rate")
        kinds = st.multiselect(
            "Kinds", kinds_allowed, default=kinds_allowed, format_func=KIND_LABELS.get, key="load_inject_kinds"
        )
        seed = st.number_input("Seed", min_value=0, value=0, step=1, key="load_inject_seed")
        st.caption(
            "Every row gets a `defect` column (empty = clean). Experiments on the copy never test on a defect "
            "or a near-copy group; Explore and the subset report count kept and dropped rows per kind."
        )
        if st.button("Inject and use the noisy copy", key="load_inject_go", disabled=not kinds):
            try:
                dataset_id, counts = inject_and_save(dataset, rate, tuple(kinds), int(seed))
            except EudsInputError as exc:
                st.error(str(exc))
                return
            set_current_dataset(dataset_id)
            st.success(
                f"Saved the noisy copy as dataset {dataset_id}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items())
            )


def inject_and_save(dataset: Dataset, rate: float, kinds: tuple[str, ...], seed: int) -> tuple[str, dict[str, int]]:
    from euds_core.data.datasets import save_dataset
    from euds_core.experiments.defect_pools import defect_counts, inject_dataset

    with st.spinner("Injecting defects…"):
        noisy = inject_dataset(dataset, rates_for_total(rate, kinds), seed=seed)
        return save_dataset(noisy.pool), defect_counts(noisy.pool.table)
