"""Review page: double review (a lead asks two reviewers to check N sampled rows), agreement, resolution.

Writes go through ``euds_core.curation.double_review``, which checks the roles; the handlers turn a refusal
into the page's error message. Sample ids and reviewer names are shown as plain text only.
"""

from __future__ import annotations

import streamlit as st

from euds_core.curation import double_review
from euds_core.curation.roles import allowed
from euds_core.errors import EudsInputError
from ui.review.data import flash
from ui.shared.decision_buttons import decision_buttons
from ui.shared.identity import current_identity
from ui.shared.selection import current_selection_text


def _request(dataset_id: str, candidate_ids: list[str]) -> None:
    reviewers = [st.session_state.get("double_first", ""), st.session_state.get("double_second", "")]
    try:
        review_round = double_review.request_double_review(
            dataset_id,
            candidate_ids,
            int(st.session_state.get("double_n") or 0),
            reviewers,
            lead=current_identity(),
            seed=int(st.session_state.get("double_seed") or 0),
            selection=current_selection_text(),
        )
    except EudsInputError as exc:
        flash("error", str(exc))
        return
    flash("success", f"double review {review_round.round_id}: {len(review_round.sample_ids)} rows for both reviewers")


def _resolve(dataset_id: str, review_round: double_review.ReviewRound, decision: str) -> None:
    sample_id = str(st.session_state.get(f"resolve_{review_round.round_id}") or "")
    try:
        double_review.resolve_disagreement(dataset_id, review_round, sample_id, decision, lead=current_identity())
    except EudsInputError as exc:
        flash("error", str(exc))
        return
    flash("success", f"{sample_id}: resolved as {decision}")


def _request_form(dataset_id: str, candidate_ids: list[str]) -> None:
    c1, c2, c3, c4 = st.columns([1, 2, 2, 1])
    c1.number_input("Rows", 1, max(1, len(candidate_ids)), min(20, max(1, len(candidate_ids))), key="double_n")
    c2.text_input("First reviewer", key="double_first", placeholder="e-mail or name")
    c3.text_input("Second reviewer", key="double_second", placeholder="e-mail or name")
    c4.number_input("Seed", 0, 2**31 - 1, 0, key="double_seed")
    st.button(
        f"Ask for double review (sampled from the {len(candidate_ids):,} filtered rows)",
        key="double_request",
        on_click=_request,
        args=(dataset_id, candidate_ids),
    )


def _round_panel(dataset_id: str, review_round: double_review.ReviewRound, may_resolve: bool) -> None:
    result = double_review.agreement(dataset_id, review_round)
    first, second = review_round.reviewers
    st.text(
        f"Round {review_round.round_id}: {first} and {second}, {len(review_round.sample_ids)} rows "
        f"(asked by {review_round.requested_by or '?'})"
    )
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Decided by both", f"{result.both_decided:,}")
    m2.metric("Agreed", f"{result.agreed:,}")
    m3.metric("Disagreements", f"{len(result.disagreements):,}")
    m4.metric("Cohen's kappa", result.kappa_text())
    if len(result.disagreements):
        st.dataframe(result.disagreements, hide_index=True, key=f"disagreements_{review_round.round_id}")
        open_ids = result.disagreements.loc[result.disagreements["resolution"] == "", "id"].tolist()
        if may_resolve and open_ids:
            r1, r2, r3 = st.columns([2, 1, 1])
            round_key = f"resolve_{review_round.round_id}"
            r1.selectbox("Resolve", open_ids, key=round_key)
            decision_buttons((r2, r3), round_key, _resolve, (dataset_id, review_round), label="Resolve: {}".format)


def draw_double_review(dataset_id: str, candidate_ids: list[str]) -> None:
    """The double-review section: the lead's request form, each round's agreement, disagreements, resolution."""
    who = current_identity()
    rounds = double_review.list_rounds(dataset_id)
    queue = double_review.reviewer_queue(dataset_id, who) if rounds else []
    title = "Double review and agreement" + (f" · {len(queue)} rows in your queue" if queue else "")
    with st.expander(title, expanded=bool(queue)):
        if queue:
            st.caption("Your queue (turn on 'Only my double-review queue' above to review them):")
            st.text(", ".join(queue[:50]) + (" …" if len(queue) > 50 else ""))
        if allowed(who, "assign"):
            _request_form(dataset_id, candidate_ids)
        elif not rounds:
            st.caption("A lead can ask two reviewers to check the same sampled rows; their agreement shows here.")
        for review_round in rounds[:5]:
            _round_panel(dataset_id, review_round, allowed(who, "resolve"))
