"""The guard against picking noise: accept a search's winner only when it beats the same search on permuted scores.

The best of hundreds of candidates has a gain biased upwards: some band is lucky on any data. The question a
winner must answer is "would a search this wide find a gain this large if the scores carried no information?".
:func:`null_calibrated_guard` answers it by permutation: it reruns the very same search after shuffling the
score values among the rows the search chooses from (one permutation for every score, so their joint structure
stays), ``permutations`` times, and compares the observed best gain with that null distribution of best gains.

p = (1 + #{null best >= observed}) / (1 + permutations) (the permutation p-value that counts the observed run
as one of the draws, so it is never 0); the winner is accepted when p <= ``alpha`` and its gain is above 0.
With 19 permutations the smallest p is 0.05. Everything that is not the scores (labels, the random baselines,
the folds) stays fixed, so a gain the data's structure gives every band (label balancing, a size effect) is in
the null too.

``stop_when_rejected`` skips what cannot change the decision: no permutation when the observed gain is not
above 0, and none after the null best gains at or above the observed one already make p > ``alpha`` (the
p-value then counts the planned permutations, so it is a lower bound, and ``null_best`` holds those run).

Any search can use it: give a function that returns the best gain for a random generator (``None``: the scores
as they are; a generator: the scores permuted by :func:`permute_within`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from euds_core.errors import ScoringCancelled

DEFAULT_PERMUTATIONS = 19
DEFAULT_ALPHA = 0.05

BestGainFn = Callable[[np.random.Generator | None], float]


@dataclass(frozen=True)
class GuardResult:
    """The observed best gain, the best gains of the same search on permuted scores, and the decision."""

    observed: float
    null_best: np.ndarray  # (permutations run,)
    alpha: float
    planned: int | None = None  # permutations planned (None: as many as were run)

    @property
    def p_value(self) -> float:
        """The permutation p-value; a lower bound when the guard stopped early, 1 when it ran no permutation
        (no gain above 0: nothing to test)."""
        if self.planned and not len(self.null_best):
            return 1.0
        planned = len(self.null_best) if self.planned is None else self.planned
        return float((1 + np.sum(self.null_best >= self.observed - 1e-12)) / (1 + planned))

    @property
    def complete(self) -> bool:
        """Whether every planned permutation ran (else the guard stopped once the answer was certain)."""
        return self.planned is None or len(self.null_best) >= self.planned

    @property
    def null_quantile(self) -> float:
        """The (1 - alpha) quantile of the null's best gains: what a winner has to beat."""
        return float(np.quantile(self.null_best, 1.0 - self.alpha)) if len(self.null_best) else float("nan")

    @property
    def accepted(self) -> bool:
        return self.observed > 0 and self.p_value <= self.alpha


def permute_within(values: dict[str, np.ndarray], rows: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Copies of ``values`` (each indexed by table row) with the values at ``rows`` shuffled among those rows,
    by one permutation shared by every score."""
    rows = np.asarray(rows)
    order = rng.permutation(len(rows))
    out = {}
    for name, array in values.items():
        shuffled = np.array(array, copy=True)
        shuffled[rows] = np.asarray(array)[rows][order]
        out[name] = shuffled
    return out


def null_calibrated_guard(
    best_gain: BestGainFn,
    *,
    permutations: int = DEFAULT_PERMUTATIONS,
    alpha: float = DEFAULT_ALPHA,
    seed: int = 0,
    observed: float | None = None,
    cancel: Callable[[], bool] | None = None,
    stop_when_rejected: bool = False,
    workers: int = 1,
    on_permutation: Callable[[int], None] | None = None,
) -> GuardResult:
    """Run ``best_gain(None)`` (unless ``observed`` is given) and ``best_gain(rng)`` for ``permutations``
    seeded generators; see the module docstring for the decision and ``stop_when_rejected``. ``workers`` > 1
    runs that many permutations at a time in worker processes (``best_gain`` must then pickle: no progress
    callback inside; ``on_permutation(done)`` reports in this process after each batch)."""
    if permutations < 1:
        raise ValueError("the null needs at least one permutation")
    value = float(best_gain(None) if observed is None else observed)
    null: list[float] = []
    workers = max(1, int(workers))
    while len(null) < permutations:
        if stop_when_rejected and rejected_already(value, null, permutations, alpha):
            break
        if cancel is not None and cancel():
            raise ScoringCancelled(f"the null search was cancelled after {len(null)} of {permutations} permutations")
        batch = range(len(null), min(len(null) + workers, permutations))
        null += permuted_gains(best_gain, [np.random.default_rng([seed, 7919, i]) for i in batch], workers)
        if on_permutation is not None:
            on_permutation(len(null))
    return GuardResult(value, np.asarray(null, dtype=np.float64), alpha, planned=permutations)


def permuted_gains(best_gain: BestGainFn, generators: list, workers: int) -> list[float]:
    """``best_gain`` of each generator, in worker processes when ``workers`` > 1 (the same numbers: each
    permutation has its own seeded generator)."""
    if workers == 1 or len(generators) == 1:
        return [float(best_gain(g)) for g in generators]
    from joblib import Parallel, delayed

    run = Parallel(n_jobs=min(workers, len(generators)), backend="loky")
    return [float(v) for v in run(delayed(single_threaded)(best_gain, g) for g in generators)]


def single_threaded(best_gain: BestGainFn, generator) -> float:
    """One permutation in a worker: BLAS/OpenMP pools limited to one thread, as in the parent's search."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return float(best_gain(generator))


def guard_workers() -> int:
    """Worker processes for the permutations: one per CPU core, at most 2 (the machines this targets)."""
    import os

    return max(1, min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def rejected_already(observed: float, null: list[float], permutations: int, alpha: float) -> bool:
    """Whether the decision is "not accepted" whatever the permutations not run yet return."""
    reached = sum(v >= observed - 1e-12 for v in null)
    return observed <= 0 or (1 + reached) / (1 + permutations) > alpha
