"""The current dataset and workspace, shared by every page through ``st.session_state`` and the URL.

The dataset is a built-in name or a workspace dataset id (16 hex chars, shown on the Load page); the URL
query parameter ``dataset`` carries it so a view can be bookmarked.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from euds_core.data.builtins import BUILTIN_DATASETS, DEFAULT_DATASET
from euds_core.data.datasets import load_dataset, save_dataset
from euds_core.data.table import Dataset
from euds_core.errors import EudsInputError
from ui.shared.page_stop import end_page

DATASET_KEY = "dataset_spec"
SELECTION_KEY = "current_selection"  # ui.selection's Selection; dropped here when the dataset changes


@st.cache_data(show_spinner="Loading dataset…", max_entries=8)
def _load_dataset_cached(spec: str) -> tuple[str, str, pd.DataFrame, str, dict]:
    ds = load_dataset(spec, guess_label=True)  # a file named in the URL: the Load page's default columns
    save_dataset(ds)  # jobs and the CLI find it by id
    return ds.name, ds.task, ds.table, ds.source, ds.skipped


def load_current_dataset(spec: str) -> Dataset:
    name, task, table, source, skipped = _load_dataset_cached(spec)
    return Dataset(name=name, task=task, table=table, source=source, skipped=skipped)


def ensure_app_navigation() -> None:
    """Make sure app.py's ``st.navigation`` serves the page, even on a fresh server's first request.

    Streamlit keeps a legacy mode for apps with a ``pages/`` folder: when a new server's first request is a
    page URL (a bookmarked ``/Explore?...``), it runs that page file alone with auto-discovered navigation,
    skipping app.py (no sidebar, no wide layout) until someone opens ``/``. Leave that mode and rerun: the
    rerun runs app.py, whose ``st.navigation`` resolves the same URL path to the same page.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def current_dataset_spec() -> str:
    """URL ``?dataset=`` first (a shared link), then the session's choice, then the default built-in."""
    ensure_app_navigation()
    from_url = st.query_params.get("dataset")
    if from_url and from_url != st.session_state.get(DATASET_KEY):
        st.session_state[DATASET_KEY] = from_url
    return st.session_state.setdefault(DATASET_KEY, DEFAULT_DATASET)


def current_dataset_label() -> str:
    """``sms_messages.csv · 5,574 rows`` for the sidebar (the spec itself when it does not load)."""
    spec = current_dataset_spec()
    try:
        dataset = load_current_dataset(spec)
    except EudsInputError:
        return spec
    return f"{dataset.name} · {len(dataset.table):,} rows"


def restore_reviewer() -> None:
    """The reviewer name survives a reload: it rides in the URL (``?reviewer=``), set when it is typed."""
    if "reviewer" not in st.session_state and st.query_params.get("reviewer"):
        st.session_state["reviewer"] = st.query_params.get("reviewer")


def remember_reviewer() -> None:
    name = (st.session_state.get("reviewer") or "").strip()
    if name:
        st.query_params["reviewer"] = name
    elif "reviewer" in st.query_params:
        del st.query_params["reviewer"]


def set_current_dataset(spec: str) -> None:
    """A new current dataset starts with every row selected: the old interval named another dataset's scores."""
    st.session_state[DATASET_KEY] = spec
    st.session_state.pop(SELECTION_KEY, None)  # else the sidebar links kept the old dataset's selection
    kept = {k: st.query_params.get_all(k) for k in st.query_params if k == "reviewer"}
    st.query_params.from_dict({**kept, "dataset": spec})


def current_dataset() -> Dataset | None:
    """The loaded current dataset, or None after showing a clear error (never a traceback)."""
    spec = current_dataset_spec()
    try:
        return load_current_dataset(spec)
    except EudsInputError as exc:
        st.error(f"Could not load the dataset '{spec}': {exc}")
        if spec not in BUILTIN_DATASETS:
            st.info("Pick another dataset on the Load page.")
        return None


def page_dataset() -> Dataset:
    """The current dataset, captioned under the page title (name, rows, id); stops the page after a clear error."""
    dataset = current_dataset()
    if dataset is None:
        end_page()
    st.caption(f"**{dataset.name}** · {len(dataset.table):,} rows · dataset id `{dataset.id}`")
    return dataset
