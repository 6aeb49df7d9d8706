"""The benchmark (docs/experiments.md): datasets x methods x sizes x seeds, measured on the untouched test split.

Methods at each size fraction of the pool:

* ``random`` and ``random:balanced`` (a label-stratified random subset: a label-balanced method's matching
  baseline), the baselines every other method is paired with, seed by seed and test row by test row; ``full``
  (the whole pool);
* each EUDS band: every EUDS score present (information, generative, semantic, igse and its pairs) at the
  ``low``, ``middle`` and ``high`` band, e.g. ``semantic:low``;
* each literature score present at its ``high`` band (the hard / uncertain / diverse end), e.g. ``el2n:high``;
* each sampler of the registry (MIG, k-center, hard/easy, cluster-balanced);
* ``auto``: the winner of :func:`~euds_core.experiments.selection_search.search_selection` at that size,
  chosen on the pool's validation split; when nothing beats random there, ``auto`` trains on a random subset
  and its ``choice`` column says so. In ``finetune`` mode the search leaves out the scores built from the
  proxy's own predictions (``PROXY_DERIVED_SCORES``), whose proxy wins did not survive fine-tunes.

Score bands are label-balanced by default (within each class, so they keep the pool's label proportions).
Label-using scores are refitted on the pool for the methods and on each cross-fitting fold's training rows for
the search, so no choice sees a test label. ``proxy`` mode measures each subset with a logistic regression on the cached frozen
embeddings (PCA fitted on pool rows); ``finetune`` mode fine-tunes the BERT-family classifier.

Every finished cell is written at once to ``DIR/cells.csv`` (:mod:`euds_core.experiments.benchmark_store`)
under a run key (data, scores digest, encoder, mode and training settings, split and search settings); a rerun
with the same key skips finished cells, and a changed key never reuses them. The leaderboard
(:mod:`euds_core.experiments.leaderboard`) is written at the end. Pool rows that near-duplicate a test row are
counted and reported (``drop_test_duplicates`` removes them from the pool).
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
from euds_core.experiments.benchmark_store import (
    CELL_COLUMNS,
    append_cell,
    cached_searches,
    finished_cell,
    read_cells,
    save_dataset_note,
    save_search,
)
from euds_core.experiments.finetune import selection_inputs_digest
from euds_core.experiments.null_guard import guard_workers
from euds_core.experiments.proxy import linear_proxy_predictions, proxy_features
from euds_core.experiments.proxy_fidelity import MIN_CANDIDATES, fidelity_sample, sampler_score_name
from euds_core.experiments.selection_search import (
    Candidate,
    SearchSettings,
    candidate_rows,
    near_duplicate_rows,
    search_selection,
)
from euds_core.experiments.splits import ExperimentSplit, table_split
from euds_core.experiments.statistics import pack_correct
from euds_core.experiments.subsets import sampler_names, subset_rows
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
    search_folds: int = 3
    permutations: int = 19  # searches on permuted scores the search's winner must beat
    drop_test_duplicates: bool = False  # remove pool rows that near-duplicate a test row
    fidelity: int = 0  # > 0: fine-tune only a seeded sample of this many candidate methods (proxy_fidelity.py)
    curate_sizes: list[float] = field(default_factory=list)  # the curation study's extra budgets (curation_study.py)

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
        if self.fidelity and self.mode != "finetune":
            raise EudsInputError("--fidelity compares the proxy with real fine-tunes: it goes with --finetune")
        if 0 < self.fidelity < MIN_CANDIDATES or self.fidelity < 0:
            raise EudsInputError(f"--fidelity needs at least {MIN_CANDIDATES} candidates for a rank agreement")
        if any(not 0.0 < s < 1.0 for s in self.curate_sizes):
            raise EudsInputError("--curate-sizes must be fractions in (0, 1), e.g. 0.25")
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
            "search": [
                "crossfit-null-v1",
                self.search_step,
                self.random_draws,
                self.search_folds,
                self.permutations,
                *(["no-proxy-derived-scores"] if self.mode == "finetune" else []),
            ],
            "drop_test_duplicates": self.drop_test_duplicates,
            "split": [self.test_fraction, self.split_seed],
            "training": self.finetune.key_params() if self.mode == "finetune" else "linear-proxy-pca64",
        }
        return hashlib.sha256(json.dumps(fixed, sort_keys=True, default=str).encode()).hexdigest()[:16]


def benchmark_methods(score_names: list[str], *, samplers: bool = True) -> list[str]:
    """random, random:balanced, full, each EUDS band, each literature score's high band, each sampler, auto."""
    euds = [f"{s}:{band}" for s in score_names if s in EUDS_BAND_SCORES for band in BANDS]
    literature = [f"{s}:high" for s in score_names if s not in EUDS_BAND_SCORES]
    return ["random", "random:balanced", "full", *euds, *literature, *(sampler_names() if samplers else []), "auto"]


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
    test_duplicates: np.ndarray  # pool rows that near-duplicate a test row (removed when the config says so)


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
    split, test_duplicates = decontaminated(split, embeddings, drop=config.drop_test_duplicates)
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
        test_duplicates=test_duplicates,
    )


def decontaminated(split: ExperimentSplit, embeddings: np.ndarray, *, drop: bool) -> tuple[ExperimentSplit, np.ndarray]:
    """(the split, without the pool rows that near-duplicate a test row when ``drop``; those rows)."""
    from euds_core.scores.near_duplicate import rows_duplicating

    copies = rows_duplicating(embeddings, split.pool, split.test)
    if not drop or not len(copies):
        return split, copies
    keep = lambda rows: np.setdiff1d(rows, copies)  # noqa: E731
    return ExperimentSplit(test=split.test, pool=keep(split.pool), validation=keep(split.validation)), copies


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
    if method in ("random", "random:balanced", "full"):
        return subset_rows(method, size, seed, score=None, **common)
    if ":" in method:
        score, band = method.split(":", 1)
        return subset_rows(score, size, seed, score=score, band=band, label_balanced=config.label_balanced, **common)
    return subset_rows(method, size, seed, score=sampler_score_name(inputs.pool_scores.columns), **common)


def is_balanced(method: str, config: BenchmarkConfig, winner: Candidate | None) -> bool:
    """Whether a method's rows are label-balanced (its matching baseline is then ``random:balanced``)."""
    if method == "auto":
        return winner is not None and winner.label_balanced
    return ":" in method and not method.startswith("random") and config.label_balanced


@dataclass
class Measured:
    accuracy: float
    macro_f1: float
    correct: np.ndarray  # 0/1 per test row
    proxy_accuracy: float  # the linear proxy on the same rows


def proxy_measure(rows: np.ndarray, inputs: BenchInputs) -> tuple[float, float, np.ndarray]:
    """(accuracy, macro-F1, per-row correctness) of the linear proxy trained on ``rows``, on the test split."""
    from sklearn.metrics import f1_score
    from threadpoolctl import threadpool_limits

    test = inputs.split.test
    classes = np.unique(inputs.labels[inputs.split.pool])
    y = np.searchsorted(classes, inputs.labels)
    with threadpool_limits(limits=1):  # a small fit: thread pools only add overhead
        predicted = linear_proxy_predictions(inputs.features, y, rows, test)
    correct = predicted == y[test]
    return float(np.mean(correct)), float(f1_score(y[test], predicted, average="macro")), correct


def measure(rows: np.ndarray, seed: int, inputs: BenchInputs, config: BenchmarkConfig, progress=None, cancel=None):
    """A :class:`Measured` on the test split of a model trained on ``rows`` (the proxy's figure beside it)."""
    proxy_accuracy, proxy_f1, proxy_correct = proxy_measure(rows, inputs)
    if config.mode == "proxy":
        return Measured(proxy_accuracy, proxy_f1, proxy_correct, proxy_accuracy)
    from euds_core.experiments.training import train_and_evaluate

    test = inputs.split.test

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
    return Measured(result.accuracy, result.macro_f1, result.correct, proxy_accuracy)


def planned_cells(methods: list[str], sizes: list[float], seeds: list[int]) -> list[tuple[str, float, int]]:
    """(method, size, seed): ``full`` once per seed at 1.0, every other method at every size."""
    cells = []
    for seed in seeds:
        for size in sorted(sizes):
            cells.extend((m, round(float(size), 6), seed) for m in methods if m != "full")
        if "full" in methods:
            cells.append(("full", 1.0, seed))
    return cells


def search_winners(
    dataset, config: BenchmarkConfig, inputs: BenchInputs, out_dir: Path, methods, *, progress=None, cancel=None
):
    """size -> the search's accepted winner (None: nothing beat the null), searching the sizes not saved yet.
    Empty when ``methods`` leave ``auto`` out: no search then (it is the benchmark's slowest part)."""
    if "auto" not in methods:
        return {}
    searches = cached_searches(out_dir, inputs.run_key)
    settings = SearchSettings(
        step=config.search_step,
        random_draws=config.random_draws,
        folds=config.search_folds,
        permutations=config.permutations,
        seed=config.split_seed,
        stop_when_rejected=True,  # the benchmark needs the winner, not the whole null of a rejected search
        workers=guard_workers(),
        proxy_derived=config.mode != "finetune",  # a fine-tune judges auto: the proxy's own scores flatter it
    )
    winners: dict[float, Candidate | None] = {}
    for size in sorted({round(float(s), 6) for s in config.sizes}):
        if size not in searches:
            if progress:
                progress(0, 0, f"searching selections at size {size:g}, cross-fitted over the pool")
            report = (lambda d, t, m, _z=size: progress(0, 0, f"search @ {_z:g}: {d}/{t} {m}")) if progress else None
            result = search_selection(
                inputs.embeddings,
                inputs.labels,
                inputs.search_scores,
                inputs.split,
                size,
                settings,
                features=inputs.features,
                progress=report,
                cancel=cancel,
            )
            save_search(out_dir, dataset.name, inputs.run_key, result)
            searches[size] = {**result.summary(), "run_key": inputs.run_key}
        winner = searches[size]["winner"]
        winners[size] = Candidate(**winner) if winner else None
    return winners


def run_cell(
    cell: tuple[str, float, int], inputs: BenchInputs, config: BenchmarkConfig, winner, saved, dataset_name, cancel
) -> dict:
    """Measure one (method, size, seed) and return its record (an ``auto`` with no winner copies ``random``)."""
    method, size, seed = cell
    started = time.perf_counter()
    rows = method_rows(method, size, seed, inputs, config, winner)
    twin = None
    if method == "auto" and winner is None:
        twin = finished_cell(saved, inputs.run_key, dataset_name, "random", size, seed)
    if twin is not None:  # the same rows and seed as that random cell: the same run, not trained twice
        figures = {k: twin[k] for k in ("accuracy", "macro_f1", "proxy_accuracy", "correct")}
    else:
        got = measure(rows, seed, inputs, config, cancel=cancel)
        figures = {
            "accuracy": got.accuracy,
            "macro_f1": got.macro_f1,
            "proxy_accuracy": got.proxy_accuracy,
            "correct": pack_correct(got.correct) if got.correct is not None else "",
        }
    choice = ""
    if method == "auto":
        choice = winner.name if winner is not None else "random (nothing beat the permuted scores)"
    return {
        "dataset": dataset_name,
        "method": method,
        "size_fraction": size,
        "seed": seed,
        "n_train": len(rows),
        **figures,
        "seconds": time.perf_counter() - started,
        "choice": choice,
        "balanced": is_balanced(method, config, winner),
        "run_key": inputs.run_key,
    }


def contamination_note(dataset, inputs: BenchInputs, config: BenchmarkConfig) -> dict:
    """The leaderboard's sentence on the pool rows that near-duplicate a test row."""
    count = len(inputs.test_duplicates)
    fate = "removed from the pool" if config.drop_test_duplicates else "kept (--drop-test-duplicates removes them)"
    sentence = f"{dataset.name}: {count} pool rows near-duplicate a test row (cosine >= 0.95); {fate}."
    return {"dataset": dataset.name, "pool_rows_duplicating_test": count, "sentence": sentence}


def run_benchmark(
    dataset,
    config: BenchmarkConfig,
    out_dir: str | Path,
    *,
    progress: BenchProgressFn | None = None,
    cancel: Callable[[], bool] | None = None,
) -> pd.DataFrame:
    """Run (or resume) every cell of one dataset; returns its cells (the :data:`CELL_COLUMNS`)."""
    config.check()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scoring = (lambda name, d, t, m: progress(0, 0, f"scoring {name}: {d}/{t} rows")) if progress else None
    inputs = prepare_inputs(dataset, config, progress=scoring, cancel=cancel)
    save_dataset_note(out_dir, inputs.run_key, contamination_note(dataset, inputs, config))
    methods = benchmark_methods(list(inputs.pool_scores.columns), samplers=config.samplers)
    methods = methods if config.methods is None else [m for m in methods if m in config.methods]
    left_out: list[str] = []
    if config.fidelity:  # the proxy-derived methods are left out: the proxy never ranks them alone
        methods, left_out = fidelity_sample(
            methods, config.fidelity, inputs.pool_scores.columns, seed=config.split_seed
        )
    cells = planned_cells(methods, config.sizes, config.seeds)
    winners = search_winners(dataset, config, inputs, out_dir, methods, progress=progress, cancel=cancel)
    store = out_dir / "cells.csv"
    saved = read_cells(store)
    mine = (saved["run_key"] == inputs.run_key) & (saved["dataset"] == dataset.name)
    done = {(r.method, round(float(r.size_fraction), 6), int(r.seed)) for r in saved[mine].itertuples()}
    for i, cell in enumerate(cells):
        if cell in done:
            continue
        if cancel is not None and cancel():
            raise ScoringCancelled(f"benchmark cancelled after {i} of {len(cells)} cells (finished cells are saved)")
        try:
            record = run_cell(cell, inputs, config, winners.get(cell[1]), saved, dataset.name, cancel)
        except EudsInputError as exc:  # e.g. a sampler that needs what this data lacks: say so, go on
            if progress:
                progress(i + 1, len(cells), f"skipped {cell[0]} @ {cell[1]:g}: {exc}")
            continue
        saved = append_cell(store, saved, record)
        if progress:
            progress(i + 1, len(cells), f"{cell[0]} @ {cell[1]:g} seed {cell[2]}: accuracy {record['accuracy']:.3f}")
    result = planned_result(saved, inputs.run_key, dataset.name, cells)
    result.attrs["fidelity_left_out"] = left_out
    return result


def planned_result(saved: pd.DataFrame, run_key: str, dataset_name: str, cells: list) -> pd.DataFrame:
    """The finished cells of this run that were planned (``attrs["run_key"]`` names their searches)."""
    mine = saved[(saved["run_key"] == run_key) & (saved["dataset"] == dataset_name)]
    wanted = set(cells)
    keep = [(r.method, round(float(r.size_fraction), 6), int(r.seed)) in wanted for r in mine.itertuples()]
    result = mine[keep][CELL_COLUMNS].reset_index(drop=True)
    result.attrs["run_key"] = run_key
    return result
