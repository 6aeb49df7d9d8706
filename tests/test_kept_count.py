"""One kept count (issue 25, item 7): the interval's rows, then the review's overrides, counted by one rule
(``euds_core/selection/kept_count.py``) and shown as the same number, with the overrides named, in the banner and
body of Explore, on Review and on Export, which writes exactly that many rows."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from euds_core.curation.decision_log import set_decision
from euds_core.selection.intervals import Interval, SelectionSpec, apply_selection, select_percentile
from euds_core.selection.kept_count import apply_overrides, kept_count
from tests.page_helpers import N_ROWS, open_app_test, seed_scores, tiny_dataset, use_model_free_options


def test_the_count_names_what_the_overrides_changed():
    in_interval = np.array([True, True, True, False, False])
    ids = np.array(["a", "b", "c", "d", "e"])
    count = kept_count(in_interval, ids, {"a": "drop", "b": "keep", "d": "keep", "zz": "drop"})
    assert (count.by_interval, count.kept, count.manual_keeps, count.manual_drops) == (3, 3, 1, 1)
    assert count.breakdown() == "3 by the interval, +1 manual keep, −1 manual drop = 3"  # b agrees: no change
    big = kept_count(np.arange(3000) < 2763, np.arange(3000), {"5": "drop", "7": "drop", "2900": "drop"})
    assert big.breakdown() == "2,763 by the interval, −2 manual drops = 2,761"
    assert (
        kept_count(in_interval, ids, {"b": "keep"}).breakdown() == "3" and not kept_count(in_interval, ids, {}).changed
    )


def test_the_export_rule_is_the_count_rule():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(50)], "s": rng.random(50)})
    overrides = {"r1": "drop", "r2": "keep", "r3": "drop", "nope": "keep"}
    spec = SelectionSpec("ds", [Interval("s", "percentile", lo=0.2, hi=0.6)], overrides=overrides)
    before = apply_selection(SelectionSpec("ds", spec.intervals), frame)
    after = apply_selection(spec, frame)
    assert np.array_equal(after, apply_overrides(before, frame["id"], overrides))
    assert kept_count(before, frame["id"], overrides).kept == int(after.sum())


@pytest.fixture
def overridden(monkeypatch, tmp_path):
    """The tiny dataset with information percentile 0.25–0.75 and three overrides: one drops a kept row, one keeps
    a dropped row, one keep agrees with the interval (it changes no count)."""
    use_model_free_options(monkeypatch, tmp_path)
    ds = tiny_dataset()
    scores = seed_scores(ds)
    in_interval = select_percentile(scores["information"], 0.25, 0.75)
    ids = ds.table["id"].astype(str).to_numpy()
    inside, outside = ids[in_interval], ids[~in_interval]
    for sample_id, decision in ((inside[0], "drop"), (outside[0], "keep"), (inside[1], "keep"), (inside[2], "drop")):
        set_decision(ds.id, sample_id, decision, reviewer="ann")
    by_interval = int(in_interval.sum())
    return ds, by_interval, by_interval + 1 - 2


def texts(at) -> list[str]:
    return [e.value for kind in ("info", "markdown", "caption", "text") for e in getattr(at, kind)]


def test_explore_review_and_export_show_one_number_and_name_the_overrides(overridden):
    ds, by_interval, kept = overridden
    named = f"{by_interval:,} by the interval, +1 manual keep, −2 manual drops = {kept:,}"
    url = {"score": "information", "plo": "0.25", "phi": "0.75"}
    explore = open_app_test(ds.id, None, **url)
    review = open_app_test(ds.id, "pages/5_Review.py", **url)
    export = open_app_test(ds.id, "pages/6_Export.py", **url)
    for at in (explore, review, export):
        banner = next(i.value for i in at.info if i.value.startswith("Selection:"))
        assert banner.endswith(f"kept {kept:,} of {N_ROWS:,} ({named})"), banner
        assert any(named in t for t in texts(at) if not t.startswith("Selection:")), "the body names the overrides"
    assert any(re.search(rf"^### Kept {kept:,} of {N_ROWS:,}$", m.value) for m in explore.markdown)
    assert next(m.value for m in review.metric if m.label == "Kept") == f"{kept:,}"
    assert next(m.value for m in export.metric if m.label == "Rows exported") == f"{kept:,}"
    assert next(m.value for m in export.metric if m.label == "Interval keeps") == f"{by_interval:,}"
    assert not export.error
