"""IFD (Li et al. 2024, "From Quantity to Quality"): instruction-following difficulty of a Q&A pair.

IFD = loss(answer | question) / loss(answer), both the causal LM's mean token NLL over the answer tokens. It
reuses the batched, chunked-logit LM pass of models/lm_pass.py (:func:`sequence_token_stats`), scoring only the
answer suffix of ``BOS + question + blank line + answer`` and of ``BOS + answer``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from euds_core.data.table import QA_SEPARATOR
from euds_core.models.lm_pass import MAX_TOKENS, sequence_token_stats
from euds_core.models.loading import DEFAULT_LM, lm_bos_id, load_causal_lm, model_hash, resolve_lm_path
from euds_core.models.precision import load_scoring_lm
from euds_core.scores.base import Scorer
from euds_core.scores.generative import SEQUENCE_START, lm_precision_tag
from euds_core.storage.cache import ChunkPlan, DatasetCache, run_chunked


def answer_losses(
    questions: list[str],
    answers: list[str],
    tokenizer,
    model,
    *,
    device: str,
    batch_size: int,
    max_tokens: int = MAX_TOKENS,
) -> np.ndarray:
    """(n, 2) float32: mean answer-token NLL (nats) given the question, and without it."""
    bos = lm_bos_id(tokenizer)
    head = [bos] if bos is not None else []
    q_ids = tokenizer(
        [q + QA_SEPARATOR for q in questions], add_special_tokens=False, truncation=True, max_length=max_tokens
    )["input_ids"]
    a_ids = tokenizer(answers, add_special_tokens=False, truncation=True, max_length=max_tokens)["input_ids"]
    conditioned = [head + list(q) + list(a) for q, a in zip(q_ids, a_ids, strict=True)]
    alone = [head + list(a) for a in a_ids]
    out = np.empty((len(questions), 2), dtype=np.float32)
    kwargs = dict(device=device, batch_size=batch_size)
    out[:, 0] = sequence_token_stats(conditioned, [len(head) + len(q) for q in q_ids], tokenizer, model, **kwargs)[:, 1]
    out[:, 1] = sequence_token_stats(alone, [len(head)] * len(alone), tokenizer, model, **kwargs)[:, 1]
    return out


def ifd_ratio(losses: np.ndarray) -> np.ndarray:
    """loss(answer | question) / loss(answer) from the (n, 2) losses; a near-zero denominator gives 1 (no signal)."""
    conditioned, alone = losses[:, 0].astype(np.float64), losses[:, 1].astype(np.float64)
    ratio = np.where(alone > 1e-6, conditioned / np.maximum(alone, 1e-6), 1.0)
    return ratio.astype(np.float32)


class IFDScorer(Scorer):
    """Instruction-following difficulty: loss(answer | question) / loss(answer) under the causal LM; unitless ratio.

    Range [0, ∞), typically 0.3 to 1.2. Higher = the question helps the LM predict the answer less (harder to
    follow); above 1 the question even misleads it (often a mismatched pair). Answer tokens capped at 256.
    """

    name = "ifd"
    needs = frozenset({"question", "answer"})
    unit = "ratio"
    description = "instruction-following difficulty: answer loss with the question / without it (Q&A)"
    uses_model = True

    def __init__(self, lm: str = DEFAULT_LM, max_tokens: int = MAX_TOKENS, precision: str = "auto"):
        self.lm = lm
        self.max_tokens = max_tokens
        self.precision = precision  # as GenerativeScorer: bf16 matmuls where native, else fp32

    def params(self) -> dict:
        return {
            "lm": model_hash(resolve_lm_path(self.lm)),
            "max_tokens": self.max_tokens,
            "start": SEQUENCE_START,
            "precision": lm_precision_tag(self.precision, str(resolve_lm_path(self.lm))),
        }

    def score(
        self,
        table: pd.DataFrame,
        *,
        device="cpu",
        batch_size=16,
        progress=None,
        cancel=None,
        cache: DatasetCache | None = None,
        **_,
    ) -> np.ndarray:
        questions, answers = table["question"].astype(str).tolist(), table["answer"].astype(str).tolist()
        order = np.argsort([len(q) + len(a) for q, a in zip(questions, answers, strict=True)], kind="stable")
        loaded = None

        def compute(rows: np.ndarray) -> np.ndarray:
            nonlocal loaded
            loaded = loaded or load_scoring_lm(str(resolve_lm_path(self.lm)), device, self.precision, load_causal_lm)
            tokenizer, model = loaded
            return answer_losses(
                [questions[i] for i in rows],
                [answers[i] for i in rows],
                tokenizer,
                model,
                device=device,
                batch_size=batch_size,
                max_tokens=self.max_tokens,
            )

        folder = cache.feature_dir("ifd_losses", self.params()) if cache is not None else None
        losses = run_chunked(
            folder,
            ChunkPlan(order, chunk_rows=max(128, batch_size * 4)),
            compute,
            progress=progress,
            cancel=cancel,
            label="IFD LM pass",
        )
        return ifd_ratio(losses)
