"""Explore's score controls: one score (with its cached variants), a rank mean of several, or an intersection."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from euds_core.scores import EUDS_SCORES, get_scorer_class
from euds_core.scores.combine import rank_mean
from ui.shared.page_stop import end_page
from ui.shared.score_variants import score_variants
from ui.shared.selection import DEFAULT_LABEL, Selection

VARIANTS_KEY = "explore_variants"  # score -> the variant key chosen for it (survives the widget being hidden)
VARIANT_WIDGET = "explore_variant_"  # + score: the key of a score's variant selectbox


@dataclass
class ScoreChoice:
    combine: str  # "One score", "Rank mean" or "Intersection"
    active: str  # the score (or rank-mean label) whose interval the slider and the histogram set
    values: np.ndarray  # (n_rows,) the active score's values
    members: list[str]  # the active score first, then the others it is combined with


def choose_scores(scores: pd.DataFrame, scored, units: dict[str, str]) -> ScoreChoice:
    """Draws the controls and returns the choice; stops the page when a rank mean has fewer than two members.
    ``scored`` is ui.shared.score_variants.selection_scores' result (variants and their labels); ``units`` gains the
    rank mean's unit."""
    names = list(scores.columns)
    c1, c2 = st.columns([1, 2])
    combine = c1.radio(
        "Combine scores",
        ["One score", "Rank mean", "Intersection"],
        key="explore_combine",
        help="Rank mean: the IGSE way, mean percentile rank of the members (pairs = ig, is, gs). "
        "Intersection: keep a row only if it is inside every member's own interval.",
    )
    if combine == "Rank mean":
        base = [n for n in names if not get_scorer_class(n).depends_on]
        members = c2.multiselect(
            "Members", base, default=[n for n in EUDS_SCORES if n in base] or base[:2], key="explore_rank_members"
        )
        if len(members) < 2:
            st.warning("Choose at least two scores to combine.")
            end_page()
        active = "rank mean(" + "+".join(members) + ")"
        units[active] = "mean percentile rank"
        return ScoreChoice(combine, active, rank_mean([scores[m].to_numpy() for m in members]), members)
    if st.session_state.get("explore_score") not in names:
        st.session_state["explore_score"] = "information" if "information" in names else names[0]
    active = c2.selectbox(
        "Score", names, key="explore_score", help="the score whose interval the slider and the histogram set"
    )
    _variant_control(c2, active, scored)
    members = [active]
    if combine == "Intersection":
        from ui.explore.recipe import recipe_control

        recipe_control(c2, names)
        members = c2.multiselect(
            "Intersect with", names, default=[n for n in names if n in EUDS_SCORES] or [active], key="explore_members"
        )
        members = list(dict.fromkeys([active, *members]))
    return ScoreChoice(combine, active, scores[active].to_numpy(), members)


def remembered_variants(selection: Selection, load: bool, dataset_id: str) -> dict[str, str]:
    """Score -> the variant Explore reads it with. Every member's choice is kept outside the widget state, since
    Streamlit drops a selectbox's value once it is not drawn (only the active score's is): a member set to another
    variant, then left for another score, stays on that variant in the intersection. ``load``: take the
    ``selection``'s variants first (a link, a reload, another page's change). Kept per dataset; a choice that is
    not cached for this dataset (a selectbox value left from another dataset) is dropped, while the selection's
    own stays, so a link to a missing variant is still reported."""
    remembered = st.session_state.setdefault(VARIANTS_KEY, {}).setdefault(dataset_id, {})
    if load:
        for score, key in selection.variant_map().items():
            remembered[score] = st.session_state[VARIANT_WIDGET + score] = key
    for key, value in list(st.session_state.items()):
        if key.startswith(VARIANT_WIDGET):  # the drawn selectbox's value: the user's latest choice
            remembered[key.removeprefix(VARIANT_WIDGET)] = value
    cached = {score: {v.key for v in options} for score, options in score_variants(dataset_id).items()}
    asked = selection.variant_map()
    return {s: k for s, k in remembered.items() if not k or k in cached.get(s, ()) or asked.get(s) == k}


def _variant_control(container, active: str, scored) -> None:
    """A selectbox of the active score's cached variants (none while partial, or with only the default one)."""
    variants = scored.variants.get(active, [])
    if not variants or (len(variants) == 1 and scored.labels.get(active) == DEFAULT_LABEL):
        return
    keys = [v.key for v in variants]
    labels = {v.key: v.label for v in variants}
    if st.session_state.get(VARIANT_WIDGET + active) not in keys:
        current = next((v.key for v in variants if v.label == scored.labels.get(active)), keys[0])
        st.session_state[VARIANT_WIDGET + active] = current
    container.selectbox(
        "Variant",
        keys,
        format_func=lambda k: f"{active} · {labels[k]}",
        key=VARIANT_WIDGET + active,
        help="each cached copy of this score, with the settings that made it",
    )
