"""Statistics over seeds: a 95 % confidence interval per curve point, and a paired verdict against random.

Every grid run has a seed; a strategy and ``random`` at the same size and seed share the test split, the head
initialisation and the shuffles, so their difference per seed is a paired sample. The verdict is read from
the 95 % t-interval of the mean paired difference:

* the interval lies above 0 -> ``better by X pt (95 % CI a–b)``;
* it lies below 0 -> ``worse by X pt (95 % CI a–b)``;
* it contains 0 (or fewer than 2 paired seeds) -> ``no detectable difference``.

``seeds_for_1pt`` is how many paired seeds a true 1-point difference needs to be detected (two-sided 5 %,
80 % power) at the observed standard deviation of the paired differences: n = ((z_0.975 + z_0.8) * sd / 1)^2.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

CONFIDENCE = 0.95
POWER = 0.8
BASELINE = "random"
CURVE_COLUMNS = ["strategy", "size_fraction", "n_train", "seeds", "accuracy", "ci_low", "ci_high", "macro_f1"]
VERDICT_COLUMNS = [
    "strategy",
    "size_fraction",
    "seeds",
    "difference_pt",
    "ci_low_pt",
    "ci_high_pt",
    "verdict",
    "seeds_for_1pt",
]


def mean_confidence_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(mean, low, high) of a Student-t interval; one value gives (v, v, v) — no spread is measurable."""
    from scipy.stats import t

    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean()) if len(x) else float("nan")
    if len(x) < 2:
        return mean, mean, mean
    half = float(t.ppf(0.5 + confidence / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return mean, mean - half, mean + half


def seeds_for_difference(sd: float, difference: float = 0.01, power: float = POWER) -> int:
    """Paired seeds needed to detect ``difference`` (accuracy units) at standard deviation ``sd``; at least 2."""
    from scipy.stats import norm

    if not np.isfinite(sd) or sd <= 0:
        return 2
    z = norm.ppf(0.5 + CONFIDENCE / 2) + norm.ppf(power)
    return max(2, math.ceil((z * sd / difference) ** 2))


def verdict_text(difference_pt: float, low_pt: float, high_pt: float, seeds: int) -> str:
    """The sentence a reader sees (points = accuracy x 100)."""
    if seeds >= 2 and low_pt > 0:
        return f"better by {difference_pt:.1f} pt (95 % CI {low_pt:.1f}–{high_pt:.1f})"
    if seeds >= 2 and high_pt < 0:
        return f"worse by {-difference_pt:.1f} pt (95 % CI {low_pt:.1f}–{high_pt:.1f})"
    return "no detectable difference"


def curve_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (strategy, size): mean accuracy and its 95 % CI over seeds, mean n_train, macro-F1."""
    rows = []
    for (strategy, size), part in runs.groupby(["strategy", "size_fraction"], sort=True):
        mean, low, high = mean_confidence_interval(part["accuracy"])
        rows.append(
            {
                "strategy": strategy,
                "size_fraction": float(size),
                "n_train": float(part["n_train"].mean()),
                "seeds": int(part["seed"].nunique()),
                "accuracy": mean,
                "ci_low": low,
                "ci_high": high,
                "macro_f1": float(part["macro_f1"].mean()),
            }
        )
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def paired_verdicts(runs: pd.DataFrame, baseline: str = BASELINE) -> pd.DataFrame:
    """One row per (strategy, size) that has ``baseline`` runs at the same size and seeds (paired by seed).

    ``full`` is left out: at size 1.0 random is the full pool itself.
    """
    base = runs[runs["strategy"] == baseline]
    rows = []
    for (strategy, size), part in runs.groupby(["strategy", "size_fraction"], sort=True):
        if strategy in (baseline, "full"):
            continue
        ref = base[np.isclose(base["size_fraction"], size)]
        paired = part.merge(ref[["seed", "accuracy"]], on="seed", suffixes=("", "_base"))
        if paired.empty:
            continue
        diff = 100.0 * (paired["accuracy"] - paired["accuracy_base"]).to_numpy()  # (seeds,) in points
        mean, low, high = mean_confidence_interval(diff)
        sd = float(np.std(diff, ddof=1)) / 100.0 if len(diff) > 1 else float("nan")
        rows.append(
            {
                "strategy": strategy,
                "size_fraction": float(size),
                "seeds": len(diff),
                "difference_pt": mean,
                "ci_low_pt": low,
                "ci_high_pt": high,
                "verdict": verdict_text(mean, low, high, len(diff)),
                "seeds_for_1pt": seeds_for_difference(sd) if len(diff) > 1 else None,
            }
        )
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS)


def verdict_lines(verdicts: pd.DataFrame, baseline: str = BASELINE) -> list[str]:
    """One printable line per (strategy, size): the CLI's and the report's wording."""
    lines = []
    for r in verdicts.itertuples():
        need = f"; a 1-pt difference needs ~{r.seeds_for_1pt} seeds at this variance" if r.seeds_for_1pt else ""
        lines.append(
            f"size {r.size_fraction:g}: {r.strategy} vs {baseline}: {r.verdict} "
            f"[mean {r.difference_pt:+.1f} pt over {r.seeds} seed{'s' if r.seeds != 1 else ''}{need}]"
        )
    return lines
