"""Where curation pays: auto-curate against random at its size, the full noisy pool and the clean rows.

:func:`run_curation_study` (``benchmark``, after the leaderboard, on a dataset whose pool carries a ``defect``
column or with ``--curate``) searches a recipe on the pool (:mod:`euds_core.experiments.auto_curate`; flags and
test labels never read), then measures on the test split, seed by seed:

* ``curate`` — the recipe's rows of the pool (``keep every row`` when nothing beat random);
* ``random`` — a seeded random subset of the pool of the same count;
* ``full`` — the whole (noisy) pool;
* ``clean`` — the pool rows without a defect flag (a yardstick only the injector can build).

``curate_sizes`` (``--curate-sizes``) adds smaller budgets: at each, ``curate``, ``random`` and ``clean`` train on
the same seeded number of rows (the fraction of the pool, capped by the recipe's rows and the clean rows).

With defect flags it also reports, per method and per defect kind, the recall and precision of the rows each
method drops (:mod:`euds_core.selection.defect_report`), for ``curate``, ``random`` and every method of the
leaderboard at every size (seed 0's rows). Files: ``DIR/curation.csv`` (cells), ``DIR/curation-defects.csv``,
``DIR/curation.json`` (the recipe search) and ``DIR/curation.md``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from euds_core.data.defects import defect_flags, has_defects
from euds_core.experiments.auto_curate import RecipeSearchResult, RecipeSearchSettings, recipe_rows, search_recipe
from euds_core.experiments.statistics import (
    MULTIPLICITY,
    VERDICT_COLUMNS,
    pack_correct,
    paired_difference,
    with_verdicts,
)
from euds_core.selection.defect_report import defect_report

STUDY_METHODS = ("curate", "random", "full", "clean")


def study_rows(method: str, seed: int, inputs, recipe_kept: np.ndarray, count: int | None = None) -> np.ndarray | None:
    """Sorted pool rows ``method`` trains on (None: ``clean`` without defect flags). ``count``: a seeded random
    ``count`` of them (every arm at the same count; ``random`` draws that count from the pool)."""
    pool = inputs.split.pool
    if method == "curate":
        rows = recipe_kept
    elif method == "random":
        size = len(recipe_kept) if count is None else count
        return np.sort(np.random.default_rng([seed, 4242]).choice(pool, size=size, replace=False))
    elif method == "full":
        rows = pool
    elif not has_defects(inputs.table):
        return None
    else:
        rows = pool[defect_flags(inputs.table)[pool] == ""]
    if count is None:
        return rows
    return np.sort(np.random.default_rng([seed, 4243]).choice(rows, size=count, replace=False))


def study_settings(inputs, config, recipe_kept: np.ndarray) -> list[tuple[str, int | None]]:
    """(size label, row count) of each part of the study: the recipe's own size ("recipe": every arm whole), then
    each of ``config.curate_sizes`` (a fraction of the pool, capped so every arm has that many rows)."""
    pool = len(inputs.split.pool)
    clean = study_rows("clean", 0, inputs, recipe_kept)
    cap = min(len(recipe_kept), len(clean) if clean is not None else pool)
    return [("recipe", None), *((f"{size:g}", min(round(size * pool), cap)) for size in config.curate_sizes)]


def measure_study(inputs, config, recipe_kept: np.ndarray, progress=None, cancel=None) -> pd.DataFrame:
    """One row per (size, method, seed): n_train, accuracy, macro-F1 and per-row results on the test split."""
    from euds_core.experiments.benchmark import measure

    records = []
    for seed in config.seeds:
        for size, count in study_settings(inputs, config, recipe_kept):
            for method in STUDY_METHODS if count is None else ("curate", "random", "clean"):
                rows = study_rows(method, seed, inputs, recipe_kept, count)
                if rows is None:
                    continue
                measured = measure(rows, seed, inputs, config, cancel=cancel)
                record = {"size": size, "method": method, "seed": seed, "n_train": len(rows)}
                record |= {"accuracy": measured.accuracy, "macro_f1": measured.macro_f1}
                record["correct"] = pack_correct(measured.correct)  # per test row: the verdicts resample them
                records.append(record)
                if progress:
                    at = "" if count is None else f" @ {size}"
                    progress(0, 0, f"curation study: {method}{at} seed {seed}: accuracy {measured.accuracy:.3f}")
    return pd.DataFrame(records)


# (method, baseline): what each comparison of the study asks
STUDY_COMPARISONS = (("curate", "random"), ("curate", "full"), ("curate", "clean"), ("full", "clean"))


def study_verdicts(cells: pd.DataFrame) -> pd.DataFrame:
    """Each comparison of :data:`STUDY_COMPARISONS` at each size of the study, paired by seed and test row
    (bootstrap over both, as the leaderboard), Benjamini–Hochberg across all of them; ``size_fraction`` holds
    the method's row count."""
    columns = [c for c in ("seed", "accuracy", "correct") if c in cells.columns]
    rows = []
    for size, part in cells.groupby("size", sort=False) if "size" in cells.columns else [("recipe", cells)]:
        for method, baseline in STUDY_COMPARISONS:
            mine, theirs = part[part["method"] == method], part[part["method"] == baseline]
            found = paired_difference(mine[columns], theirs[columns]) if len(mine) and len(theirs) else None
            if found is not None:
                name = method if size == "recipe" else f"{method} @ {size}"
                count = float(mine["n_train"].iloc[0])
                rows.append({"strategy": name, "size_fraction": count, "baseline": baseline, "matched": True, **found})
    table = pd.DataFrame(rows, columns=[c for c in VERDICT_COLUMNS if c not in ("q_value", "verdict")])
    return with_verdicts(table)


def method_defects(inputs, config, recipe_kept: np.ndarray, winners: dict) -> pd.DataFrame:
    """Defect recall / precision per kind of the rows every method drops from the pool (seed 0)."""
    from euds_core.experiments.benchmark import benchmark_methods, method_rows

    pool, n = inputs.split.pool, len(inputs.table)
    frames = []

    def add(method: str, size: float, rows: np.ndarray) -> None:
        kept = np.zeros(n, dtype=bool)
        kept[rows] = True
        report = defect_report(inputs.table.iloc[pool].reset_index(drop=True), kept[pool])
        frames.append(report.assign(method=method, size_fraction=size, n_train=len(rows)))

    for method in STUDY_METHODS:
        rows = study_rows(method, 0, inputs, recipe_kept)
        add(method, round(len(rows) / len(pool), 4), rows)
    methods = benchmark_methods(list(inputs.pool_scores.columns), samplers=config.samplers)
    for method in [m for m in methods if config.methods is None or m in config.methods]:
        for size in [1.0] if method == "full" else sorted(config.sizes):
            if method in ("full", "random"):
                continue
            try:
                add(method, size, method_rows(method, size, 0, inputs, config, winners.get(size)))
            except Exception:  # noqa: BLE001  a sampler this data cannot run is skipped by the leaderboard too
                continue
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def run_curation_study(dataset, config, out_dir, *, settings=None, progress=None, cancel=None) -> dict:
    """Search a recipe on the pool, measure it (see the module docstring), write the files; returns the summary.
    Run after the benchmark in the same ``out_dir``: its searches' winners give ``auto``'s rows."""
    from euds_core.experiments.benchmark import cached_searches, prepare_inputs
    from euds_core.experiments.null_guard import guard_workers
    from euds_core.experiments.selection_search import Candidate

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = prepare_inputs(dataset, config, cancel=cancel)
    searches = cached_searches(out_dir, inputs.run_key)
    winners = {size: Candidate(**s["winner"]) if s.get("winner") else None for size, s in searches.items()}
    settings = settings or RecipeSearchSettings(seed=config.split_seed, workers=guard_workers())
    result = search_recipe(
        inputs.table,
        inputs.search_scores,
        inputs.split.pool,
        inputs.embeddings,
        inputs.features,
        settings,
        progress=(lambda m: progress(0, 0, f"recipe search: {m}")) if progress else None,
        cancel=cancel,
    )
    kept = recipe_rows(result.recipe, inputs.split.pool, inputs.pool_scores, inputs.labels, inputs.embeddings)
    cells = measure_study(inputs, config, kept, progress=progress, cancel=cancel)
    defects = method_defects(inputs, config, kept, winners) if has_defects(inputs.table) else pd.DataFrame()
    summary = write_study(out_dir, dataset.name, result, cells, defects, pool_size=len(inputs.split.pool))
    return summary


def study_summary(result: RecipeSearchResult, cells: pd.DataFrame, defects: pd.DataFrame, pool_size: int) -> dict:
    """The numbers the acceptance asks for: mean accuracies, curate minus random (paired by seed), curate minus
    clean, defects removed and clean rows kept by the recipe."""
    verdicts = study_verdicts(cells) if len(cells) else pd.DataFrame()  # every size of the study
    at_sizes = cells[cells["size"] != "recipe"] if "size" in cells.columns else cells.iloc[:0]
    cells = cells[cells["size"] == "recipe"] if "size" in cells.columns else cells  # the recipe's own size
    means = cells.groupby("method")["accuracy"].mean().to_dict() if len(cells) else {}
    paired = cells.pivot(index="seed", columns="method", values="accuracy") if len(cells) else pd.DataFrame()
    out = {**result.summary(), "pool_rows": pool_size, "accuracy": means}
    out["accuracy_at_sizes"] = {
        size: part.groupby("method")["accuracy"].mean().to_dict() for size, part in at_sizes.groupby("size")
    }
    out["kept_rows"] = int(cells.loc[cells["method"] == "curate", "n_train"].iloc[0]) if len(cells) else 0
    if {"curate", "random"} <= set(paired.columns):
        out["curate_minus_random_pt"] = float((paired["curate"] - paired["random"]).mean() * 100)
    if {"curate", "clean"} <= set(paired.columns):
        out["curate_minus_clean_pt"] = float((paired["curate"] - paired["clean"]).mean() * 100)
    out["verdicts"] = [f"{r.strategy} vs {r.baseline}: {r.verdict}" for r in verdicts.itertuples()]
    if len(defects):
        mine = defects[defects["method"] == "curate"].set_index("kind")
        out["defects_removed"] = float(mine.loc["all", "recall"]) if "all" in mine.index else float("nan")
        out["clean_kept"] = float(mine.loc["clean", "kept"] / mine.loc["clean", "total"])
    return out


def write_study(out_dir: Path, name: str, result, cells: pd.DataFrame, defects: pd.DataFrame, *, pool_size: int):
    from euds_core.storage.atomic_files import write_json_atomic, write_text_atomic

    summary = {"dataset": name, **study_summary(result, cells, defects, pool_size)}
    cells.assign(dataset=name).to_csv(out_dir / "curation.csv", index=False)
    if len(defects):
        defects.assign(dataset=name).to_csv(out_dir / "curation-defects.csv", index=False)
    write_json_atomic(out_dir / "curation.json", summary, indent=1, default=str)
    write_text_atomic(out_dir / "curation.md", study_markdown(summary, result, cells, defects))
    return summary


def study_markdown(summary: dict, result, cells: pd.DataFrame, defects: pd.DataFrame) -> str:
    lines = [
        f"# Auto-curate · {summary['dataset']}",
        "",
        f"Recipe search on the pool (cross-fitted, linear proxy, null-calibrated): **{result.verdict}**.",
        "",
        "| size | method | n_train | seeds | mean accuracy | vs curate (pt) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for size, at_size in cells.groupby("size", sort=False) if "size" in cells.columns else [("recipe", cells)]:
        curate = at_size[at_size["method"] == "curate"].set_index("seed")["accuracy"]
        for method, part in at_size.groupby("method", sort=False):
            delta = (curate - part.set_index("seed")["accuracy"]).mean() * 100 if method != "curate" else 0.0
            lines.append(
                f"| {size} | {method} | {part['n_train'].iloc[0]} | {len(part)} | {part['accuracy'].mean():.3f} | "
                f"{'' if method == 'curate' else f'{delta:+.1f}'} |"
            )
    if summary.get("verdicts"):
        lines += ["", f"Verdicts (paired by seed and test row; {MULTIPLICITY}):", ""]
        lines += [f"- {line}" for line in summary["verdicts"]]
    if len(result.history):
        lines += [
            "",
            "Greedy steps (gain over the whole pool / over random at the step's size, held-out pool folds):",
            "",
        ]
        for r in result.history.itertuples():
            lines.append(
                f"{r.step}. {r.recipe}: {r.gain * 100:+.1f} pt / {r.gain_over_random * 100:+.1f} pt, keeps "
                f"{r.kept_share:.0%} ({r.why})"
            )
    if len(defects):
        lines += ["", "Defects: recall (share removed; a near-copy group counts once one copy remains) / precision", ""]
        lines += defects_markdown(defects)
    return "\n".join(lines) + "\n"


def _share(value: float) -> str:
    # precision is undefined when a method drops no row: a dash, not "nan"
    return "—" if pd.isna(value) else f"{value:.2f}"


def defects_markdown(defects: pd.DataFrame) -> list[str]:
    kinds = [k for k in dict.fromkeys(defects["kind"]) if k != "clean"]
    lines = ["| method | size | " + " | ".join(kinds) + " | clean kept |", "|---|---:|" + "---|" * len(kinds) + "---:|"]
    for (method, size), part in defects.groupby(["method", "size_fraction"], sort=False):
        part = part.set_index("kind")
        cells = [
            f"{_share(part.loc[k, 'recall'])} / {_share(part.loc[k, 'precision'])}" if k in part.index else ""
            for k in kinds
        ]
        clean = part.loc["clean"] if "clean" in part.index else None
        kept = "" if clean is None else f"{clean['kept'] / max(clean['total'], 1):.0%}"
        lines.append(f"| {method} | {size:g} | " + " | ".join(cells) + f" | {kept} |")
    return lines


def load_study(out_dir: str | Path) -> dict | None:
    path = Path(out_dir) / "curation.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
