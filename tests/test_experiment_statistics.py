"""Statistics over seeds: hand-checked t-intervals, paired verdicts against random, seeds for a 1-point effect."""

from __future__ import annotations

import pandas as pd
import pytest

from euds_core.experiments.statistics import (
    curve_summary,
    mean_confidence_interval,
    paired_verdicts,
    seeds_for_difference,
    verdict_lines,
    verdict_text,
)


def runs_frame(rows: list[tuple[str, float, int, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["strategy", "size_fraction", "seed", "accuracy"])
    return frame.assign(n_train=10, macro_f1=frame["accuracy"], train_seconds=1.0)


def test_t_interval_by_hand():
    mean, low, high = mean_confidence_interval([0.70, 0.72, 0.74])
    # sd = 0.02, t(0.975, 2) = 4.3027, half width = 4.3027 * 0.02 / sqrt(3) = 0.04968
    assert (
        mean == pytest.approx(0.72)
        and high - mean == pytest.approx(0.04968, abs=1e-5)
        and mean - low == pytest.approx(high - mean)
    )
    assert mean_confidence_interval([0.5]) == (0.5, 0.5, 0.5)


def test_verdict_wording():
    assert verdict_text(2.0, 0.5, 3.5, 5) == "better by 2.0 pt (95 % CI 0.5–3.5)"
    assert verdict_text(-2.0, -3.5, -0.5, 5) == "worse by 2.0 pt (95 % CI -3.5–-0.5)"
    assert verdict_text(1.0, -0.5, 2.5, 5) == "no detectable difference"
    assert verdict_text(5.0, 5.0, 5.0, 1) == "no detectable difference"  # one seed measures no spread


def test_seeds_for_one_point():
    # (1.96 + 0.8416)^2 * (0.02 / 0.01)^2 = 31.4 -> 32 paired seeds
    assert seeds_for_difference(0.02) == 32
    assert seeds_for_difference(0.0) == 2


def test_paired_verdicts_use_the_same_seeds_and_sizes():
    rows = []
    for seed in range(5):
        rows += [("interval", 0.1, seed, 0.80 + 0.01 * seed), ("random", 0.1, seed, 0.75 + 0.01 * seed)]
        rows += [("interval", 0.5, seed, 0.80 + (0.01 if seed % 2 else -0.01)), ("random", 0.5, seed, 0.80)]
        rows += [("full", 1.0, seed, 0.9)]
    rows += [("random", 0.1, 9, 0.1)]  # a random seed the interval lacks: never paired
    verdicts = paired_verdicts(runs_frame(rows))
    assert verdicts[["strategy", "size_fraction"]].values.tolist() == [["interval", 0.1], ["interval", 0.5]]
    small, large = verdicts.iloc[0], verdicts.iloc[1]
    assert (
        small.seeds == 5 and small.difference_pt == pytest.approx(5.0) and small.verdict.startswith("better by 5.0 pt")
    )
    assert large.verdict == "no detectable difference"
    lines = verdict_lines(verdicts)
    assert len(lines) == 2 and lines[0].startswith("size 0.1: interval vs random: better by 5.0 pt")
    assert "a 1-pt difference needs ~" in lines[1]


def test_curve_summary_has_a_ci_per_point():
    curve = curve_summary(runs_frame([("random", 0.1, 0, 0.6), ("random", 0.1, 1, 0.8)]))
    point = curve.iloc[0]
    assert point.accuracy == pytest.approx(0.7) and point.seeds == 2 and point.ci_low < 0.6 and point.ci_high > 0.8
