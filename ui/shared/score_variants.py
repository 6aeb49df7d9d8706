"""Every cached variant of a score, and the score columns a selection reads (with the variant it names).

A score scored with other settings (``score --tokenizer whitespace``) is cached under another params hash
than the one the pages score with; it is listed here with the settings that made it ("information ·
whitespace tokenizer") so it can be selected, and a selection naming a variant the cache lacks says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from euds_core.data.table import Dataset
from euds_core.errors import EudsInputError
from euds_core.scores import get_scorer_class, make_scorer
from euds_core.storage.cache import DatasetCache, params_hash
from ui.shared.scores import cached_scores, score_options
from ui.shared.selection import DEFAULT_LABEL

_HASH = re.compile(r"[0-9a-f]{12,64}")


@dataclass(frozen=True)
class ScoreVariant:
    """One cached score array: its scorer, the params that made it, their hash (the URL's ``variant``)."""

    scorer: str
    params: dict = field(hash=False)
    key: str
    label: str  # the settings that differ from the page's own, e.g. "whitespace tokenizer"
    is_default: bool  # made with the options the pages score with


def page_params(scorer: str) -> dict | None:
    """The params the pages score ``scorer`` with (None when the options cannot build it)."""
    try:
        return make_scorer(scorer, score_options()).params()
    except (EudsInputError, KeyError, TypeError, ValueError, OSError):
        return None


def _setting(key: str, value) -> str:
    text = str(value)
    if _HASH.fullmatch(text):
        return f"{key} {text[:8]}"  # a model fingerprint: the key says what it is
    if isinstance(value, str) and "/" not in text and len(text) <= 24:
        return f"{text} {key}"
    return f"{key}={text.rsplit('/', 1)[-1][:40]}"


def variant_label(params: dict, default: dict | None) -> str:
    """The settings in ``params`` that differ from ``default`` ("whitespace tokenizer"), or DEFAULT_LABEL."""
    if default is not None and params == default:
        return DEFAULT_LABEL
    base = default or {}
    diffs = [_setting(k, v) for k, v in sorted(params.items()) if base.get(k) != v]
    return ", ".join(diffs) or DEFAULT_LABEL


def score_variants(dataset_id: str) -> dict[str, list[ScoreVariant]]:
    """Cached variants per scorer, the page's own first, then the others by label."""
    out: dict[str, list[ScoreVariant]] = {}
    for entry in DatasetCache(dataset_id).cached_scores():
        scorer, params = entry["scorer"], entry["params"]
        try:
            get_scorer_class(scorer)
        except (EudsInputError, KeyError):
            continue  # a scorer this version does not know
        default = page_params(scorer)
        out.setdefault(scorer, []).append(
            ScoreVariant(scorer, params, params_hash(params), variant_label(params, default), params == default)
        )
    for variants in out.values():
        variants.sort(key=lambda v: (not v.is_default, v.label))
    return out


@dataclass
class SelectionScores:
    """The score columns a selection reads: ``frame`` (one column per score name), the params and variant label
    of each column, and what a selection asked for that is not cached (``problems``, shown at the page top)."""

    frame: pd.DataFrame
    params: dict[str, dict]
    labels: dict[str, str]
    variants: dict[str, list[ScoreVariant]]
    problems: list[str]

    @property
    def names(self) -> list[str]:
        return list(self.frame.columns)


def selection_scores(dataset: Dataset, chosen: dict[str, str] | None = None) -> SelectionScores:
    """Every cached score for ``dataset``: the page's own variant, else a cached one; ``chosen`` maps a score
    name to the variant key to use instead (the selection's ``variant``)."""
    frame = cached_scores(dataset).copy()
    variants = score_variants(dataset.id)
    params = {name: page_params(name) or {} for name in frame.columns}
    labels = {name: DEFAULT_LABEL for name in frame.columns}
    problems: list[str] = []
    cache = DatasetCache(dataset.id)
    n = len(dataset.table)
    wanted = dict(chosen or {})
    for scorer, options in variants.items():
        want = wanted.get(scorer, "")
        pick = next((v for v in options if v.key == want), None) if want else None
        if want and pick is None:
            problems.append(
                f"The link asks for a '{scorer}' variant ({want}) that is not cached for this dataset; "
                f"showing {'the app’s settings' if scorer in frame else options[0].label} instead."
            )
        if pick is None and scorer not in frame.columns:
            pick = options[0]  # only other settings are cached: show them, labelled, rather than hide the score
        if pick is None or pick.is_default:
            continue
        values = cache.load_score(pick.scorer, pick.params)
        if values is None or values.shape != (n,):
            continue
        frame[scorer] = np.asarray(values, dtype=np.float32)
        params[scorer], labels[scorer] = pick.params, pick.label
    for scorer, want in wanted.items():
        if want and scorer not in variants:
            problems.append(f"The link asks for a '{scorer}' variant ({want}), but no '{scorer}' is cached.")
    return SelectionScores(frame, params, labels, variants, problems)


def variant_key(scores: SelectionScores, scorer: str) -> str:
    """The URL's ``variant`` for the column ``scorer`` shows ("" for the page's own settings)."""
    return "" if scores.labels.get(scorer) == DEFAULT_LABEL else params_hash(scores.params.get(scorer, {}))
