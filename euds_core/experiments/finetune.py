"""Fine-tune experiments (docs/experiments.md): does the selected subset train as well as all the data?

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
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError, ScoringCancelled
from euds_core.experiments.proxy import random_rows
from euds_core.experiments.splits import ExperimentSplit, table_split
from euds_core.experiments.training import (
    CancelFn,
    FinetuneConfig,
    RunProgressFn,
    RunResult,
    train_and_evaluate,
)
from euds_core.selection.intervals import select_keep_fraction, select_keep_fraction_balanced
from euds_core.storage.store import connect, now, to_json

DEFAULT_SIZES = (0.05, 0.1, 0.16, 0.25, 0.5, 1.0)
BASE_STRATEGIES = ("interval", "random", "random:balanced", "full")
RESULT_COLUMNS = ["strategy", "size_fraction", "n_train", "seed", "accuracy", "macro_f1", "train_seconds"]
INTERVAL_PREFIX = "interval:"  # an explicit percentile interval strategy: interval:0.2-0.6
BALANCED_SUFFIX = ":balanced"  # interval:0.2-0.6:balanced applies the interval within each label group

# (runs finished, runs planned, current run's fraction, message) over a whole grid
GridProgressFn = Callable[[int, int, float, str], None]  # the fraction is of run number done + 1


# ---------------------------------------------------------------------------------------------- strategies


def sampler_names() -> list[str]:
    """Names in the sampler registry (``euds_core.selection.samplers``), when that registry exists."""
    try:
        from euds_core.selection.samplers import list_samplers
    except ImportError:
        return []
    return [cls.name for cls in list_samplers()]


def available_strategies(score_names: list[str]) -> list[str]:
    """Every strategy a grid can run: interval, random, full, each score, and each sampler."""
    return [
        *BASE_STRATEGIES,
        *[s for s in score_names if s not in BASE_STRATEGIES],
        *[s for s in sampler_names() if s not in score_names],
    ]


def _sampler_rows(
    name: str,
    table: pd.DataFrame,
    pool: np.ndarray,
    count: int,
    seed: int,
    score: np.ndarray | None,
    embeddings: np.ndarray | None,
) -> np.ndarray:
    """Pool positions of the first ``count`` picks of a registry sampler run on the pool.

    The sampler sees pool rows only, grouped as ``select --sampler`` groups them (never by class label).
    """
    from euds_core.selection.sampler_selection import sampler_groups
    from euds_core.selection.samplers import get_sampler

    sampler = get_sampler(name, {"seed": seed})
    if sampler.needs_embeddings and embeddings is None:
        raise EudsInputError(f"the '{name}' sampler needs embeddings of the texts; none were given")
    if sampler.needs_score and score is None:
        raise EudsInputError(f"the '{name}' sampler needs a score; pass --scores-file and --score")
    picks = sampler.sample(
        count,
        embeddings=embeddings[pool] if sampler.needs_embeddings else None,
        score=score[pool] if sampler.needs_score else None,
        groups=sampler_groups(table.iloc[pool], name),
    )
    return np.asarray(picks, dtype=np.int64)[:count]


def needs_embeddings(strategies: list[str]) -> bool:
    """Whether any strategy is a sampler that works on embeddings."""
    if not set(strategies) & set(sampler_names()):
        return False
    from euds_core.selection.samplers import get_sampler

    return any(get_sampler(s).needs_embeddings for s in strategies if s in sampler_names())


def parse_interval_strategy(strategy: str) -> tuple[float, float] | None:
    """(p_lo, p_hi) of an explicit interval strategy ``interval:0.2-0.6`` (or ``interval:0.2-0.6:balanced``);
    None for any other strategy."""
    if not strategy.startswith(INTERVAL_PREFIX):
        return None
    body = strategy[len(INTERVAL_PREFIX) :].removesuffix(BALANCED_SUFFIX)
    try:
        lo, hi = (float(v) for v in body.split("-"))
    except ValueError:
        raise EudsInputError(
            f"'{strategy}' is not an interval; write it as interval:P_LO-P_HI, e.g. interval:0.2-0.6"
        ) from None
    if not 0.0 <= lo < hi <= 1.0:
        raise EudsInputError(f"'{strategy}': the percentiles must satisfy 0 <= p_lo < p_hi <= 1")
    return lo, hi


def interval_strategy(p_lo: float, p_hi: float, label_balanced: bool = False) -> str:
    """The strategy name of an explicit percentile interval (what the search's "confirm" runs)."""
    return f"{INTERVAL_PREFIX}{p_lo:g}-{p_hi:g}{BALANCED_SUFFIX if label_balanced else ''}"


def is_balanced_strategy(strategy: str) -> bool:
    """Whether a strategy name asks for label balancing itself (``interval:a-b:balanced``)."""
    return strategy.startswith(INTERVAL_PREFIX) and strategy.endswith(BALANCED_SUFFIX)


def interval_size(bounds: tuple[float, float]) -> float:
    """The size fraction an explicit interval trains at (its width), rounded like the grid's sizes."""
    return round(bounds[1] - bounds[0], 6)


def _explicit_interval_rows(
    values: np.ndarray, bounds: tuple[float, float], seed: int, groups: np.ndarray | None = None
) -> np.ndarray:
    """Pool positions of round((p_hi - p_lo) * N) rows starting at percentile p_lo of the seeded score order
    (with ``groups``: the same within each label group)."""
    keep = interval_size(bounds)
    offset = 0.0 if keep >= 1.0 else min(1.0, bounds[0] / (1.0 - keep))  # start = p_lo * N (see select_keep_fraction)
    return np.flatnonzero(_band_mask(values, keep, offset, seed, groups))


def _band_mask(values: np.ndarray, keep: float, band, seed: int, groups: np.ndarray | None) -> np.ndarray:
    if groups is None:
        return select_keep_fraction(values, keep, band, seed)
    return select_keep_fraction_balanced(values, groups, keep, band, seed)


def _pool_groups(table: pd.DataFrame, pool: np.ndarray) -> np.ndarray:
    if "label" not in table.columns:
        raise EudsInputError("label balancing needs a label column (--label-col); turn it off for unlabelled data")
    return table["label"].astype(str).to_numpy()[pool]


def subset_rows(
    strategy: str,
    size_fraction: float,
    seed: int,
    *,
    table: pd.DataFrame,
    pool: np.ndarray,
    scores: pd.DataFrame | None,
    score: str | None,
    band: str | float = "middle",
    embeddings: np.ndarray | None = None,
    label_balanced: bool = False,
) -> np.ndarray:
    """Sorted table rows (drawn from ``pool``, the non-test rows) that a strategy trains on at a size.

    ``interval`` keeps round(size * |pool|) rows of ``score`` at ``band`` (ranked within the pool);
    ``interval:a-b`` keeps the rows from percentile a to b of the pool (its own size, b - a); ``random``
    draws the same count; ``full`` is the whole pool; a score name is that score's band; a sampler name
    takes the sampler's first rows. ``label_balanced`` (or an ``interval:a-b:balanced`` strategy) ranks and
    counts the score bands within each label group of the pool, so they keep the pool's label proportions.
    """
    count = int(round(size_fraction * len(pool)))
    if strategy == "full":
        return np.sort(pool)
    if strategy == "random":
        return np.sort(np.random.default_rng(seed).choice(pool, size=count, replace=False))
    if strategy == "random:balanced":  # the baseline of label-balanced bands: each label keeps its pool share
        return random_rows(pool, count, np.random.default_rng(seed), _pool_groups(table, np.arange(len(table))))
    bounds = parse_interval_strategy(strategy)
    name = score if strategy == "interval" or bounds is not None else strategy
    if scores is not None and name is not None and name in scores.columns:
        values = scores[name].to_numpy(dtype=np.float64)[pool]
        groups = _pool_groups(table, pool) if label_balanced or is_balanced_strategy(strategy) else None
        if bounds is not None:
            return np.sort(pool[_explicit_interval_rows(values, bounds, seed, groups)])
        return np.sort(pool[_band_mask(values, size_fraction, band, seed, groups)])
    if strategy in sampler_names():
        values = scores[score].to_numpy(dtype=np.float64) if scores is not None and score in scores.columns else None
        return np.sort(pool[_sampler_rows(strategy, table, pool, count, seed, values, embeddings)])
    if strategy == "interval" or bounds is not None:
        raise EudsInputError("the interval strategy needs a score: pass --scores-file and --score (e.g. --score igse)")
    raise EudsInputError(
        f"unknown strategy '{strategy}'; choose from: {', '.join(available_strategies(list(scores.columns) if scores is not None else []))}"
    )


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

    def check(self) -> None:
        self.config.check()
        if not self.strategies:
            raise EudsInputError("no strategies given; e.g. --strategies interval,random")
        explicit = [parse_interval_strategy(s) for s in self.strategies]
        if not self.sizes and not any(explicit):
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
        sizes = {round(float(s), 6) for s in self.sizes}
        if strategy in ("random", "random:balanced"):
            sizes |= {interval_size(b) for b in map(parse_interval_strategy, self.strategies) if b is not None}
        return sorted(sizes)

    def balanced_strategies(self) -> set[str]:
        """The strategies whose rows are label-balanced (compared with ``random:balanced`` when it runs)."""
        samplers = set(sampler_names())
        banded = [s for s in self.strategies if (s not in BASE_STRATEGIES and s not in samplers) or s == "interval"]
        return {s for s in banded if self.label_balanced or is_balanced_strategy(s)}

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
        return hashlib.sha256(json.dumps(fixed, sort_keys=True, default=str).encode()).hexdigest()[:16]


def count_trainings(planned: list[tuple[str, float, int]]) -> int:
    """How many distinct trainings ``planned`` runs need: at size 1.0 every strategy takes the whole pool, so
    those runs of one seed train once (the others copy it, see ``run_grid``)."""
    below = sum(1 for _, size, _ in planned if size < 1.0)
    return below + len({seed for _, size, seed in planned if size >= 1.0})


def save_run(dataset_id: str, grid_key: str, strategy: str, size_fraction: float, seed: int, result: RunResult) -> None:
    """One finished run; its per-test-row correctness goes into ``params`` (packed), for the intervals."""
    from euds_core.experiments.statistics import pack_correct

    if result.correct is not None:
        result.params = {**result.params, "correct": pack_correct(result.correct)}
    with connect() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO finetune_runs (dataset_id, grid_key, strategy, size_fraction, seed, n_train, accuracy,"
            " macro_f1, train_seconds, params, created) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                dataset_id,
                grid_key,
                strategy,
                float(size_fraction),
                int(seed),
                int(result.n_train),
                result.accuracy,
                result.macro_f1,
                result.train_seconds,
                to_json(result.params),
                now(),
            ),
        )


def load_runs(dataset_id: str, grid_key: str | None = None) -> pd.DataFrame:
    """Finished runs (the CSV columns plus grid_key, params, created, and ``correct``: the packed per-test-row
    results, empty for runs saved before them), oldest first. Without ``grid_key``: every grid's runs, which
    only :func:`latest_grid_runs` or a grid key may turn into one answer."""
    query, params = "SELECT * FROM finetune_runs WHERE dataset_id=?", [dataset_id]
    if grid_key is not None:
        query, params = query + " AND grid_key=?", [*params, grid_key]
    with connect() as conn:
        rows = [dict(r) for r in conn.execute(query + " ORDER BY created", params)]
    frame = (
        pd.DataFrame(rows, columns=["dataset_id", "grid_key", *RESULT_COLUMNS, "params", "created"])
        if not rows
        else pd.DataFrame(rows)
    )
    frame = frame[["grid_key", *RESULT_COLUMNS, "params", "created"]]
    return frame.assign(correct=[json.loads(p or "{}").get("correct", "") for p in frame["params"]])


def latest_grid_runs(dataset_id: str, score: str | None = None) -> pd.DataFrame:
    """The runs of the dataset's most recently active grid (grids with other settings never mix); with
    ``score``, of the latest grid whose bands ranked by that score (a run's params record it)."""
    runs = load_runs(dataset_id)
    if score is not None and not runs.empty:
        runs = runs[[json.loads(p or "{}").get("score") == score for p in runs["params"]]]
    if runs.empty:
        return runs
    newest = runs.sort_values("created").iloc[-1]["grid_key"]
    return runs[runs["grid_key"] == newest].reset_index(drop=True)


def grid_message(done: int, total: int, fraction: float, text: str) -> str:
    """The job message for a grid: ``[run 3/12 45%] text`` (see :func:`parse_grid_message`)."""
    return f"[run {min(done + 1, total)}/{total} {fraction * 100:.0f}%] {text}"


def parse_grid_message(message: str) -> tuple[int, int, float] | None:
    """(current run, runs planned, current run's fraction) from :func:`grid_message`'s text."""
    m = re.match(r"\[run (\d+)/(\d+) (\d+)%\]", message or "")
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)) / 100) if m else None


@dataclass
class GridInputs:
    """What every run of one grid reads: its key, the split, the (pool-fitted) scores and embeddings."""

    grid_key: str
    split: ExperimentSplit
    scores: pd.DataFrame | None
    embeddings: np.ndarray | None


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
    if scores is not None:
        scores = pool_fitted_scores(
            table, scores, split.pool, dataset_id=dataset_id, options=score_options, device=spec.config.device
        )
    return GridInputs(grid_key, split, scores, embeddings)


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


def grid_spec_from_args(args: dict) -> GridSpec:
    """A :class:`GridSpec` from a job's JSON args (``config`` holds :class:`FinetuneConfig` fields)."""
    config = FinetuneConfig(
        **{k: v for k, v in (args.get("config") or {}).items() if k in FinetuneConfig.__dataclass_fields__}
    )
    return GridSpec(
        strategies=list(args["strategies"]),
        sizes=[float(s) for s in args.get("sizes", DEFAULT_SIZES)],
        seeds=[int(s) for s in args.get("seeds", [0])],
        score=args.get("score"),
        band=args.get("band", "middle"),
        config=config,
        label_balanced=bool(args.get("label_balanced", False)),
    )


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


def grid_job(args: dict, update: Callable[[float, str], None], cancelled: CancelFn) -> dict:
    """The ``finetune`` job: args = {dataset_id, strategies, sizes, seeds, score, band, config, options, threads}.

    Scores come from the cache only (score the dataset first); progress goes to the job row as
    :func:`grid_message` text so the page can draw a bar per run and one overall.
    """
    import torch

    from euds_core.data.datasets import load_saved_dataset
    from euds_core.scoring.engine import score_dataset

    if args.get("threads"):
        torch.set_num_threads(int(args["threads"]))  # share the CPU politely with the app and other jobs
    spec = grid_spec_from_args(args)
    dataset = load_saved_dataset(args["dataset_id"])
    names = grid_score_names(spec)
    scores = None
    if names:
        scores = score_dataset(dataset, names, options=args.get("options"), cached_only=True)
        missing = [n for n in names if n not in scores.columns]
        if missing:
            raise EudsInputError(
                f"the score(s) {', '.join(missing)} are not computed for this dataset yet; score them first"
            )

    def progress(done: int, total: int, fraction: float, message: str) -> None:
        update((done + fraction) / max(total, 1), grid_message(done, total, fraction, message))

    runs = run_grid(
        dataset.id,
        dataset.table,
        spec,
        task=dataset.task,
        scores=scores,
        score_options=args.get("options"),
        progress=progress,
        cancel=cancelled,
    )
    return {"grid_key": spec.key(dataset.id, scores), "runs": len(runs)}
