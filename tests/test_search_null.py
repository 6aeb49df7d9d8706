"""The selection search against the null: on permuted-score data it finds nothing, a planted effect it finds.

Small seeded datasets (240 rows, 4-dim features, 2 classes), the real search (cross-fitting over the pool, the
linear proxy, 19 permutations, alpha 0.05) with 3 candidates per size, so 60 datasets take seconds.
"""

from __future__ import annotations

import numpy as np

from euds_core.experiments.null_guard import null_calibrated_guard, permute_within
from euds_core.experiments.selection_search import SearchSettings, search_selection
from euds_core.experiments.splits import experiment_split

SETTINGS = SearchSettings(step=0.375, balance=(True,), dedup=(False,), random_draws=3, folds=3, permutations=19)


def dataset(seed: int, garbage: float):
    """Two Gaussian classes; the rows whose score is in the top ``garbage`` fraction have large random features
    and random labels (planted: a band below them trains a better proxy). ``garbage=0``: the score means nothing."""
    rng = np.random.default_rng(seed)
    n = 240
    truth = rng.integers(0, 2, n)
    emb = np.eye(2, 4)[truth] * 1.5 + rng.normal(size=(n, 4))
    score = rng.random(n)
    bad = score >= 1.0 - garbage
    emb[bad] = rng.normal(size=(int(bad.sum()), 4)) * 8
    labels = np.where(bad, rng.integers(0, 2, n), truth).astype(str)
    return emb.astype(np.float32), labels, score


def run(seed: int, garbage: float):
    emb, labels, score = dataset(seed, garbage)
    split = experiment_split(labels, len(labels), split_seed=seed)
    return search_selection(emb, labels, {"score": score}, split, 0.25, SETTINGS)


def test_nothing_beats_random_on_permuted_scores_in_at_least_90_percent():
    # An uninformative score is a permuted one: its values are independent of the rows they sit on.
    winners = [run(seed, 0.0).winner for seed in range(50)]
    false_positives = sum(w is not None for w in winners)
    assert false_positives <= 5, f"{false_positives} of 50 null datasets returned a winner"


def test_a_planted_effect_is_found():
    results = [run(seed, 0.3) for seed in range(10)]
    found = [r for r in results if r.winner is not None]
    assert len(found) >= 7, f"the planted effect was found in {len(found)} of 10 datasets"
    assert all(r.winner.p_hi <= 0.7 + 1e-9 for r in found)  # never the band of the planted garbage rows
    assert all(r.p_value <= 0.05 and r.gain > r.null_quantile for r in found)


def test_the_guard_counts_the_observed_run_and_keeps_the_scores_jointly():
    values = {"a": np.arange(10.0), "b": np.arange(10.0) * 2}
    shuffled = permute_within(values, np.arange(2, 8), np.random.default_rng(0))
    assert np.array_equal(shuffled["b"], shuffled["a"] * 2)  # one permutation for every score
    assert np.array_equal(shuffled["a"][[0, 1, 8, 9]], [0, 1, 8, 9])  # rows outside stay
    never = null_calibrated_guard(lambda rng: 0.0 if rng is None else 1.0, permutations=19)
    always = null_calibrated_guard(lambda rng: 1.0 if rng is None else 0.0, permutations=19)
    assert never.p_value == 1.0 and not never.accepted
    assert always.p_value == 0.05 and always.accepted


def test_stopping_once_rejected_never_changes_the_decision_and_saves_permutations():
    for observed in (-0.01, 0.0, 0.02, 0.05, 0.2):
        calls = []

        def best_gain(rng, _o=observed, _calls=calls):
            _calls.append(rng)
            return _o if rng is None else float(rng.normal(0.0, 0.03))

        full = null_calibrated_guard(best_gain, permutations=19)
        ran_full = len(calls)
        calls.clear()
        quick = null_calibrated_guard(best_gain, permutations=19, stop_when_rejected=True)
        assert quick.accepted == full.accepted
        assert quick.p_value <= full.p_value + 1e-12 or (observed <= 0 and quick.p_value == 1.0)  # bound or none
        assert (len(calls) < ran_full) == (not full.accepted)  # a rejected search stops early, an accepted one not
    nothing = null_calibrated_guard(lambda rng: 0.0, permutations=19, stop_when_rejected=True)
    assert len(nothing.null_best) == 0 and not nothing.accepted and nothing.p_value == 1.0  # nothing to test


def test_the_null_in_two_worker_processes_gives_the_same_numbers():
    from dataclasses import replace

    emb, labels, score = dataset(3, 0.3)
    split = experiment_split(labels, len(labels), split_seed=3)
    one = search_selection(emb, labels, {"score": score}, split, 0.25, replace(SETTINGS, permutations=4))
    two = search_selection(emb, labels, {"score": score}, split, 0.25, replace(SETTINGS, permutations=4, workers=2))
    assert one.summary() == two.summary() and one.permutations_run == 4
