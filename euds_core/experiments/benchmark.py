"""The benchmark (docs/experiments.md): datasets x methods x sizes x seeds, measured on the untouched test split.

Methods at each size fraction of the pool:

* ``random`` (the baseline every other method is paired with, seed by seed) and ``full`` (the whole pool);
* each EUDS band: every EUDS score present (information, generative, semantic, igse and its pairs) at the
  ``low``, ``middle`` and ``high`` band, e.g. ``semantic:low``;
* each literature score present at its ``high`` band (the hard / uncertain / diverse end), e.g. ``el2n:high``;
* each sampler of the registry (MIG, k-center, hard/easy, cluster-balanced);
* ``auto``: the winner of :func:`~euds_core.experiments.selection_search.search_selection` at that size,
  chosen on the pool's validation split; when nothing beats random there, ``auto`` trains on a random subset
  and its ``choice`` column says so.

Score bands are label-balanced by default (within each class, so they keep the pool's label proportions).
Label-using scores are refitted on the pool for the methods and on each cross-fitting fold's training rows for
the search, so no choice sees a test label. ``proxy`` mode measures each subset with a logistic regression on the cached frozen
embeddings (PCA fitted on pool rows); ``finetune`` mode fine-tunes the BERT-family classifier.

Every finished cell is written at once to ``DIR/cells.csv`` under a run key (data, scores digest, encoder,
mode and training settings, split and search settings); a rerun with the same key skips finished cells, and a
changed key never reuses them. ``DIR/leaderboard.csv`` (tidy) and ``DIR/leaderboard.md`` are written at the end.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError, ScoringCancelled
from euds_core.experiments.finetune import sampler_names, selection_inputs_digest, subset_rows
from euds_core.experiments.proxy import linear_proxy_predictions, proxy_features
from euds_core.experiments.selection_search import (
    Candidate,
    SearchResult,
    SearchSettings,
    candidate_rows,
    near_duplicate_rows,
    search_selection,
)
from euds_core.experiments.splits import ExperimentSplit, table_split
from euds_core.experiments.statistics import curve_summary, paired_verdicts
from euds_core.experiments.training import FinetuneConfig

# Model-free or encoder-only scores: the default (the LM scores take ~20 min per 3,000 rows on 2 CPU cores).
DEFAULT_SCORES = (
    "information",
    "semantic",
    "is",
    "ttr",
    "mtld",
    "distinct_2",
    "knn_distance",
    "classifier_entropy",
    "margin",
    "el2n",
    "label_issue",
)
EUDS_BAND_SCORES = ("information", "generative", "semantic", "igse", "ig", "is", "gs")
BANDS = ("low", "middle", "high")
CELL_COLUMNS = [
    "dataset",
    "method",
    "size_fraction",
    "seed",
    "n_train",
    "accuracy",
    "macro_f1",
    "seconds",
    "choice",
]
BenchProgressFn = Callable[[int, int, str], None]  # (cells done, cells total, message)


@dataclass
class BenchmarkConfig:
    mode: str  # proxy | finetune
    sizes: list[float] = field(default_factory=lambda: [0.1, 0.16])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    scores: list[str] = field(default_factory=lambda: list(DEFAULT_SCORES))
    options: dict = field(default_factory=dict)  # encoder / tokenizer / lm, as for `score`
    label_balanced: bool = True
    samplers: bool = True
    search_step: float = 0.1
    random_draws: int = 5
    test_fraction: float = 0.2
    split_seed: int = 0
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    methods: list[str] | None = None  # a subset of benchmark_methods() (None: all of them)
    cached_only: bool = False  # use the scores already cached (the app's study), never start scoring

    def check(self) -> None:
        if self.mode not in ("proxy", "finetune"):
            raise EudsInputError("give --proxy or --finetune")
        if not self.sizes or any(not 0.0 < s < 1.0 for s in self.sizes):
            raise EudsInputError("--sizes must be fractions in (0, 1), e.g. 0.1,0.16 (full runs by itself)")
        if not self.seeds:
            raise EudsInputError("give at least one seed")
        if not self.scores:
            raise EudsInputError("--scores is empty; e.g. --scores information,semantic")
        if self.random_draws < 2:
            raise EudsInputError("--random-draws must be at least 2")
        if self.mode == "finetune":
            self.finetune.check()
        if self.methods is not None:
            from euds_core.scoring.engine import expand_score_names

            known = benchmark_methods(expand_score_names(list(self.scores)), samplers=self.samplers)
            unknown = sorted(set(self.methods) - set(known))
            if unknown:
                raise EudsInputError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(known)}")

    @property
    def encoder(self) -> str:
        from euds_core.models.loading import DEFAULT_ENCODER

        return self.options.get("encoder") or DEFAULT_ENCODER

    def run_key(self, dataset_id: str, scores: pd.DataFrame) -> str:
        """Everything a cell's number depends on, except (method, size, seed)."""
        from euds_core.models.embeddings import encoder_id, resolved_embedding_precision

        fixed = {
            "dataset": dataset_id,
            "mode": self.mode,
            "scores": selection_inputs_digest(scores, list(scores.columns)),
            "encoder": encoder_id(self.encoder),
            "embedding_precision": resolved_embedding_precision(self.encoder),  # the proxy's and search's features
            "options": self.options,
            "label_balanced": self.label_balanced,
            "search": [self.search_step, self.random_draws],
            "split": [self.test_fraction, self.split_seed],
            "training": self.finetune.key_params() if self.mode == "finetune" else "linear-proxy-pca64",
        }
        return hashlib.sha256(json.dumps(fixed, sort_keys=True, default=str).encode()).hexdigest()[:16]


def benchmark_methods(score_names: list[str], *, samplers: bool = True) -> list[str]:
    """random, full, each EUDS band, each literature score's high band, each sampler, auto."""
    euds = [f"{s}:{band}" for s in score_names if s in EUDS_BAND_SCORES for band in BANDS]
    literature = [f"{s}:high" for s in score_names if s not in EUDS_BAND_SCORES]
    return ["random", "full", *euds, *literature, *(sampler_names() if samplers else []), "auto"]


# ---------------------------------------------------------------------------------------------- inputs


@dataclass
class BenchInputs:
    """What every cell of one dataset reads."""

    table: pd.DataFrame
    labels: np.ndarray
    split: ExperimentSplit
    pool_scores: pd.DataFrame  # label-using scores fitted on the pool: what the methods choose by
    search_scores: Callable  # a fold's training rows -> the scores fitted there: what the search ranks by
    embeddings: np.ndarray
    features: np.ndarray  # the proxy's PCA features (fitted on pool rows)
    run_key: str


def prepare_inputs(dataset, config: BenchmarkConfig, *, progress=None, cancel=None) -> BenchInputs:
    """Score the dataset (cached), embed it (cached), split it, and fit label-using scores on the pool and on
    ``search_train`` only: their whole-table values (which see test labels) are never computed here."""
    from euds_core.experiments.pool_scores import fold_fitted_scores, pool_fitted_scores, uses_labels
    from euds_core.models.embeddings import compute_embeddings
    from euds_core.scoring.engine import score_dataset
    from euds_core.storage.cache import DatasetCache

    if dataset.task != "classification":
        raise EudsInputError(f"{dataset.name}: the benchmark needs class labels (--label-col)")
    labels = dataset.table["label"].astype(str).to_numpy()
    if len(np.unique(labels)) < 2:
        raise EudsInputError(f"{dataset.name}: the benchmark needs at least two label classes")
    fitted_only = [n for n in dict.fromkeys(config.scores) if uses_labels(n)]
    plain = [n for n in config.scores if n not in fitted_only]
    scores = pd.DataFrame(index=dataset.table.index)
    if plain:
        scores = score_dataset(
            dataset, plain, options=config.options, progress=progress, cancel=cancel, cached_only=config.cached_only
        )
    # Placeholders: pool_fitted_scores replaces every label-using column with values fitted on the given rows.
    scores = scores.assign(**{n: np.zeros(len(scores), dtype=np.float32) for n in fitted_only})
    if not len(scores.columns):
        raise EudsInputError(f"{dataset.name}: no computed scores to select by; score the dataset first")
    embeddings = compute_embeddings(
        dataset.table, encoder=config.encoder, cache=DatasetCache(dataset.id), cancel=cancel
    )
    split = table_split(dataset.table, test_fraction=config.test_fraction, split_seed=config.split_seed)
    fit = dict(dataset_id=dataset.id, options=config.options)
    if fitted_only and progress:
        progress("label-using scores", 0, 0, f"fitting {', '.join(fitted_only)} on the pool rows only")
    return BenchInputs(
        table=dataset.table,
        labels=labels,
        split=split,
        pool_scores=pool_fitted_scores(dataset.table, scores, split.pool, **fit),
        search_scores=fold_fitted_scores(dataset.table, scores, **fit),
        embeddings=embeddings,
        features=proxy_features(embeddings, split.pool, seed=config.split_seed),
        run_key=config.run_key(dataset.id, scores),
    )


# ---------------------------------------------------------------------------------------------- cells


def method_rows(
    method: str, size: float, seed: int, inputs: BenchInputs, config: BenchmarkConfig, winner: Candidate | None
) -> np.ndarray:
    """Sorted table rows (from the pool) that ``method`` trains on at ``size``."""
    pool = inputs.split.pool
    common = dict(table=inputs.table, pool=pool, scores=inputs.pool_scores, embeddings=inputs.embeddings)
    if method == "auto":
        if winner is None:
            return subset_rows("random", size, seed, score=None, **common)
        duplicates = near_duplicate_rows(inputs.embeddings, pool) if winner.dedup else np.zeros(0, dtype=np.int64)
        values = inputs.pool_scores[winner.score].to_numpy(dtype=np.float64)
        # The band keeps round(size * |pool|) rows starting at p_lo: the search's band, applied to the pool.
        band = Candidate(winner.score, winner.p_lo, round(winner.p_lo + size, 6), winner.label_balanced, winner.dedup)
        return candidate_rows(band, pool, values, inputs.labels, duplicates, seed)
    if ":" in method:
        score, band = method.split(":", 1)
        return subset_rows(score, size, seed, score=score, band=band, label_balanced=config.label_balanced, **common)
    sampler_score = next((s for s in ("el2n", "information") if s in inputs.pool_scores.columns), None)
    return subset_rows(method, size, seed, score=sampler_score, **common)


def measure(rows: np.ndarray, seed: int, inputs: BenchInputs, config: BenchmarkConfig, progress=None, cancel=None):
    """(accuracy, macro-F1) on the test split of a model trained on ``rows``."""
    from sklearn.metrics import f1_score

    test = inputs.split.test
    if config.mode == "proxy":
        from threadpoolctl import threadpool_limits

        classes = np.unique(inputs.labels[inputs.split.pool])
        y = np.searchsorted(classes, inputs.labels)
        with threadpool_limits(limits=1):  # a small fit: thread pools only add overhead
            predicted = linear_proxy_predictions(inputs.features, y, rows, test)
        return float(np.mean(predicted == y[test])), float(f1_score(y[test], predicted, average="macro"))
    from euds_core.experiments.training import train_and_evaluate

    result = train_and_evaluate(
        inputs.table,
        rows,
        test,
        task="classification",
        config=config.finetune,
        seed=seed,
        pool=inputs.split.pool,
        progress=progress,
        cancel=cancel,
    )
    return result.accuracy, result.macro_f1


def planned_cells(methods: list[str], sizes: list[float], seeds: list[int]) -> list[tuple[str, float, int]]:
    """(method, size, seed): ``full`` once per seed at 1.0, every other method at every size."""
    cells = []
    for seed in seeds:
        for size in sorted(sizes):
            cells.extend((m, round(float(size), 6), seed) for m in methods if m != "full")
        if "full" in methods:
            cells.append(("full", 1.0, seed))
    return cells


def read_cells(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame(columns=[*CELL_COLUMNS, "run_key"])
    return pd.read_csv(path, dtype={"run_key": str, "choice": str}, keep_default_na=False)


def _search_summary_path(out_dir: Path) -> Path:
    return out_dir / "search.json"


def cached_searches(out_dir: Path, run_key: str) -> dict[float, dict]:
    path = _search_summary_path(out_dir)
    if not path.exists():
        return {}
    saved = json.loads(path.read_text(encoding="utf-8"))
    return {round(float(s["size"]), 6): s for s in saved if s.get("run_key") == run_key}


def save_search(out_dir: Path, dataset_name: str, run_key: str, result: SearchResult) -> None:
    from euds_core.storage.atomic_files import atomic_path, write_json_atomic

    path = _search_summary_path(out_dir)
    saved = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    saved = [s for s in saved if not (s.get("run_key") == run_key and np.isclose(s["size"], result.size))]
    saved.append({**result.summary(), "dataset": dataset_name, "run_key": run_key})
    write_json_atomic(path, saved, indent=1)
    with atomic_path(out_dir / f"search-{run_key}-{result.size:g}.csv") as tmp:
        result.candidates.to_csv(tmp, index=False)


def _random_twin(saved: pd.DataFrame, run_key: str, dataset_name: str, size: float, seed: int):
    """The finished ``random`` cell at (size, seed), or None: what ``auto`` trains when nothing beat random."""
    same = saved[
        (saved["run_key"] == run_key)
        & (saved["dataset"] == dataset_name)
        & (saved["method"] == "random")
        & (saved["seed"].astype(int) == seed)
        & ((saved["size_fraction"].astype(float) - size).abs() < 1e-9)
    ]
    return None if same.empty else same.iloc[-1]


def run_benchmark(
    dataset,
    config: BenchmarkConfig,
    out_dir: str | Path,
    *,
    progress: BenchProgressFn | None = None,
    cancel: Callable[[], bool] | None = None,
) -> pd.DataFrame:
    """Run (or resume) every cell of one dataset; returns its cells (the :data:`CELL_COLUMNS`)."""
    from euds_core.storage.atomic_files import atomic_path

    config.check()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scoring = (
        (lambda name, done, total, message: progress(0, 0, f"scoring {name}: {done}/{total} rows"))
        if progress
        else None
    )
    inputs = prepare_inputs(dataset, config, progress=scoring, cancel=cancel)
    methods = benchmark_methods(list(inputs.pool_scores.columns), samplers=config.samplers)
    if config.methods is not None:
        methods = [m for m in methods if m in config.methods]
    cells = planned_cells(methods, config.sizes, config.seeds)
    searches = cached_searches(out_dir, inputs.run_key)
    winners: dict[float, Candidate | None] = {}
    for size in sorted({round(float(s), 6) for s in config.sizes}):
        if size not in searches:
            if progress:
                progress(0, len(cells), f"searching selections at size {size:g} on the pool's validation split")
            result = search_selection(
                inputs.embeddings,
                inputs.labels,
                inputs.search_scores,
                inputs.split,
                size,
                SearchSettings(step=config.search_step, random_draws=config.random_draws, seed=config.split_seed),
                features=inputs.features,
                progress=(lambda d, t, m, _z=size: progress(0, 0, f"search @ {_z:g}: candidate {d}/{t}"))
                if progress
                else None,
                cancel=cancel,
            )
            save_search(out_dir, dataset.name, inputs.run_key, result)
            searches[size] = {**result.summary(), "run_key": inputs.run_key}
        winner = searches[size]["winner"]
        winners[size] = Candidate(**winner) if winner else None
    store = out_dir / "cells.csv"
    saved = read_cells(store)
    done = {
        (r.method, round(float(r.size_fraction), 6), int(r.seed))
        for r in saved.itertuples()
        if r.run_key == inputs.run_key and r.dataset == dataset.name
    }
    for i, (method, size, seed) in enumerate(cells):
        if (method, size, seed) in done:
            continue
        if cancel is not None and cancel():
            raise ScoringCancelled(f"benchmark cancelled after {i} of {len(cells)} cells (finished cells are saved)")
        t0 = time.perf_counter()
        winner = winners.get(size)
        try:
            rows = method_rows(method, size, seed, inputs, config, winner)
        except EudsInputError as exc:  # e.g. a sampler that needs what this data lacks: say so, go on
            if progress:
                progress(i + 1, len(cells), f"skipped {method} @ {size:g}: {exc}")
            continue
        choice = ""
        if method == "auto":
            choice = winner.name if winner is not None else "random (nothing beat random on validation)"
        twin = (
            _random_twin(saved, inputs.run_key, dataset.name, size, seed) if method == "auto" and not winner else None
        )
        if twin is not None:  # the same rows and seed as that random cell: the same run, not trained twice
            accuracy, macro_f1 = float(twin.accuracy), float(twin.macro_f1)
        else:
            accuracy, macro_f1 = measure(rows, seed, inputs, config, cancel=cancel)
        record = {
            "dataset": dataset.name,
            "method": method,
            "size_fraction": size,
            "seed": seed,
            "n_train": len(rows),
            "accuracy": accuracy,
            "macro_f1": macro_f1,
            "seconds": time.perf_counter() - t0,
            "choice": choice,
            "run_key": inputs.run_key,
        }
        saved = pd.concat([saved, pd.DataFrame([record])], ignore_index=True)
        with atomic_path(store) as tmp:
            saved.to_csv(tmp, index=False)
        if progress:
            progress(i + 1, len(cells), f"{method} @ {size:g} seed {seed}: accuracy {accuracy:.3f}")
    mine = saved[(saved["run_key"] == inputs.run_key) & (saved["dataset"] == dataset.name)]
    wanted = {(m, z, d) for m, z, d in cells}
    keep = [(r.method, round(float(r.size_fraction), 6), int(r.seed)) in wanted for r in mine.itertuples()]
    result = mine[keep][CELL_COLUMNS].reset_index(drop=True)
    result.attrs["run_key"] = inputs.run_key  # which searches (search.json) belong to these cells
    return result


# ---------------------------------------------------------------------------------------------- leaderboard


def leaderboard(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, method, size): seeds, n_train, mean accuracy with its 95 % CI, and the paired
    difference from random at the same size and seeds (points, 95 % CI) with its verdict."""
    rows = []
    for dataset, part in cells.groupby("dataset", sort=True):
        runs = part.rename(columns={"method": "strategy"})
        curve = curve_summary(runs)
        verdicts = paired_verdicts(runs).set_index(["strategy", "size_fraction"])
        for r in curve.itertuples():
            v = verdicts.loc[(r.strategy, r.size_fraction)] if (r.strategy, r.size_fraction) in verdicts.index else None
            choices = part[(part["method"] == r.strategy) & np.isclose(part["size_fraction"], r.size_fraction)]
            rows.append(
                {
                    "dataset": dataset,
                    "method": r.strategy,
                    "size_fraction": r.size_fraction,
                    "seeds": r.seeds,
                    "n_train": r.n_train,
                    "accuracy": r.accuracy,
                    "ci_low": r.ci_low,
                    "ci_high": r.ci_high,
                    "gain_pt": None if v is None else v.difference_pt,
                    "gain_ci_low_pt": None if v is None else v.ci_low_pt,
                    "gain_ci_high_pt": None if v is None else v.ci_high_pt,
                    "verdict": "baseline" if r.strategy == "random" else ("—" if v is None else v.verdict),
                    "choice": next((c for c in choices["choice"] if c), ""),
                }
            )
    board = pd.DataFrame(rows)
    if board.empty:
        return board
    return board.sort_values(["dataset", "size_fraction", "accuracy"], ascending=[True, True, False]).reset_index(
        drop=True
    )


def leaderboard_markdown(board: pd.DataFrame, searches: list[dict], *, mode: str) -> str:
    """The human leaderboard: one table per (dataset, size), best mean accuracy first, and the search's word."""
    what = "linear proxy on frozen embeddings" if mode == "proxy" else "fine-tuned classifier"
    lines = [
        "# Benchmark leaderboard",
        "",
        f"Accuracy of a {what} trained on each method's subset of the pool, measured on the untouched test split",
        "(mean over seeds, 95 % t-interval). Gain = the paired difference from `random` at the same size and seeds,",
        "in accuracy points; the verdict needs that interval to exclude 0. `auto` is the selection search's winner,",
        "cross-fitted over the pool and accepted only when it beats the same search on permuted scores (never the",
        "test split).",
    ]
    for (dataset, size), part in board.groupby(["dataset", "size_fraction"], sort=True):
        lines += ["", f"## {dataset} · size {size:g}", ""]
        for s in searches:
            if s.get("dataset") == dataset and np.isclose(s["size"], size):
                lines.append(f"Search: {search_sentence(s)}.")
                lines.append("")
        lines += [
            "| method | n_train | seeds | mean accuracy | 95 % CI | gain over random (pt) | verdict |",
            "|---|---:|---:|---:|---|---:|---|",
        ]
        for r in part.itertuples():
            gain = (
                "" if pd.isna(r.gain_pt) else f"{r.gain_pt:+.1f} ({r.gain_ci_low_pt:+.1f} to {r.gain_ci_high_pt:+.1f})"
            )
            name = r.method if not r.choice else f"{r.method} = {r.choice}"
            lines.append(
                f"| {name} | {r.n_train:.0f} | {r.seeds} | {r.accuracy:.3f} | {r.ci_low:.3f}–{r.ci_high:.3f} | "
                f"{gain} | {r.verdict} |"
            )
    return "\n".join(lines) + "\n"


def search_sentence(summary: dict) -> str:
    """The search's word in one sentence (the CLI's and the leaderboard's)."""
    best = Candidate(**summary["best"]).name if summary.get("best") else "the best candidate"
    return (
        f"{summary['verdict']} [best candidate {best}: {summary['gain'] * 100:+.1f} ± {summary['gain_se'] * 100:.1f} pt "
        f"cross-fitted over the pool; permuted scores reach {summary['null_quantile'] * 100:+.1f} pt at their 95th "
        f"percentile, p = {summary['p_value']:.2f} over {summary['permutations']} permutations; kNN proxy "
        f"{summary['knn_gain'] * 100:+.1f} pt; linear/kNN rank agreement {summary['proxy_agreement']:.2f}]"
    )


def write_leaderboard(cells: pd.DataFrame, out_dir: str | Path, *, mode: str, run_keys: list[str]) -> pd.DataFrame:
    """``DIR/leaderboard.csv`` (the tidy cells) and ``DIR/leaderboard.md``; returns the summary board."""
    from euds_core.storage.atomic_files import atomic_path, write_json_atomic, write_text_atomic

    out_dir = Path(out_dir)
    with atomic_path(out_dir / "leaderboard.csv") as tmp:
        cells[CELL_COLUMNS].to_csv(tmp, index=False)
    board = leaderboard(cells)
    path = _search_summary_path(out_dir)
    searches = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    searches = [s for s in searches if s.get("run_key") in run_keys]
    write_text_atomic(out_dir / "leaderboard.md", leaderboard_markdown(board, searches, mode=mode))
    write_json_atomic(out_dir / "leaderboard.json", {"mode": mode, "run_keys": run_keys}, indent=1)
    return board


# ---------------------------------------------------------------------------------------------- the app's study


def study_dir(dataset_id: str) -> Path:
    """Where the Fine-tune page's selection study of a dataset keeps its cells and leaderboard."""
    from euds_core.storage.workspace import workspace_dir

    return workspace_dir("selection_study") / dataset_id


STUDY_METHODS = ["random", "full", "auto"]


def study_job(args: dict, update: Callable[[float, str], None], cancelled: Callable[[], bool]) -> dict:
    """The ``selection_study`` job: search a selection on the pool's validation split (proxy), then confirm its
    winner against random at the same size and the full pool with real fine-tunes on the test split.

    args = {dataset_id, sizes, seeds, scores, options, config (FinetuneConfig fields), label_balanced, threads}.
    """
    import torch

    from euds_core.data.datasets import load_saved_dataset

    if args.get("threads"):
        torch.set_num_threads(int(args["threads"]))
    dataset = load_saved_dataset(args["dataset_id"])
    fields = FinetuneConfig.__dataclass_fields__
    config = BenchmarkConfig(
        mode="finetune",
        sizes=[float(s) for s in args.get("sizes", [0.16])],
        seeds=[int(s) for s in args.get("seeds", [0, 1, 2])],
        scores=list(args["scores"]),
        options=args.get("options") or {},
        label_balanced=bool(args.get("label_balanced", True)),
        finetune=FinetuneConfig(**{k: v for k, v in (args.get("config") or {}).items() if k in fields}),
        methods=list(STUDY_METHODS),
        cached_only=True,
    )
    out = study_dir(dataset.id)

    def progress(done: int, total: int, message: str) -> None:
        update(done / total if total else 0.0, message)

    cells = run_benchmark(dataset, config, out, progress=progress, cancel=cancelled)
    board = write_leaderboard(cells, out, mode="finetune", run_keys=[cells.attrs["run_key"]])
    return {"cells": len(cells), "rows": len(board)}


def load_study(dataset_id: str) -> tuple[pd.DataFrame, list[dict]]:
    """(cells of the latest study, its search summaries); empty when none ran yet."""
    out = study_dir(dataset_id)
    path = out / "leaderboard.csv"
    if not path.exists():
        return pd.DataFrame(columns=CELL_COLUMNS), []
    cells = pd.read_csv(path, keep_default_na=False, dtype={"choice": str})
    searches = json.loads((out / "search.json").read_text(encoding="utf-8")) if (out / "search.json").exists() else []
    keys = json.loads((out / "leaderboard.json").read_text(encoding="utf-8"))["run_keys"]
    return cells, [s for s in searches if s.get("run_key") in keys]
