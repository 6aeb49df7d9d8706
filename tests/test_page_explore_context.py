"""Issue 25: Explore warns when the interval moves a label's share by more than 5 points and switches to the
label-balanced interval in one click."""

from __future__ import annotations

import numpy as np

from euds_core.scores import make_scorer
from euds_core.storage.cache import DatasetCache
from tests.page_helpers import open_app_test, tiny_dataset, use_model_free_options
from ui.shared.scores import MODEL_FREE_OPTIONS


def test_a_label_share_shift_warns_and_one_click_balances(monkeypatch, tmp_path):
    use_model_free_options(monkeypatch, tmp_path)
    ds = tiny_dataset()
    neg = (ds.table["label"] == "neg").to_numpy()
    values = np.where(neg, 0.0, 1.0) + np.linspace(0, 0.5, len(neg))  # every neg row below every pos row
    params = make_scorer("information", MODEL_FREE_OPTIONS).params()
    DatasetCache(ds.id).save_score("information", params, values.astype(np.float32))
    at = open_app_test(ds.id, score="information", plo="0.5", phi="1.0")
    warnings = [w.value for w in at.warning if "moves the share of label" in w.value]
    assert warnings and "35.0 pt" in warnings[0], warnings
    at.button(key="explore_balance_now").click().run()
    assert not at.exception
    assert not [w for w in at.warning if "moves the share of label" in w.value]
    assert at.query_params["balanced"] in ("1", ["1"])


def test_review_says_why_a_row_is_out():
    from ui.review.data import row_reasons

    values = np.array([0.1, 0.5, 0.6, 0.9, 0.55, 0.2])
    in_interval = np.array([False, True, True, False, False, False])
    overrides = np.array(["", "", "", "", "", "keep"])
    assert row_reasons(overrides, in_interval, values).tolist() == [
        "below the interval",
        "in the interval",
        "in the interval",
        "above the interval",
        "out: another interval or its label's band",  # inside the kept range, yet out: an intersection or a label band
        "review override: keep",
    ]
