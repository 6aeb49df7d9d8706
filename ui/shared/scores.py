"""Scores for the pages: the scorer options, cached score lookup, and scoring jobs grouped by cost.

The pages look scores up with exactly the options they score with. Those options are the library's
defaults (the packaged models, as the CLI uses), unless overridden — for tests and demos without models —
by the environment variable ``EUDS_SCORE_OPTIONS`` (JSON, e.g. ``{"tokenizer": "whitespace", "encoder":
"hashing"}``) or ``st.session_state["score_options"]`` (a dict; wins over the environment).
"""

from __future__ import annotations

import json
import os

import pandas as pd
import streamlit as st

from euds_core.data.table import Dataset
from euds_core.runtime.jobs import Job, list_jobs, start_job
from euds_core.scores import EUDS_SCORES, get_scorer_class, list_scorers
from euds_core.scoring.engine import (
    expand_score_names,
    score_dataset,
    score_job_groups,
    scores_so_far,
    share_label_free_scores,
)
from euds_core.storage.cache import DatasetCache

SCORE_OPTIONS_ENV = "EUDS_SCORE_OPTIONS"
SCORE_OPTIONS_KEY = "score_options"
MODEL_FREE_OPTIONS = {"tokenizer": "whitespace", "encoder": "hashing"}  # what tests seed and score with
# The one-click "Score it": all three entropies; each model pass scores a random sample first, so all three
# histograms (and IGSE) are drawable within about a minute on 2 CPU cores while the rest fills in (issue 17).
FIRST_SCORES = list(EUDS_SCORES)


def score_options() -> dict:
    """The options every page scores and looks up with (see the module docstring)."""
    if isinstance(st.session_state.get(SCORE_OPTIONS_KEY), dict):
        return dict(st.session_state[SCORE_OPTIONS_KEY])
    raw = os.environ.get(SCORE_OPTIONS_ENV, "").strip()
    return json.loads(raw) if raw else {}


def scorer_names() -> list[str]:
    return [cls.name for cls in list_scorers()]


def _cache_signature(dataset_id: str) -> tuple:
    folder = DatasetCache(dataset_id).root / "scores"
    return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in folder.glob("*.npy"))) if folder.exists() else ()


@st.cache_data(show_spinner=False, max_entries=16)
def _cached_scores(
    dataset_id: str, _dataset: Dataset, names: tuple[str, ...], options_json: str, signature: tuple
) -> pd.DataFrame:
    return score_dataset(_dataset, list(names), options=json.loads(options_json), cached_only=True)


def cached_scores(dataset: Dataset) -> pd.DataFrame:
    """Every score already cached for ``dataset`` (plus free combinations); recomputed only when the cache changes."""
    runnable = [n for n in scorer_names() if not (get_scorer_class(n).needs - set(dataset.table.columns))]
    if not runnable:
        return pd.DataFrame(index=dataset.table.index)
    share_label_free_scores(dataset)  # e.g. written by `score FILE` without the label column
    options = json.dumps(score_options(), sort_keys=True)
    frame = _cached_scores(dataset.id, dataset, tuple(runnable), options, _cache_signature(dataset.id))
    return frame[[c for c in frame.columns if c in runnable]]


def partial_signature(dataset_id: str) -> tuple:
    """Changes whenever a running pass finishes a chunk (or a score lands): the key of the partial view."""
    root = DatasetCache(dataset_id).root
    files = [*root.glob("features/*/chunk-*.npy"), *root.glob("features/*/all.npy")]
    return _cache_signature(dataset_id) + tuple(sorted(f"{p.parent.name}/{p.name}" for p in files))


@st.cache_data(show_spinner=False, max_entries=8)
def _scores_so_far(
    dataset_id: str, _dataset: Dataset, names: tuple[str, ...], options_json: str, signature: tuple
) -> pd.DataFrame:
    return scores_so_far(_dataset, list(names), options=json.loads(options_json))


def partial_scores(dataset: Dataset) -> pd.DataFrame | None:
    """Finished scores plus the rows scored so far by running passes (NaN elsewhere), or None when no score is
    partial (a running pass, or one cancelled or killed mid-way). When score jobs ran, only the scores they
    asked for are drawn (not, say, perplexity, which rides on the generative pass). Only Explore draws these; Review, Export and
    Fine-tune read :func:`cached_scores` (complete scores only)."""
    if not any(DatasetCache(dataset.id).root.glob("features/*/plan-*.npy")):
        return None  # no pass is part-way (a finished pass deletes its plan): nothing to estimate
    asked = {n for job in recent_score_jobs(dataset.id, limit=20) for n in job.args.get("scores", [])}
    runnable = [n for n in scorer_names() if not (get_scorer_class(n).needs - set(dataset.table.columns))]
    options = json.dumps(score_options(), sort_keys=True)
    frame = _scores_so_far(dataset.id, dataset, tuple(runnable), options, partial_signature(dataset.id))
    wanted = set(expand_score_names(sorted(asked))) if asked else set(frame.columns)
    frame = frame[[c for c in frame.columns if c in wanted or frame[c].notna().all()]]
    if frame.empty or frame.notna().all().all():
        return None
    return frame


def complete_scores_only_note(dataset: Dataset) -> None:
    """Pages that act on scores (Review, Export, Fine-tune) use complete scores only: say which are still running."""
    pending = sorted(running_scores(dataset.id))
    if pending:
        st.caption(
            f":material/hourglass_empty: Still scoring: {', '.join(pending)}. This page uses complete scores only; they appear here when "
            "every row has a value (Explore shows the rows scored so far)."
        )


def start_score_jobs(
    dataset: Dataset, names: list[str], *, device: str = "auto", batch_size: int | None = None
) -> list[str]:
    """The jobs of :func:`score_job_groups`; a score already running or cached for this dataset is not started again."""
    busy = running_scores(dataset.id) | set(cached_scores(dataset).columns)
    job_ids = []
    for group in score_job_groups(names):
        group = [n for n in group if n not in busy]
        if not group:
            continue
        args = {
            "dataset_id": dataset.id,
            "scores": group,
            "device": device,
            "batch_size": batch_size,
            "options": score_options(),
        }
        job_ids.append(start_job("score", args, dataset_id=dataset.id))
    return job_ids


def recent_score_jobs(dataset_id: str, limit: int = 6) -> list[Job]:
    return list_jobs(dataset_id, "score", limit=limit)


def running_scores(dataset_id: str) -> set[str]:
    """Names being computed right now by this dataset's active score jobs."""
    return {n for j in list_jobs(dataset_id, "score", limit=50) if j.active for n in j.args.get("scores", [])}
