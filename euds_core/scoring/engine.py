"""Score a dataset with several scorers through the cache: the one code path of the CLI, the app and jobs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from euds_core.data.table import Dataset, dataset_hash
from euds_core.errors import EudsInputError
from euds_core.models.loading import resolve_device
from euds_core.scores import EUDS_SCORES, get_scorer_class, make_scorer
from euds_core.storage.cache import CancelFn, DatasetCache

# (score name, rows done, rows total, message); one callback for all scorers of a run
ScoringProgressFn = Callable[[str, int, int, str], None]

DEFAULT_BATCH_SIZES = {"cpu": 16, "cuda": 64}


# The order of model passes inside one job: cheapest first (no model, then an encoder, then a causal LM).
_LM_SCORERS = {"generative", "perplexity", "ifd"}


def scorer_cost(name: str) -> int:
    """0 = no model, 1 = an encoder, 2 = a causal LM (slowest); a scorer class may set ``cost`` itself."""
    cls = get_scorer_class(name)
    if hasattr(cls, "cost"):
        return int(cls.cost)
    if name in _LM_SCORERS:
        return 2
    return 1 if cls.uses_model else 0


def score_job_groups(names: list[str]) -> list[list[str]]:
    """The background jobs one "score" press starts: the model-free scores (usable in seconds), then every model
    score in one job, cheapest first, so that job runs each model pass's random first stage before any pass's
    rest (:func:`score_dataset`). Three processes (a job per tier) shared 2 cores and showed the first
    generative view after 267 s; one model process gives it ~all the cores. Combinations ride on their members.
    """
    expanded = expand_score_names(names)
    base = sorted((n for n in expanded if not get_scorer_class(n).depends_on), key=scorer_cost)
    groups = [[n for n in base if scorer_cost(n) == 0], [n for n in base if scorer_cost(n) > 0]]
    return [g for g in groups if g]


def expand_score_names(names: list[str]) -> list[str]:
    """Requested names plus their dependencies (members first), in a stable order.

    Asking for all three EUDS entropies also yields ``igse``, their combination, as docs/cli.md promises.
    """
    wanted = [n.strip() for n in names if n.strip()]
    if not wanted:
        raise EudsInputError("no score names given; e.g. --scores information,generative,semantic")
    if all(n in wanted for n in EUDS_SCORES) and "igse" not in wanted:
        wanted.append("igse")
    ordered: list[str] = []

    def visit(name: str) -> None:
        for dep in get_scorer_class(name).depends_on:
            visit(dep)
        if name not in ordered:
            ordered.append(name)

    for name in wanted:
        visit(name)
    return ordered


def checked_scores(name: str, values, n_rows: int) -> np.ndarray:
    """``values`` as float32, shape (n_rows,); a wrong shape or a non-finite value is a scorer bug."""
    values = np.asarray(values, dtype=np.float32)
    if values.shape != (n_rows,) or not np.all(np.isfinite(values)):
        raise RuntimeError(f"scorer '{name}' returned shape {values.shape} or non-finite values")  # a bug
    return values


def check_columns(dataset: Dataset, names: list[str]) -> None:
    for name in names:
        missing = get_scorer_class(name).needs - set(dataset.table.columns)
        if missing:
            raise EudsInputError(
                f"score '{name}' needs the column(s) {', '.join(sorted(missing))}; pass --{sorted(missing)[0]}-col"
            )


def reads_labels(name: str) -> bool:
    """True when score ``name`` (or a member it combines) reads the label column."""
    cls = get_scorer_class(name)
    return "label" in cls.needs or any(reads_labels(d) for d in cls.depends_on)


def label_free_cache(dataset: Dataset) -> DatasetCache | None:
    """Where a labelled dataset's label-free scores are also kept: the cache of its table without the label
    column (the id that table has when loaded with no label). A score is keyed by what it reads, so a file
    scored with or without its label column, by the CLI or the app, finds the same scores. None without labels."""
    if "label" not in dataset.table.columns:
        return None
    key = dataset.id
    if key not in _LABEL_FREE_IDS:  # hashing a large table takes a while; pages ask on every run
        _LABEL_FREE_IDS[key] = dataset_hash(dataset.table.drop(columns="label"))
    return DatasetCache(_LABEL_FREE_IDS[key])


_LABEL_FREE_IDS: dict[str, str] = {}  # dataset id -> id of its table without the label column


def share_label_free_scores(dataset: Dataset, cache: DatasetCache | None = None) -> None:
    """Copy the label-free scores cached under the texts alone into ``dataset``'s own cache (missing ones only)."""
    shared, cache = label_free_cache(dataset), cache or DatasetCache(dataset.id)
    if shared is None:
        return
    for entry in shared.cached_scores():
        try:
            label_free = not reads_labels(entry["scorer"])
        except (EudsInputError, KeyError):
            continue  # a scorer this version does not know
        if label_free and not cache.score_path(entry["scorer"], entry["params"]).exists():
            values = shared.load_score(entry["scorer"], entry["params"])
            if values is not None and len(values) == len(dataset.table):
                cache.save_score(entry["scorer"], entry["params"], values)


def save_score_shared(dataset: Dataset, cache: DatasetCache, name: str, params: dict, values: np.ndarray) -> None:
    """Save a finished score in the dataset's cache, and a label-free one under the texts alone too."""
    cache.save_score(name, params, values)
    shared = label_free_cache(dataset)
    if shared is not None and not reads_labels(name):
        shared.save_score(name, params, values)


def score_dataset(
    dataset: Dataset,
    names: list[str],
    *,
    device: str = "auto",
    batch_size: int | None = None,
    options: dict | None = None,
    progress: ScoringProgressFn | None = None,
    cancel: CancelFn | None = None,
    cached_only: bool = False,
) -> pd.DataFrame:
    """A frame with one float32 column per score (dependencies included), in row order of ``dataset.table``.

    Finished scores are read from the cache without loading any model. ``cached_only`` returns just the
    scores already cached (for pages that must not start model work). Each score is saved as soon as it is
    done, so a cancel or crash keeps the finished ones (and the finished chunks of the one in progress; a cancel
    also the finished steps of its current chunk).
    """
    names = expand_score_names(names)
    check_columns(dataset, names)
    cache = DatasetCache(dataset.id)
    share_label_free_scores(dataset, cache)
    scorers = {name: make_scorer(name, options) for name in names}
    cached = {name: cache.load_score(name, scorer.params()) for name, scorer in scorers.items()}
    context: dict = {}  # what scorer.score takes besides the table; device resolved on the first model work

    def run_context(name: str) -> dict:
        if not context:
            resolved = resolve_device(device)
            context.update(
                device=resolved,
                batch_size=batch_size or DEFAULT_BATCH_SIZES["cuda" if resolved.startswith("cuda") else "cpu"],
                cancel=cancel,
                cache=cache,
            )
        report = (lambda done, total, msg: progress(name, done, total, msg)) if progress else None
        return {**context, "progress": report}

    if not cached_only:
        # Every model pass's random first stage before any pass's rest: all partial views early (issue 17).
        for name, scorer in scorers.items():
            if cached[name] is None and not scorer.depends_on:
                scorer.score_first_stage(dataset.table, **run_context(name))
    out: dict[str, np.ndarray] = {}
    for name, scorer in scorers.items():
        values = cached[name]
        if values is None and cached_only:
            # Combinations cost nothing once their members exist; anything else would start model work.
            if not (scorer.depends_on and all(d in out for d in scorer.depends_on)):
                continue
        if values is None:
            values = scorer.score(
                dataset.table, inputs={dep: out[dep] for dep in scorer.depends_on}, **run_context(name)
            )
            values = checked_scores(name, values, len(dataset.table))
            save_score_shared(dataset, cache, name, scorer.params(), values)
        elif progress:
            progress(name, len(values), len(values), "cached")
        out[name] = values
    return pd.DataFrame(out, index=dataset.table.index)


def scores_so_far(dataset: Dataset, names: list[str], *, options: dict | None = None) -> pd.DataFrame:
    """Finished scores plus the partial values of passes still running: one float32 column per score, NaN for
    the rows not scored yet. No model work (fit on cached arrays only).

    A running pass finishes rows in a seeded random order (storage.cache.sample_first_order), so the scored
    rows of a column are a random sample of the dataset, and the scored rows of two running passes are
    prefixes of the same random permutation. A combination (igse, ...) is computed on the rows where all its
    members are scored, ranked among those rows. For views only: Review, export and fine-tune read
    :func:`score_dataset` (complete scores).
    """
    names = [n for n in expand_score_names(names) if not (get_scorer_class(n).needs - set(dataset.table.columns))]
    cache = DatasetCache(dataset.id)
    table = dataset.table
    n = len(table)
    out: dict[str, np.ndarray] = {}
    for name in names:
        scorer = make_scorer(name, options)
        values = cache.load_score(name, scorer.params())
        if values is None and scorer.depends_on:
            if not all(d in out for d in scorer.depends_on):
                continue
            rows = np.flatnonzero(np.all([np.isfinite(out[d]) for d in scorer.depends_on], axis=0))
            if not len(rows):
                continue
            member_values = {d: out[d][rows] for d in scorer.depends_on}
            values = np.full(n, np.nan, dtype=np.float32)
            values[rows] = scorer.score(table.iloc[rows], inputs=member_values, cache=None)
        elif values is None:
            got = scorer.partial_scores(table, cache=cache)
            if got is None:
                continue
            values = np.full(n, np.nan, dtype=np.float32)
            values[got[0]] = got[1]
        out[name] = np.asarray(values, dtype=np.float32)
    return pd.DataFrame(out, index=table.index)


def scores_with_table(dataset: Dataset, scores: pd.DataFrame) -> pd.DataFrame:
    """The CLI's output frame: id, text, label (when any), question/answer (Q&A), then one column per score."""
    base = dataset.table[[c for c in ("id", "text", "label", "question", "answer") if c in dataset.table.columns]]
    return pd.concat([base, scores], axis=1)
