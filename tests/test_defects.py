"""Defects on demand (data/defects.py, experiments/defect_pools.py, `inject`) and your own test set (--test-file)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from euds_core.cli import main
from euds_core.data.defects import (
    DEFECT_KINDS,
    defect_flags,
    duplicate_groups,
    inject_defects,
    parse_rates,
    rates_for_total,
    rows_allowed_in_test,
)
from euds_core.data.table import Dataset
from euds_core.data.test_file import appended_test_rows, attach_test_file
from euds_core.errors import EudsInputError
from euds_core.experiments.splits import table_split


def _table(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
    texts = [" ".join(rng.choice(words, 12)) + f" number {i}." for i in range(n)]
    return pd.DataFrame({"id": [f"r{i}" for i in range(n)], "text": texts, "label": [f"c{i % 3}" for i in range(n)]})


RATES = {"near_duplicate": 0.1, "boilerplate": 0.05, "label_flip": 0.1, "garbled": 0.05, "off_topic": 0.05}


def test_inject_adds_each_kind_at_its_rate_seeded_and_flagged():
    table = _table()
    protect = np.arange(0, 200, 4)  # 50 rows an experiment tests on
    noisy = inject_defects(table, RATES, seed=3, protect=protect, off_topic_texts=["a movie review", "another one"])
    flags = defect_flags(noisy)
    for kind, rate in RATES.items():
        assert (flags == kind).sum() == round(rate * 200), kind
    assert len(noisy) == 200 + 20 + 10 + 10  # copies, boilerplate and off-topic rows are new rows
    # The original rows come first, in order; untouched ones are unchanged, protected ones always.
    assert list(noisy["id"][:200]) == list(table["id"])
    clean = flags[:200] == ""
    assert (noisy["text"][:200][clean] == table["text"][clean]).all()
    assert (noisy.loc[protect, ["text", "label"]] == table.loc[protect, ["text", "label"]]).all().all()
    flipped = np.flatnonzero(flags[:200] == "label_flip")
    assert (noisy.loc[flipped, "label"] != table.loc[flipped, "label"]).all()
    # Near-copies name their source; no protected row is a source; each group is a source plus its copies.
    groups = duplicate_groups(noisy)
    copies = np.flatnonzero(flags == "near_duplicate")
    assert (groups[copies] >= 0).all() and not np.isin(protect, np.flatnonzero(groups >= 0)).any()
    sources = np.flatnonzero((groups >= 0) & (flags == ""))
    assert set(groups[sources]) == set(groups[copies]) and (defect_flags(noisy)[sources] == "").all()
    # Seeded: the same call gives the same table, another seed another one.
    again = inject_defects(table, RATES, seed=3, protect=protect, off_topic_texts=["a movie review", "another one"])
    pd.testing.assert_frame_equal(noisy, again)
    other = inject_defects(table, RATES, seed=4, protect=protect, off_topic_texts=["a movie review", "another one"])
    assert not noisy.equals(other)


def test_total_rate_and_bad_rates():
    rates = rates_for_total(0.3)
    assert set(rates) == set(DEFECT_KINDS)
    noisy = inject_defects(_table(1000), rates, off_topic_texts=["x y z"])
    assert abs((defect_flags(noisy) != "").mean() - 0.3) < 0.01
    assert parse_rates("label_flip=0.1, garbled=0.2") == {"label_flip": 0.1, "garbled": 0.2}
    for bad in ("flip=0.1", "label_flip=lots"):
        with pytest.raises(EudsInputError):
            parse_rates(bad)
    with pytest.raises(EudsInputError, match="already carries"):
        inject_defects(noisy, {"garbled": 0.1})
    with pytest.raises(EudsInputError, match="two classes"):
        inject_defects(_table().drop(columns="label"), {"label_flip": 0.1})


def test_split_of_an_injected_table_never_tests_on_defects_or_near_copy_groups():
    noisy = inject_defects(_table(), RATES, seed=0, off_topic_texts=["off topic text"])
    split = table_split(noisy, test_fraction=0.2)
    assert np.isin(split.test, rows_allowed_in_test(noisy)).all()
    assert (defect_flags(noisy)[split.test] == "").all() and (duplicate_groups(noisy)[split.test] < 0).all()
    assert len(np.intersect1d(split.test, split.pool)) == 0 and len(split.test) + len(split.pool) == len(noisy)


def test_appended_test_rows_are_exactly_the_test_split_and_duplicates_are_reported():
    table = _table(60)
    pool = Dataset("pool.csv", "classification", table.iloc[:50].reset_index(drop=True))
    test_table = table.iloc[50:].reset_index(drop=True)
    test_table.loc[0, "text"] = "  " + table.loc[3, "text"].upper()  # the same text as pool row 3 up to case
    attached = attach_test_file(pool, Dataset("test.csv", "classification", test_table))
    assert list(appended_test_rows(attached.dataset.table)) == list(range(50, 60))
    assert list(attached.pool_duplicates) == [3]
    split = table_split(attached.dataset.table)
    assert list(split.test) == list(range(50, 60)) and list(split.pool) == list(range(50))
    bad = test_table.assign(label="unheard-of")
    with pytest.raises(EudsInputError, match="labels the pool lacks"):
        attach_test_file(pool, Dataset("t.csv", "classification", bad))


def test_a_test_file_reuses_the_pools_cached_embeddings_and_embeds_only_its_rows(monkeypatch):
    from euds_core.models import embeddings as embedding_module
    from euds_core.storage.cache import DatasetCache

    table = _table(60)
    pool = Dataset("pool.csv", "classification", table.iloc[:50].reset_index(drop=True))
    test = Dataset("test.csv", "classification", table.iloc[50:].reset_index(drop=True))
    combined = attach_test_file(pool, test).dataset
    expected = embedding_module.compute_embeddings(combined.table, encoder="hashing")  # no cache: all 60 rows
    embedded = []
    original = embedding_module.hashing_embed
    monkeypatch.setattr(embedding_module, "hashing_embed", lambda texts: embedded.extend(texts) or original(texts))
    embedding_module.compute_embeddings(pool.table, encoder="hashing", cache=DatasetCache(pool.id))
    assert len(embedded) == 50
    embedded.clear()
    cache = DatasetCache(combined.id)
    # a scorer's first stage (a random sample first) embeds no pool text either
    assert (
        embedding_module.compute_embeddings(combined.table, encoder="hashing", cache=cache, first_stage_only=True)
        is None
    )
    got = embedding_module.compute_embeddings(combined.table, encoder="hashing", cache=cache)
    assert sorted(embedded) == sorted(test.table["text"])  # the pool's texts were not embedded again
    np.testing.assert_allclose(got, expected, atol=1e-6)
    embedded.clear()
    again = embedding_module.compute_embeddings(combined.table, encoder="hashing", cache=DatasetCache(combined.id))
    assert not embedded and np.array_equal(again, got)  # now cached under the combined table itself
    other = Dataset("other.csv", "classification", table.iloc[10:60].reset_index(drop=True))
    fresh = attach_test_file(other, Dataset("t.csv", "classification", table.iloc[:10].reset_index(drop=True)))
    embedding_module.compute_embeddings(fresh.dataset.table, encoder="hashing", cache=DatasetCache(fresh.dataset.id))
    assert len(embedded) == 60  # a pool never embedded alone: every row is embedded as before


def test_inject_cli_writes_a_noisy_pool_and_a_clean_test_file(tmp_path, capsys):
    src = tmp_path / "data.csv"
    _table(300).to_csv(src, index=False)
    out, test_out = tmp_path / "noisy.csv", tmp_path / "test.csv"
    cmd = ["inject", str(src), "--label-col", "label", "--id-col", "id", "--rates", "label_flip=0.1,garbled=0.1"]
    assert main([*cmd, "--test-out", str(test_out), "--out", str(out)]) == 0
    assert "label_flip 24" in capsys.readouterr().out  # 10 % of the 240 pool rows
    noisy, test = pd.read_csv(out, keep_default_na=False), pd.read_csv(test_out)
    assert len(test) == 60 and not set(test["id"]) & set(noisy["id"])
    assert set(noisy["defect"]) == {"", "label_flip", "garbled"} and "defect" not in test.columns
    assert main(["inject", str(src), "--label-col", "label", "--out", str(tmp_path / "x.txt"), "--rate", "0.2"]) == 2
    assert main(["inject", str(src), "--label-col", "label", "--out", str(out)]) == 2  # no rate given
    assert "--rate" in capsys.readouterr().err


def test_benchmark_with_a_test_file_trains_on_the_whole_pool_file(tmp_path, capsys):
    rng = np.random.default_rng(0)
    vocab = {"ovine": "sheep wool lamb flock", "nautical": "boat sail anchor mast", "culinary": "oven bake flour"}
    rows = [
        {"text": " ".join([*rng.choice(vocab[c].split(), 3), *rng.choice("the a of and".split(), 4)]), "label": c}
        for i in range(200)
        for c in [list(vocab)[i % 3]]
    ]
    pool, test = tmp_path / "pool.csv", tmp_path / "test.jsonl"
    pd.DataFrame(rows[:150]).to_csv(pool, index=False)
    pd.DataFrame(rows[150:]).to_json(test, orient="records", lines=True)
    out = tmp_path / "bench"
    cmd = ["benchmark", str(pool), "--label-col", "label", "--proxy", "--test-file", str(test), "--sizes", "0.2"]
    cmd += ["--seeds", "1", "--no-samplers", "--encoder", "hashing", "--tokenizer", "whitespace"]
    cmd += ["--scores", "information", "--methods", "random,full", "--out", str(out)]
    assert main(cmd) == 0
    assert "test file: 50 rows" in capsys.readouterr().out
    cells = pd.read_csv(out / "leaderboard.csv")
    assert (cells[cells.method == "full"].n_train == 150).all()  # every pool-file row is pool
    assert (cells[cells.method == "random"].n_train == 30).all()
    assert not (out / "search.json").exists()  # no auto among the methods: no search


def test_the_subset_report_and_manifest_count_defects_per_kind():
    from euds_core.curation.export import selection_report

    noisy = inject_defects(_table(), {"garbled": 0.1, "label_flip": 0.1}, seed=1)
    dataset = Dataset("noisy", "classification", noisy)
    kept = defect_flags(noisy) != "garbled"  # a selection that drops exactly the garbled rows
    report = selection_report(dataset, pd.DataFrame(index=noisy.index), kept)
    by_kind = {row["kind"]: row for row in report["defects"]}
    assert by_kind["garbled"]["dropped"] == 20 and by_kind["garbled"]["recall"] == 1.0
    assert by_kind["label_flip"]["kept"] == 20 and by_kind["clean"]["dropped"] == 0
    assert "defects" not in selection_report(Dataset("clean", "classification", _table()), pd.DataFrame(), kept[:200])


def test_the_fine_tune_page_attaches_a_test_file_as_a_new_dataset(tmp_path):
    from euds_core.data.datasets import load_saved_dataset
    from ui.finetune.test_set import attach_and_save

    table = _table(80)
    pool = Dataset("pool", "classification", table.iloc[:60].reset_index(drop=True))
    path = tmp_path / "mine.csv"
    table.iloc[60:][["text", "label"]].to_csv(path, index=False)
    dataset_id, message = attach_and_save(pool, str(path))
    saved = load_saved_dataset(dataset_id)
    assert list(appended_test_rows(saved.table)) == list(range(60, 80)) and "20 rows" in message
    assert list(table_split(saved.table).pool) == list(range(60))
    with pytest.raises(EudsInputError):
        attach_and_save(pool, str(tmp_path / "missing.csv"))


def test_a_written_noisy_pool_keeps_its_ids_and_near_copy_groups(tmp_path):
    from euds_core.data.datasets import load_dataset

    noisy = inject_defects(_table(), {"near_duplicate": 0.1}, seed=0)
    path = tmp_path / "noisy.csv"
    noisy.to_csv(path, index=False)
    loaded = load_dataset(str(path), label_col="label").table  # no --id-col: a defect column brings its ids
    assert list(loaded["id"]) == list(noisy["id"])
    np.testing.assert_array_equal(duplicate_groups(loaded), duplicate_groups(noisy))
