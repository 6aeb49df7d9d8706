"""Save the current selection under a name, so ``python -m euds_core export DATASET --selection NAME`` rebuilds it.

The saved spec holds the intervals and the params of the score variants they read; review overrides are not
part of it (they are stored decisions, applied on top at export time, as on the pages).
"""

from __future__ import annotations

import streamlit as st

from euds_core.curation.selections import list_selections, save_selection
from euds_core.data.table import Dataset
from euds_core.errors import EudsInputError
from euds_core.selection.intervals import SelectionSpec

MESSAGE_KEY = "named_selection_message"


def _save(spec_json: str, name_key: str) -> None:
    """Button callback: runs before the rerun, so the list drawn after the click already holds the name."""
    name = str(st.session_state.get(name_key) or "").strip()
    try:
        save_selection(name, SelectionSpec.from_json(spec_json))
        st.session_state[MESSAGE_KEY] = ("saved", name)
    except EudsInputError as exc:
        st.session_state[MESSAGE_KEY] = ("error", str(exc))


def save_selection_section(dataset: Dataset, spec: SelectionSpec, page: str) -> None:
    """A name field and a Save button for ``spec`` (the page's selection), the names saved for the dataset, and
    the export command that reuses one. Names are the user's text: shown with ``st.text`` only."""
    name_key = f"{page}_selection_name"
    with st.expander("Save this selection under a name (reused by `export --selection`)"):
        left, right = st.columns([3, 1])
        left.text_input("Name", key=name_key, placeholder="e.g. information-middle-half")
        right.button("Save selection", key=f"{page}_save_selection", on_click=_save, args=(spec.to_json(), name_key))
        kind, text = st.session_state.pop(MESSAGE_KEY, (None, ""))
        if kind == "error":
            st.error(text)
        elif kind == "saved":
            st.text(f"Saved as: {text}")
        saved = list_selections(dataset.id)
        if saved:
            st.text("Saved selections of this dataset: " + ", ".join(saved))
        st.code(f"python -m euds_core export {dataset.id} --selection NAME --out subset.jsonl", language="bash")
