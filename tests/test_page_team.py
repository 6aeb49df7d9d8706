"""AppTest of the team pieces on the pages: own undo stacks for unnamed reviewers, refusals for a viewer on
Review and Export, the reviewer filter, double review on Review, and app.py refusing an open bind address."""

from __future__ import annotations

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from euds_core.curation import decision_log, double_review
from euds_core.data.datasets import save_dataset
from euds_core.scoring.engine import score_dataset
from tests.test_page_review import OPTIONS, REPO_ROOT
from tests.test_review import tiny_dataset

TEAM = '[users]\n"lea@example.org" = "lead"\n"vic@example.org" = "viewer"\n[domains]\n"example.org" = "reviewer"\n'


@pytest.fixture
def dataset():
    ds = tiny_dataset(n=30)
    save_dataset(ds)
    score_dataset(ds, ["information"], options=OPTIONS)
    return ds


def open_page(ds, page: str = "5_Review.py", reviewer: str | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "pages" / page), default_timeout=60)
    at.session_state["dataset_spec"] = ds.id
    at.session_state["score_options"] = OPTIONS
    if reviewer is not None:
        at.session_state["reviewer"] = reviewer
    return at.run()


def drop(at: AppTest, sample_id: str) -> AppTest:
    at.selectbox(key="review_sample").set_value(sample_id)
    return at.button(key="review_drop_one").click().run()


def test_two_unnamed_sessions_undo_only_their_own_decisions(dataset):
    first, second = open_page(dataset), open_page(dataset)
    drop(first, "s1")
    drop(second, "s2")
    reviewers = decision_log.effective_decisions(dataset.id)["reviewer"].tolist()
    assert len(set(reviewers)) == 2 and all(r.startswith("anonymous-") for r in reviewers)
    first.button(key="review_undo").click().run()
    assert decision_log.effective_overrides(dataset.id) == {"s2": "drop"}
    first.run()
    assert first.button(key="review_undo").disabled  # nothing of the first session's is left to undo
    second.run()
    assert not second.button(key="review_undo").disabled


def test_a_viewer_is_refused_on_review_and_export_with_a_clear_message(dataset, workspace):
    (workspace / "team.toml").write_text(TEAM)
    at = open_page(dataset, reviewer="vic@example.org")
    assert any("You are a viewer" in c.value for c in at.caption)
    drop(at, "s1")
    assert [e.value for e in at.error] == [
        "'vic@example.org' is a viewer: recording keep / drop decisions needs the reviewer role — ask a lead"
    ]
    assert not at.exception and decision_log.count_decisions(dataset.id) == 0
    export = open_page(dataset, page="6_Export.py", reviewer="vic@example.org")
    assert any("exporting a subset needs the lead role" in e.value for e in export.error)
    assert not export.exception and not export.get("download_button")
    lead = open_page(dataset, page="6_Export.py", reviewer="lea@example.org")
    assert not lead.error and lead.get("download_button")


def test_review_filters_by_reviewer_and_a_lead_asks_for_double_review(dataset, workspace):
    (workspace / "team.toml").write_text(TEAM)
    drop(open_page(dataset, reviewer="ann@example.org"), "s1")
    drop(open_page(dataset, reviewer="bob@example.org"), "s2")
    lead = open_page(dataset, reviewer="lea@example.org")
    lead.radio(key="review_view").set_value("All").run()
    lead.multiselect(key="review_reviewers").set_value(["bob@example.org"]).run()
    assert lead.selectbox(key="review_sample").options == ["s2"]
    lead.multiselect(key="review_reviewers").set_value([]).run()
    lead.number_input(key="double_n").set_value(4)
    lead.text_input(key="double_first").set_value("ann@example.org")
    lead.text_input(key="double_second").set_value("bob@example.org")
    lead.button(key="double_request").click().run()
    (review_round,) = double_review.list_rounds(dataset.id)
    assert len(review_round.sample_ids) == 4 and review_round.requested_by == "lea@example.org"
    ann = open_page(dataset, reviewer="ann@example.org")
    ann.toggle(key="review_queue").set_value(True).run()
    ann.radio(key="review_view").set_value("All").run()
    assert sorted(ann.selectbox(key="review_sample").options) == sorted(review_round.sample_ids)
    assert not ann.get("number_input") or "double_n" not in [w.key for w in ann.number_input]  # not a lead


def test_a_lead_resolves_a_double_review_disagreement_on_the_page(dataset, workspace):
    (workspace / "team.toml").write_text(TEAM)
    ann, bob, lea = "ann@example.org", "bob@example.org", "lea@example.org"
    review_round = double_review.request_double_review(dataset.id, ["s1", "s2"], 2, [ann, bob], lead=lea)
    decision_log.set_decision(dataset.id, "s1", "keep", reviewer=ann, selection=review_round.tag)
    decision_log.set_decision(dataset.id, "s1", "drop", reviewer=bob, selection=review_round.tag)
    lead = open_page(dataset, reviewer=lea)
    round_key = f"resolve_{review_round.round_id}"
    assert lead.selectbox(key=round_key).options == ["s1"]
    assert lead.button(key=f"{round_key}_keep").label == "Resolve: keep"
    lead.button(key=f"{round_key}_keep").click().run()
    assert not lead.exception
    resolved = double_review.agreement(dataset.id, review_round).disagreements
    assert resolved[["id", "resolution", "resolved_by"]].values.tolist() == [["s1", "keep", lea]]
    assert decision_log.effective_overrides(dataset.id) == {"s1": "keep"}  # the lead's, over bob's later drop


def test_app_shows_only_a_refusal_on_an_open_bind_address_without_sign_in(monkeypatch):
    monkeypatch.delenv("EUDS_ALLOW_OPEN_BIND", raising=False)
    before = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    try:
        at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60).run()
    finally:
        config.set_option("server.address", before)
    assert [e.value.split(":")[0] for e in at.error] == ["refusing to serve on 0.0.0.0 without sign-in"]
    assert not at.title and not at.text_input  # no page, no reviewer box


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "10.1.2.3", "example.org", ""])
def test_cli_app_refuses_an_open_address_before_binding(address, workspace):
    from tests.test_review import run_cli

    proc = run_cli("app", "--address", address, "--port", "1", workspace=workspace, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: refusing to serve on ") and "docs/team-review.md" in proc.stderr


def test_a_reviewer_cannot_start_training_jobs_on_fine_tune(dataset, workspace):
    from euds_core.runtime.jobs import list_jobs

    (workspace / "team.toml").write_text(TEAM)
    at = open_page(dataset, page="4_Fine_tune.py", reviewer="ann@example.org")
    at.button(key="ft_search").click().run()
    assert "Starting a search needs the lead role — ask a lead." in [e.value for e in at.error]
    assert not at.exception and list_jobs(dataset.id) == []
