"""Explore's "Train this selection": the rows the page keeps (after the review overrides) against a label-stratified
random subset of the same size, first by the linear proxy (a background job of seconds), then on request by real
fine-tunes with light CPU defaults and a time estimate shown before they start. The verdicts sit beside the kept
count. The library side is :mod:`euds_core.experiments.selection_check`.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd
import streamlit as st

from euds_core.data.table import Dataset
from euds_core.experiments.selection_check import (
    DEFAULT_SEEDS,
    LIGHT_CPU_CONFIG,
    finetune_seconds_estimate,
    save_selection_ids,
    selection_key,
)
from euds_core.runtime.jobs import Job, list_jobs, start_job
from ui.shared.form_state import Field, initial, remember
from ui.shared.jobs_view import POLL_SECONDS, format_eta
from ui.shared.map_view import cached_embeddings, map_encoder
from ui.shared.selection_checks import kept_ids_with_overrides, verdict_line

# Seconds per training row of one run (MiniLM, the light settings: 1 epoch, 64 tokens, bf16, frozen word embeddings;
# model load and test evaluation included) when this workspace has no fine-tune check to measure it by: the median
# of six 1,986-row runs on 2 CPU cores at load average ~10 (bench/selection_finetune.py, docs/experiments.md);
# replaced by the measured rate once a fine-tune check ran here.
FALLBACK_SECONDS_PER_ROW = 0.030
KIND = "train_selection"


def _jobs_for(dataset_id: str, key: str, mode: str) -> list[Job]:
    jobs = list_jobs(dataset_id, KIND, limit=30)
    return [j for j in jobs if j.args.get("selection_key") == key and j.args.get("mode") == mode]


def _seconds_per_row(dataset_id: str) -> float:
    """Measured by this workspace's finished fine-tune checks of the dataset (seconds per row and epoch)."""
    for job in list_jobs(dataset_id, KIND, limit=30):
        if job.status == "done" and job.result and job.result.get("mode") == "finetune":
            runs = pd.DataFrame(job.result["runs"])
            epochs = max(int(job.result.get("config", {}).get("epochs", 1)), 1)
            return float((runs["seconds"] / (runs["n_train"] * epochs)).median())
    return FALLBACK_SECONDS_PER_ROW


def _show(jobs: list[Job]) -> None:
    job = jobs[0] if jobs else None
    if job is None:
        return
    if job.active:
        st.progress(job.progress, text=f"{job.message or job.status} · {format_eta(job.eta_seconds)}")
    elif job.status == "done" and job.result:
        st.text(verdict_line(job.result))  # plain text: numbers only, but never Markdown
        if job.result.get("kept_in_test"):
            st.caption(
                f"{job.result['kept_in_test']:,} kept rows are in the test split: they are tested, never trained on."
            )
    elif job.status in ("failed", "cancelled"):
        st.text(f"{job.status}: {job.error or ''}")


def _start(dataset: Dataset, ids: list[str], mode: str, seeds: int, config: dict | None = None) -> None:
    key = save_selection_ids(ids)
    args = {"dataset_id": dataset.id, "selection_key": key, "mode": mode, "seeds": int(seeds)}
    if mode == "proxy":
        args["encoder"] = map_encoder()
    else:
        args["config"] = config or {}
    start_job(KIND, args, dataset_id=dataset.id)


def _finetune_controls(dataset: Dataset, ids: list[str], trained_rows: int, pool_rows: int) -> None:
    c1, c2, c3, c4 = st.columns([1, 1, 1, 3], vertical_alignment="bottom")
    fields = [
        Field("train_ft_seeds", DEFAULT_SEEDS["finetune"], lo=1, hi=10),
        Field("train_ft_epochs", LIGHT_CPU_CONFIG.epochs, lo=1, hi=10),
        Field("train_ft_max_len", LIGHT_CPU_CONFIG.max_len, lo=16, hi=512),
    ]
    first = [initial(f) for f in fields]  # a reload keeps the values last used (ui/shared/form_state.py)
    seeds = c1.number_input("Seeds", 1, 10, first[0], key="train_ft_seeds")
    epochs = c2.number_input("Epochs", 1, 10, first[1], key="train_ft_epochs")
    max_len = c3.number_input("Max tokens", 16, 512, first[2], step=16, key="train_ft_max_len")
    remember(fields)
    estimate = finetune_seconds_estimate(trained_rows, 0, int(seeds), _seconds_per_row(dataset.id), int(epochs))
    label = f"Fine-tune it (≈ {format_eta(estimate).removesuffix(' left')}, {2 * int(seeds)} trainings)"
    if c4.button(label, key="train_finetune"):
        config = {"epochs": int(epochs), "max_len": int(max_len)}
        _start(dataset, ids, "finetune", int(seeds), {**asdict(LIGHT_CPU_CONFIG), **config})
        st.rerun()  # the whole page: its panel polls while the job runs


def train_selection_section(dataset: Dataset, kept: np.ndarray) -> None:
    """The button, the live progress and the verdicts of the proxy and the fine-tune for the kept rows."""
    if not dataset.has_labels:
        st.caption("Train this selection needs a label column (Load page).")
        return
    ids, changed = kept_ids_with_overrides(dataset, kept)
    key = selection_key(ids)
    if changed:
        st.caption(f"Trains {len(ids):,} rows: the interval's, with {changed:,} review override(s) applied.")
    left, right = st.columns([1, 3], vertical_alignment="center")
    has_embeddings = cached_embeddings(dataset) is not None
    if left.button("Train this selection", key="train_selection", type="primary", disabled=not has_embeddings):
        _start(dataset, ids, "proxy", DEFAULT_SEEDS["proxy"])
    if not has_embeddings:
        right.caption("The proxy trains on the encoder embeddings: score semantic first (Score page).")

    def panel(was_active: bool) -> None:
        proxy, finetune = _jobs_for(dataset.id, key, "proxy"), _jobs_for(dataset.id, key, "finetune")
        _show(proxy)
        done = next((j for j in proxy if j.status == "done" and j.result), None)
        if done is not None:
            _finetune_controls(dataset, ids, done.result["trained_rows"], done.result["pool_rows"])
        _show(finetune)
        if was_active and not any(j.active for j in proxy + finetune):
            st.rerun()  # finished: the whole page, so the panel stops polling

    active = any(j.active for j in list_jobs(dataset.id, KIND, limit=5))
    st.fragment(panel, run_every=POLL_SECONDS if active else None)(active)
