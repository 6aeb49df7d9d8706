"""Issue 25: "Train this selection" trains exactly Explore's kept rows (those in the pool) against a label-stratified
random subset of the same size, with the same seeds and test split, and reports a verdict with a 95 % CI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from euds_core.data.table import Dataset, normalise_table
from euds_core.errors import EudsInputError
from euds_core.experiments import selection_check
from euds_core.experiments.selection_check import check_selection, random_twin, selection_train_rows
from euds_core.experiments.splits import table_split
from euds_core.selection.intervals import Interval


def _dataset(n: int = 600) -> Dataset:
    rng = np.random.default_rng(1)
    labels = np.where(rng.random(n) < 0.3, "spam", "ham")
    words = {"spam": "win free prize cash call now".split(), "ham": "see you lunch home later ok".split()}
    texts = [" ".join(rng.choice(words[lab], size=4)) + f" m{i}" for i, lab in enumerate(labels)]
    table, _ = normalise_table(pd.DataFrame({"text": texts, "label": labels}), text_col="text", label_col="label")
    return Dataset("sms.csv", "classification", table)


def _embeddings(ds: Dataset) -> np.ndarray:
    rng = np.random.default_rng(2)
    signal = (ds.table["label"] == "spam").to_numpy(float)[:, None] * np.eye(16)[0]
    return (signal + rng.normal(0, 0.8, size=(len(ds.table), 16))).astype(np.float32)


def test_the_trained_rows_are_exactly_explores_kept_ids_in_the_pool():
    ds = _dataset()
    values = np.random.default_rng(3).random(len(ds.table))
    interval = Interval("information", "percentile", lo=0.25, hi=0.75, label_balanced=True)
    kept_mask = interval.mask(values, 0, labels=ds.table["label"].to_numpy())  # what Explore keeps
    kept_ids = ds.table["id"][kept_mask].tolist()
    split = table_split(ds.table)
    rows, in_test = selection_train_rows(ds.table, kept_ids, split)
    assert set(ds.table["id"].iloc[rows]) == set(kept_ids) - set(ds.table["id"].iloc[split.test])
    assert in_test == int(kept_mask[split.test].sum()) > 0
    assert not set(rows) & set(split.test)
    twin = random_twin(ds.table, split.pool, len(rows), seed=0)
    assert len(twin) == len(rows) and set(twin) <= set(split.pool)
    share = (ds.table["label"].to_numpy()[twin] == "spam").mean()
    pool_share = (ds.table["label"].to_numpy()[split.pool] == "spam").mean()
    assert abs(share - pool_share) < 0.01  # label-stratified


def test_the_proxy_check_gives_a_verdict_with_a_ci_and_the_references(monkeypatch):
    ds = _dataset()
    trained: list[np.ndarray] = []
    real = selection_check.linear_proxy_predictions
    monkeypatch.setattr(
        selection_check, "linear_proxy_predictions", lambda x, y, rows, ev: trained.append(rows) or real(x, y, rows, ev)
    )
    spam_heavy = ds.table["id"][(ds.table["label"] == "ham").to_numpy() | (np.arange(len(ds.table)) % 2 == 0)].tolist()
    result = check_selection(ds.table, spam_heavy, mode="proxy", seeds=3, embeddings=_embeddings(ds))
    split = table_split(ds.table)
    rows, _ = selection_train_rows(ds.table, spam_heavy, split)
    assert all(np.array_equal(t, rows) for t in trained[:3])  # the selection, at every seed
    assert len(trained) == 3 + 3 + 1  # selection, random twin per seed, full pool once
    verdict = result["verdict"]
    assert verdict["seeds"] == 3 and verdict["baseline"] == "random:balanced"
    assert verdict["ci_low_pt"] <= verdict["difference_pt"] <= verdict["ci_high_pt"]
    assert "95 % CI" in verdict["verdict"]
    assert 0.5 < result["majority_accuracy"] < 0.8 and result["full_accuracy"] > result["majority_accuracy"]
    assert result["trained_rows"] == len(rows)


def test_no_labels_or_embeddings_is_a_clear_error():
    ds = _dataset(60)
    with pytest.raises(EudsInputError, match="embeddings"):
        check_selection(ds.table, ds.table["id"].tolist(), mode="proxy")
    with pytest.raises(EudsInputError, match="label"):
        check_selection(ds.table.drop(columns="label"), ds.table["id"].tolist(), mode="proxy")


@pytest.mark.slow  # real fine-tunes of the packaged MiniLM (1 epoch, 64 tokens) on CPU
def test_the_finetune_check_trains_both_sides_per_seed_and_prints_its_ci(capsys):
    import time

    ds = _dataset(300)
    kept = ds.table["id"][: len(ds.table) // 2].tolist()
    started = time.monotonic()
    result = check_selection(ds.table, kept, mode="finetune", seeds=2)
    elapsed = time.monotonic() - started
    runs = pd.DataFrame(result["runs"])
    assert sorted(runs["strategy"].unique()) == ["random:balanced", "selection"]  # no full pool unless asked
    assert (
        runs.groupby("strategy")["seed"].apply(sorted) == pd.Series({"random:balanced": [0, 1], "selection": [0, 1]})
    ).all()
    assert result["config"]["epochs"] == 1 and result["config"]["max_len"] == 64
    assert "95 % CI" in result["verdict"]["verdict"] or "no interval" in result["verdict"]["verdict"]
    per_row = float((runs["seconds"] / runs["n_train"]).median())
    with capsys.disabled():
        print(
            f"\nfine-tune check: {elapsed:.1f} s for 4 trainings of {runs['n_train'].iloc[0]} rows; {per_row:.4f} s/row"
        )


# ---------------------------------------------------------------------------------------------- the Fine-tune grid


def test_the_grids_selection_rows_are_exactly_explores_kept_ids_and_its_verdict_has_a_ci(tmp_path, monkeypatch):
    """The Fine-tune page's default strategy: the finetune job with a saved selection trains exactly the kept ids
    in the pool, label-stratified random at that count per seed, and the verdict pairs them with a 95 % CI."""
    from euds_core.data.datasets import save_dataset
    from euds_core.experiments import finetune
    from euds_core.experiments.run_store import load_runs
    from euds_core.experiments.statistics import paired_verdicts
    from euds_core.runtime.job_kinds import JOB_KINDS
    from tests.test_finetune import build_tiny_bert, tiny_table

    model = build_tiny_bert(tmp_path / "bert")
    ds = Dataset(name="tiny", task="classification", table=tiny_table(120))
    dataset_id = save_dataset(ds)
    values = np.random.default_rng(5).random(len(ds.table))
    kept_mask = Interval("information", "percentile", lo=0.25, hi=0.75).mask(values, 0)
    kept_ids = ds.table["id"][kept_mask].tolist()
    trained: list[tuple[np.ndarray, int]] = []
    real = finetune.train_and_evaluate
    monkeypatch.setattr(
        finetune,
        "train_and_evaluate",
        lambda t, rows, *a, **k: trained.append((rows, k["seed"])) or real(t, rows, *a, **k),
    )
    args = {
        "dataset_id": dataset_id,
        "strategies": ["selection", "random:balanced"],
        "sizes": [],
        "seeds": [0, 1],
        "config": {"model": str(model), "epochs": 1, "max_len": 16, "batch_size": 8, "lr": 1e-3, "device": "cpu"},
        "selection_key": selection_check.save_selection_ids(kept_ids),
        "threads": 1,
    }
    reporter = type("R", (), {"update": lambda self, f, m: None, "cancelled": lambda self: False})()
    result = JOB_KINDS["finetune"](args, reporter)
    split = table_split(ds.table)
    in_pool = set(ds.table["id"].iloc[split.pool])
    expected = {i for i in kept_ids if i in in_pool}
    assert len(trained) == 4 and result["runs"] == 4
    selection_runs = [rows for rows, _ in trained[::2]]  # the plan: per seed, selection then random:balanced
    assert all(set(ds.table["id"].iloc[rows]) == expected for rows in selection_runs)
    assert all(len(rows) == len(expected) and set(rows) <= set(split.pool) for rows, _ in trained[1::2])
    assert not np.array_equal(trained[1][0], trained[3][0])  # a new random twin per seed
    runs = load_runs(dataset_id, result["grid_key"])
    verdict = paired_verdicts(runs, balanced={"selection"})
    matched = verdict[verdict["matched"]].iloc[0]
    assert matched["baseline"] == "random:balanced" and matched["seeds"] == 2
    assert matched["ci_low_pt"] <= matched["difference_pt"] <= matched["ci_high_pt"]
    assert "95 % CI" in matched["verdict"]


def test_the_selection_is_part_of_the_grid_key_and_sizes_random_to_its_count():
    from euds_core.experiments.finetune import GridSpec, with_selection

    ds = _dataset(200)
    spec = GridSpec(strategies=["selection", "random:balanced"], sizes=[], seeds=[0])
    with pytest.raises(EudsInputError, match="Explore"):
        spec.check()
    first = with_selection(spec, ds.table, ds.table["id"][:90].tolist())
    other = with_selection(spec, ds.table, ds.table["id"][:91].tolist())
    first.check()
    assert first.key("d") != other.key("d")
    assert first.plan() == [("selection", first.selection_size, 0), ("random:balanced", first.selection_size, 0)]
    split = table_split(ds.table)
    rows, _ = selection_train_rows(ds.table, ds.table["id"][:90].tolist(), split)
    assert round(first.selection_size * len(split.pool)) == len(rows)


def test_a_test_sample_is_fixed_inside_the_test_split_and_only_then_in_the_key():
    from dataclasses import replace

    from euds_core.experiments.splits import evaluation_split
    from euds_core.experiments.training import FinetuneConfig

    ds = _dataset(600)
    split = table_split(ds.table)
    sampled = evaluation_split(split, 50, 0)
    assert len(sampled.test) == 50 and set(sampled.test) <= set(split.test)
    assert np.array_equal(sampled.test, evaluation_split(split, 50, 0).test)
    assert np.array_equal(sampled.pool, split.pool)  # the rest of the test split is still never trained on
    assert evaluation_split(split, 0, 0) is split and evaluation_split(split, 10_000, 0) is split
    config = FinetuneConfig(device="cpu")
    assert "test_sample" not in config.key_params()  # the keys of runs made before the option stay the same
    assert replace(config, test_sample=50).key_params()["test_sample"] == 50
    assert replace(config, precision="fp32").key_params()["precision"] == "fp32"
    with pytest.raises(EudsInputError, match="precision"):
        replace(config, precision="fp16").check()
