"""Issue 25, item 6 on Explore: beside the cached map, kept / dropped bars per HDBSCAN cluster and a warning naming
every cluster the interval empties; the subset report shows each figure for the kept rows and for all rows, with
one line on what it means."""

from __future__ import annotations

import numpy as np
import pytest

from euds_core.models.embeddings import compute_embeddings
from euds_core.selection.embed_map import EmbeddingMap, MapParams, _pack, map_path
from euds_core.storage.cache import DatasetCache, save_array
from tests.page_helpers import N_ROWS, open_app_test, seed_scores, tiny_dataset, use_model_free_options
from ui.explore.views import subset_report_table

URL = {"score": "information", "plo": "0.25", "phi": "0.75"}


@pytest.fixture
def mapped(monkeypatch, tmp_path):
    """The tiny dataset, its hashing embeddings and a cached map whose cluster 0 holds the 8 rows of lowest
    information (all below the interval 0.25-0.75), cluster 1 the next 22 rows, the rest noise."""
    import ui.shared.map_view

    use_model_free_options(monkeypatch, tmp_path)
    monkeypatch.setattr(ui.shared.map_view, "_FOUND_MAPS", {})  # the process-wide memo of found maps
    ds = tiny_dataset()
    scores = seed_scores(ds)
    cache = DatasetCache(ds.id)
    embeddings = compute_embeddings(ds.table, encoder="hashing", cache=cache)
    rank = np.argsort(np.argsort(scores["information"]))
    clusters = np.where(rank < 8, 0, np.where(rank < 30, 1, -1)).astype(np.int32)
    coords = np.random.default_rng(0).random((N_ROWS, 2)).astype(np.float32)
    emap = EmbeddingMap(np.arange(N_ROWS), coords, clusters, N_ROWS)
    save_array(map_path(cache, MapParams(), np.asarray(embeddings, dtype=np.float32)), _pack(emap))
    return ds


def test_cluster_bars_and_the_emptied_cluster_warning(mapped):
    at = open_app_test(mapped.id, None, **URL)
    assert any(m.value == "**Kept / dropped per cluster**" for m in at.markdown)
    assert [w.value for w in at.warning if "keeps no row" in w.value] == [
        "The interval keeps no row of 1 cluster: cluster 0 (8 rows). Colour the map by cluster to see where."
    ]
    bars = [c for c in at.get("plotly_chart") if c.key == "explore_cluster_bars"]
    assert len(bars) == 1 and '"cluster 0 (8)"' in bars[0].proto.spec and '"noise (10)"' in bars[0].proto.spec
    at = open_app_test(mapped.id, None, score="information", plo="0.00", phi="0.75")  # keeps cluster 0's rows
    assert not [w for w in at.warning if "keeps no row" in w.value]


def test_the_subset_report_shows_every_figure_for_the_kept_rows_and_for_all_rows(mapped):
    at = open_app_test(mapped.id, None, **URL)
    at.button(key="explore_subset_report").click().run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "what it means" in d.value.columns)
    assert list(table.columns) == ["figure", "kept", "all rows", "what it means"]
    figures = dict(zip(table["figure"], zip(table["kept"], table["all rows"], strict=True), strict=True))
    assert figures["Rows"] == ("20", "40") and figures["Cluster coverage"][1] == "100%"
    assert {"Vendi score", "Cluster balance", "Label balance", "Mean information"} <= set(figures)
    assert all(table["what it means"].str.len() > 10) and all(table["all rows"] != "")


def test_the_report_table_from_a_plain_report():
    report = {"n_kept": 3, "n_pool": 10, "label_balance": 0.5, "label_balance_pool": 0.9}
    table = subset_report_table(report)
    assert table.values.tolist()[1][:3] == ["Label balance", "0.50", "0.90"]


def test_score_means_show_the_same_number_of_digits_for_kept_and_all_rows():
    report = {"n_kept": 3, "n_pool": 10, "score_means": {"information": {"kept": 3.29996, "pool": 3.2114}}}
    assert subset_report_table(report).values.tolist()[1][:3] == ["Mean information", "3.300", "3.211"]
