"""Selection: pure functions from score arrays to boolean keep-masks, and the reproducible selection spec.

Modes (docs/cli.md, `select`): threshold interval (lo ≤ s ≤ hi), percentile interval (p_lo ≤ rank(s) ≤ p_hi), and a
keep fraction ρ at a band position (low / middle / high / an offset in [0, 1]) that keeps exactly round(ρN)
rows, ties broken by a seeded secondary key. Several intervals combine by intersection.

**Label-balanced** (``label_balanced=True``): a percentile or keep interval is applied within each label
group (ranks and counts are per class), so the kept set keeps the label proportions of the rows it chose
from, within rounding (one row per class). A global interval can otherwise keep nearly one class only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError
from euds_core.selection.kept_count import apply_overrides

BAND_OFFSETS = {"low": 0.0, "middle": 0.5, "high": 1.0}


def percentile_rank(scores: np.ndarray) -> np.ndarray:
    """Rank of each score scaled to [0, 1] (average rank for ties): min -> 0, max -> 1. Shape (n,)."""
    from scipy.stats import rankdata

    n = len(scores)
    if n <= 1:
        return np.full(n, 0.5)
    return (rankdata(scores, method="average") - 1.0) / (n - 1.0)


def seeded_order(scores: np.ndarray, seed: int = 0) -> np.ndarray:
    """Row indices sorted by score ascending, ties broken by a seeded random key (reproducible)."""
    tie_break = np.random.default_rng(seed).permutation(len(scores))
    return np.lexsort((tie_break, scores))


def select_threshold(scores: np.ndarray, lo: float | None, hi: float | None) -> np.ndarray:
    """Keep lo ≤ s ≤ hi (a missing bound is open)."""
    mask = np.ones(len(scores), dtype=bool)
    if lo is not None:
        mask &= scores >= lo
    if hi is not None:
        mask &= scores <= hi
    return mask


def select_percentile(scores: np.ndarray, p_lo: float, p_hi: float) -> np.ndarray:
    """Keep p_lo ≤ rank(s) ≤ p_hi with rank in [0, 1] (see :func:`percentile_rank`)."""
    _check_fraction(p_lo, "p_lo"), _check_fraction(p_hi, "p_hi")
    if p_lo > p_hi:
        raise EudsInputError(f"the lower percentile {p_lo} is above the upper {p_hi}")
    rank = percentile_rank(scores)
    eps = 1e-9  # plo=0.25 must include a rank of exactly 0.25 despite float rounding
    return (rank >= p_lo - eps) & (rank <= p_hi + eps)


def select_keep_fraction(scores: np.ndarray, keep: float, band: str | float = "middle", seed: int = 0) -> np.ndarray:
    """Keep exactly round(keep * N) rows: a contiguous window of the seeded score order.

    ``band`` places the window: ``low`` (lowest scores), ``middle`` (centred), ``high`` (highest), or a
    number in [0, 1] (0 = low, 1 = high).
    """
    _check_fraction(keep, "keep")
    offset = _band_offset(band)
    n = len(scores)
    count = int(round(keep * n))
    start = int(round(offset * (n - count)))
    mask = np.zeros(n, dtype=bool)
    mask[seeded_order(scores, seed)[start : start + count]] = True
    return mask


def group_percentile_rank(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """:func:`percentile_rank` computed within each label group: every class spans [0, 1] by itself. Shape (n,)."""
    labels = np.asarray(labels).astype(str)
    rank = np.empty(len(scores), dtype=np.float64)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        rank[rows] = percentile_rank(scores[rows])
    return rank


def select_percentile_balanced(scores: np.ndarray, labels: np.ndarray, p_lo: float, p_hi: float) -> np.ndarray:
    """:func:`select_percentile` applied within each label group (ranks per class)."""
    return _within_groups(scores, labels, lambda part: select_percentile(part, p_lo, p_hi))


def select_keep_fraction_balanced(
    scores: np.ndarray, labels: np.ndarray, keep: float, band: str | float = "middle", seed: int = 0
) -> np.ndarray:
    """:func:`select_keep_fraction` within each label group: round(keep * n_class) rows of every class."""
    return _within_groups(scores, labels, lambda part: select_keep_fraction(part, keep, band, seed))


def _within_groups(scores: np.ndarray, labels: np.ndarray, select) -> np.ndarray:
    labels = np.asarray(labels).astype(str)
    if labels.shape != scores.shape:
        raise EudsInputError(f"the labels ({len(labels)}) and scores ({len(scores)}) must have the same rows")
    mask = np.zeros(len(scores), dtype=bool)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        mask[rows] = select(scores[rows])
    return mask


def label_proportions(labels) -> dict[str, float]:
    """{label: share of rows}, labels sorted: the label balance a selection keeps (or its pool has)."""
    counts = pd.Series(np.asarray(labels).astype(str)).value_counts(normalize=True).sort_index()
    return {str(k): float(v) for k, v in counts.items()}


def _band_offset(band: str | float) -> float:
    if isinstance(band, str) and band in BAND_OFFSETS:
        return BAND_OFFSETS[band]
    try:
        value = float(band)
    except (TypeError, ValueError):
        raise EudsInputError(f"band must be low, middle, high or a number in [0, 1], not '{band}'") from None
    _check_fraction(value, "band offset")
    return value


def _check_fraction(value: float, what: str) -> None:
    if not 0.0 <= float(value) <= 1.0:
        raise EudsInputError(f"{what} must be between 0 and 1, got {value}")


# ---------------------------------------------------------------------------------------------- spec


@dataclass
class Interval:
    """One score's interval. ``mode`` is threshold (lo/hi raw values), percentile (lo/hi in [0, 1]) or keep."""

    score: str
    mode: str = "percentile"
    lo: float | None = None
    hi: float | None = None
    keep: float | None = None
    band: str | float = "middle"
    label_balanced: bool = False  # apply the interval within each label group (percentile and keep modes)

    def mask(self, scores: np.ndarray, seed: int, labels: np.ndarray | None = None) -> np.ndarray:
        """Keep-mask over ``scores``; ``labels`` (same rows) is needed when ``label_balanced``."""
        if self.label_balanced:
            if labels is None:
                raise EudsInputError("a label-balanced interval needs a label column (--label-col)")
            if self.mode == "threshold":
                raise EudsInputError(
                    "label balancing works on percentile or keep intervals (--plo/--phi or --keep), not --lo/--hi"
                )
        if self.mode == "threshold":
            return select_threshold(scores, self.lo, self.hi)
        if self.mode == "percentile":
            lo, hi = 0.0 if self.lo is None else self.lo, 1.0 if self.hi is None else self.hi
            if self.label_balanced:
                return select_percentile_balanced(scores, labels, lo, hi)
            return select_percentile(scores, lo, hi)
        if self.mode == "keep":
            if self.keep is None:
                raise EudsInputError("a keep-fraction interval needs --keep")
            if self.label_balanced:
                return select_keep_fraction_balanced(scores, labels, self.keep, self.band, seed)
            return select_keep_fraction(scores, self.keep, self.band, seed)
        raise EudsInputError(f"unknown interval mode '{self.mode}'; use threshold, percentile or keep")


@dataclass
class SelectionSpec:
    """Everything that reproduces a subset: saved in SQLite, written into every export manifest."""

    dataset_id: str
    intervals: list[Interval]
    seed: int = 0
    score_params: dict[str, dict] = field(default_factory=dict)  # score name -> the scorer's params()
    overrides: dict[str, str] = field(default_factory=dict)  # sample id -> "keep" | "drop" (review)
    recipe: str = ""  # the readable curation recipe these intervals came from (selection/recipe.py), if any

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SelectionSpec:
        data = json.loads(text)
        data["intervals"] = [Interval(**i) for i in data.get("intervals", [])]
        return cls(**data)


def apply_selection(spec: SelectionSpec, scores: pd.DataFrame) -> np.ndarray:
    """Boolean keep-mask over the rows of ``scores`` (needs an ``id`` column and one column per score, and a
    ``label`` column for a label-balanced interval).

    Intervals combine by intersection; manual overrides from review win over the intervals.
    """
    labels = scores["label"].astype(str).to_numpy() if "label" in scores.columns else None
    mask = np.ones(len(scores), dtype=bool)
    for interval in spec.intervals:
        if interval.score not in scores.columns:
            raise EudsInputError(
                f"no score '{interval.score}' in the scores; the columns are: {', '.join(map(str, scores.columns))}"
            )
        mask &= interval.mask(scores[interval.score].to_numpy(dtype=np.float64), spec.seed, labels)
    return apply_overrides(mask, scores["id"].to_numpy(), spec.overrides)  # the kept count's own rule (kept_count.py)
