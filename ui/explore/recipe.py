"""Explore's "apply a recipe" control: an auto-curate recipe line becomes the page's intersection.

The recipe's score filters (``drop S below pQ`` = keep percentiles [Q, 1] of S; ``above`` = [0, Q]) become the
current selection, first filter first, so the page loads them into the members' interval widgets like a link
would. Two parts Explore does not draw are named instead of silently dropped: one per near-duplicate group
(no cached score column; ``export --recipe`` and ``select --recipe`` apply it) and label balancing of the
members after the first (Explore balances the first score's interval only).
"""

from __future__ import annotations

import streamlit as st

from euds_core.errors import EudsInputError
from euds_core.selection.recipe import parse_recipe
from ui.shared.selection import Selection, current_selection, set_selection

RECIPE_KEY = "explore_recipe"
NOTE_KEY = "explore_recipe_note"


def recipe_selection(text: str, dataset: str, names: list[str]) -> tuple[Selection, list[str]]:
    """(the selection the recipe's score filters make, what Explore leaves out); EudsInputError for a recipe
    that cannot be read or names a score that is not cached."""
    recipe = parse_recipe(text)
    intervals = [i for i in recipe.intervals() if i.score in recipe.scores]
    if not intervals:
        raise EudsInputError("the recipe has no score filter to show (e.g. 'drop information below p8')")
    missing = [i.score for i in intervals if i.score not in names]
    if missing:
        raise EudsInputError(f"the recipe needs the score '{missing[0]}', which is not cached for this dataset")
    left_out = []
    if recipe.dedup:
        left_out.append("one per near-duplicate group (applied by export --recipe / select --recipe)")
    if recipe.label_balanced and len(intervals) > 1:
        left_out.append("label balancing of every filter after the first (Explore balances the first one only)")
    return Selection(dataset, tuple(intervals)), left_out


def recipe_control(container, names: list[str]) -> None:
    """A text box and an Apply button (the button applies, Enter does not); a bad recipe is said, not raised."""
    box = container.expander("Apply a recipe (as auto-curate prints it)", expanded=False)
    box.text_input(
        "Recipe",
        key=RECIPE_KEY,
        placeholder="drop information below p8; drop el2n above p88",
        help="each 'drop S below/above pQ' becomes a percentile interval of S; the page keeps their intersection",
    )
    if box.button("Apply recipe", key="explore_recipe_apply"):
        try:
            selection, left_out = recipe_selection(
                st.session_state.get(RECIPE_KEY, ""), current_selection().dataset, names
            )
        except EudsInputError as exc:
            box.error(str(exc))
            return
        set_selection(selection)
        st.session_state[NOTE_KEY] = "Not shown here: " + "; ".join(left_out) + "." if left_out else ""
        st.rerun()
    if st.session_state.get(NOTE_KEY):
        box.caption(st.session_state[NOTE_KEY])
