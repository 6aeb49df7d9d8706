"""Review decision log: latest wins, bulk + undo, isolation by dataset hash, CLI, concurrency and kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from euds_core.curation import decision_inputs, decision_log, selections
from euds_core.data.datasets import save_dataset
from euds_core.data.table import Dataset
from euds_core.errors import EudsInputError
from euds_core.selection.intervals import Interval, SelectionSpec
from euds_core.storage import store

REPO_ROOT = Path(__file__).resolve().parents[1]


def tiny_dataset(n: int = 6, prefix: str = "s", word: str = "w") -> Dataset:
    table = pd.DataFrame(
        {
            "id": [f"{prefix}{i}" for i in range(n)],
            "text": [" ".join(f"{word}{j % (i % 5 + 1)}" for j in range(4 + i % 7)) for i in range(n)],
            "label": ["pos" if i % 3 else "neg" for i in range(n)],
        }
    )
    return Dataset(name="tiny", task="classification", table=table)


def run_cli(*args: str, workspace: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "EUDS_HOME": str(workspace)}
    proc = subprocess.run(
        [sys.executable, "-m", "euds_core", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr}")
    return proc


# ---------------------------------------------------------------------------------------------- library


def test_latest_decision_wins_and_clear_removes_the_override():
    ds = tiny_dataset()
    decision_log.set_decision(ds.id, "s1", "drop", note="off topic", reviewer="ann")
    decision_log.set_decision(ds.id, "s2", "drop")
    decision_log.set_decision(ds.id, "s1", "keep", reviewer="bob", selection="igse 0.20-0.70")
    decision_log.set_decision(ds.id, "s2", "clear")
    frame = decision_log.effective_decisions(ds.id)
    assert list(frame.columns) == ["id", "decision", "note", "reviewer", "timestamp", "selection"]
    assert frame[["id", "decision", "reviewer", "selection"]].values.tolist() == [
        ["s1", "keep", "bob", "igse 0.20-0.70"]
    ]
    assert decision_log.effective_overrides(ds.id) == {"s1": "keep"}
    assert decision_log.count_decisions(ds.id) == 4  # append-only: nothing updated or deleted


def test_undo_removes_the_last_action_whole_by_appending():
    ds = tiny_dataset()
    decision_log.set_decision(ds.id, "s0", "keep", note="good")
    decision_log.set_bulk_decision(ds.id, ["s0", "s1", "s2"], "drop")
    assert decision_log.effective_overrides(ds.id) == {"s0": "drop", "s1": "drop", "s2": "drop"}
    assert decision_log.undo_last_action(ds.id) == 3
    frame = decision_log.effective_decisions(ds.id)
    assert frame[["id", "decision", "note"]].values.tolist() == [["s0", "keep", "good"]]
    assert decision_log.count_decisions(ds.id) == 1 + 3 + 3
    # Undo is a stack: the next undo removes the single keep; then nothing is left.
    assert decision_log.undo_last_action(ds.id) == 1
    assert decision_log.effective_overrides(ds.id) == {}
    assert decision_log.undo_last_action(ds.id) == 0
    assert not decision_log.can_undo(ds.id)


def test_undo_by_reviewer_leaves_the_other_reviewers_work():
    ds = tiny_dataset()
    decision_log.set_decision(ds.id, "s0", "drop", reviewer="ann")
    decision_log.set_decision(ds.id, "s1", "drop", reviewer="bob")
    assert decision_log.undo_last_action(ds.id, reviewer="ann") == 1
    assert decision_log.effective_overrides(ds.id) == {"s1": "drop"}


def test_interleaved_undos_of_two_reviewers_credit_the_remaining_decision_to_its_author():
    """A keeps s1, keeps s2; B drops s1; A undoes; B undoes: s1 is A's keep again, and A can still undo it."""
    ds = tiny_dataset()
    decision_log.set_decision(ds.id, "s1", "keep", reviewer="ann")
    decision_log.set_decision(ds.id, "s2", "keep", reviewer="ann")
    decision_log.set_decision(ds.id, "s1", "drop", reviewer="bob")
    assert decision_log.undo_last_action(ds.id, reviewer="ann") == 1  # ann's latest: the keep of s2
    assert decision_log.effective_overrides(ds.id) == {"s1": "drop"}
    assert decision_log.undo_last_action(ds.id, reviewer="bob") == 1
    frame = decision_log.effective_decisions(ds.id)
    assert frame[["id", "decision", "reviewer"]].values.tolist() == [["s1", "keep", "ann"]]
    assert decision_log.can_undo(ds.id, reviewer="ann") and not decision_log.can_undo(ds.id, reviewer="bob")
    assert decision_log.undo_last_action(ds.id, reviewer="ann") == 1
    assert decision_log.effective_overrides(ds.id) == {} and not decision_log.can_undo(ds.id)


def test_undo_in_the_other_order_and_with_a_bulk_keep():
    ds = tiny_dataset()
    decision_log.set_bulk_decision(ds.id, ["s1", "s2"], "keep", reviewer="ann")
    decision_log.set_decision(ds.id, "s1", "drop", note="spam", reviewer="bob")
    assert decision_log.undo_last_action(ds.id, reviewer="bob") == 1  # s1 back to ann's keep, credited to ann
    assert decision_log.effective_decisions(ds.id)[["id", "reviewer"]].values.tolist() == [["s1", "ann"], ["s2", "ann"]]
    decision_log.set_decision(ds.id, "s1", "drop", reviewer="bob")
    assert decision_log.undo_last_action(ds.id, reviewer="ann") == 2  # ann's bulk keep goes; bob's later drop stays
    frame = decision_log.effective_decisions(ds.id)
    assert frame[["id", "decision", "reviewer"]].values.tolist() == [["s1", "drop", "bob"]]
    undo_rows = decision_log.decision_log(ds.id).query("action_id.str.startswith('undo:')")
    assert sorted(undo_rows["reviewer"]) == ["ann", "ann", "bob"]  # an undo row names who pressed undo
    assert not decision_log.can_undo(ds.id, reviewer="ann") and decision_log.can_undo(ds.id, reviewer="bob")


def test_anonymous_session_ids_keep_separate_undo_stacks():
    ds = tiny_dataset()
    first, second = "anonymous-1a2b3c", "anonymous-4d5e6f"
    decision_log.set_decision(ds.id, "s1", "drop", reviewer=first)
    decision_log.set_decision(ds.id, "s2", "drop", reviewer=second)
    assert decision_log.undo_last_action(ds.id, reviewer=first) == 1
    assert decision_log.effective_overrides(ds.id) == {"s2": "drop"}
    assert not decision_log.can_undo(ds.id, reviewer=first) and decision_log.can_undo(ds.id, reviewer=second)


def test_an_old_workspace_gains_the_selection_column_and_reads_its_old_undo_rows(workspace):
    import sqlite3

    ds = tiny_dataset()
    path = workspace / "euds.sqlite"
    with sqlite3.connect(path) as conn:  # the decisions table as workspaces before attribution had it
        conn.executescript(
            """CREATE TABLE decisions (seq INTEGER PRIMARY KEY AUTOINCREMENT, dataset_id TEXT NOT NULL,
               sample_id TEXT NOT NULL, decision TEXT NOT NULL, note TEXT NOT NULL DEFAULT '',
               reviewer TEXT NOT NULL DEFAULT '', action_id TEXT, created REAL NOT NULL);"""
        )
        conn.executemany(
            "INSERT INTO decisions (dataset_id, sample_id, decision, reviewer, action_id, created) VALUES (?,?,?,?,?,?)",
            [
                (ds.id, "s1", "keep", "ann", "a1", 1.0),
                (ds.id, "s1", "drop", "bob", "b1", 2.0),
                (ds.id, "s1", "keep", "bob", "undo:b1", 3.0),
            ],  # an old undo row: it restored ann's keep
        )
    store._initialised.discard(str(path))
    frame = decision_log.effective_decisions(ds.id)
    assert frame[["id", "decision", "reviewer", "selection"]].values.tolist() == [["s1", "keep", "ann", ""]]
    assert decision_log.can_undo(ds.id, reviewer="ann") and not decision_log.can_undo(ds.id, reviewer="bob")


def test_a_review_of_dataset_a_never_shows_on_dataset_b():
    a, b = tiny_dataset(word="a"), tiny_dataset(word="b")  # same sample ids, different content
    assert a.id != b.id
    decision_log.set_decision(a.id, "s1", "drop")
    assert decision_log.effective_overrides(b.id) == {}
    assert decision_log.undo_last_action(b.id) == 0
    assert decision_log.effective_overrides(a.id) == {"s1": "drop"}


def test_validation_errors_name_the_problem(tmp_path):
    with pytest.raises(EudsInputError, match="'nope'"):
        decision_inputs.check_sample_ids(["s1", "nope"], ["s0", "s1"])
    with pytest.raises(EudsInputError, match="keep, drop or clear"):
        decision_inputs.parse_set_arguments(["s1=maybe"])
    with pytest.raises(EudsInputError, match="ID=keep"):
        decision_inputs.parse_set_arguments(["s1"])
    bad = tmp_path / "bad.csv"
    bad.write_text("id,decision\ns1,keep\ns2,toss\n")
    with pytest.raises(EudsInputError, match="line 3"):
        decision_inputs.read_decisions_csv(bad)
    bad.write_text("sample,decision\ns1,keep\n")
    with pytest.raises(EudsInputError, match="missing: id"):
        decision_inputs.read_decisions_csv(bad)


def test_named_selections_round_trip():
    ds = tiny_dataset()
    spec = SelectionSpec(
        ds.id, [Interval("information", "percentile", lo=0.1, hi=0.9)], seed=3, overrides={"s1": "drop"}
    )
    selections.save_selection("middle band", spec)
    assert selections.list_selections(ds.id) == ["middle band"]
    assert selections.load_selection(ds.id, "middle band") == spec
    with pytest.raises(EudsInputError, match="no saved selection"):
        selections.load_selection(ds.id, "other")


# ---------------------------------------------------------------------------------------------- CLI


def test_cli_review_set_list_and_errors(workspace):
    ds = tiny_dataset()
    save_dataset(ds)
    run_cli(
        "review",
        ds.id,
        "--set",
        "s1=drop",
        "--set",
        "s3=keep",
        "--note",
        "checked",
        "--reviewer",
        "ann",
        workspace=workspace,
    )
    listed = run_cli("review", ds.id, "--list", workspace=workspace).stdout
    lines = listed.strip().splitlines()
    assert lines[0] == "id,decision,note,reviewer,timestamp,selection"
    assert [line.split(",")[:4] + line.split(",")[5:] for line in lines[1:]] == [
        ["s1", "drop", "checked", "ann", "command line"],
        ["s3", "keep", "checked", "ann", "command line"],
    ]

    unknown = run_cli("review", ds.id, "--set", "s99=drop", workspace=workspace, check=False)
    assert unknown.returncode == 2
    assert unknown.stderr.strip().startswith("error:") and "s99" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
    bad = run_cli("review", ds.id, "--set", "s1=maybe", workspace=workspace, check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("error:")
    assert decision_log.count_decisions(ds.id) == 2  # nothing half-written by the failed calls

    run_cli("review", ds.id, "--undo", workspace=workspace)
    assert decision_log.effective_overrides(ds.id) == {}


def test_cli_undo_with_reviewer_keeps_the_other_reviewers_later_decision(workspace):
    ds = tiny_dataset()
    save_dataset(ds)
    run_cli("review", ds.id, "--set", "s1=drop", "--set", "s2=drop", "--reviewer", "ann", workspace=workspace)
    run_cli("review", ds.id, "--set", "s1=keep", "--reviewer", "bob", workspace=workspace)
    undo = run_cli("review", ds.id, "--undo", "--reviewer", "ann", workspace=workspace)
    assert "undid 2 decisions" in undo.stderr  # ann's one action (both drops); bob's later keep of s1 stays
    listed = run_cli("review", ds.id, "--list", workspace=workspace).stdout.strip().splitlines()
    assert [line.split(",")[:4] for line in listed[1:]] == [["s1", "keep", "", "bob"]]
    undo_rows = decision_log.decision_log(ds.id).query("action_id.str.startswith('undo:')")
    assert undo_rows[["id", "reviewer"]].values.tolist() == [["s1", "ann"], ["s2", "ann"]]


def test_cli_select_apply_review(workspace, tmp_path):
    data = tmp_path / "data.csv"
    tiny_dataset(n=10).table.to_csv(data, index=False)
    scores = tmp_path / "scores.parquet"
    run_cli(
        "score",
        str(data),
        "--id-col",
        "id",
        "--label-col",
        "label",
        "--scores",
        "information",
        "--tokenizer",
        "whitespace",
        "--out",
        str(scores),
        workspace=workspace,
    )
    run_cli(
        "review",
        str(data),
        "--id-col",
        "id",
        "--label-col",
        "label",
        "--set",
        "s0=keep",
        "--set",
        "s5=drop",
        workspace=workspace,
    )
    out = tmp_path / "kept.csv"
    plain = run_cli(
        "select", str(scores), "--score", "information", "--keep", "0.5", "--out", str(out), workspace=workspace
    )
    plain_ids = set(pd.read_csv(out)["id"])
    run_cli(
        "select",
        str(scores),
        "--score",
        "information",
        "--keep",
        "0.5",
        "--apply-review",
        str(scores),
        "--out",
        str(out),
        workspace=workspace,
    )
    reviewed_ids = set(pd.read_csv(out)["id"])
    assert reviewed_ids == (plain_ids | {"s0"}) - {"s5"}
    assert "kept 5 of 10" in plain.stdout
    other = tmp_path / "other.csv"
    tiny_dataset(n=10, word="z").table.to_csv(other, index=False)
    wrong = run_cli(
        "select",
        str(scores),
        "--score",
        "information",
        "--keep",
        "0.5",
        "--apply-review",
        str(other),
        "--out",
        str(out),
        workspace=workspace,
        check=False,
    )
    assert wrong.returncode == 2 and "holds dataset" in wrong.stderr


def test_two_cli_processes_writing_500_decisions_each_lose_none(workspace, tmp_path):
    ds = tiny_dataset(n=1000, prefix="p")
    save_dataset(ds)
    files = []
    for half in range(2):
        path = tmp_path / f"decisions-{half}.csv"
        ids = [f"p{i}" for i in range(half * 500, half * 500 + 500)]
        pd.DataFrame(
            {"id": ids, "decision": ["drop" if i % 2 else "keep" for i in range(500)], "note": f"from {half}"}
        ).to_csv(path, index=False)
        files.append(path)
    env = {**os.environ, "EUDS_HOME": str(workspace)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "euds_core", "review", ds.id, "--from-csv", str(f), "--reviewer", f"proc{i}"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, f in enumerate(files)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert decision_log.count_decisions(ds.id) == 1000
    effective = decision_log.effective_decisions(ds.id)
    assert len(effective) == 1000 and effective["id"].nunique() == 1000
    assert effective.groupby("reviewer").size().to_dict() == {"proc0": 500, "proc1": 500}


WRITER = textwrap.dedent(
    """
    import sys
    from euds_core.curation import decision_log
    dataset_id = sys.argv[1]
    for i in range(100000):
        decision_log.set_decision(dataset_id, f"p{i % 1000}", "drop" if i % 2 else "keep", note=str(i))
        print(i + 1, flush=True)  # printed only after the commit returned
    """
)


def test_decisions_survive_kill_9_of_the_writer(workspace):
    ds = tiny_dataset(n=1000, prefix="p")
    env = {**os.environ, "EUDS_HOME": str(workspace)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, ds.id], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    acknowledged = 0
    deadline = time.monotonic() + 60
    while acknowledged < 200 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        acknowledged = int(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    assert acknowledged >= 200
    # Restart: a fresh connection sees every acknowledged decision (at most one more, in flight at the kill).
    store._initialised.clear()
    with store.connect() as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    count = decision_log.count_decisions(ds.id)
    assert acknowledged <= count <= acknowledged + 1
    decision_log.set_decision(ds.id, "p0", "drop")  # and the log still takes writes
    assert decision_log.count_decisions(ds.id) == count + 1


def test_a_database_locked_while_it_is_switched_to_wal_is_retried_not_fatal():
    """CI once saw the WAL switch of a fresh database fail at once ('database is locked', no busy wait)
    when two CLI processes opened it together; the first open retries until the other is done."""
    import sqlite3

    real = sqlite3.connect(":memory:", isolation_level=None)
    failures = iter([True, True])

    class LockedAtFirst:
        def execute(self, sql, *args):
            if sql.startswith("PRAGMA journal_mode =") and next(failures, False):
                raise sqlite3.OperationalError("database is locked")
            return real.execute(sql, *args)

        def executescript(self, sql):
            return real.executescript(sql)

    store._initialise(LockedAtFirst())
    assert real.execute("SELECT count(*) FROM decisions").fetchone()[0] == 0
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        failures = iter([True] * 1000)
        store._initialise(LockedAtFirst(), wait_s=0.2)  # gives up after its wait, with the real error
