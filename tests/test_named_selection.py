"""Saving a named selection on Explore makes ``export --selection NAME`` rebuild the same rows."""

from __future__ import annotations

import pandas as pd

from euds_core.cli import main
from euds_core.curation.selections import list_selections, load_selection
from euds_core.selection.intervals import select_percentile
from tests.page_helpers import open_app_test, seed_scores, tiny_dataset, use_model_free_options


def test_a_selection_saved_on_explore_exports_the_same_rows(monkeypatch, tmp_path):
    use_model_free_options(monkeypatch, tmp_path)
    ds = tiny_dataset()
    scores = seed_scores(ds)
    at = open_app_test(ds.id, score="information", plo="0.25", phi="0.75")
    at.text_input(key="explore_selection_name").set_value("middle half").run()
    at.button(key="explore_save_selection").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert list_selections(ds.id) == ["middle half"]
    spec = load_selection(ds.id, "middle half")
    assert [(i.score, i.mode, i.lo, i.hi) for i in spec.intervals] == [("information", "percentile", 0.25, 0.75)]
    assert any("Saved as: middle half" in t.value for t in at.text)

    out = tmp_path / "subset.csv"
    argv = ["export", ds.id, "--selection", "middle half", "--tokenizer", "whitespace", "--encoder", "hashing"]
    assert main([*argv, "--out", str(out)]) == 0
    expected = ds.table["id"][select_percentile(scores["information"], 0.25, 0.75)]
    assert sorted(pd.read_csv(out)["id"]) == sorted(expected)


def test_an_empty_name_is_refused_with_a_message(monkeypatch, tmp_path):
    use_model_free_options(monkeypatch, tmp_path)
    ds = tiny_dataset()
    seed_scores(ds)
    at = open_app_test(ds.id, score="information", plo="0.25", phi="0.75")
    at.button(key="explore_save_selection").click().run()
    assert not at.exception
    assert list_selections(ds.id) == []
    assert any("needs a name" in e.value for e in at.error)
