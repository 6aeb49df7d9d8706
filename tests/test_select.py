import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from euds_core.errors import EudsInputError
from euds_core.selection.intervals import (
    Interval,
    SelectionSpec,
    apply_selection,
    percentile_rank,
    select_keep_fraction,
    select_percentile,
    select_threshold,
)


def test_percentile_rank_average_ties():
    np.testing.assert_allclose(percentile_rank(np.array([10.0, 20.0, 20.0, 30.0])), [0.0, 0.5, 0.5, 1.0])


def test_threshold_inclusive_and_open_bounds():
    s = np.array([0.0, 1.0, 2.0, 3.0])
    assert select_threshold(s, 1.0, 2.0).tolist() == [False, True, True, False]
    assert select_threshold(s, None, 1.0).tolist() == [True, True, False, False]


def test_percentile_band_of_quartiles_keeps_half():
    s = np.random.default_rng(0).normal(size=2225)
    assert select_percentile(s, 0.25, 0.75).sum() == 1113  # ranks 556..1668 inclusive


@pytest.mark.parametrize(("band", "expected"), [("low", [0, 1]), ("middle", [2, 3]), ("high", [4, 5])])
def test_keep_fraction_bands(band, expected):
    s = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    assert np.flatnonzero(select_keep_fraction(s, 2 / 6, band)).tolist() == expected


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 500), st.floats(0, 1), st.sampled_from(["low", "middle", "high", 0.3]), st.integers(0, 3))
def test_keep_fraction_exact_count(n, keep, band, seed):
    s = np.random.default_rng(seed).integers(0, 5, size=n).astype(float)  # many ties
    assert select_keep_fraction(s, keep, band, seed).sum() == round(keep * n)


def test_ties_broken_by_seed_reproducibly():
    s = np.zeros(100)
    a, b, c = (select_keep_fraction(s, 0.1, "low", seed) for seed in (1, 1, 2))
    assert (a == b).all() and not (a == c).all()


def test_300_rows_middle_016_keeps_48():
    assert select_keep_fraction(np.random.default_rng(3).random(300), 0.16, "middle").sum() == 48


def test_bad_bounds_are_input_errors():
    with pytest.raises(EudsInputError):
        select_percentile(np.arange(5.0), 0.8, 0.2)
    with pytest.raises(EudsInputError):
        select_keep_fraction(np.arange(5.0), 1.5)
    with pytest.raises(EudsInputError):
        select_keep_fraction(np.arange(5.0), 0.5, "sideways")


def test_spec_intersection_overrides_and_json_roundtrip():
    scores = pd.DataFrame({"id": list("abcdef"), "x": [0, 1, 2, 3, 4, 5.0], "y": [5, 4, 3, 2, 1, 0.0]})
    spec = SelectionSpec(
        "ds",
        [Interval("x", "threshold", lo=1, hi=4), Interval("y", "threshold", lo=2)],
        overrides={"a": "keep", "c": "drop"},
    )
    mask = apply_selection(spec, scores)
    assert scores["id"][mask].tolist() == ["a", "b", "d"]  # b,c,d in both; c dropped, a forced in
    again = SelectionSpec.from_json(spec.to_json())
    assert again == spec and (apply_selection(again, scores) == mask).all()
    with pytest.raises(EudsInputError, match="no score 'z'"):
        apply_selection(SelectionSpec("ds", [Interval("z")]), scores)
