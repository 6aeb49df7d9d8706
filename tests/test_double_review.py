"""Double review: sampling for two reviewers, their queues, Cohen's kappa against a hand computation, resolution."""

from __future__ import annotations

import math

import pytest

from euds_core.curation import decision_log, double_review
from euds_core.errors import EudsInputError, EudsPermissionError
from tests.test_review import tiny_dataset

A, B, LEAD = "ann@example.org", "bob@example.org", "lea@example.org"


def decide_all(dataset_id: str, reviewer: str, decisions: dict[str, str], tag: str) -> None:
    for sample_id, decision in decisions.items():
        decision_log.set_decision(dataset_id, sample_id, decision, reviewer=reviewer, selection=tag)


def test_kappa_matches_a_hand_computation():
    ds = tiny_dataset(n=12)
    ids = [f"s{i}" for i in range(10)]
    review_round = double_review.request_double_review(ds.id, ids, 10, [A, B], lead=LEAD)
    assert sorted(review_round.sample_ids) == sorted(ids)
    a = dict(zip(ids, "K K K K K K D D D D".split(), strict=True))
    b = dict(zip(ids, "K K K K D D D D D K".split(), strict=True))
    full = {"K": "keep", "D": "drop"}
    decide_all(ds.id, A, {k: full[v] for k, v in a.items()}, review_round.tag)
    decide_all(ds.id, B, {k: full[v] for k, v in b.items()}, review_round.tag)
    # By hand: observed agreement 7/10; A keeps 6/10, B keeps 5/10, so chance agreement is
    # 0.6 * 0.5 + 0.4 * 0.5 = 0.5 and kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4.
    result = double_review.agreement(ds.id, review_round)
    assert (result.both_decided, result.agreed) == (10, 7)
    assert result.kappa == pytest.approx(0.4)
    assert result.disagreements[["id", A, B]].values.tolist() == [
        ["s4", "keep", "drop"],
        ["s5", "keep", "drop"],
        ["s9", "drop", "keep"],
    ]


def test_queues_undo_and_resolution():
    ds = tiny_dataset(n=20)
    review_round = double_review.request_double_review(
        ds.id, [f"s{i}" for i in range(20)], 4, [A, B], lead=LEAD, seed=3
    )
    rows = list(review_round.sample_ids)
    assert len(rows) == 4 and double_review.reviewer_queue(ds.id, A) == rows
    decision_log.set_decision(ds.id, rows[0], "keep", reviewer=A, selection=review_round.tag)
    decision_log.set_decision(ds.id, rows[0], "drop", reviewer=B, selection=review_round.tag)
    decision_log.set_decision(ds.id, rows[1], "keep", reviewer=B, selection=review_round.tag)
    assert double_review.reviewer_queue(ds.id, A) == rows[1:]
    assert double_review.reviewer_queue(ds.id, B) == rows[2:]
    result = double_review.agreement(ds.id, review_round)
    assert result.both_decided == 1 and result.agreed == 0 and result.disagreements["id"].tolist() == [rows[0]]
    decision_log.undo_last_action(ds.id, reviewer=B)  # B takes back the keep of rows[1]: it is in B's queue again
    assert double_review.reviewer_queue(ds.id, B) == rows[1:2] + rows[2:]
    with pytest.raises(EudsInputError, match="not in double-review round"):
        double_review.resolve_disagreement(ds.id, review_round, "nope", "keep", lead=LEAD)
    double_review.resolve_disagreement(ds.id, review_round, rows[0], "keep", lead=LEAD, note="on topic")
    effective = decision_log.effective_decisions(ds.id).set_index("id")
    assert effective.loc[rows[0], ["decision", "reviewer"]].tolist() == ["keep", LEAD]  # a decision of its own
    resolved = double_review.agreement(ds.id, review_round).disagreements
    assert resolved[["resolution", "resolved_by"]].values.tolist() == [["keep", LEAD]]


def test_kappa_is_undefined_when_both_give_one_decision_throughout():
    ds = tiny_dataset()
    review_round = double_review.request_double_review(ds.id, ["s0", "s1"], 2, [A, B], lead=LEAD)
    for who in (A, B):
        decide_all(ds.id, who, {"s0": "keep", "s1": "keep"}, review_round.tag)
    result = double_review.agreement(ds.id, review_round)
    assert math.isnan(result.kappa) and result.kappa_text() == "undefined (one decision throughout)"


def test_requests_are_checked(workspace):
    ds = tiny_dataset()
    with pytest.raises(EudsInputError, match="two different reviewers"):
        double_review.request_double_review(ds.id, ["s0"], 1, [A, A.upper()], lead=LEAD)
    with pytest.raises(EudsInputError, match="ask for 1 to 6 rows"):
        double_review.request_double_review(ds.id, [f"s{i}" for i in range(6)], 7, [A, B], lead=LEAD)
    (workspace / "team.toml").write_text(f'[users]\n"{LEAD}" = "lead"\n"{A}" = "reviewer"\n"{B}" = "viewer"\n')
    with pytest.raises(EudsPermissionError, match="asking for double review needs the lead role"):
        double_review.request_double_review(ds.id, ["s0"], 1, [A, B], lead=A)
    with pytest.raises(EudsPermissionError, match=f"'{B}' is a viewer"):
        double_review.request_double_review(ds.id, ["s0"], 1, [A, B], lead=LEAD)
    review_round = double_review.request_double_review(ds.id, ["s0"], 1, [A, LEAD], lead=LEAD)
    with pytest.raises(EudsPermissionError, match="resolving disagreements between reviewers needs the lead role"):
        double_review.resolve_disagreement(ds.id, review_round, "s0", "keep", lead=A)


def test_cli_request_agreement_and_resolution(workspace):
    from euds_core.data.datasets import save_dataset
    from tests.test_review import run_cli

    ds = tiny_dataset(n=12)
    save_dataset(ds)
    (workspace / "team.toml").write_text(f'[users]\n"{LEAD}" = "lead"\n[domains]\n"example.org" = "reviewer"\n')
    refused = run_cli(
        "double-review",
        ds.id,
        "--request",
        "4",
        "--reviewers",
        f"{A},{B}",
        "--user",
        A,
        workspace=workspace,
        check=False,
    )
    assert refused.returncode == 2 and "asking for double review needs the lead role" in refused.stderr
    run_cli("double-review", ds.id, "--request", "4", "--reviewers", f"{A},{B}", "--user", LEAD, workspace=workspace)
    (review_round,) = double_review.list_rounds(ds.id)
    rows = list(review_round.sample_ids)
    for who, decisions in ((A, ["keep", "keep", "drop", "drop"]), (B, ["keep", "drop", "drop", "drop"])):
        sets = [arg for row, d in zip(rows, decisions, strict=True) for arg in ("--set", f"{row}={d}")]
        run_cli("review", ds.id, *sets, "--reviewer", who, workspace=workspace)
    # By hand: 3 of 4 agree; A keeps 2/4, B 1/4: chance 0.5 * 0.25 + 0.5 * 0.75 = 0.5, kappa (0.75 - 0.5) / 0.5 = 0.5
    out = run_cli("double-review", ds.id, workspace=workspace).stdout
    assert "4 decided by both, 3 agreed, Cohen's kappa 0.500" in out and f"{rows[1]}: {A} keep, {B} drop" in out
    resolve = ["double-review", ds.id, "--round", review_round.round_id, "--resolve", f"{rows[1]}=keep"]
    assert run_cli(*resolve, "--user", A, workspace=workspace, check=False).returncode == 2
    out = run_cli(*resolve, "--user", LEAD, workspace=workspace).stdout
    assert f"resolved keep by {LEAD}" in out
    assert decision_log.effective_decisions(ds.id).set_index("id").loc[rows[1], "reviewer"] == LEAD


def test_the_html_report_shows_kappa_and_the_disagreements_escaped():
    import pandas as pd

    from euds_core.curation.html_report import build_report_html
    from euds_core.selection.intervals import SelectionSpec

    ds = tiny_dataset(n=6)
    odd = "<b>x</b>@example.org"  # a reviewer name is user input: it must arrive escaped
    review_round = double_review.request_double_review(ds.id, ["s0", "s1", "s2", "s3"], 4, [A, odd], lead=LEAD)
    decide_all(ds.id, A, {"s0": "keep", "s1": "keep", "s2": "drop", "s3": "drop"}, review_round.tag)
    decide_all(ds.id, odd, {"s0": "keep", "s1": "drop", "s2": "drop", "s3": "drop"}, review_round.tag)
    report = build_report_html(ds, pd.DataFrame(index=ds.table.index), SelectionSpec(ds.id, []))
    assert "<h2>Double review: agreement</h2>" in report
    assert "<td>0.500</td>" in report  # 3 of 4 agreed, chance 0.5: kappa 0.5
    assert f"Disagreements in round {review_round.round_id}" in report and "<td>s1</td>" in report
    assert "<b>x</b>" not in report and "&lt;b&gt;x&lt;/b&gt;@example.org" in report
