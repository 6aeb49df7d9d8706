"""Generative entropy (and perplexity) from one pass of a causal LM over each sample."""

from __future__ import annotations

import numpy as np
import pandas as pd

# The pass itself lives in models.lm_pass (auto's measurement times it too); the scores re-export it.
from euds_core.models.lm_pass import (  # noqa: F401
    MAX_TOKENS,
    TOKENS_PER_ROW,
    lm_sequences,
    lm_token_stats,
    scored_from,
    sequence_token_stats,
    token_budget_batches,
)
from euds_core.models.loading import (
    DEFAULT_LM,
    auto_token_budget,
    load_causal_lm,
    model_hash,
    resolve_lm_path,
)
from euds_core.models.precision import load_scoring_lm, resolve_lm_precision
from euds_core.scores.base import Scorer
from euds_core.storage.cache import (
    CHARS_PER_TOKEN,
    DatasetCache,
    first_stage_rows,
    load_partial_rows,
    run_chunked,
    sample_first_plan,
)

# The first stage of a pass (a random sample, scored before the rest): ~50 s at the ~650 tokens/s measured on
# 2 CPU cores, so a new dataset shows a generative histogram within the first minute (issue 17).
FIRST_STAGE_TOKENS = 32_000


# Part of every LM cache key: bump when the choice of the prepended token changes (models.lm_bos_id).
SEQUENCE_START = "document-separator-v1"


def lm_precision_tag(precision: str, lm_path: str | None = None) -> str:
    """The precision's part of the LM cache key and the score's params; bumped whenever what a name computes
    changes.

    ``bf16-matmul``: bf16 matmuls, fp32 activations; ``int8-smooth-v1`` (int8_matmuls.INT8_VERSION): int8
    matmuls as calibrated there. ``auto`` is keyed by what it resolves to on each device this process can
    score on (``auto-v4:cpu=int8-smooth-v1``, plus ``cuda=...`` where a GPU is visible): the scorer is built
    before the device is chosen, and the key must still say which kernels made the numbers. ``lm_path``: the LM
    whose measured choice ``auto`` is on a CPU (models.precision).
    """
    from euds_core.models.int8_matmuls import INT8_VERSION  # imports torch: only when a key is made

    if precision == "auto":
        import torch

        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        resolved = (f"{d}={lm_precision_tag(resolve_lm_precision('auto', d, lm_path))}" for d in devices)
        return "auto-v4:" + ",".join(resolved)
    return {"bf16": "bf16-matmul", "int8": INT8_VERSION}.get(precision, precision)


def compute_lm_stats(
    table: pd.DataFrame,
    *,
    lm: str,
    max_tokens: int,
    device: str,
    batch_size: int,
    cache: DatasetCache | None,
    progress=None,
    cancel=None,
    precision: str = "fp32",
    first_stage_tokens: int = FIRST_STAGE_TOKENS,
    first_stage_only: bool = False,
) -> np.ndarray | None:
    """Cached (n_rows, 2) [entropy, nll]; shared by the generative and perplexity scores (one LM pass).

    ``precision`` (models.LM_PRECISIONS) picks the model copy; it is part of the cache key. The default here
    stays ``fp32`` for callers that want the reference numbers; the scorers pass their own (``auto``).
    Sample first: a random sample of about ``first_stage_tokens`` tokens is scored first, then the rest in
    random chunks (storage.cache.sample_first_plan); the order changes when a row is done, not its value.
    ``first_stage_only`` scores just that sample and returns None (storage.cache.run_chunked).
    """
    texts = table["text"].tolist()
    lengths = np.array([len(t) for t in texts], dtype=np.int64)  # (n,) characters: a free proxy for tokens
    chunk_rows = max(512, batch_size * 32)
    first_rows = first_stage_rows(np.minimum(lengths / CHARS_PER_TOKEN, max_tokens) + 1, first_stage_tokens)
    plan = sample_first_plan(lengths, first_rows=first_rows, chunk_rows=chunk_rows)
    lm_pass = _ChunkedLmPass(
        texts, lm=lm, device=device, precision=precision, batch_size=batch_size, max_tokens=max_tokens
    )
    return run_chunked(
        lm_stats_folder(cache, lm=lm, max_tokens=max_tokens, precision=precision),
        plan,
        lm_pass.compute,
        progress=progress,
        cancel=cancel,
        label="causal LM pass",
        first_stage_only=first_stage_only,
        step_units=lm_pass.chunk_batches,  # steps of ~2 s (storage.cache.STEP_SECONDS): progress and cancel that often
    )


class _ChunkedLmPass:
    """The LM pass over a table's texts as :func:`compute_lm_stats` runs it: the scoring copy loaded on first use,
    each chunk tokenised once, cut into token-budget batches over the whole chunk (``chunk_batches``, the
    step units), and scored a step of whole batches at a time (``compute``)."""

    def __init__(self, texts: list[str], *, lm: str, device: str, precision: str, batch_size: int, max_tokens: int):
        self.texts, self.lm, self.device, self.precision = texts, lm, device, precision
        self.batch_size, self.max_tokens = batch_size, max_tokens
        self.loaded, self.budget = None, None
        self.sequences: dict[int, list[int]] = {}  # row -> token ids, from planning a chunk until it is scored

    def load(self):
        if self.loaded is None:
            self.loaded = load_scoring_lm(str(resolve_lm_path(self.lm)), self.device, self.precision, load_causal_lm)
            self.budget = auto_token_budget(self.loaded[1], self.device, self.batch_size * TOKENS_PER_ROW)
        return self.loaded

    def tokenized(self, rows: np.ndarray) -> list[list[int]]:
        todo = [int(i) for i in rows if int(i) not in self.sequences]
        if todo:
            texts = [self.texts[i] for i in todo]
            self.sequences.update(zip(todo, lm_sequences(texts, self.load()[0], self.max_tokens)))
        return [self.sequences[int(i)] for i in rows]

    def chunk_batches(self, rows: np.ndarray) -> list[np.ndarray]:
        """The chunk's batches as positions in ``rows``: steps of whole batches pack as the unstepped pass did."""
        self.load()  # the budget comes with the model
        return token_budget_batches([len(s) for s in self.tokenized(rows)], self.budget)

    def compute(self, rows: np.ndarray) -> np.ndarray:
        tokenizer, model = self.load()
        seqs = self.tokenized(rows)
        for i in rows:
            self.sequences.pop(int(i), None)
        return sequence_token_stats(
            seqs,
            [scored_from(tokenizer)] * len(seqs),
            tokenizer,
            model,
            device=self.device,
            batch_size=self.batch_size,
            token_budget=self.budget,
        )


def lm_stats_folder(cache: DatasetCache | None, *, lm: str, max_tokens: int, precision: str):
    """The feature folder of the shared LM pass (its key: model fingerprint, token limit, start token, precision)."""
    if cache is None:
        return None
    params = {"lm": model_hash(resolve_lm_path(lm)), "max_tokens": max_tokens, "start": SEQUENCE_START}
    if precision != "fp32":
        params["precision"] = lm_precision_tag(precision, str(resolve_lm_path(lm)))
    return cache.feature_dir("lm_stats", params)


class GenerativeScorer(Scorer):
    """Mean over positions of the causal LM's next-token predictive entropy H(p(·|x<t)), in nats.

    Range [0, log V]; first 256 tokens. Higher = the LM is less sure what comes next in this text.
    """

    name = "generative"
    unit = "nats"
    description = "mean next-token predictive entropy of a causal LM (EUDS generative entropy)"
    uses_model = True
    column = 0  # which column of the shared LM pass this score reads

    def __init__(
        self,
        lm: str = DEFAULT_LM,
        max_tokens: int = MAX_TOKENS,
        precision: str = "auto",
        first_stage_tokens: int = FIRST_STAGE_TOKENS,
    ):
        self.lm = lm
        self.max_tokens = max_tokens
        self.precision = precision  # auto = bf16 matmuls where native, else int8 with VNNI, else fp32 (models)
        self.first_stage_tokens = first_stage_tokens  # when rows are done, not their values: not in params()

    def params(self) -> dict:
        return {
            "lm": model_hash(resolve_lm_path(self.lm)),
            "max_tokens": self.max_tokens,
            "precision": lm_precision_tag(self.precision, str(resolve_lm_path(self.lm))),
            "start": SEQUENCE_START,
        }

    def score(
        self, table, *, device="cpu", batch_size=16, progress=None, cancel=None, cache=None, first_stage_only=False, **_
    ) -> np.ndarray | None:
        stats = compute_lm_stats(
            table,
            lm=self.lm,
            max_tokens=self.max_tokens,
            device=device,
            batch_size=batch_size,
            cache=cache,
            progress=progress,
            cancel=cancel,
            precision=self.precision,
            first_stage_tokens=self.first_stage_tokens,
            first_stage_only=first_stage_only,
        )
        return None if first_stage_only else stats[:, self.column].astype(np.float32)

    def score_first_stage(self, table, **context) -> None:
        self.score(table, first_stage_only=True, **context)

    def partial_scores(self, table, *, cache, **_):
        """The rows the running LM pass has finished (a random sample, see compute_lm_stats) and their values."""
        folder = lm_stats_folder(cache, lm=self.lm, max_tokens=self.max_tokens, precision=self.precision)
        got = load_partial_rows(folder, len(table))
        return None if got is None else (got[0], got[1][:, self.column].astype(np.float32))


class PerplexityScorer(GenerativeScorer):
    """Mean token negative log-likelihood under the causal LM (log perplexity), in nats; higher = more surprising."""

    name = "perplexity"
    description = "mean token NLL under the causal LM (log perplexity; same pass as generative)"
    column = 1
