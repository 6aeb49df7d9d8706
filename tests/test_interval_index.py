import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from euds_core.errors import EudsInputError
from euds_core.selection.interval_index import SortedScoreIndex
from euds_core.selection.intervals import Interval, select_keep_fraction, select_percentile, select_threshold

SCORES = np.array([0.5, 0.1, 0.9, 0.5, 0.3, 0.7])  # sorted: 0.1 0.3 0.5 0.5 0.7 0.9
LABELS = np.array(["a", "b", "a", "b", "b", "a"])


def test_threshold_span_counts_mask_and_histogram_by_hand():
    idx = SortedScoreIndex(SCORES, labels=LABELS, bins=np.array([0.0, 0.4, 0.8, 1.0]))
    span = idx.span_threshold(0.3, 0.5)
    assert idx.kept_count(span) == 3
    assert idx.kept_mask(span).tolist() == [True, False, False, True, True, False]
    hist = idx.histogram(span)
    assert hist.kept.tolist() == [1, 2, 0] and hist.dropped.tolist() == [1, 1, 1]
    bal = idx.label_balance(span)
    assert bal.labels.tolist() == ["a", "b"] and bal.kept.tolist() == [1, 2] and bal.total.tolist() == [3, 3]


def test_update_bundles_everything():
    idx = SortedScoreIndex(SCORES, labels=LABELS, bins=4)
    up = idx.update(idx.span_percentile(0.0, 0.5))
    assert up.kept == int(up.mask.sum()) == int(up.histogram.kept.sum()) == int(up.labels.kept.sum())
    assert up.histogram.kept.sum() + up.histogram.dropped.sum() == len(SCORES)
    assert idx.update(idx.span_keep(0.5), with_mask=False).mask is None


def test_without_labels_label_balance_is_none():
    assert SortedScoreIndex(SCORES).label_balance((0, 3)) is None


def test_mask_helpers_match_span_results():
    idx = SortedScoreIndex(SCORES, labels=LABELS, bins=3)
    span = idx.span_threshold(0.2, 0.8)
    mask = idx.kept_mask(span)
    assert idx.histogram_of_mask(mask).kept.tolist() == idx.histogram(span).kept.tolist()
    assert idx.label_balance_of_mask(mask).kept.tolist() == idx.label_balance(span).kept.tolist()


def test_bad_input():
    with pytest.raises(EudsInputError, match="NaN"):
        SortedScoreIndex(np.array([0.1, np.nan]))
    with pytest.raises(EudsInputError, match="above"):
        SortedScoreIndex(SCORES).span_percentile(0.8, 0.2)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.integers(0, 20), min_size=1, max_size=80),  # small integers: many ties
    a=st.floats(0, 1),
    b=st.floats(0, 1),
    keep=st.floats(0, 1),
    band=st.sampled_from(["low", "middle", "high", 0.3]),
    seed=st.integers(0, 5),
)
def test_spans_equal_select_functions(values, a, b, keep, band, seed):
    scores = np.array(values, dtype=float) / 10
    lo, hi = min(a, b), max(a, b)
    idx = SortedScoreIndex(scores, labels=np.array(values) % 3, bins=7, seed=seed)
    assert np.array_equal(idx.kept_mask(idx.span_threshold(lo * 2, hi * 2)), select_threshold(scores, lo * 2, hi * 2))
    assert np.array_equal(idx.kept_mask(idx.span_percentile(lo, hi)), select_percentile(scores, lo, hi))
    assert np.array_equal(idx.kept_mask(idx.span_keep(keep, band)), select_keep_fraction(scores, keep, band, seed))
    interval = Interval("s", "percentile", lo=lo, hi=hi)
    span = idx.span_for(interval)
    assert np.array_equal(idx.kept_mask(span), interval.mask(scores, seed))
    hist = idx.histogram(span)
    ref_kept, _ = np.histogram(scores[idx.kept_mask(span)], bins=idx.edges_)
    ref_all, _ = np.histogram(scores, bins=idx.edges_)
    assert hist.kept.tolist() == ref_kept.tolist() and (hist.kept + hist.dropped).tolist() == ref_all.tolist()
