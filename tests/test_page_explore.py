"""AppTest of the Explore page: URL state, slider / mode / combination widgets change the kept count."""

from __future__ import annotations

import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from euds_core.selection.intervals import select_percentile
from tests.page_helpers import APP, N_ROWS, open_app_test, seed_scores, tiny_dataset, use_model_free_options

KEPT = re.compile(r"Kept ([\d,]+) of ([\d,]+)")


def kept(at) -> int:
    texts = [m.value for m in at.markdown if KEPT.search(m.value)]
    assert texts, "no 'Kept K of N' on the page"
    k, n = (s.replace(",", "") for s in KEPT.search(texts[0]).groups())
    assert int(n) == N_ROWS
    return int(k)


@pytest.fixture
def explore(monkeypatch, tmp_path):
    use_model_free_options(monkeypatch, tmp_path)
    ds = tiny_dataset()
    scores = seed_scores(ds)

    def open_(**params) -> AppTest:
        return open_app_test(ds.id, **params)

    return ds, scores, open_


def test_url_percentiles_give_the_select_count_and_the_slider_changes_it(explore):
    ds, scores, open_ = explore
    at = open_(score="information", plo="0.25", phi="0.75")
    assert kept(at) == int(select_percentile(scores["information"], 0.25, 0.75).sum())
    at.slider(key="iv_pct_information").set_range(0.0, 0.5).run()
    assert not at.exception
    assert kept(at) == int(select_percentile(scores["information"], 0.0, 0.5).sum())
    assert at.query_params["plo"] in ("0.00", ["0.00"]) and at.query_params["phi"] in ("0.50", ["0.50"])


def test_raw_value_url_and_keep_fraction_mode(explore):
    ds, scores, open_ = explore
    at = open_(score="information", lo="0.2", hi="0.4")
    values = scores["information"]
    assert kept(at) == int(((values >= 0.2) & (values <= 0.4)).sum())
    at.radio(key="iv_mode_information").set_value("keep").run()
    at.slider(key="iv_keep_information").set_value(0.3).run()
    assert not at.exception
    assert kept(at) == round(0.3 * N_ROWS)


def test_switching_score_and_intersection(explore):
    ds, scores, open_ = explore
    at = open_(score="information", plo="0.0", phi="0.5")
    k_info = kept(at)
    at.radio(key="explore_combine").set_value("Intersection").run()
    at.selectbox(key="explore_score").set_value("semantic").run()
    at.slider(key="iv_pct_semantic").set_range(0.5, 1.0).run()
    assert not at.exception
    both = select_percentile(scores["information"], 0.0, 0.5) & select_percentile(scores["semantic"], 0.5, 1.0)
    assert kept(at) == int(both.sum()) < k_info


def test_rank_mean_combination(explore):
    ds, scores, open_ = explore
    at = open_()
    at.radio(key="explore_combine").set_value("Rank mean").run()
    assert not at.exception
    assert kept(at) == N_ROWS
    key = next(s.key for s in at.slider if s.key and s.key.startswith("iv_pct_rank mean"))
    at.slider(key=key).set_range(0.5, 1.0).run()
    assert 0 < kept(at) < N_ROWS


def test_no_cached_scores_offers_score_it(monkeypatch, tmp_path):
    use_model_free_options(monkeypatch, tmp_path)
    ds = tiny_dataset()
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["dataset"] = ds.id
    at.run()
    assert not at.exception
    assert any(b.key == "explore_score_it" for b in at.button)


def test_unknown_dataset_shows_an_error_not_an_exception(monkeypatch, tmp_path):
    use_model_free_options(monkeypatch, tmp_path)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["dataset"] = "/no/such/file.csv"
    at.run()
    assert not at.exception
    assert at.error and "neither a built-in" in at.error[0].value
    assert np.all([not m.value.startswith("### Kept") for m in at.markdown])


def report_tables(at) -> list:
    """The subset report's tables on the page (figure, kept, all rows, what it means)."""
    return [d.value for d in at.dataframe if "what it means" in d.value.columns]


def test_subset_report_button_shows_diversity_and_balance_for_this_interval_only(explore):
    from euds_core.models.embeddings import compute_embeddings
    from euds_core.storage.cache import DatasetCache

    ds, scores, open_ = explore
    compute_embeddings(ds.table, encoder="hashing", cache=DatasetCache(ds.id))  # what the semantic score caches
    at = open_(score="information", plo="0.0", phi="0.5")
    assert not report_tables(at)  # not computed on every run
    at.button(key="explore_subset_report").click().run()
    assert not at.exception, [e.value for e in at.exception]
    figures = report_tables(at)[0].set_index("figure")
    assert float(figures.loc["Vendi score", "kept"]) >= 1.0 and float(figures.loc["Vendi score", "all rows"]) >= 1.0
    assert 0 <= float(figures.loc["Label balance", "kept"]) <= 1
    at.slider(key="iv_pct_information").set_range(0.2, 0.9).run()  # another interval: no stale report shown
    assert not report_tables(at)
    assert any("interval changed since the last subset report" in c.value for c in at.caption)


@pytest.mark.slow
def test_page_works_at_one_million_rows(monkeypatch, tmp_path):
    """Issue 8: the Explore page stays usable at 1 M rows (counts exact after a slider change, no exception)."""
    import pandas as pd

    from euds_core.data.datasets import save_dataset
    from euds_core.data.table import Dataset
    from euds_core.scores import make_scorer
    from euds_core.storage.cache import DatasetCache
    from ui.shared.scores import MODEL_FREE_OPTIONS

    use_model_free_options(monkeypatch, tmp_path)
    n = 1_000_000
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "text": [f"text {i}" for i in range(n)]})
    table["label"] = np.where(rng.random(n) < 0.5, "a", "b")
    dataset_id = save_dataset(Dataset("big", "classification", table))
    values = rng.normal(size=n).astype(np.float32)
    DatasetCache(dataset_id).save_score("information", make_scorer("information", MODEL_FREE_OPTIONS).params(), values)
    at = AppTest.from_file(APP, default_timeout=300)
    for k, v in {"dataset": dataset_id, "score": "information", "plo": "0.25", "phi": "0.75"}.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Kept 500,000 of 1,000,000" in m.value for m in at.markdown)
    at.slider(key="iv_pct_information").set_range(0.1, 0.5).run()
    assert not at.exception
    assert any("Kept 400,000 of 1,000,000" in m.value for m in at.markdown)


def test_a_recipe_becomes_the_intersection_and_a_bad_one_is_said(explore):
    ds, scores, open_ = explore
    at = open_(score="information")
    at.radio(key="explore_combine").set_value("Intersection").run()
    at.text_input(key="explore_recipe").input("drop semantic; drop el2n above p50").run()
    at.button(key="explore_recipe_apply").click().run()
    assert not at.exception and any("cannot read the recipe part" in e.value for e in at.error)
    recipe = "drop information below p25; drop semantic above p50; one per near-duplicate group"
    at.text_input(key="explore_recipe").input(recipe).run()
    at.button(key="explore_recipe_apply").click().run()
    assert not at.exception, [e.value for e in at.exception]
    both = select_percentile(scores["information"], 0.25, 1.0) & select_percentile(scores["semantic"], 0.0, 0.5)
    assert kept(at) == int(both.sum()) < N_ROWS
    assert any("one per near-duplicate group" in c.value for c in at.caption)  # what Explore leaves out is said


def test_samples_count_the_rows_the_headline_keeps_after_a_review_drop(explore):
    """A review drop inside the interval: the Samples' 'Kept (N rows)' must agree with 'Kept K of N' (it showed
    the interval's count, one more than the headline)."""
    from euds_core.curation.decision_log import set_decision

    ds, scores, open_ = explore
    in_interval = select_percentile(scores["information"], 0.25, 0.75)
    set_decision(ds.id, str(ds.table["id"].iloc[int(np.flatnonzero(in_interval)[0])]), "drop", reviewer="ann")
    at = open_(score="information", plo="0.25", phi="0.75")
    assert not at.exception
    assert kept(at) == int(in_interval.sum()) - 1
    titles = [m.value for m in at.markdown if m.value.startswith("**Kept** (")]
    assert titles == [f"**Kept** ({kept(at):,} rows)"], titles


def test_switching_the_bounds_mode_keeps_the_rows_the_old_mode_kept(explore):
    """Percentile 0.25-0.75 then 'Raw value': the raw slider starts at those rows' score range (it started at the
    full range, keeping every row), and back to percentile or to a keep fraction keeps about the same rows."""
    ds, scores, open_ = explore
    values = np.asarray(scores["information"])
    at = open_(score="information", plo="0.25", phi="0.75")
    before = kept(at)
    in_pct = select_percentile(values, 0.25, 0.75)
    at.radio(key="iv_mode_information").set_value("threshold").run()
    assert not at.exception
    lo, hi = at.slider(key="iv_raw_information").value
    assert (lo, hi) == pytest.approx((values[in_pct].min(), values[in_pct].max()))
    assert kept(at) == int(((values >= lo) & (values <= hi)).sum()) and before <= kept(at) < N_ROWS
    at.radio(key="iv_mode_information").set_value("percentile").run()
    assert abs(kept(at) - before) <= 0.02 * N_ROWS
    at.radio(key="iv_mode_information").set_value("keep").run()
    assert at.slider(key="iv_keep_information").value == pytest.approx(round(kept(at) / N_ROWS, 2))
    assert abs(kept(at) - before) <= 0.02 * N_ROWS


def test_raw_bounds_outside_every_value_are_said_not_silently_moved(explore):
    """A link's raw interval above every value keeps no row (as Export shows it); Explore's slider can only hold
    bounds inside the values, so it must say that it shows other bounds."""
    ds, scores, open_ = explore
    top = float(np.max(scores["information"]))
    at = open_(score="information", lo=str(top + 5), hi=str(top + 9))
    assert not at.exception
    assert any("lie outside every information value" in w.value for w in at.warning), [w.value for w in at.warning]
    at = open_(score="information", lo="0.2", hi=str(top + 9))  # reaches past the values: same rows, nothing to say
    assert not [w for w in at.warning if "lie outside" in w.value]


def test_label_balance_counts_the_rows_the_headline_keeps_after_a_review_keep(explore):
    """A review keep outside the interval: the label balance table's kept rows add up to 'Kept K of N'."""
    from euds_core.curation.decision_log import set_decision

    ds, scores, open_ = explore
    in_interval = select_percentile(scores["information"], 0.25, 0.75)
    set_decision(ds.id, str(ds.table["id"].iloc[int(np.flatnonzero(~in_interval)[0])]), "keep", reviewer="ann")
    at = open_(score="information", plo="0.25", phi="0.75")
    assert not at.exception
    assert kept(at) == int(in_interval.sum()) + 1
    balance = next(d.value for d in at.dataframe if "kept %" in d.value.columns)
    assert int(balance["kept"].sum()) == kept(at)
