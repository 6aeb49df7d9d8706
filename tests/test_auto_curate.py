"""Auto-curate: recipes as text and as intervals, the greedy recipe search and its null guard, defect reports."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from euds_core.data.defects import inject_defects
from euds_core.errors import EudsInputError
from euds_core.experiments.auto_curate import RecipeSearchSettings, recipe_rows, search_recipe
from euds_core.selection.defect_report import clean_kept_share, defect_report, defects_removed_share
from euds_core.selection.recipe import DUPLICATE_COPY, Recipe, RecipeStep, parse_recipe


def test_recipe_text_round_trips_and_is_an_intersection_of_intervals():
    text = "one per near-duplicate group; drop information below p8; drop el2n above p88; label-balanced"
    recipe = parse_recipe(text)
    assert recipe.text == text and recipe.dedup and recipe.label_balanced and recipe.scores == ["information", "el2n"]
    assert parse_recipe("Drop  information below p8 ;").steps == (RecipeStep("below", "information", 0.08),)
    for bad in ("drop information under p8", "drop el2n above p180", "dedupe"):
        with pytest.raises(EudsInputError):
            parse_recipe(bad)
    rng = np.random.default_rng(0)
    scores = pd.DataFrame({"information": rng.random(200), "el2n": rng.random(200), "label": ["a", "b"] * 100})
    scores[DUPLICATE_COPY] = (np.arange(200) % 10 == 0).astype(float)
    mask = recipe.mask(scores)
    # The same rows as each filter on its own, intersected (ranks within each label group).
    from euds_core.selection.intervals import group_percentile_rank

    info = group_percentile_rank(scores["information"].to_numpy(), scores["label"].to_numpy())
    el2n = group_percentile_rank(scores["el2n"].to_numpy(), scores["label"].to_numpy())
    expected = (info >= 0.08 - 1e-9) & (el2n <= 0.88 + 1e-9) & (scores[DUPLICATE_COPY] < 0.5)
    np.testing.assert_array_equal(mask, expected.to_numpy())
    with pytest.raises(EudsInputError, match=DUPLICATE_COPY):
        recipe.mask(scores.drop(columns=DUPLICATE_COPY))


def _noisy_pool(n=900, seed=0):
    """Five classes in 32-d; 15 % of the rows carry a random wrong label, and a score that finds them."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 5
    centres = rng.normal(0, 1.0, size=(5, 32))
    x = centres[y] + rng.normal(0, 1.0, size=(n, 32))
    table = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "text": [f"t{i}" for i in range(n)]})
    flipped = rng.choice(n, int(0.15 * n), replace=False)
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.integers(1, 5, len(flipped))) % 5
    table["label"] = [f"c{v}" for v in noisy]
    table["defect"] = ""
    table.loc[flipped, "defect"] = "label_flip"
    suspicion = rng.normal(0, 1, n)
    suspicion[flipped] += 3.0
    scores = pd.DataFrame({"suspicion": suspicion, "noise": rng.normal(0, 1, n)})
    embeddings = x / np.linalg.norm(x, axis=1, keepdims=True)
    return table, scores, embeddings, x


def _static(scores: pd.DataFrame):
    """Scores that use no labels: every fold ranks by the same values."""
    return lambda train: {c: scores[c].to_numpy() for c in scores.columns}


def test_the_search_finds_the_filter_that_removes_planted_label_errors_and_never_reads_flags():
    table, scores, embeddings, x = _noisy_pool()
    pool = np.arange(len(table))
    settings = RecipeSearchSettings(folds=3, random_draws=2, max_steps=3, permutations=9, alpha=0.1)
    result = search_recipe(table, _static(scores), pool, embeddings, x, settings)
    assert result.accepted and "drop suspicion above" in result.recipe.text, result.verdict
    assert result.gain > 0.02 and result.p_value <= 0.1
    kept = np.zeros(len(table), dtype=bool)
    kept[recipe_rows(result.recipe, pool, scores, table["label"].to_numpy(), embeddings)] = True
    report = defect_report(table, kept)
    assert defects_removed_share(report) > 0.8 and clean_kept_share(report) > 0.75, report
    # The flags are never read: the same search on a table without them gives the same recipe.
    again = search_recipe(table.drop(columns="defect"), _static(scores), pool, embeddings, x, settings)
    assert again.recipe == result.recipe and again.gain == result.gain


def test_the_search_on_scores_without_information_says_nothing_beats_random():
    table, scores, embeddings, x = _noisy_pool(seed=1)
    rng = np.random.default_rng(5)
    noise = pd.DataFrame({"noise_a": rng.normal(size=len(table)), "noise_b": rng.normal(size=len(table))})
    settings = RecipeSearchSettings(folds=3, random_draws=2, max_steps=3, permutations=9, alpha=0.1)
    result = search_recipe(table, _static(noise), np.arange(len(table)), embeddings, x, settings)
    assert not result.accepted and result.recipe == Recipe() and result.verdict.startswith("nothing beats random")


def test_defect_report_counts_groups_as_cleaned_once_one_copy_remains():
    base = pd.DataFrame({"id": [f"r{i}" for i in range(40)], "text": [f"text {i} " * 5 for i in range(40)]})
    base["label"] = ["a", "b"] * 20
    noisy = inject_defects(base, {"near_duplicate": 0.1, "garbled": 0.1}, seed=0)
    groups_rows = noisy.index[noisy["id"].str.contains("~dup")]
    kept = np.ones(len(noisy), dtype=bool)
    kept[groups_rows] = False  # drop every copy: each group keeps its source row
    report = defect_report(noisy, kept).set_index("kind")
    assert report.loc["near_duplicate", "recall"] == 1.0 and report.loc["near_duplicate", "precision"] == 1.0
    assert report.loc["garbled", "recall"] == 0.0 and report.loc["clean", "dropped"] == 0
    kept[:] = False  # drop everything: every defect is gone but every clean unit is lost too
    report = defect_report(noisy, kept).set_index("kind")
    assert report.loc["all", "recall"] == 1.0 and report.loc["clean", "kept"] == 0
    assert report.loc["garbled", "precision"] < 0.2


def _topic_csv(path, n=300):
    rng = np.random.default_rng(0)
    vocab = {
        "ovine": "sheep wool lamb flock shear pasture",
        "nautical": "boat sail anchor mast harbour keel",
        "culinary": "oven bake flour broth simmer knead",
    }
    filler = "the a of and with near very some".split()
    rows = []
    for i in range(n):
        label = list(vocab)[i % 3]
        rows.append({"text": " ".join([*rng.choice(vocab[label].split(), 4), *rng.choice(filler, 5)]), "label": label})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


FAST = ["--encoder", "hashing", "--tokenizer", "whitespace", "--scores", "information,label_issue"]
FAST += ["--no-samplers", "--random-draws", "2", "--step", "0.4", "--seeds", "1", "--sizes", "0.5"]


def test_benchmark_inject_sweeps_rates_and_reports_defects_per_method(tmp_path, capsys):
    from euds_core.cli import main

    data, out = _topic_csv(tmp_path / "topics.csv"), tmp_path / "sweep"
    cmd = ["benchmark", str(data), "--label-col", "label", "--proxy", "--inject", "0,0.3", *FAST, "--out", str(out)]
    assert main(cmd) == 0
    assert "sweep.md" in capsys.readouterr().out
    sweep = pd.read_csv(out / "sweep.csv")
    assert set(sweep["rate"]) == {0.0, 0.3} and {"auto", "full", "curate", "clean"} <= set(sweep["method"])
    assert (out / "sweep.png").stat().st_size > 1000 and "plotly" in (out / "sweep.html").read_text()[:100000]
    # Each rate has its own leaderboard and curation study; the test rows are the same clean held-out rows.
    defects = pd.read_csv(out / "rate-0.3" / "curation-defects.csv")
    assert {"curate", "random", "full", "clean", "information:middle"} <= set(defects["method"])
    full = defects[defects["method"] == "full"].set_index("kind")
    assert full.loc["all", "recall"] == 0.0 and full.loc["clean", "kept"] == full.loc["clean", "total"]
    clean = defects[defects["method"] == "clean"].set_index("kind")
    assert clean.loc["label_flip", "recall"] == 1.0
    at_zero = pd.read_csv(out / "rate-0" / "curation-defects.csv")
    assert (at_zero.loc[at_zero["kind"] == "all", "total"] == 0).all()  # rate 0: nothing injected
    summary = json.loads((out / "rate-0.3" / "curation.json").read_text())
    assert summary["pool_rows"] > 240 and set(summary["accuracy"]) == {"curate", "random", "full", "clean"}
    assert "| curate |" in (out / "rate-0.3" / "curation.md").read_text()
    # Each comparison has a paired verdict over the test rows (one seed here), corrected across the study.
    pairs = [line.split(":")[0] for line in summary["verdicts"]]
    assert pairs == ["curate vs random", "curate vs full", "curate vs clean", "full vs clean"]
    assert all("95 % CI" in line and "q = " in line for line in summary["verdicts"])
    assert "CI 0.0–0.0" not in "".join(summary["verdicts"])  # never a zero-width interval
    assert "Benjamini–Hochberg" in (out / "rate-0.3" / "curation.md").read_text()
    assert "correct" in pd.read_csv(out / "rate-0.3" / "curation.csv").columns


def test_select_and_export_accept_a_recipe_and_the_manifest_rebuilds_it(tmp_path, capsys):
    from euds_core.cli import main

    rng = np.random.default_rng(2)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
    texts = [" ".join(rng.choice(words, 3 + i % 9)) + f" n{i}" for i in range(120)]
    texts += [texts[i] for i in range(10)]  # ten exact copies: one per group stays
    data = tmp_path / "d.csv"
    pd.DataFrame({"text": texts, "label": ["x", "y"] * 65}).to_csv(data, index=False)
    scored = tmp_path / "s.parquet"
    common = ["--label-col", "label", "--tokenizer", "whitespace", "--encoder", "hashing"]
    assert main(["score", str(data), *common, "--scores", "information,ttr", "--out", str(scored)]) == 0
    recipe = "one per near-duplicate group; drop information below p10; drop ttr above p95"
    out = tmp_path / "kept.csv"
    assert main(["select", str(scored), "--recipe", recipe, "--encoder", "hashing", "--out", str(out)]) == 0
    kept = pd.read_csv(out)
    assert kept["text"].duplicated().sum() == 0 and capsys.readouterr().out.strip().endswith(f"of {len(texts)}")
    frame = pd.read_parquet(scored)
    expected = parse_recipe(recipe).mask(frame.assign(**{DUPLICATE_COPY: frame["text"].duplicated().astype(float)}))
    assert len(kept) == int(expected.sum())
    export = tmp_path / "subset.jsonl"
    assert main(["export", str(data), *common, "--recipe", recipe, "--out", str(export)]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["spec"]["recipe"] == recipe and len(manifest["bounds"]) == 3
    rebuilt = tmp_path / "again.jsonl"
    assert main(["select", "--manifest", str(tmp_path / "manifest.json"), "--out", str(rebuilt)]) == 0
    assert rebuilt.read_bytes() == export.read_bytes()
    assert main(["select", str(scored), "--recipe", "drop information under p3", "--out", str(out)]) == 2
    assert main(["select", str(scored), "--recipe", recipe, "--score", "ttr", "--out", str(out)]) == 2


def test_a_method_that_drops_no_row_shows_a_dash_for_precision_not_nan():
    from euds_core.experiments.curation_study import defects_markdown

    defects = pd.DataFrame(
        [
            ["curate", 1.0, "label_flip", 0.0, float("nan"), 10, 10],
            ["curate", 1.0, "clean", 0.0, float("nan"), 90, 90],
            ["clean", 0.9, "label_flip", 1.0, 1.0, 10, 0],
            ["clean", 0.9, "clean", 0.0, float("nan"), 90, 90],
        ],
        columns=["method", "size_fraction", "kind", "recall", "precision", "total", "kept"],
    )
    table = "\n".join(defects_markdown(defects))
    assert "nan" not in table
    assert "| curate | 1 | 0.00 / — | 100% |" in table and "| clean | 0.9 | 1.00 / 1.00 | 100% |" in table


def test_the_curation_study_at_a_smaller_budget_trains_every_arm_on_the_same_count(tmp_path, capsys):
    from euds_core.cli import main

    data, out = _topic_csv(tmp_path / "topics.csv"), tmp_path / "sweep"
    cmd = ["benchmark", str(data), "--label-col", "label", "--proxy", "--inject", "0.3", *FAST]
    assert main([*cmd, "--seeds", "2", "--curate-sizes", "0.2", "--out", str(out)]) == 0
    cells = pd.read_csv(out / "rate-0.3" / "curation.csv", keep_default_na=False)
    at_budget = cells[cells["size"] == "0.2"]
    assert set(at_budget["method"]) == {"curate", "random", "clean"} and sorted(set(at_budget["seed"])) == [0, 1]
    pool = json.loads((out / "rate-0.3" / "curation.json").read_text())["pool_rows"]
    assert at_budget["n_train"].nunique() == 1 and at_budget["n_train"].iloc[0] == round(0.2 * pool)
    whole = cells[cells["size"] == "recipe"]
    assert set(whole["method"]) == {"curate", "random", "full", "clean"}
    summary = json.loads((out / "rate-0.3" / "curation.json").read_text())
    assert set(summary["accuracy"]) == {"curate", "random", "full", "clean"}  # the recipe's own size
    assert set(summary["accuracy_at_sizes"]["0.2"]) == {"curate", "random", "clean"}
    assert any(line.startswith("curate @ 0.2 vs random: ") for line in summary["verdicts"])
    assert "| 0.2 | curate |" in (out / "rate-0.3" / "curation.md").read_text()
    assert main([*cmd, "--curate-sizes", "1.5", "--out", str(out)]) == 2
    assert "--curate-sizes" in capsys.readouterr().err
