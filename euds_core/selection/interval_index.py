"""Fast interval updates for the Explore page: pre-sorted score arrays, so a drag costs a searchsorted, not a pass.

Build once per (score array, labels, bins, seed); every interval change then costs O(log n + bins + labels)
for counts, histogram and label balance, plus O(kept) only when the page asks for the boolean mask.
Results are identical to :mod:`euds_core.selection.intervals` (same rank definition, same seeded tie order, same rounding).

API (all spans are half-open ``(start, stop)`` ranges of :attr:`SortedScoreIndex.order`)::

    idx = SortedScoreIndex(scores, labels=labels, bins=60, seed=0)   # (n,) float scores; labels optional
    span = idx.span_threshold(lo, hi)           # lo <= s <= hi (None = open bound)
    span = idx.span_percentile(p_lo, p_hi)      # p_lo <= rank(s) <= p_hi, rank in [0, 1] (average ties)
    span = idx.span_keep(0.3, band="middle")    # exactly round(0.3 n) rows: low | middle | high | offset
    span = idx.span_for(interval)               # a select.Interval (threshold / percentile / keep)
    idx.kept_count(span)          -> int
    idx.kept_mask(span)           -> (n,) bool in row order              O(kept)
    idx.kept_rows(span)           -> (kept,) int row indices, ascending score
    idx.histogram(span)           -> HistogramCounts(edges, kept, dropped)  (bins,) int64 each
    idx.label_balance(span)       -> LabelBalance(labels, kept, total)      (n_labels,) int64 each
    idx.update(span, with_mask=True) -> IntervalUpdate(span, kept, mask, histogram, labels): one call per drag

For an intersection of several scores' intervals (select's intersection mode), AND the masks and call
:meth:`SortedScoreIndex.histogram_of_mask` / :meth:`label_balance_of_mask` (one ``bincount`` each).
Measured at 1,000,000 rows: see bench/RESULTS.md (``interval_update_1m``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from euds_core.errors import EudsInputError
from euds_core.selection.intervals import _band_offset, _check_fraction, seeded_order

PERCENTILE_EPS = 1e-9  # the same slack select.select_percentile allows for float rounding
MAX_CUMULATIVE_LABELS = 64  # above this many labels, label balance uses a bincount instead of prefix sums


@dataclass(frozen=True)
class HistogramCounts:
    """Per-bin row counts inside (``kept``) and outside (``dropped``) the interval; ``edges`` has bins + 1 values."""

    edges: np.ndarray  # (bins + 1,) float64
    kept: np.ndarray  # (bins,) int64
    dropped: np.ndarray  # (bins,) int64


@dataclass(frozen=True)
class LabelBalance:
    """Rows per label kept by the interval, and in the whole pool (same label order)."""

    labels: np.ndarray  # (n_labels,) the distinct labels, sorted
    kept: np.ndarray  # (n_labels,) int64
    total: np.ndarray  # (n_labels,) int64


@dataclass(frozen=True)
class IntervalUpdate:
    """Everything a page redraws after one interval change."""

    span: tuple[int, int]
    kept: int
    mask: np.ndarray | None  # (n,) bool in row order, or None when not asked for
    histogram: HistogramCounts
    labels: LabelBalance | None  # None without labels


class SortedScoreIndex:
    """One score array sorted once (ties in a seeded order), with bin and label prefix sums.

    Parameters: ``scores`` (n,) finite floats; ``labels`` (n,) any hashable values or None; ``bins`` a count
    of equal-width bins over [min, max] or explicit increasing edges; ``seed`` the tie-break seed of
    :func:`euds_core.selection.intervals.seeded_order` (so keep-fraction spans match ``select_keep_fraction``).
    Learned attributes: ``order_`` (n,) row indices by ascending score; ``sorted_`` the scores in that order;
    ``rank_`` their percentile ranks; ``bin_start_`` (bins + 1,) the first sorted position of each bin.
    """

    def __init__(self, scores: np.ndarray, *, labels=None, bins: int | np.ndarray = 50, seed: int = 0):
        from scipy.stats import rankdata

        scores = np.asarray(scores, dtype=np.float64)
        if scores.ndim != 1:
            raise EudsInputError(f"scores must be one value per row, got shape {scores.shape}")
        if not np.all(np.isfinite(scores)):
            raise EudsInputError("scores contain NaN or infinite values; rescore the dataset")
        self.n = n = len(scores)
        self.seed = seed
        self.order_ = seeded_order(scores, seed)  # (n,)
        self.sorted_ = scores[self.order_]  # (n,) non-decreasing
        # Percentile rank with average ties, as select.percentile_rank; monotone along the sorted order.
        self.rank_ = (rankdata(self.sorted_, method="average") - 1.0) / (n - 1.0) if n > 1 else np.full(n, 0.5)
        if np.ndim(bins) == 0:
            lo, hi = (float(self.sorted_[0]), float(self.sorted_[-1])) if n else (0.0, 1.0)
            if hi <= lo:
                hi = lo + 1.0
            self.edges_ = np.linspace(lo, hi, int(bins) + 1)
        else:
            self.edges_ = np.asarray(bins, dtype=np.float64)
        n_bins = len(self.edges_) - 1
        # np.histogram's rule: bins are [e_i, e_{i+1}), the last one closed. Values outside the edges count nowhere.
        self.bin_start_ = np.searchsorted(self.sorted_, self.edges_, side="left")  # (bins + 1,)
        self.bin_start_[-1] = np.searchsorted(self.sorted_, self.edges_[-1], side="right")
        self._bin_of_row = np.full(n, -1, dtype=np.int32)  # (n,) row order; -1 = outside the edges
        for b in range(n_bins):
            self._bin_of_row[self.order_[self.bin_start_[b] : self.bin_start_[b + 1]]] = b
        self.n_bins = n_bins
        self._labels = None
        if labels is not None:
            values = np.asarray(labels)
            if len(values) != n:
                raise EudsInputError(f"labels have {len(values)} rows but scores have {n}")
            self._labels, codes = np.unique(values.astype(str), return_inverse=True)
            self._codes = codes.astype(np.int32)  # (n,) row order
            sorted_codes = self._codes[self.order_]
            self._label_total = np.bincount(self._codes, minlength=len(self._labels)).astype(np.int64)
            if len(self._labels) <= MAX_CUMULATIVE_LABELS:
                onehot = np.zeros((n + 1, len(self._labels)), dtype=np.int32)  # (n + 1, n_labels) prefix counts
                onehot[np.arange(1, n + 1), sorted_codes] = 1
                self._label_prefix = np.cumsum(onehot, axis=0, dtype=np.int32)
            else:
                self._label_prefix = None
            self._sorted_codes = sorted_codes

    # ------------------------------------------------------------------------------------------ spans

    def span_threshold(self, lo: float | None, hi: float | None) -> tuple[int, int]:
        """Sorted positions with lo <= s <= hi (as select.select_threshold)."""
        start = 0 if lo is None else int(np.searchsorted(self.sorted_, lo, side="left"))
        stop = self.n if hi is None else int(np.searchsorted(self.sorted_, hi, side="right"))
        return start, max(start, stop)

    def span_percentile(self, p_lo: float, p_hi: float) -> tuple[int, int]:
        """Sorted positions with p_lo <= rank <= p_hi (as select.select_percentile)."""
        _check_fraction(p_lo, "p_lo"), _check_fraction(p_hi, "p_hi")
        if p_lo > p_hi:
            raise EudsInputError(f"the lower percentile {p_lo} is above the upper {p_hi}")
        start = int(np.searchsorted(self.rank_, p_lo - PERCENTILE_EPS, side="left"))
        stop = int(np.searchsorted(self.rank_, p_hi + PERCENTILE_EPS, side="right"))
        return start, max(start, stop)

    def span_keep(self, keep: float, band: str | float = "middle") -> tuple[int, int]:
        """Exactly round(keep * n) rows at the band position (as select.select_keep_fraction with this seed)."""
        _check_fraction(keep, "keep")
        count = int(round(keep * self.n))
        start = int(round(_band_offset(band) * (self.n - count)))
        return start, start + count

    def span_for(self, interval) -> tuple[int, int]:
        """The span of a :class:`euds_core.selection.intervals.Interval` (its score array must be this index's)."""
        if interval.mode == "threshold":
            return self.span_threshold(interval.lo, interval.hi)
        if interval.mode == "percentile":
            return self.span_percentile(
                0.0 if interval.lo is None else interval.lo, 1.0 if interval.hi is None else interval.hi
            )
        if interval.mode == "keep":
            if interval.keep is None:
                raise EudsInputError("a keep-fraction interval needs a keep fraction")
            return self.span_keep(interval.keep, interval.band)
        raise EudsInputError(f"unknown interval mode '{interval.mode}'; use threshold, percentile or keep")

    # ------------------------------------------------------------------------------------------ results

    def kept_count(self, span: tuple[int, int]) -> int:
        return int(span[1] - span[0])

    def kept_rows(self, span: tuple[int, int]) -> np.ndarray:
        """Row indices inside the span, by ascending score (a view: do not modify)."""
        return self.order_[span[0] : span[1]]

    def kept_mask(self, span: tuple[int, int]) -> np.ndarray:
        """(n,) bool in row order; O(kept) scatter."""
        mask = np.zeros(self.n, dtype=bool)
        mask[self.order_[span[0] : span[1]]] = True
        return mask

    def histogram(self, span: tuple[int, int]) -> HistogramCounts:
        """Kept and dropped rows per bin: O(bins), since each bin is a contiguous run of sorted positions."""
        start, stop = span
        lo, hi = self.bin_start_[:-1], self.bin_start_[1:]  # (bins,)
        total = hi - lo
        kept = np.clip(np.minimum(hi, stop) - np.maximum(lo, start), 0, None)
        return HistogramCounts(self.edges_, kept.astype(np.int64), (total - kept).astype(np.int64))

    def label_balance(self, span: tuple[int, int]) -> LabelBalance | None:
        """Kept rows per label: a difference of two prefix-count rows (or one bincount with many labels)."""
        if self._labels is None:
            return None
        start, stop = span
        if self._label_prefix is not None:
            kept = (self._label_prefix[stop] - self._label_prefix[start]).astype(np.int64)
        else:
            kept = np.bincount(self._sorted_codes[start:stop], minlength=len(self._labels)).astype(np.int64)
        return LabelBalance(self._labels, kept, self._label_total)

    def update(self, span: tuple[int, int], *, with_mask: bool = True) -> IntervalUpdate:
        """Count, mask (optional), histogram and label balance for one interval change."""
        return IntervalUpdate(
            span,
            self.kept_count(span),
            self.kept_mask(span) if with_mask else None,
            self.histogram(span),
            self.label_balance(span),
        )

    # ------------------------------------------------------------------------------------------ arbitrary masks

    def histogram_of_mask(self, mask: np.ndarray) -> HistogramCounts:
        """Per-bin kept/dropped counts of any (n,) row-order mask (e.g. an intersection of several scores)."""
        inside = self._bin_of_row >= 0
        total = np.bincount(self._bin_of_row[inside], minlength=self.n_bins)
        kept = np.bincount(self._bin_of_row[mask & inside], minlength=self.n_bins)
        return HistogramCounts(self.edges_, kept.astype(np.int64), (total - kept).astype(np.int64))

    def label_balance_of_mask(self, mask: np.ndarray) -> LabelBalance | None:
        if self._labels is None:
            return None
        kept = np.bincount(self._codes[mask], minlength=len(self._labels)).astype(np.int64)
        return LabelBalance(self._labels, kept, self._label_total)
