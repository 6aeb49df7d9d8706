"""Fit on the pool, apply to the rest: no test row is a reference for any pool score, search or chosen subset.

The acceptance check of issue 26: change every test-split text (and label), or remove the test rows, and every
pool score (neighbours, duplicates, semantic centroids, rank combinations, label-using proxies), every search
result and every chosen subset stays identical. Model-free (hashing encoder, whitespace tokenizer).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from euds_core.experiments.pool_scores import fold_fitted_scores, pool_fitted_scores
from euds_core.experiments.selection_search import SearchSettings, search_selection
from euds_core.experiments.splits import ExperimentSplit, experiment_split
from euds_core.experiments.subsets import subset_rows
from euds_core.models.embeddings import compute_embeddings
from euds_core.scores import make_scorer
from euds_core.scores.near_duplicate import rows_duplicating

OPTIONS = {"encoder": "hashing", "tokenizer": "whitespace"}
FITTED = ["semantic", "knn_distance", "near_duplicate", "is", "classifier_entropy", "el2n"]
VOCAB = {
    "sport": "match goal team league striker coach season",
    "money": "bank market shares profit rates loan budget",
    "film": "actor scene plot director screen cast drama",
}


def news_table(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = np.array(list(VOCAB))[np.arange(n) % 3]
    texts = [
        " ".join(rng.choice(VOCAB[c].split(), 5)) + " " + " ".join(rng.choice(["the", "a", "of"], 2)) for c in labels
    ]
    return pd.DataFrame({"id": [f"r{i}" for i in range(n)], "text": texts, "label": labels})


def other_test_rows(table: pd.DataFrame, test: np.ndarray) -> pd.DataFrame:
    """Every test text replaced (other words, copies of pool texts among them) and every test label changed."""
    out = table.copy()
    rng = np.random.default_rng(99)
    words = " ".join(VOCAB.values()).split()
    out.loc[test, "text"] = [" ".join(rng.choice(words, 7)) for _ in test]
    out.loc[test[:5], "text"] = table.loc[np.setdiff1d(table.index, test)[:5], "text"].to_numpy()  # near-copies
    out.loc[test, "label"] = np.roll(table.loc[test, "label"].to_numpy(), 1)
    return out


def scores_frame(table: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame({name: np.zeros(len(table), dtype=np.float32) for name in FITTED})
    frame["information"] = make_scorer("information", OPTIONS).score(table)
    return frame


def pool_view(table: pd.DataFrame, split: ExperimentSplit):
    """(pool scores at the pool rows, the search's candidates, chosen subsets as positions in the pool)."""
    scores = pool_fitted_scores(table, scores_frame(table), split.pool, options=OPTIONS)
    labels = table["label"].to_numpy()
    emb = compute_embeddings(table, encoder="hashing")
    settings = SearchSettings(step=0.3, balance=(True, False), dedup=(False, True), permutations=2, folds=3)
    search = search_selection(emb, labels, fold_fitted_scores(table, scores, options=OPTIONS), split, 0.2, settings)
    chosen = {}
    for strategy, score in (("interval", "semantic"), ("knn_distance", None), ("is", None), ("random", None)):
        rows = subset_rows(
            strategy, 0.3, 1, table=table, pool=split.pool, scores=scores, score=score, label_balanced=True
        )
        chosen[strategy] = np.searchsorted(split.pool, rows)
    return scores.iloc[split.pool].reset_index(drop=True), search, chosen


def assert_same(a, b):
    pd.testing.assert_frame_equal(a[0], b[0], check_exact=False, atol=1e-6, rtol=0)
    columns = ["score", "p_lo", "p_hi", "label_balanced", "dedup", "n_train", "gain", "gain_linear", "gain_knn"]
    pd.testing.assert_frame_equal(a[1].candidates[columns], b[1].candidates[columns])
    assert a[1].summary()["verdict"] == b[1].summary()["verdict"] and a[1].p_value == b[1].p_value
    for strategy in a[2]:
        assert np.array_equal(a[2][strategy], b[2][strategy]), strategy


def test_test_texts_and_rows_change_no_pool_score_search_or_subset():
    table = news_table()
    split = experiment_split(table["label"].to_numpy(), len(table))
    original = pool_view(table, split)
    assert_same(original, pool_view(other_test_rows(table, split.test), split))
    pool_only = table.iloc[split.pool].reset_index(drop=True)
    labels = pool_only["label"].to_numpy()
    alone = ExperimentSplit(
        test=np.zeros(0, dtype=np.int64), pool=np.arange(len(pool_only)), validation=np.zeros(0, dtype=np.int64)
    )
    assert_same(original, pool_view(pool_only, alone))
    assert len(set(labels)) == 3


def test_the_whole_table_scores_do_move_with_the_test_texts():
    # What the refit protects an experiment from: Explore's whole-table values see the test rows.
    table = news_table()
    split = experiment_split(table["label"].to_numpy(), len(table))
    changed = other_test_rows(table, split.test)
    for name in ("knn_distance", "semantic"):
        before = make_scorer(name, OPTIONS).score(table)
        after = make_scorer(name, OPTIONS).score(changed)
        assert not np.allclose(before[split.pool], after[split.pool]), name


@pytest.mark.parametrize("name", ["knn_distance", "near_duplicate", "semantic", "is"])
def test_fit_rows_are_part_of_the_identity(name):
    whole = make_scorer(name, OPTIONS).params()
    fitted = make_scorer(name, {**OPTIONS, "fit_rows": np.arange(10)}).params()
    assert whole != fitted and "fit_rows" in fitted


def test_pool_rows_duplicating_a_test_row_are_found():
    table = news_table(90)
    split = experiment_split(table["label"].to_numpy(), len(table))
    copied = table.copy()
    copied.loc[split.pool[:4], "text"] = table.loc[split.test[:4], "text"].to_numpy()
    emb = compute_embeddings(copied, encoder="hashing")
    found = rows_duplicating(emb, split.pool, split.test)
    assert set(split.pool[:4]) <= set(found)
    assert not set(found) & set(split.test)


def test_the_corpus_information_variant_counts_the_pool_only():
    table = news_table()
    split = experiment_split(table["label"].to_numpy(), len(table))
    changed = other_test_rows(table, split.test)
    options = {**OPTIONS, "variant": "corpus"}
    frame = pd.DataFrame({"information": np.zeros(len(table), dtype=np.float32)})
    before = pool_fitted_scores(table, frame, split.pool, options=options)["information"].to_numpy()
    after = pool_fitted_scores(changed, frame, split.pool, options=options)["information"].to_numpy()
    np.testing.assert_allclose(before[split.pool], after[split.pool], rtol=0, atol=1e-6)
    whole = make_scorer("information", options)
    assert not np.allclose(whole.score(table)[split.pool], whole.score(changed)[split.pool])
    plain = pool_fitted_scores(table, frame.assign(information=1.0), split.pool, options=OPTIONS)
    assert (plain["information"] == 1.0).all()  # the token variant reads its row only: kept as given
