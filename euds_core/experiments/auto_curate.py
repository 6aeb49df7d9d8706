"""Auto-curate: a greedy search for a recipe of filters (:mod:`euds_core.selection.recipe`) on the pool alone.

Steps a recipe may take: keep one row per near-duplicate group; drop the rows below or above a percentile of
a score (``quantiles`` from each end); rank within each label group (label-balanced) or not. The search starts
from "keep every row" and adds, one at a time, the step with the largest **gain**, as long as it raises the
gain by at least ``min_improvement``; at most ``max_steps`` steps.

**Gain**, cross-fitted over the pool: the pool is cut into ``folds`` stratified folds; on each, the recipe is
applied to the other folds' rows (percentiles among those rows, label-using scores refitted on them only), a
linear proxy (logistic regression on the pool's PCA features) trains on the rows it keeps and is scored on the
held-out fold, minus the accuracy of the proxy trained on all those rows. The gain is the mean over folds.
(Not the gain over random at the same size: that one rewards cutting clean rows too, as soon as what is left
is cleaner than a random subset; the history still reports it, against ``random_draws`` random subsets at a
grid of sizes, interpolated.) Nothing reads the ``defect`` flags, and the test split is not an argument.

**Guard**: the best recipe of so many tries is biased upwards, so it is accepted only when the null-calibrated
guard of :mod:`euds_core.experiments.null_guard` says the same greedy search on permuted scores (and a permuted
near-duplicate column: a random drop of as many rows) rarely reaches its gain; otherwise the answer is
"nothing beats random" and the recipe keeps every row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError, ScoringCancelled
from euds_core.selection.intervals import group_percentile_rank, percentile_rank
from euds_core.selection.recipe import DUPLICATE_COPY, Recipe, RecipeStep

QUANTILES = (0.05, 0.1, 0.2, 0.3)  # how much a drop step may cut from one end of a score
RANDOM_GRID = (0.3, 0.45, 0.6, 0.7, 0.8, 0.9, 1.0)  # sizes (share of the fold's training rows) of the baseline
NOTHING_BEATS_RANDOM = "nothing beats random"
STEP_Z = 1.5  # a step's paired improvement on the held-out pool rows must reach 1.5 standard errors
HISTORY_COLUMNS = ["step", "recipe", "gain", "gain_over_random", "kept_share"]
ProgressFn = Callable[[str], None]


@dataclass
class Fold:
    """One cross-fitting fold: training rows, held-out rows, and the per-score ranks among the training rows."""

    train: np.ndarray
    held_out: np.ndarray
    ranks: dict[str, np.ndarray]  # score -> (|train|,) percentile ranks among the training rows
    balanced_ranks: dict[str, np.ndarray]  # the same within each label group
    redundant: np.ndarray  # (|train|,) bool: a near-duplicate copy dedup drops
    random_accuracy: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (len(RANDOM_GRID),)


@dataclass
class RecipeSearchResult:
    recipe: Recipe  # the accepted recipe, or "keep every row" when nothing beat random
    candidate: Recipe  # the greedy search's best recipe, accepted or not
    gain: float  # the candidate's cross-fitted accuracy gain over training on every pool row (0..1)
    null_best: np.ndarray  # the same search's best gains on permuted scores
    p_value: float
    accepted: bool
    history: pd.DataFrame  # one row per greedy step: recipe text, gain, kept share

    @property
    def verdict(self) -> str:
        if not self.accepted:
            return (
                f"{NOTHING_BEATS_RANDOM} (best recipe '{self.candidate.text}': {self.gain * 100:+.1f} pt over "
                f"the whole pool, null-search p = {self.p_value:.2f})"
            )
        return (
            f"{self.recipe.text}: {self.gain * 100:+.1f} pt over the whole pool on held-out pool folds "
            f"(null-search p = {self.p_value:.2f})"
        )

    def summary(self) -> dict:
        return {
            "recipe": self.recipe.text,
            "candidate": self.candidate.text,
            "gain": self.gain,
            "p_value": self.p_value,
            "accepted": self.accepted,
            "null_best": [float(v) for v in self.null_best],
            "verdict": self.verdict,
        }


# ---------------------------------------------------------------------------------------------- evaluation


class FoldEvaluator:
    """Gains of recipes on the folds (ranks and random baselines computed once)."""

    def __init__(self, features: np.ndarray, y: np.ndarray, folds: list[Fold]):
        self.x, self.y, self.folds = features, y, folds

    def keep_mask(self, recipe: Recipe, fold: Fold) -> np.ndarray:
        mask = np.ones(len(fold.train), dtype=bool)
        ranks = fold.balanced_ranks if recipe.label_balanced else fold.ranks
        eps = 1e-9
        for step in recipe.steps:
            if step.kind == "dedup":
                mask &= ~fold.redundant
            elif step.kind == "below":
                mask &= ranks[step.score] >= step.percentile - eps
            else:
                mask &= ranks[step.score] <= step.percentile + eps
        return mask

    def correct(self, rows: np.ndarray, held_out: np.ndarray) -> np.ndarray:
        from euds_core.experiments.proxy import linear_proxy_predictions

        return linear_proxy_predictions(self.x, self.y, rows, held_out) == self.y[held_out]

    def accuracy(self, rows: np.ndarray, held_out: np.ndarray) -> float:
        return float(np.mean(self.correct(rows, held_out)))

    def evaluate(self, recipe: Recipe) -> tuple[np.ndarray, float, float]:
        """(correctness of every held-out pool row, mean gain over random subsets of the same count, mean kept
        share of the training rows); the rows of the folds one after another."""
        correct, over_random, shares = [], [], []
        for fold in self.folds:
            mask = self.keep_mask(recipe, fold)
            share = float(mask.mean())
            if mask.sum() < 2:
                return np.zeros(sum(len(f.held_out) for f in self.folds), dtype=bool), -1.0, share
            correct.append(self.correct(fold.train[mask], fold.held_out))
            over_random.append(correct[-1].mean() - np.interp(share, RANDOM_GRID, fold.random_accuracy))
            shares.append(share)
        return np.concatenate(correct), float(np.mean(over_random)), float(np.mean(shares))


def random_baselines(evaluator: FoldEvaluator, draws: int, seed: int) -> None:
    """Fill each fold's accuracy of random subsets at :data:`RANDOM_GRID` sizes (the whole set once at 1.0)."""
    for f, fold in enumerate(evaluator.folds):
        rng = np.random.default_rng([seed, 17, f])
        accuracy = []
        for share in RANDOM_GRID:
            count = int(round(share * len(fold.train)))
            tries = 1 if share >= 1.0 else draws
            accuracy.append(
                np.mean(
                    [
                        evaluator.accuracy(np.sort(rng.choice(fold.train, count, replace=False)), fold.held_out)
                        for _ in range(tries)
                    ]
                )
            )
        fold.random_accuracy = np.asarray(accuracy)


# ---------------------------------------------------------------------------------------------- folds


def make_fold(
    train: np.ndarray, held_out: np.ndarray, values: dict[str, np.ndarray], labels: np.ndarray, redundant: np.ndarray
) -> Fold:
    """A fold from its training rows' score values, labels and near-duplicate column (each (|train|,))."""
    return Fold(
        train=np.asarray(train),
        held_out=np.asarray(held_out),
        ranks={name: percentile_rank(v) for name, v in values.items()},
        balanced_ranks={name: group_percentile_rank(v, labels) for name, v in values.items()},
        redundant=np.asarray(redundant) > 0.5,
    )


def pool_folds(labels: np.ndarray, pool: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(training rows, held-out rows) of ``folds`` stratified folds of the pool; every pool row is held out once."""
    from euds_core.experiments.splits import crossfit_folds

    return crossfit_folds(labels, pool, folds, seed)


# ---------------------------------------------------------------------------------------------- the greedy search


def next_recipes(recipe: Recipe, scores: list[str]) -> list[Recipe]:
    """Every recipe one step away: dedup, a drop step on a score end not used yet, or the balance toggled."""
    out = [] if recipe.dedup else [recipe.add(RecipeStep("dedup"))]
    used = {(s.score, s.kind) for s in recipe.steps}
    for score in scores:
        for kind in ("below", "above"):
            if (score, kind) not in used:
                out += [recipe.add(RecipeStep(kind, score, q if kind == "below" else 1.0 - q)) for q in QUANTILES]
    if recipe.scores:
        out.append(Recipe(recipe.steps, not recipe.label_balanced))
    return out


def greedy_recipe(
    evaluator: FoldEvaluator,
    scores: list[str],
    *,
    max_steps: int = 5,
    min_improvement: float = 0.002,
    cancel: Callable[[], bool] | None = None,
    progress: ProgressFn | None = None,
) -> tuple[Recipe, float, list[dict]]:
    """(best recipe, its gain over the whole training rows, one history row per accepted step)."""
    recipe, history = Recipe(), []
    full = current = evaluator.evaluate(recipe)[0]
    for step in range(max_steps):
        best, best_row = None, {}
        for candidate in next_recipes(recipe, scores):
            if cancel is not None and cancel():
                raise ScoringCancelled("the recipe search was cancelled")
            correct, over_random, share = evaluator.evaluate(candidate)
            if step_beats(correct, current, min_improvement) and (best is None or correct.mean() > best[1].mean()):
                best = (candidate, correct)
                best_row = {"gain_over_random": over_random, "kept_share": share}
        if best is None:
            break
        (recipe, current), gain = best, float(best[1].mean() - full.mean())
        history.append({"step": step + 1, "recipe": recipe.text, "gain": gain, **best_row})
        if progress:
            progress(f"step {step + 1}: {recipe.text} ({gain * 100:+.1f} pt)")
    return recipe, float(current.mean() - full.mean()), history


def step_beats(correct: np.ndarray, current: np.ndarray, min_improvement: float) -> bool:
    """Whether a step's held-out correctness beats the current recipe's by at least ``min_improvement`` and by
    :data:`STEP_Z` standard errors of the paired per-row difference (most single steps of noise do not)."""
    diff = correct.astype(np.float64) - current.astype(np.float64)
    mean = diff.mean()
    if mean < min_improvement:
        return False
    se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else np.inf
    return bool(se == 0 or mean / se >= STEP_Z)


def permuted_evaluator(evaluator: FoldEvaluator, values: list[dict], labels: np.ndarray, rng) -> FoldEvaluator:
    """The evaluator on scores (and the near-duplicate column) permuted among each fold's training rows, one
    permutation shared by every column of a fold; the folds' random baselines stay."""
    from euds_core.experiments.null_guard import permute_within

    folds = []
    for fold, fold_values in zip(evaluator.folds, values, strict=True):
        columns = {**fold_values, DUPLICATE_COPY: fold.redundant.astype(np.float64)}
        shuffled = permute_within(columns, np.arange(len(fold.train)), rng)
        redundant = shuffled.pop(DUPLICATE_COPY)
        permuted = make_fold(fold.train, fold.held_out, shuffled, labels[fold.train], redundant)
        permuted.random_accuracy = fold.random_accuracy
        folds.append(permuted)
    return FoldEvaluator(evaluator.x, evaluator.y, folds)


# ---------------------------------------------------------------------------------------------- entry points


@dataclass
class RecipeSearchSettings:
    folds: int = 3
    random_draws: int = 3
    max_steps: int = 4
    min_improvement: float = 0.003  # 0.3 pt: a step must raise the held-out accuracy by this much
    permutations: int = 19
    alpha: float = 0.05
    seed: int = 0

    def check(self) -> None:
        if self.folds < 2 or self.random_draws < 1 or self.max_steps < 1 or self.permutations < 1:
            raise EudsInputError("the recipe search needs >= 2 folds, >= 1 random draw, step and permutation")


def fold_evaluator(labels, fold_scores, pool, embeddings, features, settings) -> tuple[FoldEvaluator, list[dict]]:
    """The folds' evaluator and each fold's score values at its training rows."""
    from euds_core.curation.recipe_columns import duplicate_copy_column

    y = np.searchsorted(np.unique(labels[pool]), labels)
    splits = pool_folds(labels, pool, settings.folds, settings.seed)
    values = [
        {
            name: np.asarray(v, dtype=np.float64)[train]
            for name, v in fold_scores(train).items()
            if name != DUPLICATE_COPY
        }
        for train, _ in splits
    ]
    folds = [
        make_fold(train, held, v, labels[train], duplicate_copy_column(embeddings, train)[train])
        for (train, held), v in zip(splits, values, strict=True)
    ]
    return FoldEvaluator(features, y, folds), values


def search_recipe(
    table: pd.DataFrame,
    fold_scores: Callable[[np.ndarray], dict[str, np.ndarray]],
    pool: np.ndarray,
    embeddings: np.ndarray,
    features: np.ndarray,
    settings: RecipeSearchSettings | None = None,
    *,
    progress: ProgressFn | None = None,
    cancel: Callable[[], bool] | None = None,
) -> RecipeSearchResult:
    """The greedy recipe search on the ``pool`` rows of ``table`` (see the module docstring).

    ``fold_scores(train_rows)``: every score as (n,) table-row values, label-using ones fitted on ``train_rows``
    only (``experiments.pool_scores.fold_fitted_scores``); ``features``: the proxy's features."""
    from threadpoolctl import threadpool_limits

    from euds_core.experiments.null_guard import null_calibrated_guard

    settings = settings or RecipeSearchSettings()
    settings.check()
    labels = table["label"].astype(str).to_numpy()
    evaluator, values = fold_evaluator(labels, fold_scores, pool, embeddings, features, settings)
    names = list(values[0])
    greedy = dict(max_steps=settings.max_steps, min_improvement=settings.min_improvement, cancel=cancel)
    with threadpool_limits(limits=1):  # many small fits: thread pools only add overhead
        random_baselines(evaluator, settings.random_draws, settings.seed)
        recipe, gain, history = greedy_recipe(evaluator, names, progress=progress, **greedy)

        def best_gain(rng) -> float:
            if rng is None:
                return gain
            if progress:
                progress("null search on permuted scores")
            return greedy_recipe(permuted_evaluator(evaluator, values, labels, rng), names, **greedy)[1]

        guard = null_calibrated_guard(
            best_gain, permutations=settings.permutations, alpha=settings.alpha, seed=settings.seed, cancel=cancel
        )
    accepted = bool(guard.accepted and recipe.steps)
    return RecipeSearchResult(
        recipe=recipe if accepted else Recipe(),
        candidate=recipe,
        gain=gain,
        null_best=guard.null_best,
        p_value=guard.p_value,
        accepted=accepted,
        history=pd.DataFrame(history, columns=HISTORY_COLUMNS),
    )


def recipe_rows(
    recipe: Recipe, rows: np.ndarray, scores: pd.DataFrame, labels: np.ndarray, embeddings: np.ndarray
) -> np.ndarray:
    """Sorted table rows among ``rows`` that ``recipe`` keeps (percentiles and near-duplicate groups among
    ``rows``); ``scores`` holds table rows (label-using ones fitted on ``rows``)."""
    from euds_core.curation.recipe_columns import duplicate_copy_column

    rows = np.sort(np.asarray(rows))
    frame = scores.iloc[rows].reset_index(drop=True).assign(label=np.asarray(labels)[rows])
    if recipe.dedup:
        frame[DUPLICATE_COPY] = duplicate_copy_column(embeddings, rows)[rows]
    return rows[recipe.mask(frame)]
