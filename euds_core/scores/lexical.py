"""Lexical diversity of each sample's own words: type-token ratio, MTLD and distinct-2 (no model needed).

All three tokenise the same way: lower-cased runs of word characters (punctuation is not a word). Higher
always means a more varied vocabulary inside the sample. The three share one file because they share the
tokeniser and are cheap; each is still its own registered scorer.
"""

from __future__ import annotations

import re

import numpy as np

from euds_core.scores.base import Scorer

_WORD = re.compile(r"\w+", re.UNICODE)
MTLD_THRESHOLD = 0.72  # McCarthy & Jarvis (2010): a factor ends when the running TTR falls to 0.72


def words(text: str) -> list[str]:
    """Lower-cased word tokens of ``text`` (``\\w+`` runs)."""
    return _WORD.findall(text.lower())


def type_token_ratio(tokens: list[str]) -> float:
    """Distinct tokens / tokens, in (0, 1]; 0 for no tokens. ``a a b b`` -> 0.5."""
    return len(set(tokens)) / len(tokens) if tokens else 0.0


def distinct_n(tokens: list[str], n: int = 2) -> float:
    """Distinct n-grams / n-grams, in (0, 1]; 0 when the text has fewer than n tokens. ``a a a`` -> 0.5 for n=2."""
    grams = list(zip(*(tokens[i:] for i in range(n)), strict=False))
    return len(set(grams)) / len(grams) if grams else 0.0


def mtld(tokens: list[str], threshold: float = MTLD_THRESHOLD) -> float:
    """Measure of Textual Lexical Diversity (McCarthy & Jarvis 2010) of ``tokens``, by the ``lexicalrichness``
    package: mean tokens per factor, averaged over a forward and a backward pass; 0 for no tokens.

    Unit: tokens per factor; range [1, max(n, (1 - threshold) · n²)] for n tokens. As published, a pass in
    which no factor closes and every token is distinct counts one factor (MTLD = n), so an all-distinct text
    can score below the same text with one repetition at its end (a partial factor of 1 / ((1 - threshold) n)).
    Unstable below ~50 tokens, like every MTLD.
    """
    if not tokens:
        return 0.0
    from lexicalrichness import LexicalRichness  # imports matplotlib: seconds, so only when MTLD is scored

    return float(LexicalRichness(list(tokens), preprocessor=None, tokenizer=None).mtld(threshold=threshold))


def mtld_implementation() -> str:
    """The package and version that computes :func:`mtld`: part of the score's identity (its cache key)."""
    from importlib.metadata import version

    return f"lexicalrichness-{version('lexicalrichness')}"


class _LexicalScorer(Scorer):
    """Per-sample lexical diversity over lower-cased ``\\w+`` words; higher = more varied vocabulary."""

    def score(self, table, *, progress=None, **_) -> np.ndarray:
        values = np.array([self.measure(words(t)) for t in table["text"].tolist()], dtype=np.float32)
        if progress:
            progress(len(table), len(table), self.name)
        return values

    def measure(self, tokens: list[str]) -> float:
        raise NotImplementedError


class TTRScorer(_LexicalScorer):
    """Type-token ratio: distinct words / words, in [0, 1] (0 for a text with no words); higher = more diverse.

    Falls with length (long texts repeat function words), so compare samples of similar length or use MTLD.
    """

    name = "ttr"
    unit = "fraction"
    description = "type-token ratio: distinct words / words (lexical diversity)"

    def measure(self, tokens: list[str]) -> float:
        return type_token_ratio(tokens)


class MTLDScorer(_LexicalScorer):
    """MTLD (McCarthy & Jarvis 2010), threshold 0.72, forward/backward mean, in tokens per factor.

    Range [1, max(n, 0.28 · n²)] for n words (0 for none); higher = more diverse; much less length-dependent than
    TTR. Computed by ``lexicalrichness`` on this file's words, so values compare with published MTLD.
    """

    name = "mtld"
    unit = "tokens per factor"
    description = "measure of textual lexical diversity (length-robust lexical diversity)"

    def __init__(self, threshold: float = MTLD_THRESHOLD):
        self.threshold = threshold

    def params(self) -> dict:
        return {"threshold": self.threshold, "implementation": mtld_implementation()}

    def measure(self, tokens: list[str]) -> float:
        return mtld(tokens, self.threshold)


class Distinct2Scorer(_LexicalScorer):
    """distinct-2: distinct word bigrams / bigrams, in [0, 1] (0 with fewer than 2 words); higher = more diverse."""

    name = "distinct_2"
    unit = "fraction"
    description = "distinct word bigrams / bigrams inside the sample (repetitiveness, inverted)"

    def measure(self, tokens: list[str]) -> float:
        return distinct_n(tokens, 2)
