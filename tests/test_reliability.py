"""Issue 7: bad input, crashes and concurrency lose nothing and break nothing (library and CLI side)."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from euds_core.cli import main
from euds_core.data.datasets import load_dataset
from euds_core.data.table import Dataset
from euds_core.errors import EudsInputError
from euds_core.scoring.engine import score_dataset
from euds_core.storage.cache import load_partial_rows
from tests.bad_inputs import bad_input_corpus, write_bad_input

REPO = Path(__file__).resolve().parent.parent


def score_information_cli(path: Path, out: Path) -> int:
    """`score PATH --scores information` with the model-free tokenizer, in-process; returns the exit code."""
    return main(["score", str(path), "--scores", "information", "--tokenizer", "whitespace", "--out", str(out)])


@pytest.mark.parametrize("name", sorted(bad_input_corpus()))
def test_bad_input_through_cli(name, tmp_path, capsys):
    path = write_bad_input(tmp_path, name)
    kind, expected = bad_input_corpus()[name][1]
    code = score_information_cli(path, tmp_path / "o.parquet")
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if kind == "error":
        assert code == 2 and err.strip().splitlines()[-1].startswith("error: ") and expected in err
    else:
        assert code == 0, err
        assert len(pd.read_parquet(tmp_path / "o.parquet")) == expected


def test_skipped_rows_are_reported(tmp_path, capsys):
    path = write_bad_input(tmp_path, "nan_none_numbers.jsonl")
    assert score_information_cli(path, tmp_path / "o.parquet") == 0
    assert "skipped 2 rows: missing text" in capsys.readouterr().err


def test_markup_is_kept_verbatim_as_data(tmp_path):
    ds = load_dataset(write_bad_input(tmp_path, "html_<b>name</b>.csv"))
    assert ds.table["text"].tolist() == ["<script>alert(1)</script>", "**bold** [link](http://x)"]


def test_full_disk_while_writing_cache_is_a_clear_error_and_keeps_finished_scores(monkeypatch):
    ds = Dataset("t", "unlabelled", pd.DataFrame({"id": ["1", "2", "3"], "text": ["a b", "c d e", "f"]}))
    options = {"tokenizer": "whitespace", "encoder": "hashing"}
    first = score_dataset(ds, ["information"], options=options)

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch, pytest.raises(EudsInputError, match="disk holding the workspace is full"):
        patch.setattr(np, "save", full_disk)
        score_dataset(ds, ["semantic"], options=options)
    again = score_dataset(ds, ["information"], options=options, cached_only=True)
    pd.testing.assert_frame_equal(first, again)
    leftovers = [p for p in Path(os.environ["EUDS_HOME"]).rglob("*.tmp")]
    assert leftovers == []


def test_model_folder_that_is_not_a_model(tmp_path, capsys):
    (tmp_path / "fake-model").mkdir()
    (tmp_path / "fake-model" / "config.json").write_text("{not json")
    data = tmp_path / "d.csv"
    data.write_text("text\nhello world\n")
    code = main(
        [
            "score",
            str(data),
            "--scores",
            "generative",
            "--lm",
            str(tmp_path / "fake-model"),
            "--out",
            str(tmp_path / "o.parquet"),
        ]
    )
    assert code == 2 and "could not load a causal LM" in capsys.readouterr().err


def _medium_lm(folder: Path) -> Path:
    """A random-init Llama big enough that scoring 1,200 rows takes seconds, so a kill lands mid-run."""
    from tests.helpers import build_tiny_causal_lm

    return build_tiny_causal_lm(folder, hidden=256, layers=4, heads=4)


def _score_cmd(data: Path, lm: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "euds_core",
        "score",
        str(data),
        "--scores",
        "generative",
        "--lm",
        str(lm),
        "--batch-size",
        "8",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]


@pytest.mark.slow
def test_kill_9_mid_scoring_resumes_to_identical_scores(tmp_path):
    from tests.helpers import TINY_VOCAB

    rng = np.random.default_rng(0)
    words = TINY_VOCAB[4:]
    data = tmp_path / "d.csv"
    pd.DataFrame({"text": [" ".join(rng.choice(words, size=rng.integers(20, 60))) for _ in range(1200)]}).to_csv(
        data, index=False
    )
    lm = _medium_lm(tmp_path / "lm")
    env = {**os.environ, "EUDS_HOME": str(tmp_path / "home-killed"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(_score_cmd(data, lm, tmp_path / "a.parquet"), env=env, cwd=REPO, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    chunks: list[Path] = []
    while time.time() < deadline and proc.poll() is None:
        chunks = list((tmp_path / "home-killed").rglob("chunk-*.npy"))
        if chunks:  # the sample-first stage (780 of the 1,200 rows here) is on disk
            break
        time.sleep(0.05)
    assert proc.poll() is None, "scoring finished before it could be killed; make the LM slower"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert chunks
    lm_folder = chunks[0].parent
    partial_rows, partial_stats = load_partial_rows(lm_folder, 1200)  # what a page shows while the job is gone
    assert 0 < len(partial_rows) < 1200
    resumed = subprocess.run(
        _score_cmd(data, lm, tmp_path / "a.parquet"), env=env, cwd=REPO, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    env_clean = {**env, "EUDS_HOME": str(tmp_path / "home-clean")}
    clean = subprocess.run(
        _score_cmd(data, lm, tmp_path / "b.parquet"), env=env_clean, cwd=REPO, capture_output=True, text=True
    )
    assert clean.returncode == 0, clean.stderr
    a, b = pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet")
    np.testing.assert_allclose(a["generative"], b["generative"], rtol=1e-5)
    np.testing.assert_allclose(partial_stats[:, 0], b["generative"].to_numpy()[partial_rows], rtol=1e-5)


def test_two_processes_scoring_the_same_dataset_at_once(tmp_path, tiny_causal_lm_dir):
    data = tmp_path / "d.csv"
    pd.DataFrame({"text": [f"the cat sat {'on the mat ' * (i % 6)}" for i in range(600)]}).to_csv(data, index=False)
    cmd = [
        sys.executable,
        "-m",
        "euds_core",
        "score",
        str(data),
        "--scores",
        "information,semantic",
        "--tokenizer",
        "whitespace",
        "--encoder",
        "hashing",
    ]
    procs = [
        subprocess.Popen([*cmd, "--out", str(tmp_path / f"{i}.parquet")], cwd=REPO, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    a, b = (pd.read_parquet(tmp_path / f"{i}.parquet") for i in range(2))
    pd.testing.assert_frame_equal(a, b)
    ds = load_dataset(data)
    cached = score_dataset(
        ds, ["information", "semantic"], options={"tokenizer": "whitespace", "encoder": "hashing"}, cached_only=True
    )
    np.testing.assert_array_equal(cached["semantic"].to_numpy(), a["semantic"].to_numpy())


def _python_sources(*folders: str) -> list[Path]:
    return [p for f in folders for p in (REPO / f).rglob("*.py")] + [REPO / "app.py"]


def test_no_unsafe_html_with_dataset_text():
    """unsafe_allow_html may only carry literal strings, never dataset content."""
    for path in _python_sources("pages", "ui"):
        for match in re.finditer(
            r"st\.(?:markdown|html|write)\((.*?)unsafe_allow_html\s*=\s*True", path.read_text(), re.S
        ):
            assert match.group(1).lstrip().startswith(('"', "'")) and "{" not in match.group(1), (
                f"{path}: {match.group(0)[:120]}"
            )


def test_no_unsafe_deserialisation_or_remote_code():
    for path in _python_sources("euds_core", "pages", "ui"):
        text = path.read_text()
        assert "pickle.load" not in text and "allow_pickle=True" not in text, path
        assert "trust_remote_code=True" not in text, path
        assert not re.search(r"torch\.load\((?![^)]*weights_only=True)", text), path


def test_server_listens_on_localhost_by_default():
    config = (REPO / ".streamlit" / "config.toml").read_text()
    assert re.search(r'^address\s*=\s*"(localhost|127\.0\.0\.1)"', config, re.M)


def test_upload_size_limit_is_set():
    """Streamlit refuses an upload above server.maxUploadSize (MB) before our code sees it; keep it bounded."""
    config = (REPO / ".streamlit" / "config.toml").read_text()
    limit = re.search(r"^maxUploadSize\s*=\s*(\d+)", config, re.M)
    assert limit and 1 <= int(limit.group(1)) <= 4096
