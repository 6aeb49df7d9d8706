"""Generative entropy (and perplexity) from one pass of a causal LM over each sample."""

from __future__ import annotations

import numpy as np
import pandas as pd

from euds_core.models.loading import (
    DEFAULT_LM,
    auto_token_budget,
    lm_bos_id,
    load_causal_lm,
    load_scoring_lm,
    model_hash,
    resolve_lm_path,
    resolve_lm_precision,
)
from euds_core.scores.base import Scorer
from euds_core.storage.cache import (
    CHARS_PER_TOKEN,
    DatasetCache,
    first_stage_rows,
    load_partial_rows,
    run_chunked,
    sample_first_order,
)

MAX_TOKENS = 256
# Floats of logits materialised at once, whatever the batch: on CUDA 128 MB; on CPU ~8 MB, so each chunk's
# softmax passes run in cache (32-row chunks scored ~5 % faster than 680-row ones on the 2-core EPYC).
LOGIT_BUDGET = {"cuda": 32 * 1024 * 1024, "cpu": 2 * 1024 * 1024}
TOKENS_PER_ROW = 64  # token budget per LM batch = batch_size x this (short rows pack more, long rows fewer)
# The first stage of a pass (a random sample, scored before the rest): ~50 s at the ~650 tokens/s measured on
# 2 CPU cores, so a new dataset shows a generative histogram within the first minute (issue 17).
FIRST_STAGE_TOKENS = 32_000


def lm_token_stats(
    texts: list[str],
    tokenizer,
    model,
    *,
    device: str,
    batch_size: int,
    max_tokens: int = MAX_TOKENS,
    token_budget: int | None = None,
) -> np.ndarray:
    """(n_texts, 2) float32: mean next-token predictive entropy (nats) and mean token NLL (nats).

    A BOS token is prepended so the first word is predicted too. A text with no tokens gets the entropy of
    the first-token distribution and that same value as its NLL.
    """
    bos = lm_bos_id(tokenizer)
    encoded = tokenizer(texts, add_special_tokens=False, truncation=True, max_length=max_tokens)["input_ids"]
    sequences = [([bos] if bos is not None else []) + list(ids) for ids in encoded]
    return sequence_token_stats(
        sequences,
        [1 if bos is not None else 0] * len(sequences),
        tokenizer,
        model,
        device=device,
        batch_size=batch_size,
        token_budget=token_budget,
    )


# Part of every LM cache key: bump when the choice of the prepended token changes (models.lm_bos_id).
SEQUENCE_START = "document-separator-v1"


def sequence_token_stats(
    sequences: list[list[int]],
    score_from: list[int],
    tokenizer,
    model,
    *,
    device: str,
    batch_size: int,
    token_budget: int | None = None,
) -> np.ndarray:
    """(n_sequences, 2) float32: mean predictive entropy and mean NLL (nats) of the tokens ``seq[score_from:]``.

    Shared by the generative/perplexity pass (score every token after BOS) and IFD (score only the answer
    after the question). A sequence with no scored token gets the entropy of the next-token distribution
    after its last token as both values.

    Speed (docs/performance.md, bench/RESULTS.md): sequences are sorted by length and cut into batches by a token
    budget (rows x padded width <= ``token_budget``, default ``batch_size * TOKENS_PER_ROW``), so short texts
    share big batches and long ones small ones with little padding. The output head runs only on the
    positions that are scored, gathered into one flat (N, H) matrix and cut in row chunks of at most
    ``LOGIT_BUDGET`` logits, so a [batch, length, vocab] float32 tensor never exists. On CUDA an
    out-of-memory batch halves the budget and is retried.
    """
    import torch

    n = len(sequences)
    out = np.zeros((n, 2), dtype=np.float32)
    if n == 0:
        return out
    budget = max(1, int(token_budget or batch_size * TOKENS_PER_ROW))
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)  # (n,)
    order = np.argsort(lengths, kind="stable")
    start = 0
    with torch.inference_mode():
        while start < n:
            # Ascending lengths: the last row of a batch sets its padded width.
            stop = start + 1
            while stop < n and (stop + 1 - start) * lengths[order[stop]] <= budget:
                stop += 1
            rows = order[start:stop]
            try:
                out[rows] = _batch_token_stats(
                    [sequences[i] for i in rows], [score_from[i] for i in rows], tokenizer, model, device
                )
            except torch.OutOfMemoryError:
                if stop - start == 1:
                    raise
                torch.cuda.empty_cache()
                budget = max(1, budget // 2)
                continue
            start = stop
    return out


def _batch_token_stats(batch: list[list[int]], score_from: list[int], tokenizer, model, device: str) -> np.ndarray:
    """(B, 2) [mean entropy, mean NLL] of one right-padded batch (see :func:`sequence_token_stats`)."""
    import torch

    bos = lm_bos_id(tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (bos or 0)
    head = model.get_output_embeddings()
    body = model.base_model
    vocab = head.out_features if hasattr(head, "out_features") else model.config.vocab_size
    lengths = np.array([len(s) for s in batch], dtype=np.int64)  # (B,)
    width = int(lengths.max())
    ids_np = np.full((len(batch), width), pad, dtype=np.int64)  # (B, L), right padding
    for i, s in enumerate(batch):
        ids_np[i, : len(s)] = s
    pos = np.arange(width)[None, :]  # (1, L)
    mask_np = pos < lengths[:, None]  # (B, L)
    # Position t predicts token t+1; it counts when score_from <= t+1 < length.
    first = np.asarray(score_from, dtype=np.int64)[:, None]  # (B, 1)
    target_np = (pos >= first - 1) & (pos <= lengths[:, None] - 2)  # (B, L)
    lone = lengths <= first[:, 0]  # nothing to score: use the distribution after the last token
    target_np[lone, np.maximum(lengths[lone] - 1, 0)] = True
    row_idx, pos_idx = np.nonzero(target_np)  # (N,), (N,): the scored positions, row-major
    next_ids = np.zeros_like(ids_np)
    next_ids[:, :-1] = ids_np[:, 1:]
    targets = torch.from_numpy(next_ids[row_idx, pos_idx]).to(device)  # (N,)
    is_lone = torch.from_numpy(lone[row_idx]).to(device)  # (N,)
    ids = torch.from_numpy(ids_np).to(device)
    mask = torch.from_numpy(mask_np.astype(np.int64)).to(device)
    hidden = body(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, L, H)
    flat = hidden[torch.from_numpy(row_idx).to(device), torch.from_numpy(pos_idx).to(device)]  # (N, H)
    del hidden
    ent = torch.empty(len(flat), dtype=torch.float32, device=device)  # (N,)
    nll = torch.empty(len(flat), dtype=torch.float32, device=device)  # (N,)
    step = max(1, LOGIT_BUDGET["cuda" if device.startswith("cuda") else "cpu"] // vocab)
    for r0 in range(0, len(flat), step):
        logp = torch.log_softmax(head(flat[r0 : r0 + step]).float(), dim=-1)  # (c, V)
        nll[r0 : r0 + step] = -logp.gather(-1, targets[r0 : r0 + step, None]).squeeze(-1)
        ent[r0 : r0 + step] = -torch.linalg.vecdot(logp.exp(), logp)  # fused multiply-sum: no (c, V) product
        del logp
    nll = torch.where(is_lone, ent, nll)
    rows_t = torch.from_numpy(row_idx).to(device)
    sums = torch.zeros((len(batch), 2), dtype=torch.float64, device=device)  # (B, 2)
    sums.index_add_(0, rows_t, torch.stack([ent, nll], dim=1).double())
    counts = torch.bincount(rows_t, minlength=len(batch)).clamp(min=1).double()  # (B,)
    return (sums / counts[:, None]).float().cpu().numpy()


def lm_precision_tag(precision: str, lm_path: str | None = None) -> str:
    """The precision's part of the LM cache key and the score's params; bumped whenever what a name computes
    changes.

    ``bf16-matmul``: bf16 matmuls, fp32 activations; ``int8-smooth-v1`` (int8_matmuls.INT8_VERSION): int8
    matmuls as calibrated there. ``auto`` is keyed by what it resolves to on each device this process can
    score on (``auto-v4:cpu=int8-smooth-v1``, plus ``cuda=...`` where a GPU is visible): the scorer is built
    before the device is chosen, and the key must still say which kernels made the numbers. ``lm_path``: the LM
    whose int8 check decides ``auto`` on a CPU without bf16 (models.loading.int8_meets_bar).
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
    random chunks (storage.cache.sample_first_order); the order changes when a row is done, not its value.
    ``first_stage_only`` scores just that sample and returns None (storage.cache.run_chunked).
    """
    texts = table["text"].tolist()
    lengths = np.array([len(t) for t in texts], dtype=np.int64)  # (n,) characters: a free proxy for tokens
    chunk_rows = max(512, batch_size * 32)
    first_rows = first_stage_rows(np.minimum(lengths / CHARS_PER_TOKEN, max_tokens) + 1, first_stage_tokens)
    order = sample_first_order(lengths, first_rows=first_rows, chunk_rows=chunk_rows)
    loaded = None
    budget = None

    def compute(rows: np.ndarray) -> np.ndarray:
        nonlocal loaded, budget
        if loaded is None:
            loaded = load_scoring_lm(str(resolve_lm_path(lm)), device, precision, load_causal_lm)
            budget = auto_token_budget(loaded[1], device, batch_size * TOKENS_PER_ROW)
        tokenizer, model = loaded
        return lm_token_stats(
            [texts[i] for i in rows],
            tokenizer,
            model,
            device=device,
            batch_size=batch_size,
            max_tokens=max_tokens,
            token_budget=budget,
        )

    return run_chunked(
        lm_stats_folder(cache, lm=lm, max_tokens=max_tokens, precision=precision),
        order,
        compute,
        chunk_rows=chunk_rows,
        first_chunk_rows=first_rows,
        progress=progress,
        cancel=cancel,
        label="causal LM pass",
        first_stage_only=first_stage_only,
        step_rows=batch_size * 2,  # progress and cancel every few seconds on 2 CPU cores
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
