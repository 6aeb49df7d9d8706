"""The wider automatic search: which selection of a given size beats random, on data nobody tuned on?

Candidates at one size fraction ``s`` (a fraction of the rows the search may train on): every score given
(each entropy, IGSE and its pairs, the literature scores), every band [p_lo, p_lo + s] on a grid, label
balancing on/off, near-duplicate removal on/off. Everything happens inside the pool: the proxies train on
``search_train`` rows and are scored on the validation split (:mod:`euds_core.experiments.splits`); the test
split is not an argument.

Each candidate's figure is its **gain**: validation accuracy of a linear proxy (logistic regression on the
cached frozen embeddings, PCA 64) trained on its rows, minus the mean accuracy of ``random_draws`` random
subsets of the same count. A second proxy (k-nearest neighbours on the same features) scores every candidate
too; the result reports the rank agreement of the two proxies' gains (Spearman) and the winner's kNN gain.

**Guard against picking noise.** With hundreds of candidates the largest validation gain is biased upwards,
so the validation split is cut in two stratified halves. The winner is *picked* on half A only; its gain is
then *measured* on half B, which played no part in the choice, with a standard error that adds the spread
of the random subsets' accuracies on B (one subset is as noisy as one random draw, and the baseline is a
mean of ``random_draws``) to the per-example spread of the paired difference on B. The search returns the
winner only when its half-B gain minus 1.645 standard errors is above 0 (one-sided 95 %), else "nothing here
beats random at this size".
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError, ScoringCancelled
from euds_core.experiments.interval_search import _proxy_features
from euds_core.experiments.splits import ExperimentSplit, stratified_split
from euds_core.selection.intervals import select_keep_fraction, select_keep_fraction_balanced

RANDOM_DRAWS = 5
Z_ONE_SIDED_95 = 1.645
KNN_NEIGHBOURS = 10
NOTHING_BEATS_RANDOM = "nothing here beats random at this size"
CANDIDATE_COLUMNS = [
    "score",
    "p_lo",
    "p_hi",
    "label_balanced",
    "dedup",
    "n_train",
    "gain_pick",
    "gain_confirm",
    "gain_se",
    "gain_knn",
    "seconds",
]
SearchProgressFn = Callable[[int, int, str], None]  # (candidates done, total, message)


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


# ---------------------------------------------------------------------------------------------- proxies


def linear_proxy_predictions(x: np.ndarray, y: np.ndarray, train: np.ndarray, evaluate: np.ndarray) -> np.ndarray:
    """Predictions on ``evaluate`` of a logistic regression fitted on ``train`` (one class: that class)."""
    from sklearn.linear_model import LogisticRegression

    present = np.unique(y[train])
    if len(present) < 2:
        return np.full(len(evaluate), present[0] if len(present) else 0)
    model = LogisticRegression(C=1.0, max_iter=200, tol=1e-3)
    return model.fit(x[train], y[train]).predict(x[evaluate])


def knn_proxy_predictions(x: np.ndarray, y: np.ndarray, train: np.ndarray, evaluate: np.ndarray) -> np.ndarray:
    """Predictions of a distance-weighted k-nearest-neighbour vote (the second, non-linear proxy)."""
    from sklearn.neighbors import KNeighborsClassifier

    if len(train) == 0:
        return np.zeros(len(evaluate), dtype=y.dtype)
    model = KNeighborsClassifier(n_neighbors=min(KNN_NEIGHBOURS, len(train)), weights="distance")
    return model.fit(x[train], y[train]).predict(x[evaluate])


PROXIES = {"linear": linear_proxy_predictions, "knn": knn_proxy_predictions}


def proxy_features(embeddings: np.ndarray, fit_rows: np.ndarray, *, dims: int = 64, seed: int = 0) -> np.ndarray:
    """The proxies' input: embeddings on the top ``dims`` principal components of ``fit_rows``, standardised."""
    return _proxy_features(embeddings, dims, seed, np.asarray(fit_rows))


# ---------------------------------------------------------------------------------------------- the search


@dataclass
class SearchResult:
    """The search's answer at one size: the winner (None when nothing beat random) and every candidate."""

    size: float
    winner: Candidate | None
    gain_pick: float  # the winner's gain on half A (biased upwards: it was picked there)
    gain_confirm: float  # its gain on half B (unbiased)
    gain_se: float  # the standard error of gain_confirm
    proxy_agreement: float  # Spearman rank correlation of linear vs kNN gains over the candidates
    knn_gain: float  # the winner's gain under the kNN proxy on all of validation
    candidates: pd.DataFrame

    @property
    def verdict(self) -> str:
        if self.winner is None:
            return NOTHING_BEATS_RANDOM
        return (
            f"{self.winner.name}: {self.gain_confirm * 100:+.1f} pt over random on held-out validation "
            f"(± {self.gain_se * 100:.1f} pt)"
        )

    def summary(self) -> dict:
        return {
            "size": self.size,
            "winner": None if self.winner is None else asdict(self.winner),
            "verdict": self.verdict,
            "gain_pick": self.gain_pick,
            "gain_confirm": self.gain_confirm,
            "gain_se": self.gain_se,
            "proxy_agreement": self.proxy_agreement,
            "knn_gain": self.knn_gain,
        }


def validation_halves(labels: np.ndarray, validation: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(half A, half B) of the validation rows, stratified by label and seeded: A picks, B confirms."""
    a, b = stratified_split(np.asarray(labels)[validation], len(validation), 0.5, seed + 2)
    return validation[a], validation[b]


def search_selection(
    embeddings: np.ndarray,
    labels: np.ndarray,
    scores: dict[str, np.ndarray],
    split: ExperimentSplit,
    size: float,
    *,
    step: float = 0.1,
    balance: tuple[bool, ...] = (True, False),
    dedup: tuple[bool, ...] = (False, True),
    random_draws: int = RANDOM_DRAWS,
    seed: int = 0,
    features: np.ndarray | None = None,
    progress: SearchProgressFn | None = None,
    cancel: Callable[[], bool] | None = None,
) -> SearchResult:
    """Search the candidates at ``size`` (see the module docstring); ``scores`` maps a name to (n,) values fitted
    on ``split.search_train`` rows only (:func:`~euds_core.experiments.interval_search.search_score_values`)."""
    from threadpoolctl import threadpool_limits

    # Hundreds of tiny fits: BLAS/OpenMP thread pools only add overhead (measured 14-25x slower on a loaded
    # 2-core machine), so the search runs single-threaded.
    with threadpool_limits(limits=1):
        return _search_selection(
            embeddings,
            labels,
            scores,
            split,
            size,
            step=step,
            balance=balance,
            dedup=dedup,
            random_draws=random_draws,
            seed=seed,
            features=features,
            progress=progress,
            cancel=cancel,
        )


def _search_selection(
    embeddings, labels, scores, split, size, *, step, balance, dedup, random_draws, seed, features, progress, cancel
) -> SearchResult:
    from scipy.stats import spearmanr

    labels = np.asarray(labels).astype(str)
    if random_draws < 2:
        raise EudsInputError("the search needs at least 2 random draws per size to measure their spread")
    if not scores:
        raise EudsInputError("the search needs at least one score")
    train = split.search_train
    half_a, half_b = validation_halves(labels, split.validation, seed)
    x = features if features is not None else proxy_features(embeddings, split.pool, seed=seed)
    classes = np.unique(labels[split.pool])
    y = np.searchsorted(classes, labels)
    duplicates = near_duplicate_rows(embeddings, train) if True in dedup else np.zeros(0, dtype=np.int64)
    candidates = candidate_grid(list(scores), size, step=step, balance=balance, dedup=dedup)
    baselines: dict[int, dict] = {}

    def baseline(count: int) -> dict:
        if count not in baselines:
            rng = np.random.default_rng([seed, count])
            correct = {name: [] for name in PROXIES}  # proxy -> (draws, |validation|) correctness
            for _ in range(random_draws):
                rows = np.sort(rng.choice(train, size=count, replace=False))
                for name, predict in PROXIES.items():
                    correct[name].append(predict(x, y, rows, split.validation) == y[split.validation])
            baselines[count] = {k: np.asarray(v, dtype=np.float64) for k, v in correct.items()}
        return baselines[count]

    in_a = np.isin(split.validation, half_a)  # (|validation|,) which validation rows are half A
    records, details = [], []
    for i, candidate in enumerate(candidates):
        if cancel is not None and cancel():
            raise ScoringCancelled(f"selection search cancelled after {i} of {len(candidates)} candidates")
        started = time.perf_counter()
        rows = candidate_rows(candidate, train, scores[candidate.score], labels, duplicates, seed)
        base = baseline(len(rows))
        linear = linear_proxy_predictions(x, y, rows, split.validation) == y[split.validation]
        knn = knn_proxy_predictions(x, y, rows, split.validation) == y[split.validation]
        gain_a = linear[in_a].mean() - base["linear"][:, in_a].mean()
        gain_b, se_b = _confirmed_gain(linear[~in_a], base["linear"][:, ~in_a])
        records.append(
            {
                **asdict(candidate),
                "n_train": len(rows),
                "gain_pick": float(gain_a),
                "gain_confirm": float(gain_b),
                "gain_se": float(se_b),
                "gain_knn": float(knn.mean() - base["knn"].mean()),
                "seconds": time.perf_counter() - started,
            }
        )
        details.append(candidate)
        if progress:
            progress(i + 1, len(candidates), f"{candidate.name}: gain {gain_a * 100:+.1f} pt")
    table = pd.DataFrame(records, columns=CANDIDATE_COLUMNS)
    best = int(table["gain_pick"].to_numpy().argmax())  # first of equal gains: the candidate order decides
    pick = table.iloc[best]
    agreement = float(spearmanr(table["gain_pick"], table["gain_knn"]).statistic) if len(table) > 2 else float("nan")
    beyond_noise = pick.gain_confirm - Z_ONE_SIDED_95 * pick.gain_se > 0
    return SearchResult(
        size=float(size),
        winner=details[best] if beyond_noise else None,
        gain_pick=float(pick.gain_pick),
        gain_confirm=float(pick.gain_confirm),
        gain_se=float(pick.gain_se),
        proxy_agreement=agreement if math.isfinite(agreement) else float("nan"),
        knn_gain=float(pick.gain_knn),
        candidates=table,
    )


def _confirmed_gain(correct: np.ndarray, random_correct: np.ndarray) -> tuple[float, float]:
    """(gain, standard error) of one subset against the mean of random subsets on the same rows.

    ``correct`` (m,) and ``random_correct`` (draws, m) are 0/1 per validation row. The error adds the spread
    of single random subsets' accuracies (the candidate's own subset noise, plus the baseline mean's) to the
    per-row spread of the paired difference.
    """
    draws, m = random_correct.shape
    if m == 0:
        return 0.0, float("inf")
    accuracies = random_correct.mean(axis=1)  # (draws,)
    gain = float(correct.mean() - accuracies.mean())
    subset_var = float(np.var(accuracies, ddof=1)) * (1.0 + 1.0 / draws)
    paired = correct - random_correct.mean(axis=0)  # (m,)
    row_var = float(np.var(paired, ddof=1)) / m if m > 1 else 0.0
    return gain, math.sqrt(subset_var + row_var)
