"""AppTest of the Review page: URL interval, one-sample and bulk decisions, undo, the override counter."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from euds_core.curation import decision_log
from euds_core.data.datasets import save_dataset
from euds_core.data.table import Dataset
from euds_core.scoring.engine import score_dataset

REPO_ROOT = Path(__file__).resolve().parents[1]
OPTIONS = {"tokenizer": "whitespace"}


@pytest.fixture
def dataset() -> Dataset:
    table = pd.DataFrame(
        {
            "id": [f"s{i}" for i in range(30)],
            "text": [
                ("<b>bold</b> " if i == 4 else "") + " ".join(f"w{j % (i % 6 + 1)}" for j in range(3 + i % 9))
                for i in range(30)
            ],
            "label": ["pos" if i % 3 else "neg" for i in range(30)],
        }
    )
    ds = Dataset(name="tiny", task="classification", table=table)
    save_dataset(ds)
    score_dataset(ds, ["information"], options=OPTIONS)
    return ds


def open_page(ds: Dataset, **query) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "pages" / "5_Review.py"), default_timeout=60)
    at.session_state["dataset_spec"] = ds.id
    at.session_state["score_options"] = OPTIONS
    at.session_state["reviewer"] = "ann"
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_review_page_reads_the_url_interval_and_records_clicks(dataset):
    at = open_page(dataset, dataset=dataset.id, score="information", plo="0.25", phi="0.75")
    assert not at.exception, at.exception
    assert at.selectbox(key="review_score").value == "information"
    assert at.number_input(key="review_plo").value == 0.25 and at.number_input(key="review_phi").value == 0.75
    assert metric(at, "Overrides") == "0"
    interval_keeps = int(metric(at, "Interval keeps"))
    assert 0 < interval_keeps < 30

    at.radio(key="review_view").set_value("All")
    at.text_input(key="review_search").input("s4").run()  # ids match the search too
    assert at.selectbox(key="review_sample").options == ["s4"]
    at.selectbox(key="review_sample").set_value("s4")
    at.text_input(key="review_note").input("markup")
    at.button(key="review_drop_one").click().run()
    assert not at.exception, at.exception
    assert decision_log.effective_overrides(dataset.id) == {"s4": "drop"}
    assert decision_log.effective_decisions(dataset.id)["note"].tolist() == ["markup"]
    assert metric(at, "Overrides") == "1"
    assert any("s4: drop" in s.value for s in at.success)
    assert not any("<b>" in m.value for m in at.markdown)  # dataset text is never rendered as markdown / HTML

    at.selectbox(key="review_group").set_value("neg")
    at.button(key="review_drop_group").click().run()
    assert set(decision_log.effective_overrides(dataset.id)) == {"s4"} | {f"s{i}" for i in range(0, 30, 3)}
    at.button(key="review_undo").click().run()
    assert decision_log.effective_overrides(dataset.id) == {"s4": "drop"}
    assert metric(at, "Overrides") == "1"


def test_filters_and_bulk_on_the_current_filter(dataset):
    at = open_page(dataset)
    assert not at.exception, at.exception
    at.selectbox(key="review_score").set_value("(none: every row)").run()
    assert metric(at, "Kept") == "30"
    at.text_input(key="review_search").input("w5").run()
    at.multiselect(key="review_labels").set_value(["pos"]).run()
    table = dataset.table
    matching = table.loc[table["text"].str.contains("w5") & (table["label"] == "pos"), "id"].tolist()
    assert 0 < len(matching) < 30
    at.button(key="review_drop_filter").click().run()
    assert not at.exception, at.exception
    assert decision_log.effective_overrides(dataset.id) == {i: "drop" for i in matching}
    assert metric(at, "Dropped") == str(len(matching))
    at.radio(key="review_view").set_value("Dropped").run()
    assert not at.exception, at.exception


def test_without_scores_every_row_starts_kept(tmp_path):
    table = pd.DataFrame({"id": ["a", "b", "c"], "text": ["one two", "three", "four five six"]})
    ds = Dataset(name="unscored", task="unlabelled", table=table)
    save_dataset(ds)
    at = open_page(ds)
    assert not at.exception, at.exception
    assert metric(at, "Kept") == "3"
    assert any("No scores yet" in i.value for i in at.info)
    at.button(key="review_drop_one").click().run()  # the first sample of the page is preselected
    assert decision_log.effective_overrides(ds.id) == {"a": "drop"}


def test_a_second_reviewer_sees_the_first_ones_decisions_on_rerun(dataset):
    first, second = open_page(dataset), open_page(dataset)
    decision_log.set_decision(dataset.id, "s1", "drop", reviewer="bob")  # another session / the CLI
    second.run()
    assert metric(second, "Overrides") == "1"
    first.run()
    assert metric(first, "Overrides") == "1"


def test_ids_sort_naturally():
    from ui.review.data import sort_table

    frame = pd.DataFrame({"id": ["row-10", "row-2", "row-1", "Row-3", "x"], "score": [1.0, 2.0, 3.0, 4.0, 5.0]})
    assert sort_table(frame, "id", False)["id"].tolist() == ["row-1", "row-2", "Row-3", "row-10", "x"]
    assert sort_table(frame, "id", True)["id"].tolist() == ["x", "row-10", "Row-3", "row-2", "row-1"]
    assert sort_table(frame, "score", True)["id"].tolist()[0] == "x"
