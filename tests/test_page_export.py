"""AppTest of the Export page: the manifest preview matches the download, and the interval + review are applied."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from euds_core.curation.decision_log import set_decision
from euds_core.curation.export import rebuild_from_manifest
from euds_core.data.datasets import save_dataset
from euds_core.data.table import Dataset
from euds_core.scoring.engine import score_dataset

REPO_ROOT = Path(__file__).resolve().parents[1]
OPTIONS = {"tokenizer": "whitespace"}


@pytest.fixture
def dataset() -> Dataset:
    table = pd.DataFrame(
        {
            "id": [f"s{i}" for i in range(24)],
            "text": [" ".join(f"w{j % (i % 6 + 1)}" for j in range(3 + i % 9)) for i in range(24)],
            "label": ["pos" if i % 3 else "neg" for i in range(24)],
        }
    )
    ds = Dataset(name="tiny.csv", task="classification", table=table)
    save_dataset(ds)
    score_dataset(ds, ["information"], options=OPTIONS)
    return ds


def open_page(ds: Dataset, **query) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "pages" / "6_Export.py"), default_timeout=60)
    at.session_state["dataset_spec"] = ds.id
    at.session_state["score_options"] = OPTIONS
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_export_page_manifest_matches_interval_and_review(dataset, workspace):
    set_decision(dataset.id, "s0", "keep")
    set_decision(dataset.id, "s1", "drop")
    at = open_page(dataset, score="information", plo="0.25", phi="0.75")
    assert not at.exception, at.exception
    manifest = json.loads(at.json[0].value)
    assert manifest["dataset"]["id"] == dataset.id
    assert manifest["bounds"][0] == {
        "score": "information",
        "mode": "percentile",
        "lo": 0.25,
        "hi": 0.75,
        "keep": None,
        "band": "middle",
        "label_balanced": False,
    }
    assert manifest["override_count"] == 2 and manifest["spec"]["overrides"] == {"s0": "keep", "s1": "drop"}
    assert manifest["subset"]["format"] == "jsonl" and manifest["subset"]["file"] == "tiny-subset.jsonl"
    assert metric(at, "Rows exported") == str(manifest["subset"]["rows"])
    assert metric(at, "Review overrides") == "2"

    # "Save both to the workspace" writes files whose rebuild from the manifest is byte-identical.
    at.button(key="export_save").click().run()
    assert not at.exception, at.exception
    saved = next(workspace.joinpath("exports").rglob("tiny-subset.jsonl"))
    assert json.loads((saved.parent / "manifest.json").read_text())["subset"]["sha256"] == manifest["subset"]["sha256"]
    rebuilt = rebuild_from_manifest(saved.parent / "manifest.json", workspace / "rebuilt.jsonl")
    assert (workspace / "rebuilt.jsonl").read_bytes() == saved.read_bytes()
    assert rebuilt.manifest["matches"]["bytes"]


def test_export_page_formats(dataset):
    at = open_page(dataset)
    for fmt in ("csv", "parquet", "hf"):
        at.radio(key="export_format").set_value(fmt).run()
        assert not at.exception, at.exception
        manifest = json.loads(at.json[0].value)
        assert manifest["subset"]["format"] == fmt
        assert manifest["subset"]["rows"] == 24  # no interval in the URL: every row


def test_export_format_survives_a_reload(dataset):
    """The format chosen is in the URL (a reload, a shared link) and a fresh session opened on that URL shows it;
    a format the page does not know falls back to JSONL without an error."""
    at = open_page(dataset)
    at.radio(key="export_format").set_value("csv").run()
    assert at.query_params["export_format"] in ("csv", ["csv"])  # AppTest keeps a list per parameter
    again = open_page(dataset, export_format="csv")
    assert again.radio(key="export_format").value == "csv"
    assert json.loads(again.json[0].value)["subset"]["format"] == "csv"
    odd = open_page(dataset, export_format="xlsx")
    assert not odd.exception and odd.radio(key="export_format").value == "jsonl"
