"""Score: choose scorers, device and batch size; run them as background jobs; cached scores show at once.

Every scorer in the registry (``list_scorers()``) is offered, so a new scorer appears here with no change.
Two jobs: the model-free scores (usable in seconds) and every model pass, which scores each pass's random
first stage before any pass's rest (euds_core.scoring.engine.score_job_groups).
The page scores and looks up with the options of ``ui.shared.scores.score_options()`` (model-free in tests).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from euds_core.errors import EudsInputError
from euds_core.scores import EUDS_SCORES, list_scorers
from euds_core.scoring.engine import score_job_groups
from ui.shared.jobs_view import jobs_panel
from ui.shared.scores import cached_scores, running_scores, start_score_jobs
from ui.shared.state import page_dataset

st.title("Score")
dataset = page_dataset()

scores = cached_scores(dataset)
columns = set(dataset.table.columns)
running = running_scores(dataset.id)

rows = []
for cls in list_scorers():
    missing = cls.needs - columns
    if cls.name in scores:
        v = scores[cls.name]
        status = "cached"
        stats = f"{v.min():.3g} … {v.max():.3g} (median {v.median():.3g})"
    else:
        status = (
            "running"
            if cls.name in running
            else (f"n/a: needs {', '.join(sorted(missing))}" if missing else "not computed")
        )
        stats = ""
    rows.append(
        {
            "score": cls.name,
            "status": status,
            "range": stats,
            "unit": cls.unit,
            "model": "yes" if cls.uses_model else "no",
            "depends on": ", ".join(cls.depends_on),
            "what it measures": cls.description,
        }
    )
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

available = [cls.name for cls in list_scorers() if not (cls.needs - columns)]
default = [n for n in EUDS_SCORES if n in available and n not in scores] or [
    n for n in ("information",) if n in available
]
with st.form("score_form", border=True, enter_to_submit=False):  # Enter in a field never starts a job
    names = st.multiselect(
        "Scores to compute",
        available,
        default=default,
        key="score_names",
        help="cached scores are reused; a combination (igse, is, …) is computed once its members exist",
    )
    c1, c2 = st.columns(2)
    device = c1.selectbox(
        "Device", ["auto", "cpu", "cuda"], key="score_device", help="auto = a CUDA GPU when one is visible"
    )
    batch = c2.number_input(
        "Batch size (0 = automatic)", min_value=0, max_value=1024, value=0, step=8, key="score_batch"
    )
    submitted = st.form_submit_button("Start scoring", type="primary")

if submitted:
    try:
        if not names:
            raise EudsInputError("choose at least one score")
        groups = score_job_groups(names)
        started = start_score_jobs(dataset, names, device=device, batch_size=int(batch) or None)
        plan = " · ".join("+".join(g) for g in groups)
        if not started:
            st.toast("Those scores are already running or cached.")
        elif len(started) == 1:
            st.toast(f"Started 1 job: {plan}")
        else:  # model-free scores in one process, model passes (first stages first) in the other
            st.toast(f"Started {len(started)} jobs at once (the model-free scores finish first): {plan}")
    except EudsInputError as exc:
        st.error(str(exc))

st.subheader("Jobs")
if not jobs_panel(dataset.id, "score", limit=6):
    st.caption(
        "No scoring job running. Scores computed with `python -m euds_core score` appear here too (one shared cache)."
    )
