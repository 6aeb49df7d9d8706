"""The recipe search's cuts (outlier shares), its hygiene steps and the one-standard-error choice; pool-fitted
scores computed once per process."""

from __future__ import annotations

import numpy as np
import pandas as pd

from euds_core.experiments.auto_curate import (
    RecipeSearchSettings,
    Tried,
    one_se_choice,
    outlier_share,
    recipe_cuts,
    search_recipe,
)
from euds_core.selection.recipe import Recipe, RecipeStep


def test_outlier_cuts_are_offered_only_where_a_tail_stands_out():
    rng = np.random.default_rng(0)
    bulk = rng.uniform(-1, 1, 950)  # no tail of its own
    tail = np.concatenate([bulk, rng.normal(-12, 0.5, 50)])  # 5 % far below the rest
    assert outlier_share(tail, "below") == 0.05 and outlier_share(tail, "above") < 0.005
    assert outlier_share(np.zeros(100), "below") == 0.0  # no spread: nothing is an outlier
    cuts, outliers = recipe_cuts([{"tail": tail, "plain": bulk}, {"tail": tail, "plain": bulk}])
    assert outliers == [("tail", "below", 0.05)]
    assert 0.05 in cuts["tail", "below"] and cuts["plain", "above"] == (0.05, 0.1, 0.2, 0.3)
    second_mode = np.concatenate([bulk, rng.normal(-12, 0.5, 250)])  # a fifth of the rows far out: not outliers
    assert outlier_share(second_mode, "below") == 250 / 1200
    assert recipe_cuts([{"mode": second_mode}, {"mode": second_mode}])[1] == []


def test_one_se_choice_prefers_the_smaller_cut_among_tied_steps():
    rng = np.random.default_rng(1)
    base = np.zeros(400, dtype=bool)
    base[rng.choice(400, 360, replace=False)] = True
    better = base.copy()
    right, wrong = np.flatnonzero(~base)[:17], np.flatnonzero(base)[:13]
    better[right], better[wrong] = True, False  # +4 rows of 400, within one paired standard error (~5.5 rows)
    big = Tried(Recipe((RecipeStep("above", "s", 0.7),)), better, 0.0, 0.7)
    small = Tried(Recipe((RecipeStep("above", "s", 0.9),)), base, 0.0, 0.9)
    assert one_se_choice([big, small]) is small
    much_better = np.ones(400, dtype=bool)
    clear = Tried(Recipe((RecipeStep("above", "s", 0.7),)), much_better, 0.0, 0.7)
    assert one_se_choice([clear, small]) is clear


def _pool_with_junk(n=600, seed=0):
    """Four classes in 16-d; 12 % wrong labels a 'suspicion' score finds, and 5 % junk rows (features of no
    class, labels right) that an 'oddity' score puts far out: junk hardly moves a linear proxy's accuracy."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    x = rng.normal(0, 1.0, size=(4, 16))[y] * 1.5 + rng.normal(0, 1.0, size=(n, 16))
    junk = rng.choice(n, n // 20, replace=False)
    x[junk] = rng.normal(0, 0.3, size=(len(junk), 16))
    flipped = rng.choice(np.setdiff1d(np.arange(n), junk), int(0.12 * n), replace=False)
    labels = y.copy()
    labels[flipped] = (y[flipped] + rng.integers(1, 4, len(flipped))) % 4
    table = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "text": [f"t{i}" for i in range(n)]})
    table["label"] = [f"c{v}" for v in labels]
    suspicion, oddity = rng.normal(0, 1, n), rng.normal(0, 1, n)
    suspicion[flipped] += 4.0
    oddity[junk] += 9.0
    scores = {"suspicion": suspicion, "oddity": oddity}
    return table, scores, x / np.linalg.norm(x, axis=1, keepdims=True), x, junk


def test_hygiene_steps_ride_on_an_accepted_recipe_and_say_why():
    table, scores, embeddings, x, junk = _pool_with_junk()
    settings = RecipeSearchSettings(folds=3, random_draws=2, max_steps=2, permutations=4, alpha=0.2)
    result = search_recipe(table, lambda train: scores, np.arange(len(table)), embeddings, x, settings)
    assert result.accepted, result.verdict
    whys = dict(zip(result.history["recipe"], result.history["why"], strict=True))
    assert any("drop suspicion above" in r and w == "accuracy" for r, w in whys.items()), whys
    assert "drop oddity above p95" in result.recipe.text and "hygiene (non-inferior)" in whys.values(), whys


def test_pool_fitted_scores_are_fitted_once_per_process(monkeypatch):
    from euds_core.experiments import pool_scores
    from euds_core.scores.knn import KNNDistanceScorer

    calls = []
    original = KNNDistanceScorer.score

    def counting(self, table, **context):
        calls.append(len(table))
        return original(self, table, **context)

    monkeypatch.setattr(KNNDistanceScorer, "score", counting)
    monkeypatch.setattr(pool_scores, "_FITTED", {})
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"id": [str(i) for i in range(40)], "text": [f"w{i} {rng.integers(99)}" for i in range(40)]})
    frame = pd.DataFrame({"knn_distance": np.zeros(40)})
    options = {"encoder": "hashing"}
    first = pool_scores.pool_fitted_scores(table, frame, np.arange(30), dataset_id="memo-test", options=options)
    again = pool_scores.pool_fitted_scores(table, frame, np.arange(30), dataset_id="memo-test", options=options)
    other = pool_scores.pool_fitted_scores(table, frame, np.arange(20), dataset_id="memo-test", options=options)
    assert len(calls) == 2  # the same fit rows once, other fit rows once more
    np.testing.assert_array_equal(first["knn_distance"], again["knn_distance"])
    assert not np.array_equal(first["knn_distance"], other["knn_distance"])


def test_the_sweep_job_runs_the_sweep_in_its_folder_with_proxy_settings(monkeypatch, tmp_path):
    from euds_core.data.datasets import save_dataset
    from euds_core.data.table import Dataset
    from euds_core.experiments import inject_sweep
    from euds_core.runtime.job_kinds import JOB_KINDS

    table = pd.DataFrame({"id": ["a", "b"], "text": ["x y", "y z"], "label": ["p", "q"]})
    ds = Dataset(name="tiny", task="classification", table=table)
    save_dataset(ds)
    seen = {}

    def fake_sweep(dataset, config, out_dir, rates, *, progress=None, cancel=None):
        seen.update(dataset=dataset.id, config=config, out_dir=out_dir, rates=rates)
        for rate in rates:
            progress(0, 0, f"defect rate {rate:g}: 2 rows")
            progress(1, 2, "half")
        return pd.DataFrame(columns=inject_sweep.SWEEP_COLUMNS)

    monkeypatch.setattr(inject_sweep, "run_inject_sweep", fake_sweep)
    updates = []
    args = {"dataset_id": ds.id, "rates": [0.0, 0.3], "sizes": [0.2], "seeds": [0], "scores": ["information"]}
    reporter = type("R", (), {"update": lambda self, f, m: updates.append(f), "cancelled": lambda self: False})()
    assert JOB_KINDS["inject_sweep"](args, reporter) == {"rates": [0.0, 0.3], "rows": 0}
    assert seen["out_dir"] == inject_sweep.sweep_dir(ds.id) and seen["rates"] == [0.0, 0.3]
    assert seen["config"].mode == "proxy" and seen["config"].methods == inject_sweep.SWEEP_METHODS
    assert updates == sorted(updates) and 0.7 <= updates[-1] < 1.0  # the bar moves on with each rate


def test_group_aware_folds_keep_every_near_duplicate_group_in_one_fold():
    from euds_core.experiments.auto_curate import pool_folds
    from euds_core.experiments.splits import crossfit_folds
    from euds_core.scores.near_duplicate import near_duplicate_groups

    rng = np.random.default_rng(3)
    unique = rng.normal(size=(240, 32))
    sources = rng.choice(240, 60, replace=False)
    copies = unique[np.repeat(sources, 2)] + rng.normal(0, 0.01, size=(120, 32))  # two near-copies per source
    embeddings = np.concatenate([unique, copies])
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    labels = np.array([f"c{i % 4}" for i in range(240)] + [f"c{s % 4}" for s in np.repeat(sources, 2)])
    pool = np.arange(len(labels))
    groups = near_duplicate_groups(embeddings)
    assert len(np.unique(groups)) == 240  # each source and its copies form one group

    def split_groups(splits) -> int:
        """How many groups have rows on both sides of some fold (held-out rows with a copy in training)."""
        return len({g for train, held in splits for g in set(groups[train]) & set(groups[held])})

    assert split_groups(crossfit_folds(labels, pool, 3, 0)) > 20  # plain stratified folds split most groups
    grouped = pool_folds(labels, pool, 3, 0, embeddings)
    assert split_groups(grouped) == 0
    held = np.sort(np.concatenate([h for _, h in grouped]))
    assert np.array_equal(held, pool)  # every row is still held out exactly once
    for _, h in grouped:  # still stratified: each fold holds about a third of every class
        assert all(abs((labels[h] == c).sum() - (labels == c).sum() / 3) <= 6 for c in np.unique(labels))
    assert split_groups(pool_folds(labels, pool, 3, 0)) > 20  # without embeddings: the plain folds


def test_a_planted_duplicate_leak_inflates_plain_folds_but_not_group_aware_ones():
    """Labels are pure noise (3 classes: an honest held-out accuracy is about 1/3), and half the rows have two
    near-copies with the same label: with plain folds a held-out copy is "predicted" by its twin in training."""
    from euds_core.experiments.auto_curate import fold_evaluator

    rng = np.random.default_rng(0)
    unique = rng.normal(size=(240, 128)) * 3
    sources = np.repeat(rng.choice(240, 120, replace=False), 2)
    x = np.concatenate([unique, unique[sources] + rng.normal(0, 0.05, size=(240, 128))])
    noise_labels = rng.integers(0, 3, 240)
    labels = np.array([f"c{v}" for v in np.concatenate([noise_labels, noise_labels[sources]])])
    embeddings = x / np.linalg.norm(x, axis=1, keepdims=True)

    def held_out_accuracy(group_folds: bool) -> float:
        settings = RecipeSearchSettings(group_folds=group_folds)
        evaluator, _ = fold_evaluator(
            labels, lambda train: {"s": np.zeros(len(labels))}, np.arange(len(labels)), embeddings, x, settings
        )
        return float(np.mean([evaluator.accuracy(f.train, f.held_out) for f in evaluator.folds]))

    assert held_out_accuracy(group_folds=False) > 0.6  # the leak
    assert held_out_accuracy(group_folds=True) < 0.45  # about chance
