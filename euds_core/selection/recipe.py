"""A curation recipe: several filters applied together, written as one readable line.

``one per near-duplicate group; drop information below p8; drop el2n above p88; label-balanced``

* ``one per near-duplicate group`` keeps one row of each group of near-copies (the rows it drops are marked
  1 in the :data:`DUPLICATE_COPY` column, computed by ``euds_core.curation.recipe_columns``);
* ``drop S below pQ`` / ``drop S above pQ`` drop the rows under / over percentile Q of score S;
* ``label-balanced`` ranks every score within each label group (each class loses the same share).

Every percentile is the score's rank among all the rows the recipe is applied to, each filter on its own,
so the filters commute: the recipe *is* an intersection of intervals (:meth:`Recipe.intervals`), which
``select``, ``export``, the manifest and Explore's intersection all understand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError
from euds_core.selection.intervals import Interval, SelectionSpec, apply_selection

DUPLICATE_COPY = "duplicate_copy"  # 1 = a redundant copy of another row (its near-duplicate group keeps one)
DEDUP_TEXT = "one per near-duplicate group"
BALANCED_TEXT = "label-balanced"
_DROP = re.compile(r"^drop\s+(\S+)\s+(below|above)\s+p(\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class RecipeStep:
    """``dedup`` (one per near-duplicate group), or ``below`` / ``above``: drop ``score`` under / over
    ``percentile`` (a fraction in [0, 1])."""

    kind: str
    score: str = ""
    percentile: float = 0.0

    @property
    def text(self) -> str:
        if self.kind == "dedup":
            return DEDUP_TEXT
        return f"drop {self.score} {self.kind} p{self.percentile * 100:g}"


@dataclass(frozen=True)
class Recipe:
    steps: tuple[RecipeStep, ...] = ()
    label_balanced: bool = False

    @property
    def text(self) -> str:
        parts = [s.text for s in self.steps] + ([BALANCED_TEXT] if self.label_balanced else [])
        return "; ".join(parts) if parts else "keep every row"

    @property
    def dedup(self) -> bool:
        return any(s.kind == "dedup" for s in self.steps)

    @property
    def scores(self) -> list[str]:
        return [s.score for s in self.steps if s.kind != "dedup"]

    def add(self, step: RecipeStep) -> Recipe:
        return Recipe((*self.steps, step), self.label_balanced)

    def intervals(self) -> list[Interval]:
        """The recipe as an intersection of intervals (dedup: a threshold on the :data:`DUPLICATE_COPY` column)."""
        out = []
        for step in self.steps:
            if step.kind == "dedup":
                out.append(Interval(DUPLICATE_COPY, "threshold", lo=None, hi=0.5))
            elif step.kind == "below":
                out.append(
                    Interval(step.score, "percentile", lo=step.percentile, hi=1.0, label_balanced=self.label_balanced)
                )
            else:
                out.append(
                    Interval(step.score, "percentile", lo=0.0, hi=step.percentile, label_balanced=self.label_balanced)
                )
        return out

    def mask(self, scores: pd.DataFrame) -> np.ndarray:
        """Keep-mask over the rows of ``scores`` (its score columns, ``label`` when balanced, and the
        :data:`DUPLICATE_COPY` column when the recipe deduplicates)."""
        missing = [i.score for i in self.intervals() if i.score not in scores.columns]
        if missing:
            hint = " (computed from the embeddings by the commands)" if missing[0] == DUPLICATE_COPY else ""
            raise EudsInputError(f"the recipe needs the column '{missing[0]}'{hint}; the scores lack it")
        frame = scores if "id" in scores.columns else scores.assign(id=np.arange(len(scores)).astype(str))
        return apply_selection(SelectionSpec(dataset_id="", intervals=self.intervals()), frame)


def parse_recipe(text: str) -> Recipe:
    """The recipe a line like :attr:`Recipe.text` describes (parts separated by ';'); clear errors otherwise."""
    steps, balanced = [], False
    for part in [p.strip().lower() for p in str(text).split(";") if p.strip()]:
        part = re.sub(r"\s+", " ", part)
        if part == DEDUP_TEXT:
            steps.append(RecipeStep("dedup"))
        elif part == BALANCED_TEXT:
            balanced = True
        elif part == "keep every row":
            continue
        elif match := _DROP.match(part):
            value = float(match.group(3)) / 100.0
            if not 0.0 <= value <= 1.0:
                raise EudsInputError(f"'{part}': a percentile is between p0 and p100")
            steps.append(RecipeStep(match.group(2), match.group(1), value))
        else:
            raise EudsInputError(
                f"cannot read the recipe part '{part}'; write e.g. '{DEDUP_TEXT}; drop information below p8; "
                f"drop el2n above p88; {BALANCED_TEXT}'"
            )
    return Recipe(tuple(steps), balanced)
