"""Atomic writes: unique temporary names, nothing left behind, and many processes writing the same files at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from euds_core.storage.atomic_files import atomic_folder, atomic_path, write_json_atomic
from tests.concurrent_writer import check_round

REPO = Path(__file__).resolve().parent.parent
WRITERS = 4
ROUNDS = 20


def leftovers(*folders: Path) -> list[Path]:
    """Temporary files or folders an atomic write left behind (``.<name>.<random>.tmp`` / ``.old``)."""
    return [p for folder in folders for p in folder.rglob(".*") if p.suffix in (".tmp", ".old")]


def test_two_writes_in_flight_get_different_temporary_names(tmp_path):
    target = tmp_path / "x.json"
    with atomic_path(target) as first, atomic_path(target) as second:
        assert first != second and first.parent == second.parent == tmp_path
        first.write_text("1")
        second.write_text("2")
    assert target.read_text() == "1"  # the outer block finished last: the last rename wins
    assert leftovers(tmp_path) == []


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path):
    target = tmp_path / "x.json"
    write_json_atomic(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == '{"v": 1}'
    assert leftovers(tmp_path) == []


def test_folder_first_finished_wins_without_replace(tmp_path):
    target = tmp_path / "model"
    with atomic_folder(target) as first, atomic_folder(target) as second:
        (first / "w").write_text("first")
        (second / "w").write_text("second")
    assert (target / "w").read_text() == "second"  # the inner block finished first
    assert leftovers(tmp_path) == []


def test_folder_replace_swaps_an_existing_folder_or_file(tmp_path):
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "export"
    target.write_text("an old file of the same name")
    for content in ("one", "two"):
        with atomic_folder(target, replace=True) as tmp:
            (tmp / "data").write_text(content)
        assert (target / "data").read_text() == content
    assert sorted(p.name for p in target.parent.iterdir()) == ["export"]


def test_four_processes_writing_the_same_files_at_once(tmp_path, workspace):
    """4 writers x 20 rounds: the same dataset, score, feature chunks, model folder, exports and manifests."""
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.concurrent_writer", str(out), str(ROUNDS)],
            cwd=REPO,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(WRITERS)
    ]
    deadline = time.time() + 120
    while len(list(out.glob("ready-*"))) < WRITERS and time.time() < deadline and all(p.poll() is None for p in procs):
        time.sleep(0.05)
    (out / "go").touch()
    for p in procs:
        code, err = p.wait(timeout=300), p.stderr.read()
        assert code == 0 and "Traceback" not in err, err
    for round_no in range(ROUNDS):
        check_round(out, round_no, check_hf=True)
    assert leftovers(out, workspace) == []
