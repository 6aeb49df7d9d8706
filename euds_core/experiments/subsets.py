"""Which rows a fine-tune strategy trains on: one function, :func:`subset_rows`, and the strategy names.

Strategies: ``selection`` (exactly the pool rows of given sample ids: Explore's kept rows), ``interval`` (the band of ``--score`` at ``--band``), ``interval:a-b`` (an explicit percentile
interval, ``:balanced`` within each label), ``random``, ``random:balanced`` (a label-stratified random subset),
``full``, a score name (that score's band) and a sampler name (its first picks). Rows come from the pool only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError
from euds_core.experiments.proxy import random_rows
from euds_core.selection.intervals import select_keep_fraction, select_keep_fraction_balanced

SELECTION = "selection"  # exactly the rows Explore keeps (given as ids; see euds_core/experiments/selection_check.py)
BASE_STRATEGIES = (SELECTION, "interval", "random", "random:balanced", "full")
INTERVAL_PREFIX = "interval:"  # an explicit percentile interval strategy: interval:0.2-0.6
BALANCED_SUFFIX = ":balanced"  # interval:0.2-0.6:balanced applies the interval within each label group


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
    selection_rows: np.ndarray | None = None,
) -> np.ndarray:
    """Sorted table rows (drawn from ``pool``, the non-test rows) that a strategy trains on at a size.

    ``interval`` keeps round(size * |pool|) rows of ``score`` at ``band`` (ranked within the pool);
    ``interval:a-b`` keeps the rows from percentile a to b of the pool (its own size, b - a); ``random``
    draws the same count; ``full`` is the whole pool; a score name is that score's band; a sampler name
    takes the sampler's first rows. ``label_balanced`` (or an ``interval:a-b:balanced`` strategy) ranks and
    counts the score bands within each label group of the pool, so they keep the pool's label proportions.
    """
    count = int(round(size_fraction * len(pool)))
    if strategy == SELECTION:  # the pool rows of Explore's kept ids, whatever the size fraction says
        if selection_rows is None:
            raise EudsInputError("the selection strategy trains the rows Explore keeps: set an interval on Explore")
        return np.sort(np.asarray(selection_rows))
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
