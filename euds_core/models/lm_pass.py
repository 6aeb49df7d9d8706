"""The causal LM's scoring pass: mean next-token predictive entropy and NLL per sequence, batched by a token
budget, the output head and the entropy fused in cache-sized chunks of the scored positions only.

Shared by the generative/perplexity scores and IFD (scores/), and timed by ``auto``'s measurement
(auto_choice.py), which is why it lives with the models. Where the time goes and what each step saved:
docs/performance.md.
"""

from __future__ import annotations

import numpy as np

from euds_core.models.loading import lm_bos_id

MAX_TOKENS = 256
# Floats of logits materialised at once, whatever the batch: on CUDA 128 MB; on CPU ~8 MB, so each chunk's
# passes over the logits run in cache (32-row chunks scored ~5 % faster than 680-row ones on the 2-core EPYC).
LOGIT_BUDGET = {"cuda": 32 * 1024 * 1024, "cpu": 2 * 1024 * 1024}
TOKENS_PER_ROW = 64  # token budget per LM batch = batch_size x this (short rows pack more, long rows fewer)


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
    sequences = lm_sequences(texts, tokenizer, max_tokens)
    return sequence_token_stats(
        sequences,
        [scored_from(tokenizer)] * len(sequences),
        tokenizer,
        model,
        device=device,
        batch_size=batch_size,
        token_budget=token_budget,
    )


def lm_sequences(texts: list[str], tokenizer, max_tokens: int = MAX_TOKENS) -> list[list[int]]:
    """Each text's token ids as the pass scores them: the start token (models.lm_bos_id), then at most
    ``max_tokens`` tokens of the text."""
    bos = lm_bos_id(tokenizer)
    encoded = tokenizer(texts, add_special_tokens=False, truncation=True, max_length=max_tokens)["input_ids"]
    return [([bos] if bos is not None else []) + list(ids) for ids in encoded]


def scored_from(tokenizer) -> int:
    """The first scored position of an :func:`lm_sequences` sequence: after the start token, when there is one."""
    return 1 if lm_bos_id(tokenizer) is not None else 0


def batch_stop(sorted_lengths: np.ndarray, start: int, budget: int) -> int:
    """The end of the batch that starts at ``start`` in the ascending ``sorted_lengths``: as many rows as keep
    the padded size (rows x the last row's length) within ``budget`` tokens; a row longer than that goes alone."""
    stop = start + 1
    while stop < len(sorted_lengths) and (stop + 1 - start) * sorted_lengths[stop] <= budget:
        stop += 1
    return stop


def token_budget_batches(lengths, budget: int) -> list[np.ndarray]:
    """The batches :func:`sequence_token_stats` cuts sequences of these ``lengths`` into, as positions: ascending
    length (stable), then :func:`batch_stop`. Steps made of whole batches, in this order, give the same batches."""
    lengths = np.asarray(lengths, dtype=np.int64)  # (n,)
    order = np.argsort(lengths, kind="stable")  # (n,)
    batches, start = [], 0
    while start < len(order):
        stop = batch_stop(lengths[order], start, max(1, int(budget)))
        batches.append(order[start:stop])
        start = stop
    return batches


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

    A sequence with no scored token gets the entropy of the next-token distribution after its last token as
    both values. Sequences are sorted by length and cut into batches by a token budget (rows x padded width <=
    ``token_budget``, default ``batch_size * TOKENS_PER_ROW``), so short texts share big batches and long ones
    small ones with little padding. On CUDA an out-of-memory batch halves the budget and is retried.
    """
    import torch

    n = len(sequences)
    out = np.zeros((n, 2), dtype=np.float32)
    if n == 0:
        return out
    budget = max(1, int(token_budget or batch_size * TOKENS_PER_ROW))
    order = np.argsort(np.array([len(s) for s in sequences], dtype=np.int64), kind="stable")
    sorted_lengths = np.array([len(sequences[i]) for i in order], dtype=np.int64)  # (n,) ascending
    start = 0
    with torch.inference_mode():
        while start < n:
            stop = batch_stop(sorted_lengths, start, budget)
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


def _padded_batch(batch: list[list[int]], score_from: list[int], pad: int):
    """(ids (B, L), attention mask (B, L), the scored positions as (rows, positions), their next tokens, and
    which rows have nothing to score) of one right-padded batch."""
    lengths = np.array([len(s) for s in batch], dtype=np.int64)  # (B,)
    width = int(lengths.max())
    ids = np.full((len(batch), width), pad, dtype=np.int64)  # (B, L), right padding
    for i, s in enumerate(batch):
        ids[i, : len(s)] = s
    pos = np.arange(width)[None, :]  # (1, L)
    mask = pos < lengths[:, None]  # (B, L)
    # Position t predicts token t+1; it counts when score_from <= t+1 < length.
    first = np.asarray(score_from, dtype=np.int64)[:, None]  # (B, 1)
    target = (pos >= first - 1) & (pos <= lengths[:, None] - 2)  # (B, L)
    lone = lengths <= first[:, 0]  # nothing to score: use the distribution after the last token
    target[lone, np.maximum(lengths[lone] - 1, 0)] = True
    row_idx, pos_idx = np.nonzero(target)  # (N,), (N,): the scored positions, row-major
    next_ids = np.zeros_like(ids)
    next_ids[:, :-1] = ids[:, 1:]
    return ids, mask, (row_idx, pos_idx), next_ids[row_idx, pos_idx], lone[row_idx]


def head_entropy_nll(flat, targets, head, vocab: int, device: str):
    """(entropy (N,), NLL (N,)) of the next-token distributions at the hidden states ``flat`` (N, H).

    The head runs in row chunks of at most ``LOGIT_BUDGET`` logits and the entropy is fused into one pass of
    ``exp``: with z the logits shifted by their row maximum, e = exp(z) and s = sum(e), the entropy is
    log(s) - (e . z) / s and the NLL log(s) - z[target]. (The earlier log_softmax, then exp, then dot product
    took two exp passes and one more write over the (chunk, vocab) logits; same values to ~1e-6 nats.)
    """
    import torch

    ent = torch.empty(len(flat), dtype=torch.float32, device=device)  # (N,)
    nll = torch.empty(len(flat), dtype=torch.float32, device=device)  # (N,)
    step = max(1, LOGIT_BUDGET["cuda" if device.startswith("cuda") else "cpu"] // vocab)
    for r0 in range(0, len(flat), step):
        z = head(flat[r0 : r0 + step]).float()  # (c, V)
        z.sub_(z.amax(dim=-1, keepdim=True))
        e = torch.exp(z)  # (c, V)
        sums = e.sum(dim=-1)  # (c,)
        log_sums = torch.log(sums)
        ent[r0 : r0 + step] = log_sums - torch.linalg.vecdot(e, z) / sums
        nll[r0 : r0 + step] = log_sums - z.gather(-1, targets[r0 : r0 + step, None]).squeeze(-1)
        del z, e
    return ent, nll


def _batch_token_stats(batch: list[list[int]], score_from: list[int], tokenizer, model, device: str) -> np.ndarray:
    """(B, 2) [mean entropy, mean NLL] of one right-padded batch (see :func:`sequence_token_stats`).

    The output head runs only on the scored positions, gathered into one flat (N, H) matrix, so a
    [batch, length, vocab] float32 tensor never exists.
    """
    import torch

    bos = lm_bos_id(tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (bos or 0)
    head = model.get_output_embeddings()
    vocab = head.out_features if hasattr(head, "out_features") else model.config.vocab_size
    ids_np, mask_np, (row_idx, pos_idx), targets_np, lone_np = _padded_batch(batch, score_from, pad)
    ids, mask = torch.from_numpy(ids_np).to(device), torch.from_numpy(mask_np.astype(np.int64)).to(device)
    hidden = model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, L, H)
    rows_t = torch.from_numpy(row_idx).to(device)
    flat = hidden[rows_t, torch.from_numpy(pos_idx).to(device)]  # (N, H)
    del hidden
    ent, nll = head_entropy_nll(flat, torch.from_numpy(targets_np).to(device), head, vocab, device)
    nll = torch.where(torch.from_numpy(lone_np).to(device), ent, nll)
    sums = torch.zeros((len(batch), 2), dtype=torch.float64, device=device)  # (B, 2)
    sums.index_add_(0, rows_t, torch.stack([ent, nll], dim=1).double())
    counts = torch.bincount(rows_t, minlength=len(batch)).clamp(min=1).double()  # (B,)
    return (sums / counts[:, None]).float().cpu().numpy()
