"""The wider automatic search: which selection of a given size beats random, on data nobody tuned on?

Candidates at one size fraction ``s`` (a fraction of the rows the search may train on): every score given
(each entropy, IGSE and its pairs, the literature scores), every band [p_lo, p_lo + s] on a grid, label
balancing on/off, near-duplicate removal on/off. Everything happens inside the pool; the test split is not an
argument.

**Cross-fitting.** The pool is cut into ``folds`` stratified folds (:func:`~euds_core.experiments.splits.
crossfit_folds`). For each fold, a candidate keeps its band of the other folds' rows, a linear proxy
(:mod:`euds_core.experiments.proxy`) trains on them and predicts the fold; so every pool row serves validation
once. A candidate's **gain** is its accuracy over all pool rows minus the mean accuracy of ``random_draws``
random subsets of the same count (the same random subsets for every candidate of that count). Scores that look
at labels can be refitted per fold (``scores`` as a function of the training rows).

**Proxy-derived scores** (classifier entropy, least confidence, margin, EL2N: predictions of the same kind of
linear model on the same embeddings) are ranked by the smaller of the linear and the kNN proxy's gains, never by
the linear proxy alone; a search whose winner a real fine-tune will judge (``proxy_derived=False``, the
benchmark's ``finetune`` mode) leaves them out: three accepted EL2N / classifier-entropy winners of +3.8 to +7.6 pt
on the proxies gave -1.5 to +0.5 pt in fine-tunes (bench/RESULTS.md).

**Guard.** The best of hundreds of candidates is biased upwards, so the winner is accepted only when its gain
beats the same search on permuted scores (:func:`~euds_core.experiments.null_guard.null_calibrated_guard`);
else "nothing here beats random at this size". The gain printed is the winner's cross-fitted gain: the maximum
over the candidates, still optimistic; the test split (benchmark, ``finetune``) gives the unbiased figure.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError, ScoringCancelled
from euds_core.experiments.null_guard import DEFAULT_ALPHA, DEFAULT_PERMUTATIONS, null_calibrated_guard, permute_within
from euds_core.experiments.proxy import (
    PROXY_DERIVED_SCORES,
    knn_proxy_predictions,
    linear_proxy_predictions,
    proxy_features,
    random_correct,
)
from euds_core.experiments.splits import ExperimentSplit, crossfit_folds
from euds_core.selection.intervals import select_keep_fraction, select_keep_fraction_balanced

RANDOM_DRAWS = 5
CROSSFIT_FOLDS = 3
NOTHING_BEATS_RANDOM = "nothing here beats random at this size"
CANDIDATE_COLUMNS = [
    "score",
    "p_lo",
    "p_hi",
    "label_balanced",
    "dedup",
    "n_train",
    "gain",
    "gain_se",
    "gain_linear",
    "gain_knn",
    "seconds",
]
SearchProgressFn = Callable[[int, int, str], None]  # (steps done, total, message)
# the score values a search may rank by, fitted on the given training rows (a label-using score is refitted)
ScoresFor = Callable[[np.ndarray], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Candidate:
    """One selection: the band [p_lo, p_hi] of ``score`` (within each label when ``label_balanced``), after
    dropping all but one of each near-duplicate group when ``dedup``."""

    score: str
    p_lo: float
    p_hi: float
    label_balanced: bool = False
    dedup: bool = False

    @property
    def name(self) -> str:
        extras = ("+balanced" if self.label_balanced else "") + ("+dedup" if self.dedup else "")
        return f"{self.score}[{self.p_lo:g}-{self.p_hi:g}]{extras}"


def candidate_rows(
    candidate: Candidate,
    rows: np.ndarray,
    values: np.ndarray,
    labels: np.ndarray,
    duplicates: np.ndarray,
    seed: int = 0,
) -> np.ndarray:
    """Sorted rows of ``rows`` the candidate keeps: round((p_hi - p_lo) * |rows|) of them, starting at
    percentile p_lo of the score order among the eligible rows (``rows`` minus ``duplicates`` when dedup).

    ``values`` and ``labels`` are indexed by table row, like ``rows`` and ``duplicates``.
    """
    eligible = np.setdiff1d(rows, duplicates) if candidate.dedup else np.asarray(rows)
    count = min(int(round((candidate.p_hi - candidate.p_lo) * len(rows))), len(eligible))
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    keep = count / len(eligible)
    offset = 0.0 if keep >= 1.0 else min(1.0, candidate.p_lo / (1.0 - keep))  # start = p_lo * N
    part = values[eligible]
    if candidate.label_balanced:
        mask = select_keep_fraction_balanced(part, labels[eligible], keep, offset, seed)
    else:
        mask = select_keep_fraction(part, keep, offset, seed)
    return np.sort(eligible[mask])


def near_duplicate_rows(embeddings: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Table rows among ``rows`` that near-duplicate removal drops (one of each group stays)."""
    from euds_core.scores.near_duplicate import near_duplicates_to_drop

    rows = np.asarray(rows)
    return np.sort(rows[near_duplicates_to_drop(embeddings[rows])])


def candidate_grid(
    scores: list[str], size: float, *, step: float = 0.1, balance: tuple[bool, ...], dedup: tuple[bool, ...]
) -> list[Candidate]:
    """Every (score, band of width ``size`` starting on a ``step`` grid, balance, dedup) combination."""
    if not 0.0 < size < 1.0:
        raise EudsInputError(f"a search size must be a fraction in (0, 1), not {size}")
    starts = sorted({*np.round(np.arange(0.0, 1.0 - size + 1e-9, step), 6).tolist(), round(1.0 - size, 6)})
    return [
        Candidate(score, float(lo), round(float(lo) + size, 6), bool(b), bool(d))
        for score in scores
        for lo in starts
        for b in balance
        for d in dedup
    ]


def gain_standard_error(correct: np.ndarray, random_correct_rows: np.ndarray) -> float:
    """The standard error of one subset's gain against the mean of random subsets on the same rows.

    ``correct`` (m,) and ``random_correct_rows`` (draws, m) are 0/1 per validation row. The error adds the
    spread of single random subsets' accuracies (the candidate's own subset noise, plus the baseline mean's) to
    the per-row spread of the paired difference.
    """
    draws, m = random_correct_rows.shape
    if m == 0 or draws < 2:
        return float("inf")
    accuracies = random_correct_rows.mean(axis=1)  # (draws,)
    subset_var = float(np.var(accuracies, ddof=1)) * (1.0 + 1.0 / draws)
    paired = correct - random_correct_rows.mean(axis=0)  # (m,)
    row_var = float(np.var(paired, ddof=1)) / m if m > 1 else 0.0
    return math.sqrt(subset_var + row_var)


# ---------------------------------------------------------------------------------------------- cross-fitting


@dataclass
class CrossFitSearch:
    """The candidates of one size evaluated by cross-fitting over the pool (see the module docstring).

    ``fold_values[f]`` holds the score values the candidates of fold ``f`` rank its training rows by.
    """

    x: np.ndarray  # (n, dims) proxy features
    y: np.ndarray  # (n,) class ids
    labels: np.ndarray  # (n,) label strings (for balanced bands)
    folds: list[tuple[np.ndarray, np.ndarray]]  # (train, validation) table rows
    fold_values: list[dict[str, np.ndarray]]
    fold_duplicates: list[np.ndarray]
    candidates: list[Candidate]
    random_draws: int = RANDOM_DRAWS
    seed: int = 0
    _baselines: dict = field(default_factory=dict)

    def baseline(self, fold: int, count: int) -> dict[str, np.ndarray]:
        """Proxy -> (draws, |validation of fold|) correctness of random subsets of ``count`` training rows."""
        if (fold, count) not in self._baselines:
            train, val = self.folds[fold]
            self._baselines[fold, count] = random_correct(
                self.x,
                self.y,
                train,
                val,
                count,
                draws=self.random_draws,
                seed=self.seed * 1000 + fold,
                proxies=("linear", "knn"),
            )
        return self._baselines[fold, count]

    def correctness(
        self, candidate: Candidate, values: list[dict[str, np.ndarray]], proxy: str
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """(correct (|pool|,), random correct (draws, |pool|), mean subset size) of one candidate and proxy."""
        predict = linear_proxy_predictions if proxy == "linear" else knn_proxy_predictions
        correct, base, sizes = [], [], []
        for f, (train, val) in enumerate(self.folds):
            rows = candidate_rows(
                candidate, train, values[f][candidate.score], self.labels, self.fold_duplicates[f], self.seed
            )
            correct.append(predict(self.x, self.y, rows, val) == self.y[val])
            base.append(self.baseline(f, len(rows))[proxy])
            sizes.append(len(rows))
        return np.concatenate(correct).astype(np.float64), np.concatenate(base, axis=1), int(round(np.mean(sizes)))

    def gain(self, candidate: Candidate, values: list[dict[str, np.ndarray]], proxy: str) -> float:
        correct, base, _ = self.correctness(candidate, values, proxy)
        return float(correct.mean() - base.mean())

    def ranking_gain(self, candidate: Candidate, values: list[dict[str, np.ndarray]]) -> float:
        """The gain a candidate is ranked by: the linear proxy's, or for a proxy-derived score the smaller of
        the linear and the kNN proxy's."""
        linear = self.gain(candidate, values, "linear")
        if candidate.score not in PROXY_DERIVED_SCORES:
            return linear
        return min(linear, self.gain(candidate, values, "knn"))

    def permuted(self, rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
        """The fold values with the scores shuffled among each fold's training rows (the null)."""
        return [
            permute_within(values, train, rng) for values, (train, _) in zip(self.fold_values, self.folds, strict=True)
        ]

    def best_gain(self, rng: np.random.Generator | None, enough: float | None = None) -> float:
        """The best ranking gain over every candidate, on the scores (``None``) or on permuted scores; with
        ``enough``, the first gain at or above it (the guard only asks whether one reaches it)."""
        values = self.fold_values if rng is None else self.permuted(rng)
        best = -np.inf
        for candidate in self.candidates:
            best = max(best, self.ranking_gain(candidate, values))
            if enough is not None and best >= enough - 1e-12:
                break
        return float(best)

    def describe(self, candidate: Candidate) -> dict:
        """One row of the candidate table (both proxies' gains, the standard error of the linear gain)."""
        started = time.perf_counter()
        correct, base, size = self.correctness(candidate, self.fold_values, "linear")
        linear = float(correct.mean() - base.mean())
        knn = self.gain(candidate, self.fold_values, "knn")
        ranking = min(linear, knn) if candidate.score in PROXY_DERIVED_SCORES else linear
        return {
            **asdict(candidate),
            "n_train": size,
            "gain": ranking,
            "gain_se": gain_standard_error(correct, base),
            "gain_linear": linear,
            "gain_knn": knn,
            "seconds": time.perf_counter() - started,
        }


# ---------------------------------------------------------------------------------------------- the search


@dataclass
class SearchResult:
    """The search's answer at one size: the winner (None when nothing beat the null) and every candidate."""

    size: float
    winner: Candidate | None
    best: Candidate  # the top candidate, accepted or not
    gain: float  # its cross-fitted gain (the maximum over the candidates: optimistic)
    gain_se: float  # the standard error of that gain as if it were the only candidate
    null_quantile: float  # the 95th percentile of the best gain of the same search on permuted scores
    p_value: float  # the permutation p-value of the best gain
    permutations: int
    proxy_agreement: float  # Spearman rank correlation of linear vs kNN gains over the candidates
    knn_gain: float  # the best candidate's gain under the kNN proxy
    candidates: pd.DataFrame
    permutations_run: int | None = None  # fewer than ``permutations`` when the guard stopped once rejected

    @property
    def verdict(self) -> str:
        if self.winner is None:
            return NOTHING_BEATS_RANDOM
        return (
            f"{self.winner.name}: {self.gain * 100:+.1f} pt over random, cross-fitted over the pool; the same "
            f"search on permuted scores reaches {self.null_quantile * 100:+.1f} pt at its 95th percentile "
            f"(p = {self.p_value:.2f})"
        )

    def summary(self) -> dict:
        return {
            "size": self.size,
            "winner": None if self.winner is None else asdict(self.winner),
            "best": asdict(self.best),
            "verdict": self.verdict,
            "gain": self.gain,
            "gain_se": self.gain_se,
            "null_quantile": self.null_quantile,
            "p_value": self.p_value,
            "permutations": self.permutations,
            "permutations_run": self.permutations_run,
            "proxy_agreement": self.proxy_agreement,
            "knn_gain": self.knn_gain,
        }


@dataclass(frozen=True)
class SearchSettings:
    """How a selection search runs (the defaults are the CLI's and the benchmark's)."""

    step: float = 0.1
    balance: tuple[bool, ...] = (True, False)
    dedup: tuple[bool, ...] = (False, True)
    random_draws: int = RANDOM_DRAWS
    folds: int = CROSSFIT_FOLDS
    permutations: int = DEFAULT_PERMUTATIONS
    alpha: float = DEFAULT_ALPHA
    seed: int = 0
    # Skip the null work that cannot change the winner: permutations once p > alpha is certain, candidates of a
    # permutation once one reaches the observed gain (null_guard.py; the null quantile then reports those run).
    stop_when_rejected: bool = False
    workers: int = 1  # permutations run at a time in worker processes (the same numbers as one at a time)
    proxy_derived: bool = True  # search the scores built from the proxy's own predictions (PROXY_DERIVED_SCORES)


def search_selection(
    embeddings: np.ndarray,
    labels: np.ndarray,
    scores: dict[str, np.ndarray] | ScoresFor,
    split: ExperimentSplit,
    size: float,
    settings: SearchSettings | None = None,
    *,
    features: np.ndarray | None = None,
    progress: SearchProgressFn | None = None,
    cancel: Callable[[], bool] | None = None,
) -> SearchResult:
    """Search the candidates at ``size`` (see the module docstring). ``scores`` maps a name to (n,) values that
    read no test row, or is a function of a fold's training rows returning them (label-using scores refitted
    there). Only ``split.pool`` rows are read."""
    from threadpoolctl import threadpool_limits

    # Thousands of tiny fits: BLAS/OpenMP thread pools only add overhead (measured 14-25x slower on a loaded
    # 2-core machine), so the search runs single-threaded.
    with threadpool_limits(limits=1):
        search = build_search(embeddings, labels, scores, split, size, settings or SearchSettings(), features)
        return run_search(search, settings or SearchSettings(), size, progress=progress, cancel=cancel)


def build_search(
    embeddings: np.ndarray,
    labels: np.ndarray,
    scores: dict[str, np.ndarray] | ScoresFor,
    split: ExperimentSplit,
    size: float,
    settings: SearchSettings,
    features: np.ndarray | None = None,
) -> CrossFitSearch:
    """The folds, each fold's score values and near-duplicates, and the candidates of one size."""
    labels = np.asarray(labels).astype(str)
    if settings.random_draws < 2:
        raise EudsInputError("the search needs at least 2 random draws per size to measure their spread")
    folds = crossfit_folds(labels, split.pool, settings.folds, settings.seed)
    fold_values = [scores(train) if callable(scores) else scores for train, _ in folds]
    if not settings.proxy_derived:
        fold_values = [{k: v for k, v in values.items() if k not in PROXY_DERIVED_SCORES} for values in fold_values]
        if not fold_values[0]:
            raise EudsInputError(
                "a search judged by fine-tunes leaves out scores built from the proxy's own predictions "
                f"({', '.join(sorted(PROXY_DERIVED_SCORES))}); give it another score, e.g. information or semantic"
            )
    if not fold_values[0]:
        raise EudsInputError("the search needs at least one score")
    for values in fold_values:
        for name, array in values.items():
            if not np.all(np.isfinite(np.asarray(array, dtype=np.float64)[split.pool])):
                raise EudsInputError(f"the score '{name}' has missing or non-numeric values; rescore the data")
    with_dedup = True in settings.dedup
    none = np.zeros(0, dtype=np.int64)
    classes = np.unique(labels[split.pool])
    return CrossFitSearch(
        x=features if features is not None else proxy_features(embeddings, split.pool, seed=settings.seed),
        y=np.searchsorted(classes, labels),  # a class seen only in test maps somewhere harmless
        labels=labels,
        folds=folds,
        fold_values=[{k: np.asarray(v, dtype=np.float64) for k, v in values.items()} for values in fold_values],
        fold_duplicates=[near_duplicate_rows(embeddings, train) if with_dedup else none for train, _ in folds],
        candidates=candidate_grid(
            list(fold_values[0]), size, step=settings.step, balance=settings.balance, dedup=settings.dedup
        ),
        random_draws=settings.random_draws,
        seed=settings.seed,
    )


def run_search(
    search: CrossFitSearch,
    settings: SearchSettings,
    size: float,
    *,
    progress: SearchProgressFn | None = None,
    cancel: Callable[[], bool] | None = None,
) -> SearchResult:
    """Describe every candidate, then run the guard on the best one's gain."""
    from scipy.stats import spearmanr

    total = len(search.candidates) + settings.permutations
    records = []
    for i, candidate in enumerate(search.candidates):
        if cancel is not None and cancel():
            raise ScoringCancelled(f"selection search cancelled after {i} of {len(search.candidates)} candidates")
        records.append(search.describe(candidate))
        if progress:
            progress(i + 1, total, f"{candidate.name}: gain {records[-1]['gain'] * 100:+.1f} pt")
    table = pd.DataFrame(records, columns=CANDIDATE_COLUMNS)
    best = int(table["gain"].to_numpy().argmax())  # first of equal gains: the candidate order decides
    observed = float(table["gain"].iloc[best])

    def permutation_done(done: int) -> None:
        if progress:
            progress(len(search.candidates) + done, total, f"null search {done}/{settings.permutations}")

    guard = null_calibrated_guard(
        partial(search.best_gain, enough=observed if settings.stop_when_rejected else None),
        on_permutation=permutation_done,
        workers=settings.workers,
        permutations=settings.permutations,
        alpha=settings.alpha,
        seed=settings.seed,
        observed=observed,
        cancel=cancel,
        stop_when_rejected=settings.stop_when_rejected,
    )
    varied = len(table) > 2 and table["gain_linear"].std() > 0 and table["gain_knn"].std() > 0
    agreement = float(spearmanr(table["gain_linear"], table["gain_knn"]).statistic) if varied else float("nan")
    pick = table.iloc[best]
    return SearchResult(
        size=float(size),
        winner=search.candidates[best] if guard.accepted else None,
        best=search.candidates[best],
        gain=float(pick.gain),
        gain_se=float(pick.gain_se),
        null_quantile=guard.null_quantile,
        p_value=guard.p_value,
        permutations=settings.permutations,
        proxy_agreement=agreement if math.isfinite(agreement) else float("nan"),
        knn_gain=float(pick.gain_knn),
        candidates=table,
        permutations_run=len(guard.null_best),
    )
