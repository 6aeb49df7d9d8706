"""The shared keep / drop buttons: one per decision, keyed by decision, and a click hands its decision to the
callback before the rerun draws (the map selection and double-review resolution rely on that)."""

from streamlit.testing.v1 import AppTest


def _two_buttons_and_what_they_wrote():
    import streamlit as st

    from ui.shared.decision_buttons import decision_buttons

    def record(log_key: str, rows: list[str], decision: str) -> None:
        st.session_state[log_key] = f"{decision} {','.join(rows)}"

    decision_buttons(st.columns(2), "pick", record, ("log", ["a", "b"]), label=lambda d: f"{d.title()} these 2")
    decision_buttons(st.columns(3), "one", record, ("log", ["c"]), decisions=("keep", "drop", "clear"))
    st.text(st.session_state.get("log", "nothing yet"))  # drawn after the buttons: sees the callback's write


def test_a_click_passes_its_decision_to_the_callback_before_the_rerun_draws():
    at = AppTest.from_function(_two_buttons_and_what_they_wrote).run()
    labels = {b.key: b.label for b in at.button}
    assert labels == {
        "pick_keep": "Keep these 2",
        "pick_drop": "Drop these 2",
        "one_keep": "Keep",
        "one_drop": "Drop",
        "one_clear": "Clear",
    }
    assert at.text[0].value == "nothing yet"
    at.button(key="pick_drop").click().run()
    assert at.text[0].value == "drop a,b"
    at.button(key="one_clear").click().run()
    assert at.text[0].value == "clear c"
