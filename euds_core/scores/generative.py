"""Generative entropy (and perplexity) from one pass of a causal LM over each sample."""

from __future__ import annotations

import numpy as np
import pandas as pd

from euds_core.cache import DatasetCache, run_chunked
from euds_core.models import DEFAULT_LM, load_causal_lm, model_hash, resolve_lm_path
from euds_core.scores.base import Scorer

MAX_TOKENS = 256
LOGIT_BUDGET = 32 * 1024 * 1024  # floats of logits materialised at once (128 MB fp32), whatever the batch


def lm_token_stats(texts: list[str], tokenizer, model, *, device: str, batch_size: int, max_tokens: int = MAX_TOKENS) -> np.ndarray:
    """(n_texts, 2) float32: mean next-token predictive entropy (nats) and mean token NLL (nats).

    A BOS token is prepended so the first word is predicted too. A text with no tokens gets the entropy of
    the first-token distribution and that same value as its NLL.
    """
    bos = lm_bos_id(tokenizer)
    encoded = tokenizer(texts, add_special_tokens=False, truncation=True, max_length=max_tokens)["input_ids"]
    sequences = [([bos] if bos is not None else []) + list(ids) for ids in encoded]
    return sequence_token_stats(sequences, [1 if bos is not None else 0] * len(sequences), tokenizer, model, device=device, batch_size=batch_size)


def lm_bos_id(tokenizer) -> int | None:
    """The token prepended to every sequence (BOS, else EOS) so the first real token is predicted too."""
    return tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id


def sequence_token_stats(
    sequences: list[list[int]], score_from: list[int], tokenizer, model, *, device: str, batch_size: int
) -> np.ndarray:
    """(n_sequences, 2) float32: mean predictive entropy and mean NLL (nats) of the tokens ``seq[score_from:]``.

    Shared by the generative/perplexity pass (score every token after BOS) and IFD (score only the answer
    after the question). Logits are computed from the hidden states in position chunks so a
    [batch, length, vocab] float32 tensor never exists for the whole batch. A sequence with no scored token
    gets the entropy of the next-token distribution after its last token as both values.
    """
    import torch

    bos = lm_bos_id(tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (bos or 0)
    head = model.get_output_embeddings()
    body = model.base_model
    vocab = head.out_features if hasattr(head, "out_features") else model.config.vocab_size
    out = np.zeros((len(sequences), 2), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(sequences), batch_size):
            batch = sequences[start : start + batch_size]
            width = max(len(s) for s in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)  # (B, L), right padding
            mask = torch.zeros((len(batch), width), dtype=torch.long)  # (B, L)
            for i, s in enumerate(batch):
                ids[i, : len(s)] = torch.tensor(s)
                mask[i, : len(s)] = 1
            ids, mask = ids.to(device), mask.to(device)
            hidden = body(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, L, H)
            # Position t predicts token t+1; it counts when score_from <= t+1 < length.
            lengths = mask.sum(1)  # (B,)
            first = torch.tensor(score_from[start : start + len(batch)], device=device)  # (B,)
            pos = torch.arange(width, device=device)[None, :]  # (1, L)
            target_mask = (pos >= first[:, None] - 1) & (pos <= lengths[:, None] - 2)  # (B, L)
            lone = lengths <= first  # nothing to score: use the distribution after the last token
            target_mask[lone, (lengths - 1).clamp(min=0)[lone]] = True
            targets = torch.zeros_like(ids)
            targets[:, :-1] = ids[:, 1:]
            ent_sum = torch.zeros(len(batch), dtype=torch.float64, device=device)
            nll_sum = torch.zeros(len(batch), dtype=torch.float64, device=device)
            step = max(1, LOGIT_BUDGET // (len(batch) * vocab))
            for p0 in range(0, width, step):
                logits = head(hidden[:, p0 : p0 + step]).float()  # (B, c, V)
                logp = torch.log_softmax(logits, dim=-1)
                del logits
                ent = -(logp.exp() * logp).sum(-1)  # (B, c)
                nll = -logp.gather(-1, targets[:, p0 : p0 + step, None]).squeeze(-1)  # (B, c)
                nll = torch.where(lone[:, None], ent, nll)
                m = target_mask[:, p0 : p0 + step]
                ent_sum += (ent * m).sum(1, dtype=torch.float64)
                nll_sum += (nll * m).sum(1, dtype=torch.float64)
            counts = target_mask.sum(1).clamp(min=1).double()
            out[start : start + len(batch), 0] = (ent_sum / counts).cpu().numpy()
            out[start : start + len(batch), 1] = (nll_sum / counts).cpu().numpy()
    return out


def compute_lm_stats(
    table: pd.DataFrame, *, lm: str, max_tokens: int, device: str, batch_size: int, cache: DatasetCache | None, progress=None, cancel=None
) -> np.ndarray:
    """Cached (n_rows, 2) [entropy, nll]; shared by the generative and perplexity scores (one LM pass)."""
    texts = table["text"].tolist()
    order = np.argsort([len(t) for t in texts], kind="stable")
    loaded = None

    def compute(rows: np.ndarray) -> np.ndarray:
        nonlocal loaded
        loaded = loaded or load_causal_lm(str(resolve_lm_path(lm)), device)
        tokenizer, model = loaded
        return lm_token_stats([texts[i] for i in rows], tokenizer, model, device=device, batch_size=batch_size, max_tokens=max_tokens)

    params = {"lm": model_hash(resolve_lm_path(lm)), "max_tokens": max_tokens}
    folder = cache.feature_dir("lm_stats", params) if cache is not None else None
    return run_chunked(folder, order, compute, chunk_rows=max(128, batch_size * 4), progress=progress, cancel=cancel, label="causal LM pass")


class GenerativeScorer(Scorer):
    """Mean over positions of the causal LM's next-token predictive entropy H(p(·|x<t)), in nats.

    Range [0, log V]; first 256 tokens. Higher = the LM is less sure what comes next in this text.
    """

    name = "generative"
    unit = "nats"
    description = "mean next-token predictive entropy of a causal LM (EUDS generative entropy)"
    uses_model = True
    column = 0  # which column of the shared LM pass this score reads

    def __init__(self, lm: str = DEFAULT_LM, max_tokens: int = MAX_TOKENS):
        self.lm = lm
        self.max_tokens = max_tokens

    def params(self) -> dict:
        return {"lm": model_hash(resolve_lm_path(self.lm)), "max_tokens": self.max_tokens}

    def score(self, table, *, device="cpu", batch_size=16, progress=None, cancel=None, cache=None, **_) -> np.ndarray:
        stats = compute_lm_stats(table, lm=self.lm, max_tokens=self.max_tokens, device=device, batch_size=batch_size, cache=cache, progress=progress, cancel=cancel)
        return stats[:, self.column].astype(np.float32)


class PerplexityScorer(GenerativeScorer):
    """Mean token negative log-likelihood under the causal LM (log perplexity), in nats; higher = more surprising."""

    name = "perplexity"
    description = "mean token NLL under the causal LM (log perplexity; same pass as generative)"
    column = 1
