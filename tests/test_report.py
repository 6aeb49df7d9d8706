"""The HTML selection report: self-contained, escaped, with label balance and the fine-tune curve when runs exist."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import pytest

import ui.export.view
from euds_core.curation.html_report import build_report_html, label_balance
from euds_core.data.table import Dataset
from euds_core.selection.intervals import Interval, SelectionSpec
from euds_core.storage import store
from ui.export.view import finetune_evidence, report_html
from ui.shared.verdict_wording import Q_EXPLANATION


def tiny() -> tuple[Dataset, pd.DataFrame, SelectionSpec]:
    table = pd.DataFrame(
        {
            "id": [f"s{i}" for i in range(12)],
            "text": ["<script>alert('x')</script> & friends" if i == 3 else f"sample number {i}" for i in range(12)],
            "label": ["a" if i < 8 else "b" for i in range(12)],
        }
    )
    ds = Dataset(name="tiny<>", task="classification", table=table)
    scores = pd.DataFrame({"information": np.arange(12, dtype=np.float32)})
    spec = SelectionSpec(
        ds.id, [Interval("information", "threshold", lo=2.0, hi=9.0)], overrides={"s0": "keep", "s5": "drop"}
    )
    return ds, scores, spec


def test_report_is_self_contained_and_escaped():
    ds, scores, spec = tiny()
    page = build_report_html(ds, scores, spec, map_xy=np.random.default_rng(0).normal(size=(12, 2)))
    assert page.startswith("<!DOCTYPE html>")
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; friends" in page
    assert "tiny&lt;&gt;" in page
    assert "<script src=" not in page and "Plotly" in page  # plotly.js inlined, nothing fetched
    assert "Label balance before / after" in page and "Map" in page
    assert "Fine-tune curve" not in page  # no runs yet


def test_label_balance_before_and_after():
    ds, scores, spec = tiny()
    before = (scores["information"] >= 2) & (scores["information"] <= 9)
    after = before.copy()
    after[0], after[5] = True, False
    table = label_balance(ds.table["label"], before.to_numpy(), after.to_numpy())
    assert (
        table["all"].tolist() == [8, 4]
        and table["interval"].tolist() == [6, 2]
        and table["effective"].tolist() == [6, 2]
    )
    assert table["interval %"].tolist() == [75.0, 25.0]


def test_report_shows_the_finetune_curve_when_runs_exist(monkeypatch):
    import json

    import numpy as np

    from euds_core.experiments.statistics import pack_correct

    ds, scores, spec = tiny()
    rows = np.arange(200)
    with store.connect() as conn:
        for seed, acc in ((0, 0.7), (1, 0.8)):
            for strategy, value in (("interval", acc), ("random", acc - 0.1)):  # random: the verdict's baseline
                correct = (rows + 7 * seed) % 100 < value * 100  # per test row, with the run's accuracy
                conn.execute(
                    "INSERT INTO finetune_runs (dataset_id, grid_key, strategy, size_fraction, seed, n_train, accuracy, "
                    "macro_f1, train_seconds, params, created) VALUES (?, 'g', ?, 0.5, ?, 6, ?, ?, 1.0, ?, 0)",
                    (ds.id, strategy, seed, value, value, json.dumps({"correct": pack_correct(correct)})),
                )
    curve, verdicts = finetune_evidence(ds.id)
    assert curve[["strategy", "size_fraction"]].values.tolist() == [["interval", 0.5], ["random", 0.5]]
    assert curve["accuracy"].iloc[0] == pytest.approx(0.75) and curve["seeds"].iloc[0] == 2
    assert curve["ci_low"].iloc[0] < 0.75 < curve["ci_high"].iloc[0]
    assert len(verdicts) == 1  # q's meaning is one paragraph under the list, not a line of it
    assert verdicts[0].startswith("size 50 % (6 rows): interval vs random: better by 10.0 pt (95 % CI ")
    assert "10.0–10.0" not in verdicts[0]  # the test rows' noise widens the interval of a constant difference
    monkeypatch.setattr(ui.export.view, "finetune_evidence", lambda *_: (curve, verdicts))  # this grid names no score
    page = report_html(ds, scores, spec).decode("utf-8")  # what the Export page's download button writes
    assert "Fine-tune curve" in page and "better by 10.0 pt" in page
    assert html.escape(Q_EXPLANATION) in page and "Benjamini–Hochberg" in Q_EXPLANATION
    assert "Fine-tune curve" not in build_report_html(ds, scores, spec)


def test_the_reports_selection_verdict_reads_the_stratified_baseline_as_the_page_does():
    import json

    import numpy as np

    from euds_core.experiments.statistics import pack_correct

    ds, _, _ = tiny()
    rows = np.arange(200)
    with store.connect() as conn:
        for seed in (0, 1):
            for strategy, value in (("selection", 0.8), ("random", 0.6), ("random:balanced", 0.75)):
                correct = (rows + 7 * seed) % 100 < value * 100
                conn.execute(
                    "INSERT INTO finetune_runs (dataset_id, grid_key, strategy, size_fraction, seed, n_train, accuracy, "
                    "macro_f1, train_seconds, params, created) VALUES (?, 'g', ?, 0.5, ?, 6, ?, ?, 1.0, ?, 0)",
                    (ds.id, strategy, seed, value, value, json.dumps({"correct": pack_correct(correct)})),
                )
    _, verdicts = finetune_evidence(ds.id)
    assert len(verdicts) == 2 and "selection vs random: better by 20.0 pt" in verdicts[0]
    assert "selection vs random:balanced (its matching baseline): better by 5.0 pt" in verdicts[1]


def test_report_finetune_chart_has_one_colour_per_strategy_and_labelled_axes():
    from euds_core.curation.html_report import _finetune_figure

    curve = pd.DataFrame(
        {
            "strategy": ["full", "interval", "interval", "mig", "random", "random"],
            "size_fraction": [1.0, 0.1, 0.25, 0.1, 0.1, 0.25],
            "accuracy": [0.9, 0.8, 0.85, 0.78, 0.7, 0.75],
            "ci_low": [0.9, 0.78, 0.82, 0.76, 0.66, 0.72],
            "ci_high": [0.9, 0.82, 0.88, 0.8, 0.74, 0.78],
        }
    )
    fig = _finetune_figure(curve)
    colours = {t.name: t.line.color for t in fig.data}
    assert set(colours) == {"full", "interval", "mig", "random"} and len(set(colours.values())) == 4
    assert all(t.marker.color == t.line.color for t in fig.data)
    assert fig.layout.xaxis.tickformat == ".0%" and list(fig.layout.xaxis.tickvals) == [0.1, 0.25, 1.0]
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
