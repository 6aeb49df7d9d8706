"""GPU path: CUDA scores agree with CPU scores on the same texts; batch budget sized to GPU memory.

Every test marked ``gpu`` skips without CUDA. The OOM back-off test runs anywhere (it fakes the OOM).
"""

import numpy as np
import pandas as pd
import pytest
import torch

from euds_core.models import lm_pass
from euds_core.models.loading import auto_token_budget, load_causal_lm
from euds_core.models.precision import resolve_lm_precision
from euds_core.scores.generative import GenerativeScorer, lm_token_stats
from tests.helpers import requires_assets

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
TEXTS = ["the cat sat on the mat", "a dog ran fast", "sun", "the red sun and the blue moon was slow", "moon"] * 4


@pytest.mark.gpu
@needs_cuda
def test_generative_cuda_bf16_matches_cpu_fp32(tiny_causal_lm_dir):
    table = pd.DataFrame({"text": TEXTS})
    cpu = GenerativeScorer(lm=str(tiny_causal_lm_dir), precision="fp32").score(table, device="cpu", batch_size=4)
    gpu = GenerativeScorer(lm=str(tiny_causal_lm_dir), precision="auto").score(table, device="cuda", batch_size=4)
    assert resolve_lm_precision("auto", "cuda") == "bf16"
    np.testing.assert_allclose(gpu, cpu, atol=0.05)  # bf16 matmuls: ~1e-2 nats


@pytest.mark.gpu
@needs_cuda
def test_generative_cuda_fp32_matches_cpu_fp32_closely(tiny_causal_lm_dir):
    table = pd.DataFrame({"text": TEXTS})
    cpu = GenerativeScorer(lm=str(tiny_causal_lm_dir), precision="fp32").score(table, device="cpu", batch_size=4)
    gpu = GenerativeScorer(lm=str(tiny_causal_lm_dir), precision="fp32").score(table, device="cuda", batch_size=4)
    np.testing.assert_allclose(gpu, cpu, atol=1e-3)


@pytest.mark.gpu
@needs_cuda
def test_token_budget_is_sized_to_gpu_memory(tiny_causal_lm_dir):
    _, model = load_causal_lm(str(tiny_causal_lm_dir), "cuda")
    budget = auto_token_budget(model, "cuda", default=1024)
    assert 1_024 <= budget <= 65_536
    assert auto_token_budget(model, "cpu", default=777) == 777


@pytest.mark.gpu
@pytest.mark.slow
@needs_cuda
@requires_assets
def test_smollm2_and_minilm_agree_between_gpu_and_cpu():
    from scipy.stats import spearmanr

    from euds_core.data.builtins import load_builtin
    from euds_core.models.embeddings import compute_embeddings

    table = load_builtin("rotten_tomatoes").table.sample(64, random_state=0).reset_index(drop=True)
    cpu = GenerativeScorer(precision="fp32").score(table, device="cpu", batch_size=16)
    gpu = GenerativeScorer().score(table, device="cuda", batch_size=64)
    assert spearmanr(cpu, gpu)[0] >= 0.99
    emb_cpu = compute_embeddings(table, device="cpu")
    emb_gpu = compute_embeddings(table, device="cuda")
    np.testing.assert_allclose(emb_gpu, emb_cpu, atol=2e-3)


def test_out_of_memory_halves_the_budget_and_retries(tiny_causal_lm_dir, monkeypatch):
    """A batch that runs out of memory is split (fake OOM above 2 rows); the scores do not change."""
    tok, model = load_causal_lm(str(tiny_causal_lm_dir), "cpu")
    reference = lm_token_stats(TEXTS, tok, model, device="cpu", batch_size=4)
    real = lm_pass._batch_token_stats
    seen = []

    def flaky(batch, *args, **kwargs):
        seen.append(len(batch))
        if len(batch) > 2:
            raise torch.OutOfMemoryError("fake")
        return real(batch, *args, **kwargs)

    monkeypatch.setattr(lm_pass, "_batch_token_stats", flaky)
    got = lm_token_stats(TEXTS, tok, model, device="cpu", batch_size=4, token_budget=400)
    np.testing.assert_allclose(got, reference, atol=1e-5)
    assert max(seen) > 2 and seen[-1] <= 2
