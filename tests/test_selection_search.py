"""The wider selection search: candidates, cross-fitting over the pool, the permutation guard, the proxies."""

from __future__ import annotations

import numpy as np
import pytest

from euds_core.errors import EudsInputError
from euds_core.experiments.selection_search import (
    NOTHING_BEATS_RANDOM,
    Candidate,
    SearchSettings,
    candidate_grid,
    candidate_rows,
    search_selection,
)
from euds_core.experiments.splits import experiment_split


def noisy_label_data(n: int = 1500, seed: int = 0):
    """3 classes; rows whose score is above 0.5 carry a random label (label noise), so low bands train better."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n)
    emb = (rng.normal(size=(3, 16)) * 1.2)[truth] + rng.normal(size=(n, 16))
    score = rng.random(n)
    labels = np.where(score > 0.5, rng.integers(0, 3, n), truth).astype(str)
    return emb.astype(np.float32), labels, score


def test_candidate_rows_keep_the_size_and_the_band():
    rows = np.arange(100)
    values = np.arange(100, dtype=float)
    labels = np.array(["a"] * 80 + ["b"] * 20)
    low = candidate_rows(Candidate("s", 0.0, 0.2), rows, values, labels, np.zeros(0, int))
    assert low.tolist() == list(range(20))  # only class a: the global low band
    balanced = candidate_rows(Candidate("s", 0.0, 0.2, label_balanced=True), rows, values, labels, np.zeros(0, int))
    assert len(balanced) == 20 and balanced.tolist() == list(range(16)) + list(range(80, 84))
    dups = np.array([0, 1, 2])
    deduped = candidate_rows(Candidate("s", 0.0, 0.2, dedup=True), rows, values, labels, dups)
    assert len(deduped) == 20 and deduped.tolist() == list(range(3, 23))  # same count, duplicates gone
    grid = candidate_grid(["s", "t"], 0.3, step=0.25, balance=(True, False), dedup=(False,))
    assert {(c.p_lo, c.p_hi) for c in grid} == {(0.0, 0.3), (0.25, 0.55), (0.5, 0.8), (0.7, 1.0)}
    assert len(grid) == 2 * 4 * 2
    with pytest.raises(EudsInputError):
        candidate_grid(["s"], 1.0, balance=(False,), dedup=(False,))


def test_a_real_signal_is_found_and_beats_the_null():
    emb, labels, score = noisy_label_data()
    split = experiment_split(labels, len(labels))
    noise = np.random.default_rng(9).random(len(labels))
    settings = SearchSettings(step=0.2, balance=(False,), dedup=(False,), permutations=9, alpha=0.1)
    result = search_selection(emb, labels, {"clean": score, "noise": noise}, split, 0.2, settings)
    assert result.winner is not None and result.winner.score == "clean" and result.winner.p_hi <= 0.5
    assert result.p_value <= 0.1 and result.gain > result.null_quantile and result.verdict.startswith("clean[")
    assert result.knn_gain > 0  # the second proxy agrees on the winner
    assert result.proxy_agreement > 0.5  # and on the ranking of the candidates
    assert set(result.candidates.score) == {"clean", "noise"} and len(result.candidates) == 2 * 5
    assert not np.isin(split.test, split.pool).any()


def test_pure_noise_scores_beat_nothing():
    emb, _, _ = noisy_label_data(600)
    truth = np.asarray(np.random.default_rng(0).integers(0, 3, len(emb))).astype(str)
    split = experiment_split(truth, len(truth))
    rng = np.random.default_rng(5)
    scores = {f"noise{i}": rng.random(len(truth)) for i in range(3)}
    settings = SearchSettings(step=0.2, balance=(True, False), dedup=(False,), permutations=9, alpha=0.1)
    result = search_selection(emb, truth, scores, split, 0.2, settings)
    assert result.winner is None and result.verdict == NOTHING_BEATS_RANDOM
    assert result.gain <= result.null_quantile or result.p_value > 0.1


def test_proxy_derived_scores_are_ranked_by_both_proxies():
    emb, labels, score = noisy_label_data(600)
    split = experiment_split(labels, len(labels))
    settings = SearchSettings(step=0.2, balance=(False,), dedup=(False,), permutations=1, alpha=1.0)
    result = search_selection(emb, labels, {"margin": score, "information": score}, split, 0.2, settings)
    table = result.candidates
    derived, plain = table[table.score == "margin"], table[table.score == "information"]
    assert np.allclose(derived.gain, np.minimum(derived.gain_linear, derived.gain_knn))
    assert np.allclose(plain.gain, plain.gain_linear)


def test_a_search_judged_by_fine_tunes_leaves_out_proxy_derived_scores():
    # The same planted signal under a proxy-derived name is the winner when allowed, and never a candidate when
    # proxy_derived=False; with nothing else to search, the error says what to give instead.
    emb, labels, score = noisy_label_data(600)
    split = experiment_split(labels, len(labels))
    noise = np.random.default_rng(9).random(len(labels))
    settings = SearchSettings(step=0.2, balance=(False,), dedup=(False,), permutations=1, alpha=1.0)
    both = search_selection(emb, labels, {"el2n": score, "information": noise}, split, 0.2, settings)
    assert both.winner is not None and both.winner.score == "el2n"
    plain = SearchSettings(step=0.2, balance=(False,), dedup=(False,), permutations=1, alpha=1.0, proxy_derived=False)
    result = search_selection(emb, labels, {"el2n": score, "information": noise}, split, 0.2, plain)
    assert set(result.candidates.score) == {"information"}
    with pytest.raises(EudsInputError, match="information or semantic"):
        search_selection(emb, labels, {"el2n": score, "margin": score}, split, 0.2, plain)


def test_scores_can_be_refitted_per_fold():
    emb, labels, score = noisy_label_data(600)
    split = experiment_split(labels, len(labels))
    seen = []

    def fitted_on(train):
        seen.append(np.asarray(train))
        return {"clean": score}

    settings = SearchSettings(step=0.2, balance=(False,), dedup=(False,), permutations=1, alpha=1.0, folds=3)
    search_selection(emb, labels, fitted_on, split, 0.2, settings)
    assert len(seen) == 3 and all(np.isin(t, split.pool).all() for t in seen)
    covered = np.concatenate([np.setdiff1d(split.pool, t) for t in seen])
    assert np.array_equal(np.sort(covered), split.pool)  # every pool row serves validation exactly once


def test_cli_search_selection(tmp_path, capsys):
    import pandas as pd

    from euds_core.cli import main

    rng = np.random.default_rng(0)
    vocab = {"a": "sheep wool lamb flock", "b": "boat sail anchor mast", "c": "oven bake flour broth"}
    n = 300
    truth = np.array(list(vocab))[np.arange(n) % 3]
    texts = [" ".join(rng.choice(vocab[t].split(), 3)) + " the of and" for t in truth]
    score = rng.random(n)
    labels = np.where(score > 0.5, rng.choice(list(vocab), n), truth)  # high scores: label noise
    frame = pd.DataFrame({"id": range(n), "text": texts, "label": labels, "information": score, "ttr": rng.random(n)})
    path = tmp_path / "s.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "cands.csv"
    cmd = ["search-selection", str(path), "--sizes", "0.2", "--step", "0.2", "--encoder", "hashing", "--out", str(out)]
    assert main(cmd) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("size 0.2: ") and "rank agreement" in lines[0] and "permuted" in lines[0]
    cands = pd.read_csv(out)
    assert set(cands.score) == {"information", "ttr"} and len(cands) == 2 * 5 * 2 * 2
    assert set(cands.label_balanced) == {True, False} and set(cands.dedup) == {True, False}
    assert main([*cmd[:-2], "--scores", "nope", "--out", str(out)]) == 2
    assert "no score column 'nope'" in capsys.readouterr().err
