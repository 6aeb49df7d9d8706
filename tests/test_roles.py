"""Roles from the workspace's team file: checked by the library (so by the CLI and every page), refused clearly."""

from __future__ import annotations

import json

import pytest

from euds_core.curation import decision_log, roles
from euds_core.curation.export import export_bytes, export_subset
from euds_core.data.datasets import save_dataset
from euds_core.errors import EudsInputError, EudsPermissionError
from euds_core.selection.intervals import SelectionSpec
from tests.test_export import scored, tiny_dataset
from tests.test_review import run_cli

TEAM = """
default = "viewer"
[users]
"lea@example.org" = "lead"
"vic@example.org" = "viewer"
[domains]
"example.org" = "reviewer"
"""


@pytest.fixture
def team(workspace):
    path = workspace / "team.toml"
    path.write_text(TEAM)
    return path


def test_without_a_team_file_everyone_may_do_everything():
    assert roles.load_team() is None
    assert roles.role_of("") == "lead"
    assert all(roles.allowed("", action) for action in roles.ACTIONS)


def test_roles_by_identity_then_domain_then_default(team):
    assert roles.role_of("Lea@Example.org") == "lead"  # e-mail addresses compare case-insensitively
    assert roles.role_of("vic@example.org") == "viewer"  # a listed user wins over their domain
    assert roles.role_of("ann@example.org") == "reviewer"
    assert roles.role_of("eve@elsewhere.net") == "viewer"  # default
    assert roles.role_of("") is None and roles.role_of("anonymous-1a2b3c") is None


def test_library_writes_refuse_a_viewer_with_a_clear_message(team):
    ds = tiny_dataset()
    with pytest.raises(
        EudsPermissionError,
        match=r"'vic@example.org' is a viewer: recording keep / drop decisions needs the reviewer role",
    ):
        decision_log.set_decision(ds.id, "s1", "drop", reviewer="vic@example.org")
    with pytest.raises(EudsPermissionError, match="an anonymous user"):
        decision_log.set_decision(ds.id, "s1", "drop", reviewer="")
    assert decision_log.count_decisions(ds.id) == 0  # nothing written by a refused call
    decision_log.set_decision(ds.id, "s1", "drop", reviewer="ann@example.org")
    with pytest.raises(EudsPermissionError, match="undoing decisions needs the reviewer role"):
        decision_log.undo_last_action(ds.id, reviewer="vic@example.org")
    assert decision_log.effective_overrides(ds.id) == {"s1": "drop"}


def test_export_needs_the_lead_role(team, tmp_path):
    ds = tiny_dataset()
    scores, spec = scored(ds)
    for user in ("ann@example.org", "vic@example.org", None):
        with pytest.raises(EudsPermissionError, match="exporting a subset needs the lead role"):
            export_bytes(ds, scores, spec, "jsonl", "subset.jsonl", user=user)
    assert not (tmp_path / "out.jsonl").exists()
    result = export_subset(ds, scores, spec, tmp_path / "out.jsonl", user="lea@example.org")
    assert result.path.is_file()


def test_a_bad_team_file_is_a_clear_error(workspace):
    (workspace / "team.toml").write_text('[users]\n"ann@example.org" = "admin"\n')
    with pytest.raises(EudsInputError, match="role 'admin'; roles are viewer, reviewer, lead"):
        roles.role_of("ann@example.org")
    (workspace / "team.toml").write_text("[users\n")
    with pytest.raises(EudsInputError, match="could not read the team file"):
        roles.require("ann@example.org", "decide")


def test_cli_refuses_a_viewer_and_a_reviewer_export_in_one_line(team, workspace, tmp_path):
    ds = tiny_dataset()
    save_dataset(ds)
    refused = run_cli(
        "review", ds.id, "--set", "s1=drop", "--reviewer", "vic@example.org", workspace=workspace, check=False
    )
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "error: 'vic@example.org' is a viewer: recording keep / drop decisions needs the reviewer role — ask a lead"
    ]
    run_cli("review", ds.id, "--set", "s1=drop", "--user", "ann@example.org", workspace=workspace)
    out = tmp_path / "subset.jsonl"
    export = run_cli("export", ds.id, "--out", str(out), "--user", "ann@example.org", workspace=workspace, check=False)
    assert export.returncode == 2 and "exporting a subset needs the lead role" in export.stderr
    assert "Traceback" not in export.stderr and not out.exists()
    run_cli("export", ds.id, "--out", str(out), "--user", "lea@example.org", workspace=workspace)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["reviewers"] == [{"reviewer": "ann@example.org", "keep": 0, "drop": 1}]


def test_manifest_lists_the_reviewers_of_the_overrides_it_applies():
    ds = tiny_dataset()
    scores, _ = scored(ds)
    decision_log.set_bulk_decision(ds.id, ["s1", "s2", "s3"], "drop", reviewer="ann")
    decision_log.set_decision(ds.id, "s4", "keep", reviewer="bob")
    decision_log.set_decision(ds.id, "s3", "keep", reviewer="bob")
    spec = SelectionSpec(ds.id, [], overrides=decision_log.effective_overrides(ds.id))
    _, manifest = export_bytes(ds, scores, spec, "jsonl", "subset.jsonl")
    assert manifest["reviewers"] == [
        {"reviewer": "ann", "keep": 0, "drop": 2},
        {"reviewer": "bob", "keep": 2, "drop": 0},
    ]
    _, unreviewed = export_bytes(ds, scores, SelectionSpec(ds.id, []), "jsonl", "subset.jsonl")
    assert unreviewed["reviewers"] == []
