"""Information entropy: how varied a sample's own tokens are (EUDS's information entropy, our definition)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from euds_core.models.loading import DEFAULT_ENCODER, load_tokenizer, model_hash, resolve_encoder_path
from euds_core.scores.base import Scorer, with_fit_rows

WHITESPACE_TOKENIZER = "whitespace"  # lower-cased words and punctuation; no model files needed
MAX_TOKENS = 4096  # longer texts are truncated: the entropy of a 4k-token window is already stable
_WORD_OR_PUNCT = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def tokenize_to_ids(texts: list[str], tokenizer: str) -> list[np.ndarray]:
    """Token ids per text, without special tokens ([CLS]/[SEP] would add the same two tokens to every text)."""
    if tokenizer == WHITESPACE_TOKENIZER:
        vocab: dict[str, int] = {}
        return [
            np.array([vocab.setdefault(w, len(vocab)) for w in _WORD_OR_PUNCT.findall(t.lower())], dtype=np.int64)
            for t in texts
        ]
    tok = load_tokenizer(str(resolve_encoder_path(tokenizer)))
    ids = tok(texts, add_special_tokens=False, truncation=True, max_length=MAX_TOKENS)["input_ids"]
    return [np.asarray(x, dtype=np.int64) for x in ids]


def token_entropy_bits(token_ids: list[np.ndarray]) -> np.ndarray:
    """H = -Σ_w (c_w/n) log2(c_w/n) per sample, in bits; 0 for a sample with no tokens. Shape (n_samples,).

    Vectorised over the dataset: one np.unique over (row, token) keys instead of a Counter per row.
    """
    lengths = np.array([len(t) for t in token_ids], dtype=np.int64)  # (n_samples,)
    n = len(token_ids)
    if lengths.sum() == 0:
        return np.zeros(n, dtype=np.float32)
    flat = np.concatenate(token_ids)  # (n_tokens,)
    rows = np.repeat(np.arange(n, dtype=np.int64), lengths)  # (n_tokens,)
    vocab = int(flat.max()) + 1
    keys, counts = np.unique(rows * vocab + flat, return_counts=True)  # (n_distinct_pairs,)
    key_rows = keys // vocab
    p = counts / lengths[key_rows]
    return np.bincount(key_rows, weights=-p * np.log2(p), minlength=n).astype(np.float32)


def corpus_surprisal_bits(token_ids: list[np.ndarray], reference: np.ndarray | None = None) -> np.ndarray:
    """Mean corpus-unigram surprisal of a sample's tokens, in bits (add-one smoothing over the dataset's types).

    ``reference`` (row indices): the unigram counts come from those rows only (an experiment's pool); a type
    they never use gets the smoothing's one count among |types| + 1."""
    if reference is not None:
        return _surprisal_against(token_ids, np.asarray(reference, dtype=np.int64))
    lengths = np.array([len(t) for t in token_ids], dtype=np.int64)
    n = len(token_ids)
    if lengths.sum() == 0:
        return np.zeros(n, dtype=np.float32)
    flat = np.concatenate(token_ids)
    types, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    prob = (counts + 1.0) / (len(flat) + len(types))  # (n_types,)
    surprisal = -np.log2(prob)[inverse]  # (n_tokens,)
    rows = np.repeat(np.arange(n), lengths)
    sums = np.bincount(rows, weights=surprisal, minlength=n)
    return (sums / np.maximum(lengths, 1)).astype(np.float32)


def _surprisal_against(token_ids: list[np.ndarray], reference: np.ndarray) -> np.ndarray:
    ref_tokens = [token_ids[i] for i in reference]
    flat = np.concatenate(ref_tokens) if ref_tokens else np.zeros(0, dtype=np.int64)
    types, counts = np.unique(flat, return_counts=True)
    denominator = len(flat) + len(types) + 1.0  # +1: the one type outside the reference
    out = np.zeros(len(token_ids), dtype=np.float32)
    for row, ids in enumerate(token_ids):
        if len(ids):
            at = np.clip(np.searchsorted(types, ids), 0, max(len(types) - 1, 0))
            seen = np.zeros(len(ids)) if not len(types) else np.where(types[at] == ids, counts[at], 0)
            out[row] = float(np.mean(-np.log2((seen + 1.0) / denominator)))
    return out


class InformationScorer(Scorer):
    """Shannon entropy (bits) of the sample's own token distribution, with the fine-tuning model's tokenizer.

    Range [0, log2(n_tokens)]; higher = more varied wording. Variant ``corpus``: mean corpus-unigram
    surprisal (bits), higher = rarer words relative to the dataset.
    """

    name = "information"
    unit = "bits"
    description = "Shannon entropy of the sample's token distribution (EUDS information entropy)"

    def __init__(self, tokenizer: str = DEFAULT_ENCODER, variant: str = "token", fit_rows: np.ndarray | None = None):
        if variant not in ("token", "corpus"):
            raise ValueError(f"variant must be 'token' or 'corpus', not {variant!r}")
        self.tokenizer = tokenizer
        self.variant = variant
        self.reads_other_rows = variant == "corpus"  # the corpus counts: fitted on an experiment's pool
        self.fit_rows = fit_rows if self.reads_other_rows else None

    def params(self) -> dict:
        tok_id = (
            WHITESPACE_TOKENIZER
            if self.tokenizer == WHITESPACE_TOKENIZER
            else model_hash(resolve_encoder_path(self.tokenizer))
        )
        return with_fit_rows({"tokenizer": tok_id, "variant": self.variant, "max_tokens": MAX_TOKENS}, self.fit_rows)

    def score(self, table: pd.DataFrame, *, progress=None, **_) -> np.ndarray:
        ids = tokenize_to_ids(table["text"].tolist(), self.tokenizer)
        values = token_entropy_bits(ids) if self.variant == "token" else corpus_surprisal_bits(ids, self.fit_rows)
        if progress:
            progress(len(table), len(table), self.name)
        return values
