"""generative_scoring: tokens/s of the LM pass (compute_lm_stats, auto precision) vs a naive fp32 loop."""

from __future__ import annotations

import time

import numpy as np

from bench.common import SCORING_PRECISION, alternate_rounds, line, load_average, scoring_precision_note, snippets


def lm_flops_per_token(model, mean_len: float) -> float:
    """Model FLOPs per scored token: 2 x the matmul parameters (the output head included, the embedding table
    not) plus causal attention (QK^T and AV, halved); SmolLM2-135M at ~24 tokens: ~0.27 GFLOP."""
    cfg = model.config
    params = sum(p.numel() for n, p in model.named_parameters() if "embed_tokens" not in n)
    head = model.get_output_embeddings()
    if getattr(head, "weight", None) is not None and head.weight.data_ptr() in {
        p.data_ptr() for n, p in model.named_parameters() if "embed_tokens" in n
    }:
        params += head.weight.numel()  # a tied head is not among the counted parameters but does a matmul
    return 2 * params + 4 * cfg.num_hidden_layers * cfg.hidden_size * mean_len


def naive_lm_loop(tok, model, bos: int):
    """The baseline: one ``model(ids)`` per text in fp32, full-vocabulary log-softmax, no batching."""
    import torch

    def naive(batch: list[str]) -> np.ndarray:
        out = np.zeros((len(batch), 2))
        with torch.no_grad():
            for i, text in enumerate(batch):
                enc = tok(text, return_tensors="pt", add_special_tokens=False)
                ids = torch.cat([torch.tensor([[bos]]), enc["input_ids"]], dim=1)  # same BOS as the scorer
                logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)[:-1]  # (L-1, V)
                out[i, 0] = -(logp.exp() * logp).sum(-1).mean().item()
                out[i, 1] = -logp.gather(-1, ids[0, 1:, None]).mean().item()
        return out

    return naive


def scorer_lm_pass(forced: str):
    """Ours: the scorers' cached-free LM pass at ``forced`` precision (``auto``: what the measurement chose)."""
    import pandas as pd

    from euds_core.scores.generative import compute_lm_stats

    def ours(batch: list[str]) -> np.ndarray:
        frame = pd.DataFrame({"text": batch})
        return compute_lm_stats(
            frame, lm="packaged:smollm2", max_tokens=256, device="cpu", batch_size=16, cache=None, precision=forced
        )

    return ours


def bench_generative(quick: bool) -> list[str]:
    """Tokens/s of compute_lm_stats (auto precision) vs one model(**tok(text)) per text in fp32, no batching."""
    from scipy.stats import spearmanr

    from euds_core.models.loading import lm_bos_id, load_causal_lm, resolve_lm_path
    from euds_core.models.precision import resolve_lm_precision

    forced = SCORING_PRECISION["precision"]
    if forced == "onnx":
        return ["generative_scoring: skipped (onnx is an encoder backend; the LM has auto, fp32, bf16, int8)"]
    rounds, per_round = (2, 128) if quick else (4, 256)  # rounds of 128+: real scoring batches sorted chunks of 512+
    texts = snippets(rounds * per_round)
    path = str(resolve_lm_path())
    tok, model = load_causal_lm(path, "cpu")  # fp32 reference
    naive, ours = naive_lm_loop(tok, model, lm_bos_id(tok)), scorer_lm_pass(forced)
    t0 = time.perf_counter()
    ours(texts[:4])  # load the model once (cached in-process afterwards); auto measures here on first use
    load_s = time.perf_counter() - t0
    naive(texts[:2])  # warm-up
    n_tokens = sum(len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"])
    ref, got, t_naive, t_ours = alternate_rounds(texts, rounds, per_round, naive, ours)
    rho_ent, rho_nll = spearmanr(ref[:, 0], got[:, 0])[0], spearmanr(ref[:, 1], got[:, 1])[0]
    base, fast = n_tokens / t_naive, n_tokens / t_ours
    gflops = fast * lm_flops_per_token(model, n_tokens / len(texts)) / 1e9
    precision = resolve_lm_precision(forced, "cpu", path)
    note = (
        f"[{len(texts)} snippets, {n_tokens} tokens, {scoring_precision_note('lm', forced)}; {gflops:.0f} GFLOP/s; "
        f"Spearman vs fp32: entropy {rho_ent:.4f}, perplexity {rho_nll:.4f}; one-off model load + {precision} copy "
        f"{load_s:.1f} s; {load_average()}]"
    )
    return [line("generative_scoring", fast, "tokens/s", base, fast / base, note)]
