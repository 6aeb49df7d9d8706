"""Statistics of a grid: intervals with the test rows' noise, paired verdicts, BH across a table, one grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from euds_core.errors import EudsInputError
from euds_core.experiments.statistics import (
    MULTIPLICITY,
    curve_summary,
    mean_confidence_interval,
    pack_correct,
    paired_verdicts,
    seeds_for_difference,
    unpack_correct,
    verdict_lines,
    verdict_text,
)


def runs_frame(rows: list[tuple[str, float, int, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["strategy", "size_fraction", "seed", "accuracy"])
    return frame.assign(n_train=10, macro_f1=frame["accuracy"], train_seconds=1.0)


def test_t_interval_by_hand():
    mean, low, high = mean_confidence_interval([0.70, 0.72, 0.74])
    # sd = 0.02, t(0.975, 2) = 4.3027, half width = 4.3027 * 0.02 / sqrt(3) = 0.04968
    assert mean == pytest.approx(0.72) and high - mean == pytest.approx(0.04968, abs=1e-5)
    assert mean - low == pytest.approx(high - mean)
    one = mean_confidence_interval([0.5])
    assert one[0] == 0.5 and np.isnan(one[1]) and np.isnan(one[2])  # no zero-width interval


def test_verdict_wording():
    assert verdict_text(2.0, 0.5, 3.5, 0.01).startswith("better by 2.0 pt (95 % CI 0.5–3.5, q = 0.010)")
    assert verdict_text(-2.0, -3.5, -0.5, 0.01).startswith("worse by 2.0 pt")
    assert verdict_text(1.0, -0.5, 2.5, 0.3).startswith("no detectable difference")
    assert verdict_text(2.0, 0.5, 3.5, 0.2).startswith("no detectable difference")  # the FDR decides too
    assert verdict_text(5.0, float("nan"), float("nan"), 1.0).startswith("no interval")


def test_seeds_for_one_point():
    # t-test power (statsmodels): effect 0.01 / 0.02 = 0.5 needs 33.4 -> 34 paired seeds (the z formula: 32)
    assert seeds_for_difference(0.02) == 34
    assert seeds_for_difference(0.0) == 2


def test_paired_verdicts_use_the_same_seeds_and_sizes():
    rows = []
    for seed in range(5):
        rows += [
            ("interval", 0.1, seed, 0.80 + 0.01 * seed + 0.002 * (seed % 2)),
            ("random", 0.1, seed, 0.75 + 0.01 * seed),
        ]
        rows += [("interval", 0.5, seed, 0.80 + (0.01 if seed % 2 else -0.01)), ("random", 0.5, seed, 0.80)]
        rows += [("full", 1.0, seed, 0.9)]
    rows += [("random", 0.1, 9, 0.1)]  # a random seed the interval lacks: never paired
    verdicts = paired_verdicts(runs_frame(rows))
    assert verdicts[["strategy", "size_fraction"]].values.tolist() == [["interval", 0.1], ["interval", 0.5]]
    small, large = verdicts.iloc[0], verdicts.iloc[1]
    assert small.seeds == 5 and small.difference_pt == pytest.approx(5.08) and small.verdict.startswith("better by 5.1")
    assert large.verdict.startswith("no detectable difference")
    lines = verdict_lines(verdicts)
    assert lines[0] == f"multiple comparisons: {MULTIPLICITY}" and "Benjamini–Hochberg" in lines[0]
    assert len(lines) == 3 and lines[1].startswith("size 0.1: interval vs random: better by 5.1 pt")
    assert "a 1-pt difference needs ~" in lines[2]


def correct_runs(strategy: str, size: float, accuracy_by_seed: dict[int, np.ndarray]) -> list[dict]:
    return [
        {"strategy": strategy, "size_fraction": size, "seed": s, "accuracy": c.mean(), "correct": pack_correct(c)}
        for s, c in accuracy_by_seed.items()
    ]


def test_a_fixed_subset_never_gets_a_zero_width_interval():
    # A band picks the same rows at every seed and the proxy is deterministic: identical runs per seed.
    rng = np.random.default_rng(0)
    fixed = (rng.random(300) < 0.85).astype(float)
    band = correct_runs("information:middle", 0.1, {s: fixed for s in range(5)})
    rand = correct_runs("random", 0.1, {s: (rng.random(300) < 0.8).astype(float) for s in range(5)})
    runs = pd.DataFrame(band + rand).assign(n_train=30, macro_f1=0.5)
    point = curve_summary(runs).set_index("strategy").loc["information:middle"]
    assert point.ci_high - point.ci_low > 0.04  # ~ 2 x 1.96 x sqrt(0.85 x 0.15 / 300) = 0.08 from the test rows
    assert point.interval == "seeds and test rows"
    verdict = paired_verdicts(runs).iloc[0]
    assert verdict.ci_high_pt - verdict.ci_low_pt > 2.0
    assert np.array_equal(unpack_correct(pack_correct(fixed)), fixed)


def test_label_balanced_methods_meet_the_stratified_baseline_and_both_are_shown():
    rows = []
    for seed in range(4):
        rows += [("band", 0.1, seed, 0.80 + 0.003 * seed), ("random", 0.1, seed, 0.70 + 0.004 * seed)]
        rows += [("random:balanced", 0.1, seed, 0.79 + 0.002 * seed), ("plain", 0.1, seed, 0.7 + 0.001 * seed)]
    verdicts = paired_verdicts(runs_frame(rows), balanced={"band"})
    band = verdicts[verdicts.strategy == "band"].set_index("baseline")
    assert set(band.index) == {"random", "random:balanced"} and band.loc["random:balanced"].matched
    assert not band.loc["random"].matched and band.loc["random"].verdict.startswith("better")
    plain = verdicts[verdicts.strategy == "plain"].set_index("baseline")
    assert plain.loc["random"].matched and not plain.loc["random:balanced"].matched


def test_benjamini_hochberg_adjusts_across_the_table():
    rng = np.random.default_rng(1)
    rows = []
    for seed in range(3):
        rows.append(("random", 0.1, seed, 0.7 + rng.normal(0, 0.01)))
        rows += [(f"m{i}", 0.1, seed, 0.7 + rng.normal(0, 0.01)) for i in range(30)]
    verdicts = paired_verdicts(runs_frame(rows))
    assert (verdicts.q_value >= verdicts.p_value - 1e-12).all() and len(verdicts) == 30


def test_two_grids_are_an_error_not_a_join():
    one = [("interval", 0.1, s, 0.8) for s in range(3)] + [("random", 0.1, s, 0.7) for s in range(3)]
    two = [("interval", 0.1, s, 0.82) for s in range(3)] + [("random", 0.1, s, 0.75) for s in range(3)]
    with pytest.raises(EudsInputError, match="mix"):
        paired_verdicts(runs_frame(one + two))
    with pytest.raises(EudsInputError, match="mix"):
        curve_summary(runs_frame(one + two))


def test_curve_summary_has_a_ci_per_point():
    curve = curve_summary(runs_frame([("random", 0.1, 0, 0.6), ("random", 0.1, 1, 0.8)]))
    point = curve.iloc[0]
    assert point.accuracy == pytest.approx(0.7) and point.seeds == 2 and point.ci_low < 0.6 and point.ci_high > 0.8
    assert point.interval == "seeds only"
