"""EUDS Studio: the Streamlit entry point. ``streamlit run app.py`` (or ``make app``).

The page list lives here (st.navigation does not auto-discover pages/); pages are thin scripts that read
widgets, call euds_core and draw.
"""

from __future__ import annotations

import streamlit as st

from euds_core.workspace import euds_home
from ui.state import current_dataset_spec

st.set_page_config(page_title="EUDS Studio", page_icon="🧭", layout="wide")

PAGES = [
    st.Page("pages/1_Load.py", title="Load", icon="📂"),
    st.Page("pages/2_Score.py", title="Score", icon="🧮"),
    st.Page("pages/3_Explore.py", title="Explore", icon="🔭", default=True),
    st.Page("pages/4_Fine_tune.py", title="Fine-tune", icon="🎯"),
    st.Page("pages/5_Review.py", title="Review", icon="✅"),
    st.Page("pages/6_Export.py", title="Export", icon="📦"),
]

navigation = st.navigation(PAGES)

with st.sidebar:
    st.caption("Dataset")
    st.code(current_dataset_spec(), language=None)
    st.caption(f"Workspace: `{euds_home()}`")
    st.text_input("Reviewer name", key="reviewer", placeholder="your name (for review decisions)")

navigation.run()
