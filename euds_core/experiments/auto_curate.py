"""Auto-curate: a greedy search for a recipe of filters (:mod:`euds_core.selection.recipe`) on the pool alone.

Steps a recipe may take: keep one row per near-duplicate group; drop the rows below or above a percentile of
a score (``QUANTILES`` from each end, plus the score's **outlier cut**: the share of the pool beyond
median +/- 3.5 robust standard deviations, the modified z-score rule of Iglewicz and Hoaglin); rank within each
label group (label-balanced) or not.

**Accuracy steps.** The search starts from "keep every row" and adds, one at a time, a step that raises the
**gain** by at least ``min_improvement`` and :data:`STEP_Z` paired standard errors; at most ``max_steps``.
Among the steps that pass, it takes the one that keeps the most rows among those whose held-out accuracy is
within one paired standard error of the best (the one-standard-error rule: statistically tied steps are
broken towards the smaller cut, so clean rows are not cut for no measurable gain).

**Hygiene steps.** Once a recipe has an accuracy step, the search tries one per near-duplicate group and each
outlier cut (smallest first) and keeps those that do not lower the held-out accuracy by more than
``min_improvement`` below the accuracy steps' (non-inferior: a linear proxy hardly suffers from a copy or a
garbled row, so accuracy alone cannot ask for them; they are kept for what they remove at no measured cost).

**Gain**, cross-fitted over the pool: the pool is cut into ``folds`` stratified folds, each near-duplicate
group (cosine >= 0.95 on the embeddings) inside one fold (otherwise a held-out row's near-copy in training
"predicts" it, which rewards keeping copies and inflates every gain); on each fold, the recipe is
applied to the other folds' rows (percentiles among those rows, label-using scores refitted on them only), a
linear proxy (logistic regression on the pool's PCA features) trains on the rows it keeps and is scored on the
held-out fold, minus the accuracy of the proxy trained on all those rows. The gain is the mean over folds.
(Not the gain over random at the same size: that one rewards cutting clean rows too, as soon as what is left
is cleaner than a random subset; the history still reports it, against ``random_draws`` random subsets at a
grid of sizes, interpolated.) Nothing reads the ``defect`` flags, and the test split is not an argument.

**Guard**: the best recipe of so many tries is biased upwards, so it is accepted only when the null-calibrated
guard of :mod:`euds_core.experiments.null_guard` says the same search (accuracy and hygiene steps) on permuted
scores (and a permuted near-duplicate column: a random drop of as many rows) rarely reaches its gain; otherwise
the answer is "nothing beats random" and the recipe keeps every row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError, ScoringCancelled
from euds_core.selection.intervals import group_percentile_rank, percentile_rank
from euds_core.selection.recipe import DUPLICATE_COPY, Recipe, RecipeStep

QUANTILES = (0.05, 0.1, 0.2, 0.3)  # how much a drop step may cut from one end of a score
OUTLIER_Z = 3.5  # the outlier cut: beyond median +/- 3.5 robust standard deviations (modified z-score)
# An outlier cut is offered when it drops between 0.5 % and 10 % of the rows: a far tail holding more than a
# tenth of the rows is a second mode, not outliers (on a clean bbc_news pool, 19.5-24 % "outlier" cuts of
# classifier_entropy, margin and label_issue passed as hygiene; bench/RESULTS.md, issue 28).
OUTLIER_SHARES = (0.005, 0.1)
RANDOM_GRID = (0.3, 0.45, 0.6, 0.7, 0.8, 0.9, 1.0)  # sizes (share of the fold's training rows) of the baseline
NOTHING_BEATS_RANDOM = "nothing beats random"
STEP_Z = 1.5  # a step's paired improvement on the held-out pool rows must reach 1.5 standard errors
HISTORY_COLUMNS = ["step", "recipe", "gain", "gain_over_random", "kept_share", "why"]
Cuts = dict[tuple[str, str], tuple[float, ...]]  # (score, "below" | "above") -> the percentiles a step may use
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
    null_complete: bool = True  # False: the null stopped once the answer was certain (p is then a lower bound)

    @property
    def verdict(self) -> str:
        if not self.accepted:
            if not self.candidate.steps:
                return f"{NOTHING_BEATS_RANDOM} (no step raised the held-out pool accuracy; no null search needed)"
            p = f"p = {self.p_value:.2f}" if self.null_complete else f"p >= {self.p_value:.2f}, stopped early"
            return (
                f"{NOTHING_BEATS_RANDOM} (best recipe '{self.candidate.text}': {self.gain * 100:+.1f} pt over "
                f"the whole pool, null-search {p})"
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


def pool_folds(
    labels: np.ndarray, pool: np.ndarray, folds: int, seed: int, embeddings: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(training rows, held-out rows) of ``folds`` stratified folds of the pool; every pool row is held out once.
    With ``embeddings`` (table rows), each near-duplicate group of the pool lies in one fold (group-aware
    cross-validation): a held-out row's near-copy in training would predict it, rewarding kept copies."""
    from euds_core.experiments.splits import crossfit_folds
    from euds_core.scores.near_duplicate import near_duplicate_groups

    groups = None if embeddings is None else near_duplicate_groups(embeddings[np.asarray(pool)])
    if groups is not None and len(np.unique(groups)) == len(groups):
        groups = None  # no near-copies: the plain stratified folds (the same folds as without embeddings)
    return crossfit_folds(labels, pool, folds, seed, groups=groups)


# ---------------------------------------------------------------------------------------------- the greedy search


def next_recipes(recipe: Recipe, cuts: Cuts) -> list[Recipe]:
    """Every recipe one step away: dedup, a drop step on a score end not used yet, or the balance toggled."""
    out = [] if recipe.dedup else [recipe.add(RecipeStep("dedup"))]
    used = {(s.score, s.kind) for s in recipe.steps}
    for (score, kind), shares in cuts.items():
        if (score, kind) not in used:
            out += [recipe.add(RecipeStep(kind, score, q if kind == "below" else 1.0 - q)) for q in shares]
    if recipe.scores:
        out.append(Recipe(recipe.steps, not recipe.label_balanced))
    return out


def outlier_share(values: np.ndarray, kind: str) -> float:
    """Share of ``values`` beyond median -/+ :data:`OUTLIER_Z` robust standard deviations (1.4826 MAD; the
    mean absolute deviation when over half the values are equal) at the ``below`` / ``above`` end."""
    values = np.asarray(values, dtype=np.float64)
    median = float(np.median(values))
    spread = 1.4826 * float(np.median(np.abs(values - median)))
    if spread <= 0:
        spread = 1.2533 * float(np.mean(np.abs(values - median)))
    if spread <= 0:
        return 0.0
    beyond = values < median - OUTLIER_Z * spread if kind == "below" else values > median + OUTLIER_Z * spread
    return float(beyond.mean())


def recipe_cuts(values: list[dict[str, np.ndarray]]) -> tuple[Cuts, list[tuple[str, str, float]]]:
    """(the percentiles each score end may be cut at, the outlier cuts (score, kind, share) smallest first).
    An outlier cut's share is the mean over the folds' training rows, rounded to half a percent."""
    cuts: Cuts = {}
    outliers = []
    for score in values[0]:
        for kind in ("below", "above"):
            share = round(float(np.mean([outlier_share(v[score], kind) for v in values])) * 200) / 200
            if OUTLIER_SHARES[0] <= share <= OUTLIER_SHARES[1]:
                outliers.append((score, kind, share))
            cuts[score, kind] = tuple(sorted({*QUANTILES, *([share] if (score, kind, share) in outliers else [])}))
    return cuts, sorted(outliers, key=lambda o: o[2])


@dataclass
class Tried:
    """One evaluated recipe: held-out correctness, gain over random at its size, kept share."""

    recipe: Recipe
    correct: np.ndarray
    over_random: float
    share: float


def one_se_choice(passing: list[Tried]) -> Tried:
    """The recipe keeping the most rows among those within one paired standard error of the best accuracy."""
    best = max(passing, key=lambda t: t.correct.mean())

    def tied(t: Tried) -> bool:
        diff = best.correct.astype(np.float64) - t.correct.astype(np.float64)
        se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else 0.0
        return diff.mean() <= se

    return max((t for t in passing if tied(t)), key=lambda t: (t.share, t.correct.mean()))


def greedy_recipe(
    evaluator: FoldEvaluator,
    cuts: Cuts,
    outliers: list[tuple[str, str, float]],
    *,
    max_steps: int = 5,
    min_improvement: float = 0.002,
    cancel: Callable[[], bool] | None = None,
    progress: ProgressFn | None = None,
    enough: float | None = None,
) -> tuple[Recipe, float, list[dict]]:
    """(best recipe, its gain over the whole training rows, one history row per accepted step): accuracy
    steps, then hygiene steps (see the module docstring). ``enough`` (the null search): stop once the gain is
    sure to end at or above it (hygiene lowers it by at most ``min_improvement``); the gain so far is returned."""
    recipe, history = Recipe(), []
    full = current = evaluator.evaluate(recipe)[0]
    for step in range(max_steps):
        passing = []
        for candidate in next_recipes(recipe, cuts):
            check_cancel(cancel)
            tried = Tried(candidate, *evaluator.evaluate(candidate))
            if step_beats(tried.correct, current, min_improvement):
                passing.append(tried)
        if not passing:
            break
        chosen = one_se_choice(passing)
        recipe, current = chosen.recipe, chosen.correct
        history.append(history_row(len(history) + 1, chosen, full, "accuracy"))
        if progress:
            progress(f"step {step + 1}: {recipe.text} ({history[-1]['gain'] * 100:+.1f} pt)")
        if enough is not None and history[-1]["gain"] >= enough + min_improvement:
            return recipe, history[-1]["gain"], history
    if recipe.steps:
        recipe, current = hygiene_steps(evaluator, recipe, current, outliers, min_improvement, history, full, cancel)
    return recipe, float(current.mean() - full.mean()), history


def hygiene_steps(evaluator, recipe, current, outliers, min_improvement, history, full, cancel):
    """(recipe, correctness) after adding each non-inferior hygiene step (dedup, then the outlier cuts, smallest
    first) that keeps the held-out accuracy within ``min_improvement`` of the accuracy steps' ``current``."""
    floor = float(current.mean()) - min_improvement
    steps = [RecipeStep("dedup")] + [RecipeStep(k, s, q if k == "below" else 1.0 - q) for s, k, q in outliers]
    for step in steps:
        if (
            step.kind == "dedup"
            and recipe.dedup
            or (step.score, step.kind) in {(s.score, s.kind) for s in recipe.steps}
        ):
            continue
        check_cancel(cancel)
        tried = Tried(recipe.add(step), *evaluator.evaluate(recipe.add(step)))
        if tried.correct.mean() >= floor - 1e-12 and tried.share > 0:
            recipe, current = tried.recipe, tried.correct
            history.append(history_row(len(history) + 1, tried, full, "hygiene (non-inferior)"))
    return recipe, current


def history_row(step: int, tried: Tried, full: np.ndarray, why: str) -> dict:
    gain = float(tried.correct.mean() - full.mean())
    return {
        "step": step,
        "recipe": tried.recipe.text,
        "gain": gain,
        "gain_over_random": tried.over_random,
        "kept_share": tried.share,
        "why": why,
    }


def check_cancel(cancel: Callable[[], bool] | None) -> None:
    if cancel is not None and cancel():
        raise ScoringCancelled("the recipe search was cancelled")


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


# ---------------------------------------------------------------------------------------------- the null


@dataclass
class NullSearch:
    """What the search on permuted scores needs (picklable: the guard may run it in worker processes)."""

    evaluator: FoldEvaluator
    values: list[dict]
    labels: np.ndarray
    cuts: Cuts
    outliers: list[tuple[str, str, float]]
    max_steps: int
    min_improvement: float


def permuted_recipe_gain(null: NullSearch, observed: float, rng) -> float:
    """The same greedy search's gain on scores permuted by ``rng`` (stopping once it is sure to reach
    ``observed``: the guard only asks whether it does)."""
    permuted = permuted_evaluator(null.evaluator, null.values, null.labels, rng)
    greedy = dict(max_steps=null.max_steps, min_improvement=null.min_improvement, enough=observed)
    return greedy_recipe(permuted, null.cuts, null.outliers, **greedy)[1]


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
    workers: int = 1  # permutations run at a time in worker processes (the same numbers as one at a time)
    group_folds: bool = True  # every near-duplicate group in one fold (False: plain stratified folds)

    def check(self) -> None:
        if self.folds < 2 or self.random_draws < 1 or self.max_steps < 1 or self.permutations < 1:
            raise EudsInputError("the recipe search needs >= 2 folds, >= 1 random draw, step and permutation")


def fold_evaluator(labels, fold_scores, pool, embeddings, features, settings) -> tuple[FoldEvaluator, list[dict]]:
    """The folds' evaluator and each fold's score values at its training rows."""
    from euds_core.curation.recipe_columns import duplicate_copy_column

    y = np.searchsorted(np.unique(labels[pool]), labels)
    splits = pool_folds(labels, pool, settings.folds, settings.seed, embeddings if settings.group_folds else None)
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
    cuts, outliers = recipe_cuts(values)
    greedy = dict(max_steps=settings.max_steps, min_improvement=settings.min_improvement, cancel=cancel)
    with threadpool_limits(limits=1):  # many small fits: thread pools only add overhead
        random_baselines(evaluator, settings.random_draws, settings.seed)
        recipe, gain, history = greedy_recipe(evaluator, cuts, outliers, progress=progress, **greedy)

        def permutation_done(done: int) -> None:
            if progress:
                progress(f"null search on permuted scores: {done} of {settings.permutations}")

        null_gain = partial(
            permuted_recipe_gain,
            NullSearch(evaluator, values, labels, cuts, outliers, settings.max_steps, settings.min_improvement),
            gain,
        )
        guard = null_calibrated_guard(
            null_gain,
            permutations=settings.permutations,
            alpha=settings.alpha,
            seed=settings.seed,
            observed=gain,
            cancel=cancel,
            stop_when_rejected=True,  # a null search that cannot change the decision is not run
            workers=settings.workers,
            on_permutation=permutation_done,
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
        null_complete=guard.complete,
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
