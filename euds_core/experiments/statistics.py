"""Statistics of a grid or a leaderboard: 95 % intervals that include the test split's noise, paired verdicts
against the matching random baseline, and the false discovery rate across them.

**Where the noise is.** A run's test accuracy varies with the seed (the random subset, the head, the shuffles)
*and* with the test sample: another 20 % of the same data would give another number. A band or a deterministic
sampler picks the same rows at every seed, and the proxy is deterministic, so seeds alone gave such a method a
zero-width interval. Every run therefore keeps its per-row correctness on the test split (``correct``, packed
with :func:`pack_correct`), and intervals come from a **two-level bootstrap**: each of 2,000 draws resamples the
seeds and, independently, the test rows (the same rows for both sides of a paired comparison), and takes the
mean. A run without per-row results (saved before they existed) falls back to a Student-t interval over seeds
(``scipy.stats``), which is marked ``seeds only``.

**Paired verdicts.** A method and its baseline at the same size and seed share the test split, the head
initialisation and the shuffles, so the difference is paired by seed and by test row. A label-balanced method
is compared with ``random:balanced`` (a label-stratified random subset) when the grid has it, and with plain
``random`` as well; the verdict is read from the matching baseline.

**Multiplicity.** A leaderboard makes dozens of comparisons; at 95 % each, some "better by" lines would come
from chance alone. The two-sided bootstrap p-values of every comparison in one table are adjusted by
Benjamini–Hochberg (``statsmodels.stats.multitest.multipletests``, false discovery rate 5 %); a verdict says
"better" or "worse" only when its adjusted p (``q``) is below 0.05 *and* its interval excludes 0.

``seeds_for_1pt``: paired seeds a true 1-point difference needs (two-sided 5 %, 80 % power) at the observed
spread of the per-seed differences (``statsmodels`` t-test power).

One grid per answer: two runs with the same (strategy, size, seed) are an error (:func:`check_one_grid`), never
joined: runs of two grids must not be pooled into one verdict.
"""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError

CONFIDENCE = 0.95
POWER = 0.8
FDR = 0.05
BOOTSTRAP_DRAWS = 2000
BASELINE = "random"
BALANCED_BASELINE = "random:balanced"
MULTIPLICITY = "Benjamini–Hochberg false discovery rate 5 % across the table's comparisons (statsmodels)"
CURVE_COLUMNS = [
    "strategy",
    "size_fraction",
    "n_train",
    "seeds",
    "accuracy",
    "ci_low",
    "ci_high",
    "macro_f1",
    "interval",
]
VERDICT_COLUMNS = [
    "strategy",
    "size_fraction",
    "baseline",
    "matched",
    "seeds",
    "difference_pt",
    "ci_low_pt",
    "ci_high_pt",
    "p_value",
    "q_value",
    "verdict",
    "seeds_for_1pt",
]


# ---------------------------------------------------------------------------------------------- per-row results


def pack_correct(correct: np.ndarray) -> str:
    """0/1 per test row as ``"n:base64(bits)"`` (a 600-row test split is 104 characters)."""
    bits = np.packbits(np.asarray(correct, dtype=bool))
    return f"{len(correct)}:{base64.b64encode(bits.tobytes()).decode('ascii')}"


def unpack_correct(text) -> np.ndarray | None:
    """The 0/1 vector of :func:`pack_correct`; None for a run saved without one."""
    if not isinstance(text, str) or ":" not in text:
        return None
    n, data = text.split(":", 1)
    return np.unpackbits(np.frombuffer(base64.b64decode(data), dtype=np.uint8))[: int(n)].astype(np.float64)


def check_one_grid(runs: pd.DataFrame) -> None:
    """Refuse runs that hold one (strategy, size, seed) twice: they come from two grids (or two datasets)."""
    key = runs.assign(_size=runs["size_fraction"].astype(float).round(6))[["strategy", "_size", "seed"]]
    duplicated = key.duplicated()
    if duplicated.any():
        first = key[duplicated].iloc[0]
        raise EudsInputError(
            f"these runs hold {first.strategy} @ {first._size:g}, seed {first.seed} more than once: they mix "
            "grids; read one grid's runs (its grid key) before summarising"
        )


def correctness_matrix(part: pd.DataFrame) -> np.ndarray | None:
    """(seeds, test rows) 0/1 of the runs in ``part`` ordered by seed, or None when any run lacks them."""
    if "correct" not in part.columns:
        return None
    rows = [unpack_correct(c) for c in part.sort_values("seed")["correct"]]
    if not rows or any(r is None for r in rows) or len({len(r) for r in rows}) != 1:
        return None
    return np.stack(rows)


# ---------------------------------------------------------------------------------------------- intervals


def bootstrap_means(matrix: np.ndarray, *, draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> np.ndarray:
    """(draws,) means of ``matrix`` (seeds, test rows) over seeds and rows resampled independently."""
    rng = np.random.default_rng(seed)
    n_seeds, n_rows = matrix.shape
    row_weights = rng.multinomial(n_rows, np.full(n_rows, 1.0 / n_rows), size=draws) / n_rows  # (draws, rows)
    if n_seeds > 1:
        seed_weights = rng.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), size=draws) / n_seeds
    else:
        seed_weights = np.ones((draws, 1))
    per_seed = row_weights @ matrix.T  # (draws, seeds): each seed's mean over the resampled rows
    return np.sum(per_seed * seed_weights, axis=1)


def t_interval(values) -> tuple[float, float, float]:
    """(mean, low, high) of a Student-t interval over seeds (scipy). Fewer than two values or no spread at all
    give no interval (NaN bounds): a zero width would claim a precision nobody measured."""
    from scipy.stats import ttest_1samp

    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean()) if len(x) else float("nan")
    if len(x) < 2 or float(np.std(x)) == 0.0:
        return mean, float("nan"), float("nan")
    ci = ttest_1samp(x, 0.0).confidence_interval(CONFIDENCE)
    return mean, float(ci.low), float(ci.high)


def mean_confidence_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(mean, low, high) over seeds only (scipy's t-interval); kept for callers without per-row results."""
    if confidence != CONFIDENCE:
        raise ValueError("only 95 % intervals are produced")
    return t_interval(values)


def bootstrap_interval(matrix: np.ndarray, seed: int = 0, floor=None) -> tuple[float, float, float, float]:
    """(mean, low, high, two-sided p of "mean = 0") from :func:`bootstrap_means` of ``matrix``.

    When every resample gives the same mean (every test row right, or the same on both sides), resampling
    shows no spread although another test sample could; ``floor`` (low, high) then gives the interval."""
    means = bootstrap_means(matrix, seed=seed)
    low, high = np.quantile(means, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
    if high - low <= 1e-12 and floor is not None:
        low, high = floor
    tail = min(np.mean(means <= 0.0), np.mean(means >= 0.0))
    p = min(1.0, max(2.0 * tail, 1.0 / (len(means) + 1)))
    return float(matrix.mean()), float(low), float(high), float(p)


def wilson_interval(correct: np.ndarray) -> tuple[float, float]:
    """The Wilson score interval (statsmodels) of the accuracy of all runs' test rows pooled, counted per row
    once: the test sample's own uncertainty, which stays wide when every row is right."""
    from statsmodels.stats.proportion import proportion_confint

    rows = correct.shape[-1]
    low, high = proportion_confint(float(correct.mean()) * rows, rows, alpha=1 - CONFIDENCE, method="wilson")
    return float(low), float(high)


def seeds_for_difference(sd: float, difference: float = 0.01, power: float = POWER) -> int:
    """Paired seeds needed to detect ``difference`` (accuracy units) at standard deviation ``sd``; at least 2."""
    from statsmodels.stats.power import TTestPower

    if not np.isfinite(sd) or sd <= 0:
        return 2
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the root finder gives up (NaN) when 2 seeds already have the power
        n = TTestPower().solve_power(
            effect_size=difference / sd, alpha=1 - CONFIDENCE, power=power, alternative="two-sided"
        )
    return max(2, int(np.ceil(n))) if np.isfinite(n) else 2


def curve_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (strategy, size): mean accuracy and its 95 % interval (seeds and test rows), n_train, macro-F1."""
    check_one_grid(runs)
    rows = []
    for (strategy, size), part in runs.groupby(["strategy", "size_fraction"], sort=True):
        matrix = correctness_matrix(part)
        if matrix is not None:
            _, low, high, _ = bootstrap_interval(matrix, floor=wilson_interval(matrix))
            mean, kind = float(part["accuracy"].astype(float).mean()), "seeds and test rows"
        else:
            (mean, low, high), kind = t_interval(part["accuracy"]), "seeds only"
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
                "interval": kind,
            }
        )
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


# ---------------------------------------------------------------------------------------------- verdicts


def paired_difference(part: pd.DataFrame, ref: pd.DataFrame) -> dict | None:
    """The paired comparison of one method's runs with its baseline's at the same size, seed by seed (points)."""
    paired = part.merge(ref, on="seed", suffixes=("", "_base"))
    if paired.empty:
        return None
    per_seed = 100.0 * (paired["accuracy"].astype(float) - paired["accuracy_base"].astype(float)).to_numpy(float)
    mine, theirs = correctness_matrix(paired), correctness_matrix(paired.assign(correct=paired.get("correct_base")))
    if mine is not None and theirs is not None and mine.shape == theirs.shape:
        (a_low, a_high), (b_low, b_high) = wilson_interval(mine), wilson_interval(theirs)
        floor = (100.0 * (a_low - b_high), 100.0 * (a_high - b_low))  # no narrower than the two arms allow
        mean, low, high, p = bootstrap_interval(100.0 * (mine - theirs), floor=floor)
    else:
        mean, low, high = t_interval(per_seed)
        p = _t_p_value(per_seed)
    sd = float(np.std(per_seed, ddof=1)) / 100.0 if len(per_seed) > 1 else float("nan")
    return {
        "seeds": len(per_seed),
        "difference_pt": mean,
        "ci_low_pt": low,
        "ci_high_pt": high,
        "p_value": p,
        "seeds_for_1pt": seeds_for_difference(sd) if len(per_seed) > 1 else None,
    }


def _t_p_value(per_seed: np.ndarray) -> float:
    from scipy.stats import ttest_1samp

    if len(per_seed) < 2 or float(np.std(per_seed)) == 0.0:
        return 1.0
    return float(ttest_1samp(per_seed, 0.0).pvalue)


def paired_verdicts(runs: pd.DataFrame, baseline: str = BASELINE, balanced: set[str] | None = None) -> pd.DataFrame:
    """One row per (strategy, size, baseline) with baseline runs at the same size and seeds.

    Every method is compared with ``baseline``; a method in ``balanced`` (label-balanced) also with
    ``random:balanced``, which is then its matching baseline (``matched``). p-values are adjusted across the
    table (Benjamini–Hochberg) before the verdicts. ``full`` and the baselines themselves are left out.
    """
    check_one_grid(runs)
    balanced = balanced or set()
    columns = [c for c in ("seed", "accuracy", "correct") if c in runs.columns]
    rows = []
    for (strategy, size), part in runs.groupby(["strategy", "size_fraction"], sort=True):
        if strategy in (baseline, BALANCED_BASELINE, "full"):
            continue
        has_balanced = bool(((runs["strategy"] == BALANCED_BASELINE) & np.isclose(runs["size_fraction"], size)).any())
        for name in (baseline, BALANCED_BASELINE):
            ref = runs[(runs["strategy"] == name) & np.isclose(runs["size_fraction"], size)][columns]
            found = paired_difference(part, ref)
            if found is None:
                continue
            matched = name == (BALANCED_BASELINE if strategy in balanced and has_balanced else baseline)
            rows.append(
                {"strategy": strategy, "size_fraction": float(size), "baseline": name, "matched": matched, **found}
            )
    table = pd.DataFrame(rows, columns=[c for c in VERDICT_COLUMNS if c not in ("q_value", "verdict")])
    return with_verdicts(table)


def with_verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` plus ``q_value`` (Benjamini–Hochberg over its rows) and the verdict sentence of each row."""
    from statsmodels.stats.multitest import multipletests

    table = table.copy()
    table["q_value"] = multipletests(table["p_value"].to_numpy(), alpha=FDR, method="fdr_bh")[1] if len(table) else []
    table["verdict"] = [
        verdict_text(r.difference_pt, r.ci_low_pt, r.ci_high_pt, r.q_value, r.seeds) for r in table.itertuples()
    ]
    return table[VERDICT_COLUMNS]


def interval_text(low: float, high: float, digits: int = 3) -> str:
    """``95 % CI a–b``, or ``no interval`` when none was measured (never a zero-width one)."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "no interval"
    return f"95 % CI {low:.{digits}f}–{high:.{digits}f}"


def verdict_text(difference_pt: float, low_pt: float, high_pt: float, q_value: float, seeds: int = 2) -> str:
    """The sentence a reader sees (points = accuracy x 100); "better"/"worse" needs q < 0.05 and a CI off 0."""
    if not (np.isfinite(low_pt) and np.isfinite(high_pt)):
        return f"no interval ({difference_pt:+.1f} pt; the seeds alone measured no spread)"
    interval = f"95 % CI {low_pt:.1f}–{high_pt:.1f}, q = {q_value:.3f}"
    if q_value < FDR and low_pt > 0:
        return f"better by {difference_pt:.1f} pt ({interval})"
    if q_value < FDR and high_pt < 0:
        return f"worse by {-difference_pt:.1f} pt ({interval})"
    return f"no detectable difference ({difference_pt:+.1f} pt, {interval})"


def matched_verdicts(verdicts: pd.DataFrame) -> pd.DataFrame:
    """The rows whose baseline is the method's matching one (one per method and size)."""
    return verdicts[verdicts["matched"]].reset_index(drop=True)


def verdict_lines(verdicts: pd.DataFrame) -> list[str]:
    """One printable line per (strategy, size, baseline): the CLI's and the report's wording."""
    lines = [f"multiple comparisons: {MULTIPLICITY}"] if len(verdicts) else []
    for r in verdicts.itertuples():
        need = f"; a 1-pt difference needs ~{r.seeds_for_1pt} seeds at this variance" if r.seeds_for_1pt else ""
        matching = " (its matching baseline)" if r.matched and r.baseline == BALANCED_BASELINE else ""
        lines.append(
            f"size {r.size_fraction:g}: {r.strategy} vs {r.baseline}{matching}: {r.verdict} "
            f"[mean {r.difference_pt:+.1f} pt over {r.seeds} seed{'s' if r.seeds != 1 else ''}{need}]"
        )
    return lines
