"""EUDS Studio: the Streamlit entry point. ``streamlit run app.py`` (or ``make app``).

The page list lives here (st.navigation does not auto-discover pages/); pages are thin scripts that read
widgets, call euds_core and draw.
"""

from __future__ import annotations

import streamlit as st
from threadpoolctl import threadpool_limits

from euds_core.storage.workspace import euds_home
from ui.shared.identity import gate_access, sidebar_identity
from ui.shared.jobs_view import running_jobs_sidebar
from ui.shared.selection import selection_link_params
from ui.shared.state import current_dataset_label, remember_reviewer, restore_reviewer

# One thread for BLAS in the server: numba's and scikit-learn's OpenMP loops (the map, k-means) call numpy's
# OpenBLAS, whose own thread pool inside an OpenMP region printed "Detect OpenMP Loop and this application may
# hang". Each run, so a library loaded since (scipy's BLAS) is limited too; heavy work runs in job processes.
threadpool_limits(limits=1, user_api="blas")

st.set_page_config(page_title="EUDS Studio", page_icon=":material/explore:", layout="wide")

EXPLORE = st.Page("pages/3_Explore.py", title="Explore", icon=":material/insights:")


def open_explore() -> None:
    """``/`` opens Explore, keeping the URL's parameters.

    Streamlit serves the default page only at ``/`` (``/Explore`` would say "page not found"), so the default
    is this hidden hop and Explore keeps its own path for shared links like ``/Explore?dataset=...``.
    """
    st.switch_page(EXPLORE, query_params=st.query_params.to_dict())


# Material icons: they render everywhere (emoji need an emoji font, absent on headless servers).
PAGES = [
    st.Page(open_explore, title="Home", url_path="home", default=True, visibility="hidden"),
    st.Page("pages/1_Load.py", title="Load", icon=":material/upload_file:"),
    st.Page("pages/2_Score.py", title="Score", icon=":material/calculate:"),
    EXPLORE,
    st.Page("pages/4_Fine_tune.py", title="Fine-tune", icon=":material/model_training:"),
    st.Page("pages/5_Review.py", title="Review", icon=":material/fact_check:"),
    st.Page("pages/6_Export.py", title="Export", icon=":material/download:"),
]

# Our own sidebar links (not st.navigation's), so each carries the current selection in its query string: a
# link opened in a new tab, bookmarked or shared shows the same dataset and interval.
navigation = st.navigation(PAGES, position="hidden")
gate_access()  # before anything that shows data (and before the page runs): bind address, sign-in, team


def draw_sidebar_state(links, dataset_box) -> None:
    """The page links (each carrying the current selection) and the dataset's name."""
    with links.container():
        for page in PAGES[1:]:
            st.page_link(page, query_params=selection_link_params())
    dataset_box.text(current_dataset_label())  # the user's own file name: plain text


with st.sidebar:
    links = st.empty()
    st.caption("Dataset")
    dataset_box = st.empty()
# Filled at once, before the page (a page that stops early still has its links), and before the rest of the
# sidebar: an empty placeholder left waiting while the jobs panel drew let every button below it jump up by the
# links' height on each rerun, and a click aimed at Cancel landed beside it.
draw_sidebar_state(links, dataset_box)
with st.sidebar:
    st.caption("Running jobs")
    running_jobs_sidebar()
    st.caption(f"Workspace: `{euds_home()}`")
    sidebar_identity(restore_reviewer, remember_reviewer)

try:
    navigation.run()
finally:
    # Again after the page ran, so the links carry the selection it has just set and the name of a dataset it
    # has just loaded, also after a page ended early with end_page().
    draw_sidebar_state(links, dataset_box)
