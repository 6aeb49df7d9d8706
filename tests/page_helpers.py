"""Helpers for the AppTest page tests: a tiny labelled dataset in the workspace, scores written into the cache."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from euds_core.data.datasets import save_dataset
from euds_core.data.table import Dataset, normalise_table
from euds_core.scores import make_scorer
from euds_core.storage.cache import DatasetCache
from ui.shared.scores import MODEL_FREE_OPTIONS, SCORE_OPTIONS_ENV

APP = str(__import__("pathlib").Path(__file__).resolve().parents[1] / "app.py")
N_ROWS = 40


def tiny_dataset() -> Dataset:
    """40 short texts, two labels; saved in the workspace so pages find it by id."""
    rng = np.random.default_rng(0)
    words = "cat dog sun moon red blue fast slow big small the a on in".split()
    texts = [" ".join(rng.choice(words, size=3 + i % 9)) + f" row{i}" for i in range(N_ROWS)]
    raw = pd.DataFrame({"text": texts, "label": ["pos" if i % 3 else "neg" for i in range(N_ROWS)]})
    table, _ = normalise_table(raw, text_col="text", label_col="label")
    ds = Dataset(name="tiny.csv", task="classification", table=table, source="test")
    save_dataset(ds)
    return ds


def seed_scores(ds: Dataset, names=("information", "semantic")) -> dict[str, np.ndarray]:
    """Write distinct, evenly spread score arrays straight into the cache under the model-free params."""
    out = {}
    for k, name in enumerate(names):
        values = np.random.default_rng(k).permutation(np.linspace(0, 1 + k, len(ds.table))).astype(np.float32)
        DatasetCache(ds.id).save_score(name, make_scorer(name, MODEL_FREE_OPTIONS).params(), values)
        out[name] = values
    return out


def use_model_free_options(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("EUDS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(SCORE_OPTIONS_ENV, json.dumps(MODEL_FREE_OPTIONS))
    import streamlit as st

    import ui.shared.state

    # AppTest resets Streamlit's legacy pages/-mode flag before every run, so the server's one-time rerun out of
    # that mode (ui.shared.state.ensure_app_navigation) would swallow each button click; the pages run fine without it.
    monkeypatch.setattr(ui.shared.state, "ensure_app_navigation", lambda: None)
    st.cache_data.clear()
    st.cache_resource.clear()


def open_app_test(dataset_id: str, page: str | None = None, **params) -> AppTest:
    """Run the app once with ``?dataset=...`` and ``params`` in the URL (on ``page`` when given, else the page
    the app opens); the run must raise nothing."""
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in {"dataset": dataset_id, **params}.items():
        at.query_params[k] = v
    if page is not None:
        at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at
