"""The benchmark's report: a leaderboard table per (dataset, size), the search's word, the proxy's fidelity.

Reads the cells a benchmark stored (:mod:`euds_core.experiments.benchmark_store`) and the statistics of
:mod:`euds_core.experiments.statistics`: mean accuracy with a 95 % interval over seeds and test rows, the paired
gain over ``random`` and over ``random:balanced`` (a label-balanced method's matching baseline), and a verdict
whose p-value is adjusted across the whole table (Benjamini–Hochberg).

**Proxy fidelity.** In ``--finetune`` mode every cell also records the linear proxy's accuracy on the same rows;
the leaderboard prints the rank agreement (Spearman, Kendall) between proxy and fine-tune over the methods of
each size (at least 8 are needed for a figure; methods chosen by the proxy's own kind of model are listed apart,
never ranked by it: :mod:`euds_core.experiments.proxy_fidelity`), so a reader knows how far a proxy-chosen winner
can be trusted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from euds_core.experiments.benchmark_store import CELL_COLUMNS, read_dataset_notes, read_searches
from euds_core.experiments.proxy_fidelity import fidelity_lines, proxy_derived_methods
from euds_core.experiments.statistics import (
    BALANCED_BASELINE,
    BASELINE,
    MULTIPLICITY,
    curve_summary,
    interval_text,
    paired_verdicts,
)


def balanced_methods(cells: pd.DataFrame) -> set[str]:
    """The methods whose cells are label-balanced."""
    flags = cells["balanced"].astype(str).str.lower().isin(("true", "1"))
    return set(cells.loc[flags, "method"])


def leaderboard(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, method, size): seeds, n_train, mean accuracy with its 95 % interval, the paired gain
    over random and over random:balanced (points, 95 % interval), and the verdict against the matching one."""
    rows = []
    for dataset, part in cells.groupby("dataset", sort=True):
        runs = part.rename(columns={"method": "strategy"}).assign(accuracy=lambda f: f["accuracy"].astype(float))
        verdicts = paired_verdicts(runs, balanced=balanced_methods(part))
        for r in curve_summary(runs).itertuples():
            rows.append({"dataset": dataset, **board_row(r, verdicts, part)})
    board = pd.DataFrame(rows)
    if board.empty:
        return board
    return board.sort_values(["dataset", "size_fraction", "accuracy"], ascending=[True, True, False]).reset_index(
        drop=True
    )


def board_row(point, verdicts: pd.DataFrame, part: pd.DataFrame) -> dict:
    """One leaderboard row from a curve point and the verdicts of its (strategy, size)."""
    mine = verdicts[
        (verdicts["strategy"] == point.strategy) & np.isclose(verdicts["size_fraction"], point.size_fraction)
    ]
    by_baseline = {v.baseline: v for v in mine.itertuples()}
    matched = next((v for v in mine.itertuples() if v.matched), None)
    choices = part[
        (part["method"] == point.strategy) & np.isclose(part["size_fraction"].astype(float), point.size_fraction)
    ]
    row = {
        "method": point.strategy,
        "size_fraction": point.size_fraction,
        "seeds": point.seeds,
        "n_train": point.n_train,
        "accuracy": point.accuracy,
        "ci_low": point.ci_low,
        "ci_high": point.ci_high,
    }
    for prefix, name in (("gain", BASELINE), ("gain_balanced", BALANCED_BASELINE)):
        v = by_baseline.get(name)
        row[f"{prefix}_pt"] = None if v is None else v.difference_pt
        row[f"{prefix}_ci_low_pt"] = None if v is None else v.ci_low_pt
        row[f"{prefix}_ci_high_pt"] = None if v is None else v.ci_high_pt
    baseline_names = (BASELINE, BALANCED_BASELINE)
    row["verdict"] = "baseline" if point.strategy in baseline_names else ("—" if matched is None else matched.verdict)
    row["matched_baseline"] = "" if matched is None else matched.baseline
    row["choice"] = next((c for c in choices["choice"] if c), "")
    return row


def search_sentence(summary: dict) -> str:
    """The search's word in one sentence (the CLI's and the leaderboard's)."""
    from euds_core.experiments.selection_search import Candidate

    best = Candidate(**summary["best"]).name if summary.get("best") else "the best candidate"
    run = summary.get("permutations_run")
    if run is not None and run < summary["permutations"]:  # the guard stopped once the answer was certain
        null = (
            f"the null stopped after {run} of {summary['permutations']} permutations with p >= {summary['p_value']:.2f}"
        )
        return (
            f"{summary['verdict']} [best candidate {best}: {summary['gain'] * 100:+.1f} ± "
            f"{summary['gain_se'] * 100:.1f} pt cross-fitted over the pool; {null}]"
        )
    return (
        f"{summary['verdict']} [best candidate {best}: {summary['gain'] * 100:+.1f} ± {summary['gain_se'] * 100:.1f} pt "
        f"cross-fitted over the pool; permuted scores reach {summary['null_quantile'] * 100:+.1f} pt at their 95th "
        f"percentile, p = {summary['p_value']:.2f} over {summary['permutations']} permutations; kNN proxy "
        f"{summary['knn_gain'] * 100:+.1f} pt; linear/kNN rank agreement {summary['proxy_agreement']:.2f}]"
    )


def header_lines(mode: str) -> list[str]:
    what = "linear proxy on frozen embeddings" if mode == "proxy" else "fine-tuned classifier"
    return [
        "# Benchmark leaderboard",
        "",
        f"Accuracy of a {what} trained on each method's subset of the pool, measured on the untouched test split",
        "(mean over seeds; 95 % interval over seeds and test rows, a two-level bootstrap). Gain = the paired",
        "difference from `random` and from `random:balanced` (a label-stratified random subset) at the same size",
        "and seeds, in accuracy points; a label-balanced method's verdict is read against `random:balanced`.",
        f"Multiple comparisons: {MULTIPLICITY}; a verdict needs q < 0.05 and an interval that excludes 0.",
        "`auto` is the selection search's winner, cross-fitted over the pool and accepted only when it beats the",
        "same search on permuted scores (never the test split).",
    ]


PROXY_DERIVED_MARK = " †"
PROXY_DERIVED_NOTE = (
    "† chosen by a score from the proxy's own kind of model (classifier entropy, margin, EL2N, ...): this table "
    "measures it with that proxy, which finds its rows easy by construction, so its place here is not evidence; "
    "confirm it with `--finetune` (or measure the proxy with `--fidelity`)."
)


def interval_cell(low: float, high: float) -> str:
    """The "95 % CI" column's cell: ``a–b`` (the column header names the level), or ``no interval``."""
    return interval_text(low, high).removeprefix("95 % CI ")


def size_table(part: pd.DataFrame, flagged: set[str] = frozenset()) -> list[str]:
    """The Markdown table of one (dataset, size); the ``flagged`` methods carry the proxy-derived mark."""

    def gain(r, prefix: str) -> str:
        value = getattr(r, f"{prefix}_pt")
        if value is None or pd.isna(value):
            return ""
        low, high = getattr(r, f"{prefix}_ci_low_pt"), getattr(r, f"{prefix}_ci_high_pt")
        return f"{value:+.1f} ({low:+.1f} to {high:+.1f})" if np.isfinite(low) else f"{value:+.1f} (no interval)"

    lines = [
        "| method | n_train | seeds | mean accuracy | 95 % CI | gain vs random (pt) | gain vs random:balanced (pt) | verdict |",
        "|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for r in part.itertuples():
        name = (r.method if not r.choice else f"{r.method} = {r.choice}") + (
            PROXY_DERIVED_MARK if r.method in flagged else ""
        )
        verdict = r.verdict if not r.matched_baseline else f"vs {r.matched_baseline}: {r.verdict}"
        lines.append(
            f"| {name} | {r.n_train:.0f} | {r.seeds} | {r.accuracy:.3f} | {interval_cell(r.ci_low, r.ci_high)} | "
            f"{gain(r, 'gain')} | {gain(r, 'gain_balanced')} | {verdict} |"
        )
    return lines


def leaderboard_markdown(
    board: pd.DataFrame, searches: list[dict], *, mode: str, cells: pd.DataFrame | None = None, notes: list[str] = ()
) -> str:
    """The human leaderboard: one table per (dataset, size), best mean accuracy first, the search's word, and in
    fine-tune mode the proxy's fidelity."""
    lines = header_lines(mode) + ([""] + list(notes) if notes else [])
    for (dataset, size), part in board.groupby(["dataset", "size_fraction"], sort=True):
        lines += ["", f"## {dataset} · size {size:g}", ""]
        for s in searches:
            if s.get("dataset") == dataset and np.isclose(s["size"], size):
                lines += [f"Search: {search_sentence(s)}.", ""]
        if mode == "finetune" and cells is not None and size < 1.0:
            lines += [*fidelity_lines(cells, dataset, size), ""]
        flagged = proxy_derived_methods(part["method"]) if mode == "proxy" else set()
        lines += [PROXY_DERIVED_NOTE, ""] if flagged else []
        lines += size_table(part, flagged)
    return "\n".join(lines) + "\n"


def write_leaderboard(cells: pd.DataFrame, out_dir: str | Path, *, mode: str, run_keys: list[str]) -> pd.DataFrame:
    """``DIR/leaderboard.csv`` (the tidy cells), ``DIR/leaderboard.md`` and ``DIR/leaderboard.json``; returns
    the summary board."""
    from euds_core.storage.atomic_files import atomic_path, write_json_atomic, write_text_atomic

    out_dir = Path(out_dir)
    with atomic_path(out_dir / "leaderboard.csv") as tmp:
        cells[CELL_COLUMNS].to_csv(tmp, index=False)
    board = leaderboard(cells)
    notes = [n["sentence"] for key, n in read_dataset_notes(out_dir).items() if key in run_keys and n.get("sentence")]
    text = leaderboard_markdown(board, read_searches(out_dir, run_keys), mode=mode, cells=cells, notes=notes)
    write_text_atomic(out_dir / "leaderboard.md", text)
    write_json_atomic(out_dir / "leaderboard.json", {"mode": mode, "run_keys": run_keys}, indent=1)
    return board
