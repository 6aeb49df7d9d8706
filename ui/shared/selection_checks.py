"""The verdicts of "Train this selection" (Explore's kept rows vs label-stratified random; the ``train_selection``
jobs of :mod:`euds_core.experiments.selection_check`): one plain line each, on Explore and on the Fine-tune page."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from euds_core.curation.decision_log import effective_overrides
from euds_core.data.table import Dataset
from euds_core.experiments.selection_check import selection_key
from euds_core.runtime.jobs import list_jobs
from euds_core.selection.kept_count import apply_overrides, kept_count
from ui.shared.verdict_wording import Q_EXPLANATION


def verdict_line(result: dict) -> str:
    """One plain line: the verdict with its 95 % CI, the rows trained, the full pool and the majority class."""
    v = result.get("verdict") or {}
    how = "linear proxy on the embeddings" if result["mode"] == "proxy" else "fine-tune"
    full = f" · full pool {result['full_accuracy']:.3f}" if result.get("full_accuracy") is not None else ""
    runs = pd.DataFrame(result["runs"])
    mine = runs[runs["strategy"] == "selection"]["accuracy"].mean()
    theirs = runs[runs["strategy"] == "random:balanced"]["accuracy"].mean()
    return (
        f"{how}, {v.get('seeds', 0)} seeds, {result['trained_rows']:,} rows: this selection {mine:.3f} vs random "
        f"(label-stratified, same size) {theirs:.3f}: {v.get('verdict', 'no verdict')}{full} · majority class "
        f"{result['majority_accuracy']:.3f}"
    )


def selection_check_results(dataset_id: str, current_ids: list[str] | None = None, limit: int = 4) -> None:
    """The latest finished checks of the dataset (proxy and fine-tune), newest first, as plain text; a check of
    other rows than ``current_ids`` (the current selection's kept ids) is marked as an earlier selection's."""
    done = [j for j in list_jobs(dataset_id, "train_selection", limit=30) if j.status == "done" and j.result][:limit]
    if not done:
        st.caption("No selection trained yet: press **Train this selection** on Explore.")
    current_key = selection_key(current_ids) if current_ids is not None else None
    for job in done:
        earlier = current_key is not None and job.args.get("selection_key") != current_key
        which = " (an earlier selection, not the current one)" if earlier else ""
        st.text(f"{job.result['kept']:,} kept rows{which} · " + verdict_line(job.result))
    if done:
        st.caption(Q_EXPLANATION)


def kept_ids_with_overrides(dataset: Dataset, kept: np.ndarray) -> tuple[list[str], int]:
    """The ids the selection keeps once the review overrides apply (what Review and Export keep, by the same rule:
    ``euds_core/selection/kept_count.py``), and how many rows the overrides changed."""
    ids = dataset.table["id"].astype(str).to_numpy()
    overrides = effective_overrides(dataset.id)
    count = kept_count(kept, ids, overrides)
    return ids[apply_overrides(kept, ids, overrides)].tolist(), count.manual_keeps + count.manual_drops
