"""gpu_mfu: model FLOPs utilisation of the LM pass on a GPU (skipped without one)."""

from __future__ import annotations

import time

from bench.common import line, snippets
from bench.generative_scoring import lm_flops_per_token

GPU_BF16_PEAK = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10": 125e12}  # dense


def _token_count(tok, texts: list[str]) -> int:
    """Tokens the scorer runs for ``texts`` (truncated at 256, plus the start token)."""
    encoded = tok(texts, add_special_tokens=False, truncation=True, max_length=256)["input_ids"]
    return sum(len(ids) + 1 for ids in encoded)


def _scorer_tokens_per_second(texts: list[str], n_tokens: int) -> float:
    """Tokens/s of compute_lm_stats on CUDA (auto precision, batch 64), after one warm-up call."""
    import pandas as pd
    import torch

    from euds_core.scores.generative import compute_lm_stats

    def ours(batch):
        frame = pd.DataFrame({"text": batch})
        return compute_lm_stats(
            frame, lm="packaged:smollm2", max_tokens=256, device="cuda", batch_size=64, cache=None, precision="auto"
        )

    ours(texts[:64])
    torch.cuda.synchronize()
    t = time.perf_counter()
    ours(texts)
    torch.cuda.synchronize()
    return n_tokens / (time.perf_counter() - t)


def _naive_tokens_per_second(tok, model32, texts: list[str]) -> float:
    """Tokens/s of one fp32 forward per text on CUDA with a full-vocabulary log-softmax (the baseline)."""
    import torch

    from euds_core.models.loading import lm_bos_id

    model = model32.to("cuda")
    bos = lm_bos_id(tok)  # the token the scorer prepends (document separator, else BOS)
    with torch.no_grad():
        t = time.perf_counter()
        for text in texts:
            ids = [bos] + tok(text, add_special_tokens=False, truncation=True, max_length=256)["input_ids"]
            logp = torch.log_softmax(model(input_ids=torch.tensor([ids], device="cuda")).logits[0].float(), -1)
            (-(logp.exp() * logp).sum(-1)).mean().item()
        torch.cuda.synchronize()
        seconds = time.perf_counter() - t
    model32.to("cpu")
    return _token_count(tok, texts) / seconds


def bench_gpu_mfu(quick: bool) -> list[str]:
    """Model FLOPs/s over the device's bf16 peak for the generative pass; baseline = the naive fp32 loop on the GPU."""
    import torch

    if not torch.cuda.is_available():
        return ["gpu_mfu: skipped: no GPU (torch.cuda.is_available() is False)"]
    from euds_core.models.loading import load_causal_lm, resolve_lm_path

    name = torch.cuda.get_device_name(0)
    peak = next((v for k, v in GPU_BF16_PEAK.items() if k in name), None)
    tok, model32 = load_causal_lm(str(resolve_lm_path()), "cpu")
    texts = [" ".join(t.split() * 4) for t in snippets(1024 if quick else 4096, seed=2)]  # ~100-token texts
    n_tokens = _token_count(tok, texts)
    flops_per_token = lm_flops_per_token(model32, n_tokens / len(texts))
    fast = _scorer_tokens_per_second(texts, n_tokens)
    base = _naive_tokens_per_second(tok, model32, texts[:128])
    note = f"[{name}, bf16, {len(texts)} texts x ~{n_tokens / len(texts):.0f} tokens]"
    out = [line("generative_scoring_gpu", fast, "tokens/s", base, fast / base, note)]
    if peak is None:
        tflops = fast * flops_per_token / 1e12
        return [*out, f"gpu_mfu: skipped: unknown bf16 peak for '{name}' ({tflops:.1f} TFLOP/s measured)"]
    mfu, base_mfu = fast * flops_per_token / peak, base * flops_per_token / peak
    note = f"[{name}, peak {peak / 1e12:.0f} TFLOP/s bf16 dense]"
    return [*out, line("gpu_mfu", 100 * mfu, "%", 100 * base_mfu, mfu / base_mfu, note)]
