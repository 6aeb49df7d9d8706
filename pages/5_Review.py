"""Review: curate by hand on top of the interval selection. Every click is committed to SQLite at once.

The interval is the current selection (``ui/shared/selection.py``: the same on Explore, Review and Export, kept in
the URL) and can be changed here; overrides (keep / drop, with a note) win over it. Dataset text is shown as plain
text only. The decision area below the inputs is one fragment (``ui/review/view.py``): a click reruns only it.
"""

from __future__ import annotations

import streamlit as st

from ui.review.view import draw_decision_area
from ui.shared.map_view import dataset_map
from ui.shared.review_interval import shown_selection
from ui.shared.state import page_dataset

st.title("Review")
dataset = page_dataset()
no_scores = "No scores yet: every row starts as kept. Score the dataset on the Score page to review an interval."
shown = shown_selection(dataset, "review", no_scores)
mapped = dataset_map(dataset)  # the cached map's clusters, or None (its job started) — never computed here
draw_decision_area(dataset, shown, mapped[1] if mapped else None)  # draws the banner too: a click changes it
