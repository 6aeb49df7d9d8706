"""The benchmark command: leaderboard files, every method, resume without retraining, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from euds_core.cli import main
from euds_core.experiments.benchmark import (
    CELL_COLUMNS,
    BenchmarkConfig,
    Measured,
    benchmark_methods,
    planned_cells,
    run_benchmark,
)
from euds_core.experiments.leaderboard import leaderboard, size_table

ARGS = ["--encoder", "hashing", "--tokenizer", "whitespace", "--scores", "information,ttr,classifier_entropy"]
ARGS += ["--step", "0.4", "--random-draws", "2", "--permutations", "3"]  # a small search: the tests check the plumbing


@pytest.fixture
def odd_csv(tmp_path):
    """180 rows, 3 classes, unusual column names; each class has its own words, plus shared filler."""
    rng = np.random.default_rng(0)
    vocab = {"ovine": "sheep wool lamb flock", "nautical": "boat sail anchor mast", "culinary": "oven bake flour broth"}
    filler = "the a of and with near very some".split()
    rows = []
    for i in range(180):
        label = list(vocab)[i % 3]
        words = [*rng.choice(vocab[label].split(), 3), *rng.choice(filler, 4 + i % 5)]
        rows.append({"Ütterance": " ".join(words), "klass#": label})
    path = tmp_path / "odd.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_the_interval_column_holds_the_bounds_once():
    """The table's column is headed "95 % CI": its cells hold the bounds (the re-run of 2026-12-03 printed
    "95 % CI 0.727–0.791" in every cell), or "no interval" when none was measured."""
    row = dict(n_train=240, seeds=5, accuracy=0.759, choice="", matched_baseline="", verdict="baseline")
    row |= {f"{p}_{s}": None for p in ("gain", "gain_balanced") for s in ("pt", "ci_low_pt", "ci_high_pt")}
    part = pd.DataFrame(
        [
            {**row, "method": "is:middle", "ci_low": 0.727, "ci_high": 0.791},
            {**row, "method": "random", "ci_low": float("nan"), "ci_high": float("nan")},
        ]
    )
    lines = size_table(part)
    assert lines[0].split(" | ")[4] == "95 % CI"
    assert "| 0.759 | 0.727–0.791 |" in lines[2] and "95 % CI" not in lines[2]
    assert "| no interval |" in lines[3]


def test_methods_and_plan():
    methods = benchmark_methods(["information", "semantic", "is", "el2n"], samplers=False)
    assert methods[:3] == ["random", "random:balanced", "full"] and methods[-1] == "auto"
    assert {"information:low", "semantic:middle", "is:high", "el2n:high"} <= set(methods)
    assert "el2n:low" not in methods  # literature scores: their high band only
    cells = planned_cells(["random", "full", "auto"], [0.16, 0.1], [0, 1])
    assert cells[:3] == [("random", 0.1, 0), ("auto", 0.1, 0), ("random", 0.16, 0)]
    assert cells.count(("full", 1.0, 1)) == 1 and len(cells) == 2 * (2 * 2 + 1)


def test_benchmark_cli_writes_the_leaderboard_and_resumes(odd_csv, tmp_path, capsys, monkeypatch):
    out = tmp_path / "bench"
    cmd = ["benchmark", str(odd_csv), "--text-col", "Ütterance", "--label-col", "klass#", "--proxy"]
    cmd += ["--sizes", "0.2", "--seeds", "2", "--no-samplers", *ARGS, "--out", str(out)]
    assert main(cmd) == 0
    stdout = capsys.readouterr().out
    assert "wrote" in stdout and "auto accuracy" in stdout
    cells = pd.read_csv(out / "leaderboard.csv", keep_default_na=False)
    assert list(cells.columns) == CELL_COLUMNS
    methods = set(cells.method)
    assert {"random", "full", "auto", "information:middle", "ttr:high", "classifier_entropy:high"} <= methods
    assert len(cells) == 2 * (len(methods) - 1) + 2  # every method x seed, full once per seed
    # 180 rows: test 36, pool 144; 20 % of the pool = 29 rows (label-balanced bands: within one per class).
    sub = cells[cells.method != "full"]
    assert sub.n_train.between(27, 30).all() and (cells[cells.method == "full"].n_train == 144).all()
    assert cells.accuracy.between(0, 1).all()
    auto = cells[cells.method == "auto"].choice.iloc[0]
    search = json.loads((out / "search.json").read_text())
    assert len(search) == 1 and search[0]["size"] == 0.2
    assert (search[0]["winner"] is None) == auto.startswith("random")
    md = (out / "leaderboard.md").read_text()
    assert (
        "| method | n_train | seeds | mean accuracy | 95 % CI | gain vs random (pt) | gain vs random:balanced (pt) |"
        in md
    )
    assert "## odd.csv · size 0.2" in md and "Search: " in md and "Benjamini–Hochberg" in md
    assert "pool rows near-duplicate a test row" in md
    # The proxy measured classifier_entropy's band, which it flatters: marked, never ranked by the proxy alone.
    assert "| classifier_entropy:high † |" in md and "† chosen by a score from the proxy's own kind of model" in md
    assert "| information:middle |" in md and "ttr:high †" not in md
    assert "0.000–0.000" not in md and "CI 1.000–1.000" not in md  # no zero-width interval
    balanced_band = md.split("information:middle |")[1].split("\n")[0]
    assert "vs random:balanced:" in balanced_band  # a balanced band's verdict reads the stratified baseline
    assert cells.correct.str.contains(":").all() and cells.balanced.isin([True, False]).all()

    # A rerun with the same settings trains nothing: every cell is read back from cells.csv.
    import euds_core.experiments.benchmark as benchmark

    calls = []
    fake = Measured(0.0, 0.0, np.zeros(36, dtype=bool), 0.0)
    monkeypatch.setattr(benchmark, "measure", lambda *a, **k: calls.append(a) or fake)
    assert main(cmd) == 0
    assert calls == []
    assert pd.read_csv(out / "leaderboard.csv", keep_default_na=False).equals(cells)
    # Another seed list reuses the finished seeds and runs only the new one.
    # When nothing beat random, auto's rows and seed are random's: its cell is random's run, not a second one.
    auto_is_random = auto.startswith("random")
    if auto_is_random:
        both = cells[cells.method.isin(["auto", "random"])].pivot_table(
            index="seed", columns="method", values="accuracy"
        )
        assert (both["auto"] == both["random"]).all()
    assert main([*cmd[:-2], "--seeds", "0,1,2", "--out", str(out)]) == 0
    assert len(calls) == len(methods) - auto_is_random  # seed 2: one training per method
    # --methods trains only those; cells already finished under the same settings are read back.
    calls.clear()
    assert main([*cmd[:-2], "--seeds", "0,1,2,3", "--methods", "random,auto", "--out", str(out)]) == 0
    assert len(calls) == 2 - auto_is_random  # seed 3 of random (and auto, when it has a winner of its own)
    board = pd.read_csv(out / "leaderboard.csv", keep_default_na=False)
    assert set(board.method) == {"random", "auto"} and sorted(set(board.seed)) == [0, 1, 2, 3]


def test_a_changed_setting_never_reuses_cells(odd_csv, tmp_path):
    from euds_core.data.datasets import load_dataset

    ds = load_dataset(str(odd_csv), text_col="Ütterance", label_col="klass#")
    base = dict(mode="proxy", sizes=[0.2], seeds=[0], samplers=False, scores=["information"], search_step=0.4)
    options = {"encoder": "hashing", "tokenizer": "whitespace"}
    first = run_benchmark(ds, BenchmarkConfig(**base, options=options), tmp_path)
    other = run_benchmark(ds, BenchmarkConfig(**base, options=options, label_balanced=False), tmp_path)
    stored = pd.read_csv(tmp_path / "cells.csv")
    assert stored.run_key.nunique() == 2 and len(stored) == len(first) + len(other)
    board = leaderboard(first)
    assert set(board.columns) >= {"method", "size_fraction", "accuracy", "ci_low", "ci_high", "gain_pt", "verdict"}
    assert board[board.method == "random"].verdict.iloc[0] == "baseline"


def test_auto_under_fine_tunes_searches_no_proxy_derived_score(odd_csv, tmp_path, monkeypatch):
    import euds_core.experiments.benchmark as benchmark
    from euds_core.data.datasets import load_dataset

    ds = load_dataset(str(odd_csv), text_col="Ütterance", label_col="klass#")
    searched, real_search = [], benchmark.search_selection

    def spy(*args, **kwargs):
        searched.append(args[5].proxy_derived)
        return real_search(*args, **kwargs)

    monkeypatch.setattr(benchmark, "search_selection", spy)
    monkeypatch.setattr(benchmark, "measure", lambda rows, *a, **k: Measured(0.5, 0.5, np.zeros(36, dtype=bool), 0.5))
    options = {"encoder": "hashing", "tokenizer": "whitespace"}
    base = dict(sizes=[0.2], seeds=[0], samplers=False, scores=["information", "el2n"], search_step=0.4)
    base |= dict(options=options, methods=["random", "auto"], permutations=1)
    keys = []
    for mode in ("proxy", "finetune"):
        config = BenchmarkConfig(mode=mode, **base)
        run_benchmark(ds, config, tmp_path / mode)
        keys.append(json.loads((tmp_path / mode / "search.json").read_text())[0]["run_key"])
    assert searched == [True, False]  # the proxy mode still searches el2n (ranked by both proxies)
    assert keys[0] != keys[1]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "give --proxy"),
        (["--proxy", "--sizes", "1.5"], "--sizes"),
        (["--proxy", "--label-col", "nope"], "nope"),
        (["--proxy", "--label-col", "klass#", "--methods", "random,magic:high"], "magic:high"),
    ],
)
def test_bad_input_is_one_clear_line(odd_csv, tmp_path, capsys, extra, message):
    cmd = ["benchmark", str(odd_csv), "--text-col", "Ütterance", *extra, *ARGS, "--out", str(tmp_path / "b")]
    assert main(cmd) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and len(err.splitlines()) == 1


def test_the_leaderboard_prints_the_proxys_rank_agreement_with_the_fine_tune():
    """Fine-tune mode: every cell also holds the proxy's accuracy; over >= 8 methods the report gives Spearman."""
    from euds_core.experiments.leaderboard import leaderboard_markdown
    from euds_core.experiments.proxy_fidelity import fidelity_lines
    from euds_core.experiments.statistics import pack_correct

    rng = np.random.default_rng(0)
    rows = []
    for i, method in enumerate(["random", "random:balanced", *[f"m{k}:high" for k in range(8)]]):
        for seed in range(2):
            correct = rng.random(50) < 0.6 + 0.02 * i
            rows.append(
                {
                    "dataset": "d",
                    "method": method,
                    "size_fraction": 0.1,
                    "seed": seed,
                    "n_train": 10,
                    "accuracy": correct.mean(),
                    "macro_f1": 0.5,
                    "seconds": 1.0,
                    "choice": "",
                    "balanced": True,
                    "proxy_accuracy": 0.5 + 0.01 * i,
                    "correct": pack_correct(correct),
                }
            )
    cells = pd.DataFrame(rows)
    sentence = fidelity_lines(cells, "d", 0.1)[0]
    assert sentence.startswith("Proxy fidelity: Spearman ρ = ") and "over 10 methods" in sentence
    assert "at least 8" in fidelity_lines(cells[cells.method.isin(["random", "m1:high"])], "d", 0.1)[0]
    md = leaderboard_markdown(leaderboard(cells), [], mode="finetune", cells=cells)
    assert "Proxy fidelity: Spearman" in md and "Benjamini–Hochberg" in md
