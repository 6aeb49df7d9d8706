import json

import pandas as pd
import pytest

from euds_core.data.datasets import load_dataset, load_saved_dataset, save_dataset
from euds_core.data.table import dataset_hash, guess_label_column, guess_text_column, normalise_table
from euds_core.errors import EudsInputError
from tests.helpers import requires_assets

ROWS = [
    {"Blurb Body": "a fine film", "Verdict?": "pos", "ref": "r1"},
    {"Blurb Body": "dull and long", "Verdict?": "neg", "ref": "r2"},
    {"Blurb Body": "great acting", "Verdict?": "pos", "ref": "r3"},
]


def test_csv_with_unusual_columns_normalises(tmp_path):
    path = tmp_path / "reviews.csv"
    pd.DataFrame(ROWS).to_csv(path, index=False)
    ds = load_dataset(path, text_col="Blurb Body", label_col="Verdict?", id_col="ref")
    assert list(ds.table.columns) == ["id", "text", "label"]
    assert ds.table["id"].tolist() == ["r1", "r2", "r3"]
    assert ds.task == "classification" and ds.labels == ["neg", "pos"]


def test_a_file_named_in_an_app_link_gets_the_load_pages_guessed_label(tmp_path):
    path = tmp_path / "sms.csv"
    pd.DataFrame({"message": ["win a prize now", "see you at lunch"] * 3, "label": ["spam", "ham"] * 3}).to_csv(
        path, index=False
    )
    guessed = load_dataset(path, guess_label=True)
    assert guessed.task == "classification" and guessed.labels == ["ham", "spam"]
    assert guessed.table["text"].iloc[0] == "win a prize now"
    assert load_dataset(path).task == "unlabelled"  # the CLI's contract: --label-col or no labels
    qa = tmp_path / "qa.jsonl"
    pd.DataFrame({"q": ["why?"], "a": ["because"], "label": ["x"]}).to_json(qa, orient="records", lines=True)
    assert load_dataset(qa, question_col="q", answer_col="a", guess_label=True).task == "qa"


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".csv"])
def test_same_content_same_id_across_formats(tmp_path, suffix):
    frame = pd.DataFrame(ROWS)
    path = tmp_path / f"data{suffix}"
    {
        ".jsonl": lambda p: frame.to_json(p, orient="records", lines=True),
        ".parquet": lambda p: frame.to_parquet(p),
        ".csv": lambda p: frame.to_csv(p, index=False),
    }[suffix](path)
    ds = load_dataset(path, text_col="Blurb Body", label_col="Verdict?")
    reference = normalise_table(frame, text_col="Blurb Body", label_col="Verdict?")[0]
    assert ds.id == dataset_hash(reference)


def test_hf_save_to_disk_folder(tmp_path):
    from datasets import Dataset as HFDataset

    HFDataset.from_dict({"sentence": ["one two", "three four"], "y": [0, 1]}).save_to_disk(str(tmp_path / "hf"))
    ds = load_dataset(tmp_path / "hf", text_col="sentence", label_col="y")
    assert ds.table["text"].tolist() == ["one two", "three four"]
    assert ds.table["label"].tolist() == ["0", "1"]


def test_qa_text_is_question_blank_line_answer(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps({"q": "Why?", "a": "Because."}) + "\n" + json.dumps({"q": "Who?", "a": None}) + "\n")
    ds = load_dataset(path, question_col="q", answer_col="a")
    assert ds.task == "qa"
    assert ds.table["text"].tolist() == ["Why?\n\nBecause."]
    assert ds.skipped == {"missing question or answer": 1}


def test_hash_changes_with_content_not_with_reload():
    a = pd.DataFrame({"id": ["1", "2"], "text": ["x", "y"]})
    b = pd.DataFrame({"id": ["1", "2"], "text": ["x", "z"]})
    assert dataset_hash(a) == dataset_hash(a.copy())
    assert dataset_hash(a) != dataset_hash(b)


def test_limit_is_seeded_sample_in_original_order(tmp_path):
    path = tmp_path / "many.csv"
    pd.DataFrame({"text": [f"text {i}" for i in range(100)]}).to_csv(path, index=False)
    first = load_dataset(path, limit=10).table
    again = load_dataset(path, limit=10).table
    assert len(first) == 10 and first.equals(again)
    assert first["id"].tolist() == sorted(first["id"].tolist(), key=lambda s: int(s.split("-")[1]))
    assert first["id"].tolist() != [f"row-{i}" for i in range(10)]


def test_rows_with_empty_or_missing_text_are_skipped_and_counted():
    raw = pd.DataFrame({"text": ["ok", None, "  ", "fine"], "label": ["a", "b", "a", None]})
    table, skipped = normalise_table(raw, text_col="text", label_col="label")
    assert table["text"].tolist() == ["ok"]
    assert skipped == {"missing text": 1, "empty text": 1, "missing label": 1}


def test_float_labels_become_category_strings():
    raw = pd.DataFrame({"text": ["a", "b"], "label": [1.0, 0.0]})
    assert normalise_table(raw, text_col="text", label_col="label")[0]["label"].tolist() == ["1", "0"]


@pytest.mark.parametrize(
    ("content", "kwargs", "message"),
    [
        (b"", {}, "empty"),
        (b"text,label\n", {}, "no rows"),
        (b"text,label\nhello,a\n", {"text_col": "body"}, "no column 'body'"),
        (b"text,label\n\xff\xfe\xfa bad,a\n", {}, "UTF-8"),
        (b"PK\x03\x04rest-of-a-zip", {}, "zip"),
        (b"text,id\na,1\nb,1\n", {"id_col": "id"}, "duplicate"),
    ],
)
def test_bad_csv_gives_clear_input_error(tmp_path, content, kwargs, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(EudsInputError, match=message):
        load_dataset(path, **kwargs)


def test_unknown_spec_and_bad_jsonl(tmp_path):
    with pytest.raises(EudsInputError, match="neither a built-in"):
        load_dataset("no_such_thing")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\nnot json\n')
    with pytest.raises(EudsInputError, match="could not read"):
        load_dataset(bad)


def test_utf16_csv_with_bom_loads(tmp_path):
    path = tmp_path / "u16.csv"
    path.write_bytes("text,label\nhéllo,a\nwörld,b\n".encode("utf-16"))
    assert load_dataset(path, label_col="label").table["text"].tolist() == ["héllo", "wörld"]


def test_column_guesses():
    raw = pd.DataFrame(
        {"n": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], "body": ["long text here"] * 10, "sentiment": ["p", "n"] * 5}
    )
    assert guess_text_column(raw) == "body"
    assert guess_label_column(raw, "body") == "sentiment"


def test_saved_dataset_roundtrip_by_id():
    raw = pd.DataFrame({"text": ["a b", "c d"]})
    from euds_core.data.table import Dataset

    ds = Dataset("x.csv", "unlabelled", normalise_table(raw, text_col="text")[0])
    dataset_id = save_dataset(ds)
    again = load_saved_dataset(dataset_id)
    assert again.table.equals(ds.table) and again.name == "x.csv"
    assert load_dataset(dataset_id).id == dataset_id


@pytest.mark.slow
@requires_assets
def test_builtin_datasets_have_documented_sizes():
    from euds_core.data.builtins import load_builtin

    rt, bbc, chat = load_builtin("rotten_tomatoes"), load_builtin("bbc_news"), load_builtin("chatterbot_qa")
    assert len(rt.table) == 12808 and rt.table["label"].value_counts().to_dict() == {"fresh": 7403, "rotten": 5405}
    assert len(bbc.table) == 2225 and bbc.table["label"].nunique() == 5
    assert len(chat.table) == 2025 and chat.task == "qa"
    fan = load_builtin("fanout_qa")
    assert 2100 < len(fan.table) <= 2193 and fan.table["answer"].str.len().min() > 0
    for ds in (rt, bbc, chat, fan):
        assert ds.table["id"].is_unique
