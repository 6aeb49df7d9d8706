"""Label-balanced intervals: the interval applied within each label group keeps the pool's label proportions."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from euds_core.cli import main
from euds_core.curation.export import export_subset, read_manifest, rebuild_from_manifest
from euds_core.data.datasets import save_dataset
from euds_core.errors import EudsInputError
from euds_core.scores import make_scorer
from euds_core.scoring.engine import score_dataset
from euds_core.selection.intervals import (
    Interval,
    SelectionSpec,
    apply_selection,
    group_percentile_rank,
    label_proportions,
    select_keep_fraction_balanced,
    select_percentile,
    select_percentile_balanced,
)
from tests.test_export import OPTIONS, tiny_dataset


def test_hand_checked_small_example():
    # Class a holds the low scores, class b the high ones: a global low band keeps only class a.
    scores = np.array([1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0])
    labels = np.array(["a", "a", "a", "a", "b", "b", "b", "b"])
    assert np.flatnonzero(select_percentile(scores, 0.0, 0.4)).tolist() == [0, 1, 2]
    # Within each class the ranks are 0, 1/3, 2/3, 1: [0, 0.4] keeps the two lowest of each class.
    np.testing.assert_allclose(group_percentile_rank(scores, labels), [0, 1 / 3, 2 / 3, 1] * 2)
    assert np.flatnonzero(select_percentile_balanced(scores, labels, 0.0, 0.4)).tolist() == [0, 1, 4, 5]
    # keep 50 % at the high band: round(0.5 * 4) = 2 rows of each class, the highest two.
    assert np.flatnonzero(select_keep_fraction_balanced(scores, labels, 0.5, "high")).tolist() == [2, 3, 6, 7]


@pytest.mark.parametrize("mode", ["percentile", "keep"])
def test_proportions_kept_within_rounding(mode):
    rng = np.random.default_rng(3)
    labels = rng.choice(["ham", "spam", "other"], size=997, p=[0.7, 0.2, 0.1])
    # The score is strongly tied to the label, so a global band would wreck the mix.
    scores = rng.normal(size=997) + np.where(labels == "ham", 3.0, 0.0)
    interval = (
        Interval("s", "percentile", lo=0.0, hi=0.15, label_balanced=True)
        if mode == "percentile"
        else Interval("s", "keep", keep=0.15, band="low", label_balanced=True)
    )
    kept = interval.mask(scores, 0, labels)
    pool, chosen = label_proportions(labels), label_proportions(labels[kept])
    assert set(chosen) == set(pool)
    for label, share in pool.items():
        count = int((labels == label).sum())
        # Per class the kept count is within one row of 15 % of the class.
        assert abs(int((labels[kept] == label).sum()) - 0.15 * count) <= 1
        assert abs(chosen[label] - share) < 0.02
    unbalanced = Interval("s", interval.mode, lo=interval.lo, hi=interval.hi, keep=interval.keep, band="low")
    assert label_proportions(labels[unbalanced.mask(scores, 0)]).get("ham", 0.0) < 0.1  # what balancing fixes


def test_balanced_needs_labels_and_a_rank_interval():
    with pytest.raises(EudsInputError, match="label column"):
        Interval("s", "percentile", lo=0.1, hi=0.5, label_balanced=True).mask(np.arange(4.0), 0)
    with pytest.raises(EudsInputError, match="percentile or keep"):
        Interval("s", "threshold", lo=1, hi=2, label_balanced=True).mask(np.arange(4.0), 0, np.array(list("abab")))
    spec = SelectionSpec("d", [Interval("s", "percentile", lo=0.1, hi=0.5, label_balanced=True)])
    with pytest.raises(EudsInputError, match="label column"):
        apply_selection(spec, pd.DataFrame({"id": ["1", "2"], "s": [1.0, 2.0]}))


def test_spec_json_round_trip_and_old_specs_default_off():
    spec = SelectionSpec("d", [Interval("s", "keep", keep=0.3, band="high", label_balanced=True)], seed=4)
    again = SelectionSpec.from_json(spec.to_json())
    assert again == spec and again.intervals[0].label_balanced
    old = json.loads(spec.to_json())
    del old["intervals"][0]["label_balanced"]  # a manifest written before the flag existed
    assert SelectionSpec.from_json(json.dumps(old)).intervals[0].label_balanced is False


def test_export_manifest_rebuild_identical(tmp_path):
    ds = tiny_dataset(60)
    save_dataset(ds)
    scores = score_dataset(ds, ["information"], options=OPTIONS)
    spec = SelectionSpec(
        ds.id,
        [Interval("information", "percentile", lo=0.0, hi=0.3, label_balanced=True)],
        seed=2,
        score_params={"information": make_scorer("information", OPTIONS).params()},
    )
    result = export_subset(ds, scores, spec, tmp_path / "subset.csv", fmt="csv")
    manifest = read_manifest(tmp_path / "manifest.json")
    assert manifest["bounds"][0]["label_balanced"] is True
    subset = pd.read_csv(tmp_path / "subset.csv")
    pool = label_proportions(ds.table["label"])
    assert abs(label_proportions(subset["label"])["neg"] - pool["neg"]) < 0.05
    rebuilt = rebuild_from_manifest(tmp_path / "manifest.json", tmp_path / "again.csv")
    assert rebuilt.kept == result.kept and rebuilt.manifest["matches"] == {"ids": True, "bytes": True}


def test_cli_select_label_balanced(tmp_path, capsys):
    ds = tiny_dataset(60)
    frame = ds.table.assign(information=np.where(ds.table["label"] == "neg", 0.0, 10.0) + np.arange(60) / 100)
    path = tmp_path / "scores.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "kept.csv"
    args = ["select", str(path), "--score", "information", "--plo", "0", "--phi", "0.3", "--out", str(out)]
    assert main(args) == 0
    assert set(pd.read_csv(out)["label"]) == {"neg"}  # globally the low 30 % is one class
    assert main([*args, "--label-balanced"]) == 0
    kept = pd.read_csv(out)
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"kept {len(kept)} of 60"
    assert abs(label_proportions(kept["label"])["neg"] - label_proportions(frame["label"])["neg"]) < 0.05
    frame.drop(columns="label").to_csv(path, index=False)
    assert main([*args, "--label-balanced"]) == 2
    assert "needs a label column" in capsys.readouterr().err
    assert main([*args[:-6], "--lo", "0", "--hi", "1", "--out", str(out), "--label-balanced"]) == 2


# ---------------------------------------------------------------------------------------------- grid and search


def skewed_table(n: int = 300) -> tuple[pd.DataFrame, pd.DataFrame]:
    """70 % class a with low scores, 30 % class b with high ones: a global band keeps one class."""
    labels = np.where(np.arange(n) % 10 < 7, "a", "b")
    values = np.where(labels == "a", 0.0, 100.0) + np.random.default_rng(0).random(n)
    table = pd.DataFrame({"id": [str(i) for i in range(n)], "text": ["t"] * n, "label": labels})
    return table, pd.DataFrame({"igse": values})


def test_grid_strategies_balance_labels_in_the_pool():
    from euds_core.experiments.finetune import GridSpec
    from euds_core.experiments.subsets import is_balanced_strategy, parse_interval_strategy, subset_rows

    table, scores = skewed_table()
    pool = np.arange(250)
    kwargs = dict(table=table, pool=pool, scores=scores, score="igse")
    share_a = label_proportions(table["label"][pool])["a"]
    assert set(table["label"][subset_rows("interval", 0.2, 0, band="low", **kwargs)]) == {"a"}
    rows = subset_rows("interval", 0.2, 0, band="low", label_balanced=True, **kwargs)
    assert abs(len(rows) - 50) <= 1 and set(rows) <= set(pool)
    assert abs(label_proportions(table["label"][rows])["a"] - share_a) < 0.02
    explicit = subset_rows("interval:0.6-1:balanced", 0.0, 0, **kwargs)
    assert parse_interval_strategy("interval:0.6-1:balanced") == (0.6, 1.0) and is_balanced_strategy(
        "interval:0.6-1:balanced"
    )
    assert abs(len(explicit) - 100) <= 1 and abs(label_proportions(table["label"][explicit])["a"] - share_a) < 0.02
    # Within class a, percentile 0.6-1 are the highest-scoring 40 % of a's pool rows.
    a_rows = pool[table["label"][pool] == "a"]
    top_a = a_rows[np.argsort(scores["igse"][a_rows].to_numpy())][-len(explicit[table["label"][explicit] == "a"]) :]
    assert set(explicit[table["label"][explicit] == "a"]) == set(top_a)
    on, off = GridSpec(["interval"], score="igse", label_balanced=True), GridSpec(["interval"], score="igse")
    assert on.key("d", scores) != off.key("d", scores)  # a balanced grid never serves an unbalanced one's runs
    with pytest.raises(EudsInputError, match="label column"):
        subset_rows("interval", 0.2, 0, label_balanced=True, **{**kwargs, "table": table.drop(columns="label")})


def test_search_label_balanced_cells_keep_the_mix():
    from euds_core.experiments.interval_search import IntervalSearchSettings, search_interval, search_split

    table, scores = skewed_table(400)
    labels = table["label"].to_numpy()
    emb = np.random.default_rng(1).normal(size=(400, 8)).astype(np.float32)
    emb[:, 0] += np.where(labels == "a", 2.0, -2.0)
    split = search_split(labels)
    small = IntervalSearchSettings(min_keep=0.4, step=0.2, pca_dims=4)
    grid = search_interval(emb, labels, scores["igse"].to_numpy(), split, replace(small, label_balanced=True))
    assert grid["label_balanced"].all()
    low = grid[(grid.p_lo == 0.0) & (grid.p_hi == 0.4)].iloc[0]
    assert abs(low.n_train - 0.4 * len(split.search_train)) <= 3  # ~40 % of every class, not of one
    assert low.accuracy > 0.9  # both classes present: the proxy separates them
    glob = search_interval(emb, labels, scores["igse"].to_numpy(), split, small)
    assert glob[(glob.p_lo == 0.0) & (glob.p_hi == 0.4)].accuracy.iloc[0] < 0.8  # class a only: predicts a


def test_cli_export_label_balanced_then_rebuild(tmp_path, capsys):
    data = tmp_path / "data.csv"
    tiny_dataset(60).table.to_csv(data, index=False)
    out = tmp_path / "subset.csv"
    cols = ["--id-col", "id", "--label-col", "label", "--tokenizer", "whitespace"]
    cmd = ["export", str(data), *cols, "--score", "information", "--plo", "0", "--phi", "0.3", "--out", str(out)]
    assert main([*cmd, "--label-balanced"]) == 0
    first = capsys.readouterr().out
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["bounds"][0]["label_balanced"] is True and manifest["spec"]["intervals"][0]["label_balanced"]
    again = tmp_path / "again.csv"
    assert main(["select", "--manifest", str(tmp_path / "manifest.json"), "--out", str(again)]) == 0
    assert capsys.readouterr().out == first and again.read_bytes() == out.read_bytes()
    assert main([*cmd[:-6], "--label-balanced", "--out", str(out)]) == 2  # no interval to balance
    assert "needs an interval" in capsys.readouterr().err


def test_cli_finetune_balances_by_default_and_the_flag_turns_it_off(tmp_path, capsys):
    import re

    from euds_core.experiments.run_store import load_runs
    from tests.test_finetune import build_tiny_bert, finetune_args, tiny_table

    table = tiny_table(50)
    data = tmp_path / "odd.csv"
    pd.DataFrame({"Blurb (text)": table["text"], "Critic Verdict": table["label"]}).to_csv(data, index=False)
    scores = pd.DataFrame({"id": [f"row-{i}" for i in range(50)], "text": table["text"], "label": table["label"]})
    scores["igse"] = np.random.default_rng(0).random(50).astype(np.float32)
    scores.to_parquet(tmp_path / "s.parquet")
    model = build_tiny_bert(tmp_path / "bert")
    extra = ["--strategies", "interval:0.2-0.6:balanced,random", "--seeds", "1"]
    args = finetune_args(data, tmp_path / "s.parquet", model, tmp_path / "r.csv", *extra)
    assert main(args) == 0
    dataset_id = re.search(r"\[dataset id (\w+)\]", capsys.readouterr().out).group(1)
    assert main([*args, "--no-label-balanced"]) == 0
    runs = load_runs(dataset_id)
    assert runs.grid_key.nunique() == 2  # balanced and global grids never share runs
    assert set(runs.strategy) == {"interval:0.2-0.6:balanced", "random"}
    assert (runs[runs.strategy == "random"].n_train == 16).all()  # round(0.4 * 40 pool rows)
