"""Three disjoint parts on every path: test (only measures), pool (selection), validation (inside the pool).

Each path is checked two ways: the rows it trains or fits on never include test rows, and its choices do not
move when the test rows' labels (or scores, texts, embeddings) change.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from euds_core.experiments import finetune, training
from euds_core.experiments.finetune import FinetuneConfig, GridSpec, RunResult, run_grid
from euds_core.experiments.interval_search import IntervalSearchSettings, search_interval, search_split
from euds_core.experiments.pool_scores import pool_fitted_scores
from euds_core.experiments.splits import experiment_split
from euds_core.experiments.subsets import subset_rows
from tests.test_finetune import tiny_bert as tiny_bert  # a fixture
from tests.test_finetune import tiny_config, tiny_table

LABEL_SCORES = ["classifier_entropy", "least_confidence", "margin", "el2n"]


def flip_labels(table: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """The table with the labels of ``rows`` swapped between the two classes (as if the test labels differed)."""
    out = table.copy()
    out.loc[rows, "label"] = out.loc[rows, "label"].map({"pos": "neg", "neg": "pos"})
    return out


def test_three_parts_are_disjoint_fixed_and_stratified():
    labels = np.array(["a"] * 60 + ["b"] * 40)
    split = experiment_split(labels, len(labels))
    assert not set(split.test) & set(split.pool) and set(split.test) | set(split.pool) == set(range(100))
    assert set(split.validation) <= set(split.pool) and not set(split.validation) & set(split.test)
    assert not set(split.search_train) & set(split.validation)
    assert set(split.search_train) | set(split.validation) == set(split.pool)
    assert (labels[split.test] == "a").sum() == 12 and (labels[split.test] == "b").sum() == 8
    again = experiment_split(labels, len(labels))
    assert np.array_equal(again.test, split.test) and np.array_equal(again.validation, split.validation)


def test_search_validation_comes_from_the_pool_never_the_grid_test_rows():
    table = tiny_table(80)
    labels = table["label"].to_numpy()
    grid_split = experiment_split(labels, len(table), test_fraction=0.2, split_seed=0)
    search = search_split(labels)
    assert np.array_equal(search.test, grid_split.test)  # the grid's test split, the same rows
    assert set(search.validation) <= set(grid_split.pool) and not set(search.validation) & set(grid_split.test)


def test_search_never_reads_the_test_rows():
    rng = np.random.default_rng(0)
    n = 200
    labels = rng.integers(0, 2, n).astype(str)
    emb = (rng.normal(size=(2, 8))[labels.astype(int)] + rng.normal(size=(n, 8))).astype(np.float32)
    scores = rng.random(n)
    split = search_split(labels)
    small = IntervalSearchSettings(min_keep=0.4, step=0.2, pca_dims=4)
    grid = search_interval(emb, labels, scores, split, small)
    test = split.test
    other_labels, other_emb, other_scores = labels.copy(), emb.copy(), scores.copy()
    other_labels[test] = np.where(labels[test] == "0", "1", "0")
    other_emb[test] = rng.normal(size=(len(test), 8)) * 10
    other_scores[test] = np.nan  # a test score is not even read
    again = search_interval(other_emb, other_labels, other_scores, split, small)
    columns = ["p_lo", "p_hi", "n_train", "accuracy", "random_accuracy", "gain"]
    pd.testing.assert_frame_equal(grid[columns], again[columns])
    assert (grid.n_train <= len(split.search_train)).all()


@pytest.mark.parametrize("name", LABEL_SCORES)
def test_label_scores_fitted_on_the_pool_ignore_test_labels(name):
    table = tiny_table(90)
    split = experiment_split(table["label"].to_numpy(), len(table))
    scores = pd.DataFrame({name: np.zeros(len(table), dtype=np.float32)})
    opts = {"encoder": "hashing"}
    fitted = pool_fitted_scores(table, scores, split.pool, options=opts)[name].to_numpy()
    flipped = pool_fitted_scores(flip_labels(table, split.test), scores, split.pool, options=opts)[name].to_numpy()
    np.testing.assert_allclose(fitted[split.pool], flipped[split.pool], rtol=0, atol=1e-6)
    # The whole-table fit (Explore's) does move with the test labels: what the refit protects the grid from.
    whole = pool_fitted_scores(table, scores, np.arange(len(table)), options=opts)[name].to_numpy()
    whole_flipped = pool_fitted_scores(flip_labels(table, split.test), scores, np.arange(len(table)), options=opts)
    assert not np.allclose(whole[split.pool], whole_flipped[name].to_numpy()[split.pool], atol=1e-6)


def record_runs(monkeypatch) -> list[dict]:
    """Replace training with a recorder of the rows each run would train and test on."""
    calls: list[dict] = []

    def fake(table, train_rows, test_rows, *, task, config, seed, pool=None, progress=None, cancel=None):
        calls.append({"train": np.asarray(train_rows), "test": np.asarray(test_rows), "pool": pool, "seed": seed})
        return RunResult(0.5, 0.5, len(train_rows), 0.0)

    monkeypatch.setattr(finetune, "train_and_evaluate", fake)
    return calls


def test_grid_trains_on_pool_rows_and_tests_on_the_fixed_split(monkeypatch, tiny_bert):
    table = tiny_table(90)
    split = experiment_split(table["label"].to_numpy(), len(table))
    rng = np.random.default_rng(0)
    scores = pd.DataFrame({"igse": rng.random(len(table)), "el2n": rng.random(len(table))})
    calls = record_runs(monkeypatch)
    spec = GridSpec(
        strategies=["interval", "interval:0.2-0.6", "random", "full", "el2n"],
        sizes=[0.25, 0.5],
        seeds=[0, 1],
        score="igse",
        config=tiny_config(tiny_bert),
    )
    run_grid("disjoint", table, spec, task="classification", scores=scores, score_options={"encoder": "hashing"})
    assert calls
    for call in calls:
        assert np.array_equal(call["test"], split.test) and np.array_equal(call["pool"], split.pool)
        assert set(call["train"]) <= set(split.pool)


def test_grid_choices_do_not_move_with_the_test_rows(monkeypatch, tiny_bert):
    table = tiny_table(90)
    split = experiment_split(table["label"].to_numpy(), len(table))
    rng = np.random.default_rng(1)
    scores = pd.DataFrame({"igse": rng.random(len(table)), "margin": rng.random(len(table))})
    spec = GridSpec(
        strategies=["interval", "interval:0.1-0.5", "margin"],
        sizes=[0.3],
        seeds=[0],
        score="igse",
        config=tiny_config(tiny_bert),
    )
    first = record_runs(monkeypatch)
    run_grid("a", table, spec, task="classification", scores=scores, score_options={"encoder": "hashing"})
    other = scores.copy()
    other.loc[split.test] = rng.random((len(split.test), 2)) * 100  # test-row scores differ wildly
    changed = table.copy()  # and so do the test texts (labels would change the stratified split itself)
    changed.loc[split.test, "text"] = "awful awful plot plot"
    second = record_runs(monkeypatch)
    run_grid(
        "b",
        changed,
        spec,
        task="classification",
        scores=other,
        score_options={"encoder": "hashing"},
    )
    assert [c["train"].tolist() for c in first] == [c["train"].tolist() for c in second]


@pytest.mark.parametrize("sampler", ["mig", "cluster_balanced", "kcenter"])
def test_samplers_pick_pool_rows_whatever_the_labels(sampler):
    table = tiny_table(90)
    split = experiment_split(table["label"].to_numpy(), len(table))
    emb = np.random.default_rng(2).normal(size=(len(table), 8)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)

    def rows(frame: pd.DataFrame) -> np.ndarray:
        return subset_rows(sampler, 0.3, 0, table=frame, pool=split.pool, scores=None, score=None, embeddings=emb)

    picked = rows(table)
    assert len(picked) == round(0.3 * len(split.pool)) and set(picked) <= set(split.pool)
    relabelled = flip_labels(table, np.arange(len(table)))  # every label changes, pool and test
    assert np.array_equal(picked, rows(relabelled))  # samplers group as `select --sampler` does: never by label


def qa_table(n: int = 40) -> pd.DataFrame:
    questions = [f"the movie {i}" for i in range(n)]
    answers = [
        ["good film", "bad plot", "great actor", "poor movie", "the film was fine"][i % 5] + f" {i % 7}"
        for i in range(n)
    ]
    return pd.DataFrame(
        {
            "id": [f"q{i}" for i in range(n)],
            "question": questions,
            "answer": answers,
            "text": [f"{q}\n\n{a}" for q, a in zip(questions, answers, strict=True)],
        }
    )


def test_qa_negatives_train_from_the_pool_and_test_from_the_test_split(monkeypatch, tiny_bert):
    table = qa_table(60)
    split = experiment_split(None, len(table), test_fraction=0.25)
    real = training.build_qa_candidates
    seen: list[tuple[np.ndarray, np.ndarray]] = []

    def spy(answers, rows, pool, seed, n_negatives=3):
        out = real(answers, rows, pool, seed, n_negatives)
        seen.append((np.asarray(rows), out))
        return out

    monkeypatch.setattr(training, "build_qa_candidates", spy)
    config = FinetuneConfig(**{**tiny_config(tiny_bert).__dict__, "test_fraction": 0.25})
    spec = GridSpec(strategies=["random"], sizes=[0.1, 0.5], seeds=[0], config=config)
    run_grid("qa", table, spec, task="qa")
    train_calls = [c for rows, c in seen if set(rows) <= set(split.pool)]
    test_calls = [c for rows, c in seen if set(rows) <= set(split.test)]
    assert len(train_calls) == 2 and len(test_calls) == 2  # one of each per run
    for cands in train_calls:
        assert set(cands.ravel()) <= set(split.pool)  # a 10 % subset borrows negatives from the pool only
    for cands in test_calls:
        assert set(cands.ravel()) <= set(split.test)
