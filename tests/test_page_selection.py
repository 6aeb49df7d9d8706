"""Issue 18: one selection on every page (URL round trip, sidebar links, pages that cannot show it say so) and
every cached score variant reachable with the settings that made it."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from euds_core.scores import make_scorer
from euds_core.selection.intervals import Interval, select_percentile
from euds_core.storage.cache import DatasetCache, params_hash
from tests.page_helpers import APP, N_ROWS, open_app_test, seed_scores, tiny_dataset, use_model_free_options
from ui.shared.scores import MODEL_FREE_OPTIONS
from ui.shared.selection import SWAPPED_NOTE, Selection, selection_from_params

OTHER_PARAMS = {**make_scorer("information", MODEL_FREE_OPTIONS).params(), "max_tokens": 8}


def _from(params: dict[str, list[str]]) -> Selection | None:
    return selection_from_params("ds", lambda k: (params.get(k) or [None])[0], lambda k: params.get(k, []))


def test_selection_url_round_trip_keeps_every_interval_and_the_variant():
    selection = Selection(
        "ds",
        (
            Interval("igse", "percentile", lo=0.2, hi=0.7),
            Interval("semantic", "threshold", lo=-1.5, hi=2.25),
            Interval("ttr", "keep", keep=0.3, band="high"),
        ),
        variants={"igse": "abc123def456"},
    )
    params = {k: v if isinstance(v, list) else [v] for k, v in selection.to_params().items()}
    assert params["score"] == ["igse"] and params["plo"] == ["0.20"] and len(params["also"]) == 2
    assert _from(params) == selection
    assert _from({"dataset": ["ds"]}) is None  # no score: the session's selection stands


def test_bad_bounds_in_a_link_are_said_not_silently_dropped():
    selection = _from({"score": ["information"], "plo": ["x"], "also": ["semantic:oops"]})
    assert selection.intervals == (Interval("information", "percentile", lo=0.0, hi=1.0),)
    assert len(selection.unknown) == 2 and "not numbers" in selection.unknown[0]


def test_bounds_in_the_wrong_order_are_swapped_and_noted():
    swapped = _from({"score": ["information"], "lo": ["2.5"], "hi": ["-1"]})
    assert swapped.intervals == (Interval("information", "threshold", lo=-1.0, hi=2.5),)
    assert swapped.notes == (SWAPPED_NOTE,) and not swapped.unknown
    member = _from({"score": ["information"], "plo": ["0.1"], "phi": ["0.6"], "also": ["semantic:percentile:0.9:0.2"]})
    assert member.intervals[1] == Interval("semantic", "percentile", lo=0.2, hi=0.9) and member.notes
    in_order = _from({"score": ["information"], "plo": ["0.1"], "phi": ["0.6"], "also": ["ttr:keep:0.9:high"]})
    assert in_order.notes == () and _from({"score": ["information"], "plo": ["0.7"]}).notes == ()


@pytest.fixture
def pages(monkeypatch, tmp_path):
    use_model_free_options(monkeypatch, tmp_path)
    ds = tiny_dataset()
    scores = seed_scores(ds)

    def open_(page: str, **params) -> AppTest:
        return open_app_test(ds.id, page if page != "pages/3_Explore.py" else None, **params)

    return ds, scores, open_


def banner(at: AppTest) -> str:
    return next(i.value for i in at.info if i.value.startswith("Selection:"))


def test_explore_writes_the_selection_review_and_export_show_it(pages):
    ds, scores, open_ = pages
    at = open_("pages/3_Explore.py", score="semantic", plo="0.10", phi="0.60")
    kept = int(select_percentile(scores["semantic"], 0.10, 0.60).sum())
    assert banner(at) == f"Selection: semantic percentile 0.10–0.60 · kept {kept:,} of {N_ROWS:,}"
    at.slider(key="iv_pct_semantic").set_range(0.3, 0.9).run()
    kept = int(select_percentile(scores["semantic"], 0.3, 0.9).sum())
    assert banner(at) == f"Selection: semantic percentile 0.30–0.90 · kept {kept:,} of {N_ROWS:,}"
    # The sidebar links carry the selection the page has just set (drawn after the page ran).
    assert at.query_params["phi"] in ("0.90", ["0.90"])
    at.switch_page("pages/5_Review.py").run()  # a sidebar hop inside the same session, no URL parameters
    assert not at.exception
    assert banner(at).endswith(f"kept {kept:,} of {N_ROWS:,}") and "semantic percentile 0.30–0.90" in banner(at)
    assert at.selectbox(key="review_score").value == "semantic"
    at.switch_page("pages/6_Export.py").run()
    assert not at.exception
    assert "semantic percentile 0.30–0.90" in banner(at)
    assert next(m.value for m in at.metric if m.label == "Rows exported") == f"{kept:,}"


def test_a_link_to_a_score_that_is_not_cached_says_so(pages):
    ds, scores, open_ = pages
    at = open_("pages/5_Review.py", score="igse", plo="0.2", phi="0.7")
    assert any("'igse', which is not cached" in w.value for w in at.warning)
    at = open_("pages/3_Explore.py", score="igse", plo="0.2", phi="0.7")
    assert any("'igse', which is not cached" in w.value for w in at.warning)


def test_a_score_cached_only_with_other_settings_is_listed_and_selectable(pages):
    ds, scores, open_ = pages
    other = np.linspace(5, 6, N_ROWS).astype(np.float32)
    DatasetCache(ds.id).save_score("information", OTHER_PARAMS, other)
    key = params_hash(OTHER_PARAMS)
    at = open_("pages/3_Explore.py", score="information", variant=key, plo="0.0", phi="1.0")
    variant = at.selectbox(key="explore_variant_information")
    assert variant.value == key and "max_tokens=8" in variant.format_func(key)
    assert "information (max_tokens=8)" in banner(at)
    at.slider(key="iv_pct_information").set_range(0.5, 1.0).run()
    assert at.query_params["variant"] in (key, [key])
    at = open_("pages/6_Export.py", score="information", variant=key, plo="0.5", phi="1.0")
    assert "information (max_tokens=8) percentile 0.50–1.00" in banner(at)
    assert next(m.value for m in at.metric if m.label == "Interval keeps") == str(
        int(select_percentile(other, 0.5, 1.0).sum())
    )


def test_switching_to_a_score_with_several_variants_keeps_the_selection(pages):
    """The variant choice of a score first shown after the page opened is initialised without touching the
    current selection (the page once reassigned it to the variant key and failed)."""
    ds, scores, open_ = pages
    DatasetCache(ds.id).save_score("information", OTHER_PARAMS, np.linspace(5, 6, N_ROWS).astype(np.float32))
    at = open_("pages/3_Explore.py", score="semantic", plo="0.10", phi="0.60")
    at.selectbox(key="explore_score").set_value("information").run()
    assert not at.exception, at.exception
    assert len(at.selectbox(key="explore_variant_information").options) == 2
    assert banner(at).startswith("Selection: information")


def test_a_link_to_a_variant_that_is_not_cached_says_so(pages):
    ds, scores, open_ = pages
    at = open_("pages/3_Explore.py", score="information", variant="0123456789ab")
    assert any("variant (0123456789ab) that is not cached" in w.value for w in at.warning)


def test_a_page_that_stops_early_still_has_its_sidebar_links(monkeypatch, tmp_path):
    use_model_free_options(monkeypatch, tmp_path)
    ds = tiny_dataset()  # no scores: Explore shows "Score it" and stops
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["dataset"] = ds.id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(b.key == "explore_score_it" for b in at.button)
    links = at.sidebar.get("page_link")
    assert len(links) == 6, at.sidebar
    assert all(f"dataset={ds.id}" in link.proto.query_string for link in links)


def test_cancel_shows_cancelling_at_once(monkeypatch, tmp_path):
    from euds_core.runtime.jobs import get_job
    from euds_core.storage.store import connect, now

    use_model_free_options(monkeypatch, tmp_path)
    ds = tiny_dataset()
    with connect() as conn:  # a running score job, as a child process would have left it
        conn.execute(
            "INSERT INTO jobs (id, kind, dataset_id, args, status, progress, message, created, updated)"
            " VALUES ('job1', 'score', ?, '{\"scores\": [\"information\"]}', 'running', 0.3, 'information: 30%', ?, ?)",
            (ds.id, now(), now()),
        )
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["dataset"] = ds.id
    at.switch_page("pages/2_Score.py").run()
    assert not at.exception, [e.value for e in at.exception]
    at.button(key="cancel_job1").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert get_job("job1").cancel_requested
    assert at.button(key="cancel_job1").disabled
    assert any("cancelling…" in str(p.proto.text) for p in at.get("progress")), [p.proto for p in at.get("progress")]


def test_the_reviewer_name_survives_a_reload(pages):
    ds, scores, open_ = pages
    at = open_("pages/3_Explore.py", score="information")
    at.text_input(key="reviewer").input("ann").run()
    assert at.query_params["reviewer"] in ("ann", ["ann"])
    assert all("reviewer=ann" in link.proto.query_string for link in at.sidebar.get("page_link"))
    reloaded = open_("pages/3_Explore.py", score="information", reviewer="ann")  # a new session, same URL
    assert reloaded.text_input(key="reviewer").value == "ann"


def test_label_balanced_rides_in_the_url_and_every_page_keeps_it(pages):
    from euds_core.selection.intervals import select_percentile_balanced

    ds, scores, open_ = pages
    labels = ds.table["label"].astype(str).to_numpy()
    assert _from({"score": ["igse"], "plo": ["0.1"], "phi": ["0.4"], "balanced": ["1"]}).intervals[0].label_balanced
    at = open_("pages/3_Explore.py", score="semantic", plo="0.00", phi="0.30", balanced="1")
    assert at.checkbox(key="explore_label_balanced").value is True
    kept = int(select_percentile_balanced(scores["semantic"], labels, 0.0, 0.3).sum())
    assert banner(at) == (f"Selection: semantic percentile 0.00–0.30, within each label · kept {kept:,} of {N_ROWS:,}")
    at.switch_page("pages/6_Export.py").run()
    assert not at.exception
    assert "within each label" in banner(at) and banner(at).endswith(f"kept {kept:,} of {N_ROWS:,}")
    assert next(m.value for m in at.metric if m.label == "Rows exported") == f"{kept:,}"
    at.switch_page("pages/3_Explore.py").run()
    at.checkbox(key="explore_label_balanced").uncheck().run()
    kept = int(select_percentile(scores["semantic"], 0.0, 0.3).sum())
    assert banner(at) == f"Selection: semantic percentile 0.00–0.30 · kept {kept:,} of {N_ROWS:,}"
    assert "balanced" not in at.query_params


def test_a_link_with_its_bounds_in_the_wrong_order_says_they_were_swapped(pages):
    ds, scores, open_ = pages
    at = open_("pages/3_Explore.py", score="semantic", plo="0.60", phi="0.10")
    kept = int(select_percentile(scores["semantic"], 0.10, 0.60).sum())
    assert banner(at) == f"Selection: semantic percentile 0.10–0.60 · kept {kept:,} of {N_ROWS:,}"
    assert [i.value for i in at.info if "swapped" in i.value] == [SWAPPED_NOTE + "."]
    assert at.query_params["plo"] in ("0.10", ["0.10"])  # Explore rewrote the link in order
    at.slider(key="iv_pct_semantic").set_range(0.2, 0.7).run()
    assert not any("swapped" in i.value for i in at.info)  # said once, for the link that was opened
    in_order = open_("pages/5_Review.py", score="semantic", plo="0.10", phi="0.60")
    assert not any("swapped" in i.value for i in in_order.info)
