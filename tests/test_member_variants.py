"""Issue 26 item 9: every member of an intersection keeps its own score variant, in the URL and on every page.

The acceptance case: an intersection whose second member reads a non-default variant, built on Explore and
followed to Export, exports exactly the rows that variant selects (and not the default variant's rows).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from euds_core.curation.export import rebuild_from_manifest
from euds_core.scores import make_scorer
from euds_core.selection.intervals import Interval, select_percentile
from euds_core.storage.cache import DatasetCache, params_hash
from tests.page_helpers import N_ROWS, open_app_test, seed_scores, tiny_dataset, use_model_free_options
from ui.shared.scores import MODEL_FREE_OPTIONS
from ui.shared.selection import Selection, selection_from_params

OTHER_SEMANTIC = {**make_scorer("semantic", MODEL_FREE_OPTIONS).params(), "k": 4}  # "another encoder or k"
OTHER_KEY = params_hash(OTHER_SEMANTIC)


def _from(params: dict[str, list[str]]) -> Selection | None:
    return selection_from_params("ds", lambda k: (params.get(k) or [None])[0], lambda k: params.get(k, []))


def _as_lists(selection: Selection) -> dict[str, list[str]]:
    return {k: v if isinstance(v, list) else [v] for k, v in selection.to_params().items()}


def test_every_members_variant_round_trips_through_the_url():
    selection = Selection(
        "ds",
        (Interval("information", "percentile", lo=0.0, hi=0.7), Interval("semantic", "percentile", lo=0.5, hi=1.0)),
        variants={"information": "", "semantic": OTHER_KEY},
    )
    params = _as_lists(selection)
    assert "variant" not in params  # the first member reads the page's own settings
    assert params["also"] == [f"semantic@{OTHER_KEY}:percentile:0.5:1"]
    again = _from(params)
    assert again == selection and again.variant_map() == {"information": "", "semantic": OTHER_KEY}
    both = Selection("ds", selection.intervals, variants={"information": "abc123def456", "semantic": OTHER_KEY})
    assert _from(_as_lists(both)).variants == (("information", "abc123def456"), ("semantic", OTHER_KEY))


def test_a_link_from_before_member_variants_still_reads_the_same():
    old = {"score": ["information"], "variant": ["abc123def456"], "plo": ["0.2"], "phi": ["0.7"]}
    old["also"] = ["semantic:percentile:0.1:0.9"]
    selection = _from(old)
    assert selection.intervals[1] == Interval("semantic", "percentile", lo=0.1, hi=0.9)
    assert selection.variant_map() == {"information": "abc123def456", "semantic": ""}
    assert _as_lists(selection) == {**old, "dataset": ["ds"], "plo": ["0.20"], "phi": ["0.70"]}


@pytest.fixture
def seeded(monkeypatch, tmp_path):
    use_model_free_options(monkeypatch, tmp_path)
    ds = tiny_dataset()
    scores = seed_scores(ds)
    # The other variant ranks the rows in the opposite order: its upper half is the default's lower half.
    other = (3.0 - scores["semantic"]).astype(np.float32)
    DatasetCache(ds.id).save_score("semantic", OTHER_SEMANTIC, other)
    return ds, scores, other


def _banner(at: AppTest) -> str:
    return next(i.value for i in at.info if i.value.startswith("Selection:"))


def _explore_intersection(ds) -> AppTest:
    """On Explore: semantic set to the other variant and its upper half, then information 0–0.7 intersected
    with it, the way a user does it (the variant is chosen while semantic is the active score)."""
    at = open_app_test(ds.id, None, score="semantic")
    at.selectbox(key="explore_variant_semantic").set_value(OTHER_KEY).run()
    at.slider(key="iv_pct_semantic").set_range(0.5, 1.0).run()
    at.selectbox(key="explore_score").set_value("information").run()  # semantic's variant box is no longer drawn
    at.slider(key="iv_pct_information").set_range(0.0, 0.7).run()
    at.radio(key="explore_combine").set_value("Intersection").run()
    at.multiselect(key="explore_members").set_value(["semantic"]).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _exported_ids(at: AppTest) -> list[str]:
    at.button(key="export_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    path = Path(at.session_state["export_saved"][0])
    return sorted(pd.read_json(path, lines=True)["id"].astype(str))


def test_an_intersection_with_a_non_default_variant_followed_to_export(seeded):
    ds, scores, other = seeded
    ids = ds.table["id"].astype(str).to_numpy()
    information = select_percentile(scores["information"], 0.0, 0.7)
    expected = sorted(ids[information & select_percentile(other, 0.5, 1.0)])
    with_default = sorted(ids[information & select_percentile(scores["semantic"], 0.5, 1.0)])
    assert expected and expected != with_default  # the test can tell the two variants apart

    at = _explore_intersection(ds)
    assert at.query_params["also"] in (
        f"semantic@{OTHER_KEY}:percentile:0.5:1",
        [f"semantic@{OTHER_KEY}:percentile:0.5:1"],
    )
    assert "semantic (k=4) percentile 0.50–1.00" in _banner(at), _banner(at)
    assert _banner(at).endswith(f"kept {len(expected)} of {N_ROWS}")
    link = dict(at.query_params)

    at.switch_page("pages/5_Review.py").run()  # a sidebar hop, same session
    assert not at.exception, [e.value for e in at.exception]
    assert "semantic (k=4)" in _banner(at) and _banner(at).endswith(f"kept {len(expected)} of {N_ROWS}")
    at.switch_page("pages/4_Fine_tune.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("semantic (k=4) percentile 0.50–1.00" in i.value for i in at.info)
    at.switch_page("pages/6_Export.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "semantic (k=4)" in _banner(at)
    assert _exported_ids(at) == expected
    # The manifest names the variant each member read, so `select --manifest` rebuilds the same rows.
    saved = Path(at.session_state["export_saved"][0])
    manifest = json.loads((saved.parent / "manifest.json").read_text())
    assert {s["name"]: s["params"] for s in manifest["scorers"]}["semantic"] == OTHER_SEMANTIC
    rebuilt = rebuild_from_manifest(saved.parent / "manifest.json", saved.parent / "rebuilt.jsonl")
    assert sorted(pd.read_json(rebuilt.path, lines=True)["id"].astype(str)) == expected

    shared = open_app_test(ds.id, "pages/6_Export.py", **{k: v for k, v in link.items() if k != "dataset"})
    assert "semantic (k=4)" in _banner(shared)  # a fresh session opening the shared link
    assert _exported_ids(shared) == expected


def test_a_variant_chosen_on_one_dataset_is_not_asked_of_another(seeded):
    """Explore remembers member variants per dataset: another dataset, which lacks that variant, opens without
    a "variant not cached" notice and reads its own scores."""
    from euds_core.data.datasets import save_dataset
    from euds_core.data.table import Dataset, normalise_table

    ds, scores, other = seeded
    at = _explore_intersection(ds)
    raw = pd.DataFrame({"text": [f"other text {i} " * (1 + i % 4) for i in range(N_ROWS)], "label": ["a", "b"] * 20})
    table, _ = normalise_table(raw, text_col="text", label_col="label")
    second = Dataset(name="second.csv", task="classification", table=table, source="test")
    save_dataset(second)
    seed_scores(second)
    at.query_params.clear()
    at.query_params["dataset"] = second.id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not any("not cached" in w.value for w in at.warning), [w.value for w in at.warning]
    assert "(k=4)" not in _banner(at)
