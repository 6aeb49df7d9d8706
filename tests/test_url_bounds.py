"""Typed bounds keep the precision the widgets accept: a URL's 0.125 acts as 0.12 on every run, never 0.125 first."""

from __future__ import annotations

import numpy as np
import pytest

from euds_core.selection.intervals import select_percentile
from ui.shared.selection import Selection, interval_from_params


@pytest.mark.parametrize(("typed", "kept"), [("0.125", 0.12), ("0.135", 0.14), ("0.5", 0.5), ("1.7", 1.0)])
def test_a_typed_percentile_bound_is_the_sliders_value_from_the_first_run(typed, kept):
    first = interval_from_params("information", {"plo": typed, "phi": "0.9"})
    assert first.lo == pytest.approx(kept) or first.hi == pytest.approx(kept)
    again = interval_from_params("information", Selection("d", (first,)).to_params())  # the URL a rerun reads
    assert (again.lo, again.hi) == pytest.approx((first.lo, first.hi))
    values = np.random.default_rng(0).random(1000)
    assert np.array_equal(
        select_percentile(values, first.lo, first.hi), select_percentile(values, again.lo, again.hi)
    )  # the same rows on the first run and every rerun


def test_a_typed_keep_fraction_keeps_the_sliders_precision():
    first = interval_from_params("information", {"keep": "0.125", "band": "low"})
    again = interval_from_params("information", Selection("d", (first,)).to_params())
    assert first.keep == pytest.approx(0.12) and again.keep == pytest.approx(first.keep)
    assert interval_from_params("information", {"keep": "0.001"}).keep == pytest.approx(0.01)
