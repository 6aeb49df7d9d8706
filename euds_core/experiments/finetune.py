"""The fine-tune grid (docs/experiments.md): does the selected subset train as well as all the data?

One concern per module: :mod:`~euds_core.experiments.subsets` chooses a strategy's rows, this module runs a
grid, :mod:`~euds_core.experiments.run_store` keeps its runs, :mod:`~euds_core.experiments.grid_job` is the
background job, :mod:`~euds_core.experiments.statistics` summarises them.

* :func:`~euds_core.experiments.splits.experiment_split` removes a fixed, seeded, stratified test split before
  any selection; it is never selected, no choice sees it, and every run of a grid is scored on it.
* :func:`~euds_core.experiments.training.train_and_evaluate` fine-tunes a BERT-family classifier (default:
  the packaged MiniLM-L6), or a Q&A answer ranker, on one subset and reports accuracy, macro-F1, n_train and
  train seconds.
* :func:`run_grid` runs strategies x size fractions x seeds, writing each run to SQLite (``finetune_runs``)
  as it finishes; a restarted grid skips finished runs. Strategies include ``interval:a-b``, an explicit
  percentile interval (the search's confirmation) with ``random`` at the same size.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError, ScoringCancelled
from euds_core.experiments.run_store import load_runs, save_run
from euds_core.experiments.splits import ExperimentSplit, evaluation_split, table_split
from euds_core.experiments.subsets import (
    BASE_STRATEGIES,
    INTERVAL_PREFIX,
    SELECTION,
    interval_size,
    is_balanced_strategy,
    needs_embeddings,
    parse_interval_strategy,
    sampler_names,
    subset_rows,
)
from euds_core.experiments.training import (
    CancelFn,
    FinetuneConfig,
    RunProgressFn,
    RunResult,
    train_and_evaluate,
)

DEFAULT_SIZES = (0.05, 0.1, 0.16, 0.25, 0.5, 1.0)

# (runs finished, runs planned, current run's fraction, message) over a whole grid
GridProgressFn = Callable[[int, int, float, str], None]  # the fraction is of run number done + 1


# ---------------------------------------------------------------------------------------------- strategies


# ---------------------------------------------------------------------------------------------- the grid


def selection_inputs_digest(scores: pd.DataFrame | None, names: list[str]) -> str:
    """A digest of the score values that choose the rows (the grid key's "what was selected by")."""
    digest = hashlib.sha256()
    for name in sorted(n for n in names if scores is not None and n in scores.columns):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(scores[name].to_numpy(dtype=np.float64)).tobytes())
    return digest.hexdigest()[:16]


@dataclass
class GridSpec:
    strategies: list[str]
    sizes: list[float] = field(default_factory=lambda: list(DEFAULT_SIZES))
    seeds: list[int] = field(default_factory=lambda: [0])
    score: str | None = None  # the score behind ``interval`` and ``interval:a-b``
    band: str | float = "middle"
    config: FinetuneConfig = field(default_factory=FinetuneConfig)
    label_balanced: bool = False  # score bands within each label group (the CLI and page default it on)
    selection_ids: list[str] | None = None  # the ``selection`` strategy's sample ids (see :func:`with_selection`)
    selection_size: float | None = None  # its pool rows as a fraction of the pool (``random`` runs at it too)

    def check(self) -> None:
        self.config.check()
        if not self.strategies:
            raise EudsInputError("no strategies given; e.g. --strategies interval,random")
        explicit = [parse_interval_strategy(s) for s in self.strategies]
        if SELECTION in self.strategies and self.selection_size is None:
            raise EudsInputError("the selection strategy trains the rows Explore keeps: set an interval on Explore")
        if not self.sizes and not any(explicit) and SELECTION not in self.strategies:
            raise EudsInputError("--sizes must be fractions in (0, 1], e.g. 0.16,0.5,1.0")
        if any(not 0.0 < s <= 1.0 for s in self.sizes):
            raise EudsInputError("--sizes must be fractions in (0, 1], e.g. 0.16,0.5,1.0")
        if not self.seeds:
            raise EudsInputError("give at least one seed")

    def sizes_of(self, strategy: str) -> list[float]:
        """An explicit interval runs at its own width; ``random`` also runs at every explicit interval's width
        (its same-size baseline); the others at ``sizes``."""
        bounds = parse_interval_strategy(strategy)
        if bounds is not None:
            return [interval_size(bounds)]
        if strategy == SELECTION:
            return [self.selection_size]
        sizes = {round(float(s), 6) for s in self.sizes}
        if strategy in ("random", "random:balanced"):
            sizes |= {interval_size(b) for b in map(parse_interval_strategy, self.strategies) if b is not None}
            sizes |= {self.selection_size} if SELECTION in self.strategies else set()
        return sorted(sizes)

    def balanced_strategies(self) -> set[str]:
        """The strategies whose rows are label-balanced (compared with ``random:balanced`` when it runs); the
        selection always is (Explore's check compares it with label-stratified random)."""
        samplers = set(sampler_names())
        banded = [s for s in self.strategies if (s not in BASE_STRATEGIES and s not in samplers) or s == "interval"]
        balanced = {s for s in banded if self.label_balanced or is_balanced_strategy(s)}
        return balanced | ({SELECTION} & set(self.strategies))

    def plan(self) -> list[tuple[str, float, int]]:
        """(strategy, size fraction, seed) per run; ``full`` runs once per seed, at size 1.0."""
        subset_strategies = [s for s in self.strategies if s != "full"]
        every_size = sorted({z for s in subset_strategies for z in self.sizes_of(s)})
        runs = []
        for seed in self.seeds:
            for size in every_size:
                runs.extend((s, size, seed) for s in subset_strategies if size in self.sizes_of(s))
            if "full" in self.strategies:
                runs.append(("full", 1.0, seed))
        return runs

    def key(self, dataset_id: str, scores: pd.DataFrame | None = None) -> str:
        """Hash of what every run of the grid shares: data, model, training settings, split, the score and
        band, and a digest of the score values that choose the rows (so a rerun with other scores retrains)."""
        fixed = {
            "dataset": dataset_id,
            "config": self.config.key_params(),
            "score": self.score,
            "band": str(self.band),
            "selection": selection_inputs_digest(scores, grid_score_names(self)),
        }
        if self.label_balanced:  # only when on, so grids saved before the option keep their keys
            fixed["label_balanced"] = True
        if self.selection_ids is not None:  # which rows the selection strategy trains (a digest of the ids)
            from euds_core.experiments.selection_check import selection_key

            fixed["selection_ids"] = selection_key(self.selection_ids)
        return hashlib.sha256(json.dumps(fixed, sort_keys=True, default=str).encode()).hexdigest()[:16]


def with_selection(spec: GridSpec, table: pd.DataFrame, kept_ids: list[str]) -> GridSpec:
    """``spec`` with its ``selection`` strategy bound to ``kept_ids`` (Explore's kept rows): their pool rows under
    the spec's split, as a size fraction of the pool, so ``random`` baselines run at exactly that size."""
    from dataclasses import replace

    from euds_core.experiments.selection_check import config_split, selection_train_rows

    split = config_split(table, spec.config)
    rows, _ = selection_train_rows(table, kept_ids, split)
    if len(rows) == 0:
        raise EudsInputError("the selection keeps no pool rows (every kept row is in the test split)")
    ids = sorted(map(str, kept_ids))
    return replace(spec, selection_ids=ids, selection_size=round(len(rows) / len(split.pool), 6))


def count_trainings(planned: list[tuple[str, float, int]]) -> int:
    """How many distinct trainings ``planned`` runs need: at size 1.0 every strategy takes the whole pool, so
    those runs of one seed train once (the others copy it, see ``run_grid``)."""
    below = sum(1 for _, size, _ in planned if size < 1.0)
    return below + len({seed for _, size, seed in planned if size >= 1.0})


@dataclass
class GridInputs:
    """What every run of one grid reads: its key, the split, the (pool-fitted) scores and embeddings."""

    grid_key: str
    split: ExperimentSplit
    scores: pd.DataFrame | None
    embeddings: np.ndarray | None
    selection_rows: np.ndarray | None = None  # the pool rows of the selection strategy's ids


def prepare_grid_inputs(
    dataset_id: str,
    table: pd.DataFrame,
    spec: GridSpec,
    *,
    scores: pd.DataFrame | None,
    embeddings: np.ndarray | None,
    score_options: dict | None,
    cancel: CancelFn | None,
) -> GridInputs:
    """Check the inputs, split the table (test / pool), refit label-using scores on the pool, embed if needed."""
    from euds_core.experiments.pool_scores import pool_fitted_scores

    spec.check()
    if scores is not None and len(scores) != len(table):
        raise EudsInputError(
            f"the scores have {len(scores)} rows but the dataset has {len(table)}; score the same data"
        )
    grid_key = spec.key(dataset_id, scores)
    if embeddings is None and needs_embeddings(spec.strategies):
        from euds_core.models.embeddings import compute_embeddings
        from euds_core.storage.cache import DatasetCache

        embeddings = compute_embeddings(
            table, cache=DatasetCache(dataset_id), cancel=cancel
        )  # cached with the semantic score
    split = table_split(table, test_fraction=spec.config.test_fraction, split_seed=spec.config.split_seed)
    split = evaluation_split(split, spec.config.test_sample, spec.config.split_seed)
    if scores is not None:
        scores = pool_fitted_scores(
            table, scores, split.pool, dataset_id=dataset_id, options=score_options, device=spec.config.device
        )
    selection_rows = None
    if spec.selection_ids is not None:
        from euds_core.experiments.selection_check import selection_train_rows

        selection_rows = selection_train_rows(table, spec.selection_ids, split)[0]
    return GridInputs(grid_key, split, scores, embeddings, selection_rows)


def _finished_subsets(runs: pd.DataFrame) -> dict[tuple[int, str], pd.Series]:
    """(seed, subset digest) -> the finished run that trained on it (the first one)."""
    trained: dict[tuple[int, str], pd.Series] = {}
    for _, run in runs.iterrows():
        trained.setdefault((int(run.seed), json.loads(run.params).get("subset", "")), run)
    return trained


def _run_once(
    table: pd.DataFrame,
    spec: GridSpec,
    inputs: GridInputs,
    run: tuple[str, float, int],
    *,
    task: str,
    trained: dict[tuple[int, str], pd.Series],
    progress: RunProgressFn | None,
    cancel: CancelFn | None,
) -> RunResult:
    """One run: choose its rows, then reuse a finished run on the very same rows and seed, or train."""
    strategy, size, seed = run
    rows = subset_rows(
        strategy,
        size,
        seed,
        table=table,
        pool=inputs.split.pool,
        scores=inputs.scores,
        score=spec.score,
        band=spec.band,
        embeddings=inputs.embeddings,
        label_balanced=spec.label_balanced,
        selection_rows=inputs.selection_rows,
    )
    digest = hashlib.sha256(rows.astype(np.int64).tobytes()).hexdigest()[:16]
    twin = trained.get((seed, digest))
    if twin is not None:
        params = {"subset": digest, "same_as": twin.strategy, "score": spec.score}
        return RunResult(
            twin.accuracy, twin.macro_f1, int(twin.n_train), twin.train_seconds, params, twin_correct(twin)
        )
    result = train_and_evaluate(
        table,
        rows,
        inputs.split.test,
        task=task,
        config=spec.config,
        seed=seed,
        pool=inputs.split.pool,
        progress=progress,
        cancel=cancel,
    )
    result.params = {"subset": digest, "n_test": len(inputs.split.test), "score": spec.score}
    return result


def twin_correct(twin: pd.Series) -> np.ndarray | None:
    """The per-test-row results of a finished run (an array in this grid, packed text when loaded)."""
    from euds_core.experiments.statistics import unpack_correct

    value = twin.get("correct")
    return unpack_correct(value) if isinstance(value, str) else value


def run_grid(
    dataset_id: str,
    table: pd.DataFrame,
    spec: GridSpec,
    *,
    task: str,
    scores: pd.DataFrame | None = None,
    embeddings: np.ndarray | None = None,
    score_options: dict | None = None,
    progress: GridProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> pd.DataFrame:
    """Run every planned (strategy, size, seed), skipping those already in SQLite; returns the grid's runs.

    ``scores`` is aligned with ``table`` rows (one column per score); label-using ones are refitted on the pool
    (``score_options`` gives their encoder). Two runs that would train on exactly the same rows with the same
    seed (every subset strategy at size 1.0 is the full pool) train once; the copy records ``same_as``.
    """
    inputs = prepare_grid_inputs(
        dataset_id, table, spec, scores=scores, embeddings=embeddings, score_options=score_options, cancel=cancel
    )
    planned = spec.plan()
    total = count_trainings(planned)  # the progress counts trainings: the size-1.0 twins of "full" are not ones
    finished = load_runs(dataset_id, inputs.grid_key)
    done = {(r.strategy, round(r.size_fraction, 6), int(r.seed)) for r in finished.itertuples()}
    trained = _finished_subsets(finished)
    for i, (strategy, size, seed) in enumerate(planned):
        if (strategy, round(size, 6), seed) in done:
            continue
        if cancel is not None and cancel():
            raise ScoringCancelled(
                f"fine-tune grid cancelled after {i} of {len(planned)} runs (finished runs are saved)"
            )
        label = f"{strategy} @ {size:g}, seed {seed}"
        step = count_trainings(planned[:i])
        if progress:
            progress(step, total, 0.0, label)
        report = (lambda f, msg, _i=step, _l=label: progress(_i, total, f, f"{_l}: {msg}")) if progress else None
        result = _run_once(
            table, spec, inputs, (strategy, size, seed), task=task, trained=trained, progress=report, cancel=cancel
        )
        save_run(dataset_id, inputs.grid_key, strategy, size, seed, result)
        record = pd.Series({"strategy": strategy, **asdict(result)})  # what a twin run on the same rows copies
        trained.setdefault((seed, result.params["subset"]), record)
        if progress:
            progress(count_trainings(planned[: i + 1]), total, 0.0, f"{label}: accuracy {result.accuracy:.3f}")
    runs = load_runs(dataset_id, inputs.grid_key)
    wanted = {(s, round(z, 6), d) for s, z, d in planned}
    keep = [(r.strategy, round(r.size_fraction, 6), int(r.seed)) in wanted for r in runs.itertuples()]
    return runs[keep].reset_index(drop=True)


def align_scores(table: pd.DataFrame, scores_frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Score columns of a ``score`` output file, reordered to the rows of ``table`` by ``id``."""
    if "id" not in scores_frame.columns:
        raise EudsInputError("the scores file has no 'id' column; use a file written by `score`")
    missing_cols = [n for n in names if n not in scores_frame.columns]
    if missing_cols:
        raise EudsInputError(
            f"no score column '{missing_cols[0]}' in the scores file; it has: {', '.join(map(str, scores_frame.columns))}"
        )
    indexed = scores_frame.assign(id=scores_frame["id"].astype(str)).drop_duplicates("id").set_index("id")
    ids = table["id"].astype(str)
    absent = ~ids.isin(indexed.index)
    if absent.any():
        raise EudsInputError(
            f"{int(absent.sum())} of {len(table)} rows (e.g. id '{ids[absent].iloc[0]}') have no scores in the scores file; "
            "score the same data with the same --limit and column options"
        )
    out = indexed.loc[ids, names].apply(pd.to_numeric, errors="coerce").reset_index(drop=True)
    if not np.all(np.isfinite(out.to_numpy(dtype=np.float64))):
        raise EudsInputError("the scores file has missing or non-numeric score values; rescore the data")
    return out


# ---------------------------------------------------------------------------------------------- background job


def grid_score_names(spec: GridSpec) -> list[str]:
    """The score columns a grid needs: the interval's score and every strategy that is a score name."""
    samplers = set(sampler_names())
    interval = any(s == "interval" or parse_interval_strategy(s) for s in spec.strategies)
    names = [spec.score] if spec.score and (interval or samplers & set(spec.strategies)) else []
    names += [
        s
        for s in spec.strategies
        if s not in BASE_STRATEGIES and s not in samplers and not s.startswith(INTERVAL_PREFIX)
    ]
    return list(dict.fromkeys(names))
