"""AppTest of the Load page: built-in listing, local path with column guesses, bad files -> st.error."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import ui.load.sources
from euds_core.errors import EudsInputError
from tests.page_helpers import APP, tiny_dataset, use_model_free_options

FAKE_BUILTINS = [
    {"name": "bbc_news", "task": "classification", "description": "news", "rows": 2225, "labels": "", "missing": ""},
    {
        "name": "fanout_qa",
        "task": "qa",
        "description": "qa",
        "rows": None,
        "labels": "",
        "missing": "pip install fanoutqa",
    },
]


@pytest.fixture
def load_page(monkeypatch, tmp_path):
    use_model_free_options(monkeypatch, tmp_path)
    monkeypatch.setattr(ui.load.sources, "describe_builtins", lambda: FAKE_BUILTINS)  # loading all four takes seconds
    ds = tiny_dataset()
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["dataset"] = ds.id
    at.switch_page("pages/1_Load.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at, ds


def test_shows_the_current_dataset_and_its_id(load_page):
    at, ds = load_page
    assert any(c.value == ds.id for c in at.code)
    assert any(m.label == "Rows" and m.value == "40" for m in at.metric)
    assert at.selectbox(key="load_builtin").options == ["bbc_news"]  # the missing package is not offered


def test_local_csv_with_guessed_columns_becomes_the_current_dataset(load_page, tmp_path):
    at, _ = load_page
    path = tmp_path / "reviews.csv"
    pd.DataFrame(
        {"review": ["good film", "bad film", "fine", "awful", "great"] * 4, "stars": ["5", "1", "3", "1", "5"] * 4}
    ).to_csv(path, index=False)
    at.text_input(key="load_path").set_value(str(path)).run()
    assert not at.exception and not at.error
    assert at.selectbox(key="path_text").value == "review"
    assert at.selectbox(key="path_label").value == "stars"
    at.button(key="path_use").click().run()
    assert not at.exception and not at.error
    assert any(m.label == "Rows" and m.value == "20" for m in at.metric)
    assert at.query_params["dataset"] != tiny_dataset().id


@pytest.mark.parametrize(
    "name, content",
    [("broken.parquet", b"this is not parquet"), ("empty.csv", b""), ("notes.jsonl", b"{not json\n")],
)
def test_bad_files_show_an_error_element_not_an_exception(load_page, tmp_path, name, content):
    at, _ = load_page
    path = tmp_path / name
    path.write_bytes(content)
    at.text_input(key="load_path").set_value(str(path)).run()
    assert not at.exception
    assert at.error, "a bad file must show st.error"


def test_missing_path_shows_an_error(load_page):
    at, _ = load_page
    at.text_input(key="load_path").set_value("/no/such/data.csv").run()
    assert not at.exception
    assert "no such file" in at.error[0].value


def test_uploads_are_stored_under_a_generated_name(monkeypatch, tmp_path):
    use_model_free_options(monkeypatch, tmp_path)
    stored = ui.load.sources.store_upload("../../etc/evil name.csv", b"text,label\nhello,a\n")
    assert stored.parent.name == "uploads" and stored.name.endswith(".csv") and "evil" not in stored.name
    with pytest.raises(EudsInputError, match="unsupported file type"):
        ui.load.sources.store_upload("data.exe", b"MZ")
    with pytest.raises(EudsInputError, match="empty"):
        ui.load.sources.store_upload("data.csv", b"")


@pytest.mark.parametrize("name", sorted(__import__("tests.bad_inputs", fromlist=["x"]).bad_input_corpus()))
def test_whole_bad_input_corpus_through_the_load_page(load_page, tmp_path, name):
    """Issue 7's corpus: refused files show their message as st.error; loadable ones show no error."""
    from tests.bad_inputs import bad_input_corpus, write_bad_input

    at, _ = load_page
    kind, expected = bad_input_corpus()[name][1]
    path = write_bad_input(tmp_path, name)
    at.text_input(key="load_path").set_value(str(path)).run()
    assert not at.exception, [e.value for e in at.exception]
    if kind == "error":
        if not at.error:  # readable but unusable (no rows left): refused when it is used
            at.button(key="path_use").click().run()
            assert not at.exception
        assert at.error and expected in at.error[0].value
    else:
        assert not at.error, [e.value for e in at.error]
        at.button(key="path_use").click().run()
        assert not at.exception and not at.error
        assert any(m.label == "Rows" and m.value == str(expected) for m in at.metric)


def test_header_only_file_warns_in_the_preview_before_the_click(load_page, tmp_path):
    at, _ = load_page
    path = tmp_path / "only_header.csv"
    path.write_text("text,label\n")
    at.text_input(key="load_path").set_value(str(path)).run()
    assert not at.exception
    assert any("header line but no data rows" in w.value for w in at.warning)


@pytest.mark.parametrize("label_col", ["category", "label", "class", "target", "sentiment"])
def test_label_column_is_guessed_by_its_name(load_page, tmp_path, label_col):
    at, _ = load_page
    path = tmp_path / "named.csv"
    # as many distinct labels as rows: only the column's name can give it away
    pd.DataFrame({"message": [f"text number {i}" for i in range(12)], label_col: [f"c{i}" for i in range(12)]}).to_csv(
        path, index=False
    )
    at.text_input(key="load_path").set_value(str(path)).run()
    assert at.selectbox(key="path_label").value == label_col


def test_uploads_show_the_users_file_name_never_a_path():
    assert ui.load.sources.user_file_name("sms_messages.csv") == "sms_messages.csv"
    assert ui.load.sources.user_file_name("../../etc/sms messages.csv") == "sms messages.csv"
    assert ui.load.sources.user_file_name("C:\\Users\\ann\\data.csv") == "data.csv"


def test_a_named_dataset_shows_its_name_in_the_sidebar_and_export(monkeypatch, tmp_path):
    from euds_core.data.datasets import save_dataset

    use_model_free_options(monkeypatch, tmp_path)
    ds = tiny_dataset()
    ds.name = "sms_messages.csv"  # what the Load page stores for an upload of that name
    save_dataset(ds)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["dataset"] = ds.id
    at.run()  # app.py: the sidebar, then the default page
    assert any(t.value.startswith("sms_messages.csv · 40 rows") for t in at.sidebar.text), at.sidebar
    at.switch_page("pages/6_Export.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(t.value.startswith("Dataset: sms_messages.csv (40 rows") for t in at.text), [t.value for t in at.text]
    import json

    manifest = json.loads(at.json[0].value)
    assert manifest["dataset"]["name"] == "sms_messages.csv"
    assert manifest["subset"]["file"] is None or manifest["subset"]["file"].startswith("sms_messages-subset")


def _links_after_loading_another_dataset():
    import streamlit as st

    from ui.shared.selection import current_selection, selection_link_params
    from ui.shared.state import set_current_dataset

    st.query_params.from_dict({"dataset": "bbc_news", "score": "information", "plo": "0.2", "phi": "0.7"})
    current_selection()  # what Explore does: the selection of bbc_news is now the session's
    if st.button("use", key="use"):
        set_current_dataset("0123456789abcdef")  # what "Use these columns" does
    st.json(selection_link_params())  # what every sidebar link carries


def test_loading_a_dataset_makes_the_sidebar_links_follow_it(monkeypatch, tmp_path):
    """Issue 25: after "Use these columns" the sidebar links still carried ?dataset=bbc_news and its interval."""
    use_model_free_options(monkeypatch, tmp_path)
    at = AppTest.from_function(_links_after_loading_another_dataset).run()
    assert at.json[0].value and '"bbc_news"' in at.json[0].value
    at.button(key="use").click().run()
    assert not at.exception
    assert json.loads(at.json[0].value) == {"dataset": "0123456789abcdef"}


def test_rows_skipped_while_loading_are_named_after_use(load_page, tmp_path):
    """The summary reads the saved copy of the dataset: it must still say why rows of the file are missing."""
    at, _ = load_page
    path = tmp_path / "gaps.csv"
    texts = [f"review number {i}" for i in range(10)] + ["", "   "]
    pd.DataFrame({"text": texts, "label": ["a", "b"] * 6}).to_csv(path, index=False)
    at.text_input(key="load_path").set_value(str(path)).run()
    at.button(key="path_use").click().run()
    assert not at.exception and not at.error
    assert any(m.label == "Rows" and m.value == "10" for m in at.metric)
    skipped = [i.value for i in at.info if "Skipped while loading" in i.value]
    assert skipped and "missing text" in skipped[0] and "empty text" in skipped[0], [i.value for i in at.info]


def test_an_upload_that_cannot_be_read_is_named_by_the_users_file_name(load_page):
    """The upload is stored under a content hash; its error must name the file the user picked, not that hash."""
    at, _ = load_page
    at.file_uploader(key="load_upload").set_value(("my reviews.csv", b"text,label\ncaf\xe9 ok,a\n", "text/csv")).run()
    assert not at.exception
    assert at.error and "my reviews.csv is not valid UTF-8" in at.error[0].value, [e.value for e in at.error]


def test_an_id_column_chosen_on_load_names_the_rows(load_page, tmp_path):
    """The file's own ids travel into the dataset (and so into exports and decisions); duplicates are an error."""
    from euds_core.data.datasets import load_saved_dataset

    at, _ = load_page
    path = tmp_path / "with_ids.csv"
    pd.DataFrame({"Row ID#": [f"id-{i:03d}" for i in range(6)], "review": [f"text {i}" for i in range(6)]}).to_csv(
        path, index=False
    )
    at.text_input(key="load_path").set_value(str(path)).run()
    assert at.selectbox(key="path_id").value == "(none)"  # not guessed: the CLI's default dataset id
    at.selectbox(key="path_id").set_value("Row ID#").run()
    at.button(key="path_use").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    saved = load_saved_dataset(at.query_params["dataset"])
    assert saved.table["id"].tolist() == [f"id-{i:03d}" for i in range(6)]
    twice = tmp_path / "twice.csv"
    twice.write_text("Row ID#,review\na,x\na,y\n")
    at.text_input(key="load_path").set_value(str(twice)).run()
    at.selectbox(key="path_id").set_value("Row ID#").run()
    at.button(key="path_use").click().run()
    assert not at.exception and at.error and "duplicate values" in at.error[0].value


def test_the_upload_box_accepts_exactly_the_files_the_library_reads(load_page):
    """A .txt file (read as delimited text by euds_core/data/readers.py) uploads and loads; the box's types are
    the library's one list, and a refused type names every accepted one."""
    from euds_core.data.readers import READABLE_SUFFIXES

    at, _ = load_page
    box = at.file_uploader(key="load_upload")
    assert sorted(box.allowed_type) == sorted(READABLE_SUFFIXES) and ".txt" in box.allowed_type
    box.set_value(("notes.txt", b"text\tlabel\nthe first note\ta\nthe second note\tb\nthe third\ta\n", "text/plain"))
    at.run()
    at.button(key="upload_use").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(m.label == "Rows" and m.value == "3" for m in at.metric)
    with pytest.raises(EudsInputError, match=r"upload \.csv, \.tsv, \.txt, .*\.parquet or \.pq"):
        ui.load.sources.store_upload("data.docx", b"PK")
    assert ui.load.sources.store_upload("data.csv.gz", b"\x1f\x8b").name.endswith(".csv.gz")
