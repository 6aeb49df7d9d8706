"""The LM pass's fused pieces compute what the plain ones did: the one-exp entropy, the fused RMSNorm and the
fused gate/up projection of the bf16 scoring copy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from euds_core.models import lm_pass
from euds_core.models.loading import build_scoring_lm, load_causal_lm
from euds_core.models.mixed_precision import (
    FusedGateUpMLP,
    FusedRMSNorm,
    use_bf16_matmuls,
    use_fused_gate_up,
    use_fused_rms_norms,
)
from tests.helpers import requires_assets

TEXTS = ["the cat sat on the mat and the dog ran fast", "sun", "", "a red moon", "the blue sun was slow"]


@pytest.mark.parametrize("scale", [1.0, 30.0])  # ordinary logits, and peaked ones (entropy near 0)
def test_fused_entropy_and_nll_match_log_softmax(monkeypatch, scale):
    torch.manual_seed(0)
    head = torch.nn.Linear(16, 500, bias=False)
    flat = torch.randn(37, 16) * scale  # (N, H)
    targets = torch.randint(0, 500, (37,))
    monkeypatch.setitem(lm_pass.LOGIT_BUDGET, "cpu", 500 * 8)  # 8-row chunks: the chunk seams are crossed
    with torch.inference_mode():
        ent, nll = lm_pass.head_entropy_nll(flat, targets, head, 500, "cpu")
        logp = torch.log_softmax(head(flat).double(), -1)
    np.testing.assert_allclose(ent.numpy(), (-(logp.exp() * logp).sum(-1)).numpy(), atol=2e-5)
    np.testing.assert_allclose(nll.numpy(), (-logp.gather(-1, targets[:, None]).squeeze(-1)).numpy(), atol=2e-5)


def test_fused_rms_norm_and_gate_up_keep_the_bf16_copys_scores(tiny_causal_lm_dir):
    path = str(tiny_causal_lm_dir)
    tok, fused = build_scoring_lm(path, "cpu", "bf16")
    assert any(isinstance(m, FusedGateUpMLP) for m in fused.modules())
    assert any(isinstance(m, FusedRMSNorm) for m in fused.modules())
    _, plain = load_causal_lm.__wrapped__(path, "cpu")
    use_bf16_matmuls(plain)  # the bf16 copy as it was before the fusions
    got = lm_pass.lm_token_stats(TEXTS, tok, fused, device="cpu", batch_size=2)
    want = lm_pass.lm_token_stats(TEXTS, tok, plain, device="cpu", batch_size=2)
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert use_fused_gate_up(plain) > 0 and use_fused_rms_norms(plain) > 0  # the same model, fused in place
    np.testing.assert_allclose(lm_pass.lm_token_stats(TEXTS, tok, plain, device="cpu", batch_size=2), got, atol=1e-5)


def test_fused_gate_up_needs_bf16_linears(tiny_causal_lm_dir):
    """An fp32 model's MLPs are left alone (the fusion rounds its input to bf16)."""
    _, model = load_causal_lm.__wrapped__(str(tiny_causal_lm_dir), "cpu")
    assert use_fused_gate_up(model) == 0


@pytest.mark.slow
@requires_assets
def test_smollm2_fused_bf16_pass_ranks_like_the_plain_bf16_pass():
    """The new bf16 copy (fused gate/up, fused RMSNorm, one-exp entropy) against the copy before it."""
    from scipy.stats import spearmanr

    from euds_core.data.builtins import load_builtin
    from euds_core.models.loading import resolve_lm_path

    texts = load_builtin("bbc_news").table["text"].sample(24, random_state=3).tolist()
    path = str(resolve_lm_path())
    tok, fused = build_scoring_lm(path, "cpu", "bf16")
    _, plain = load_causal_lm.__wrapped__(path, "cpu")
    use_bf16_matmuls(plain)
    got = lm_pass.lm_token_stats(texts, tok, fused, device="cpu", batch_size=16)
    want = lm_pass.lm_token_stats(texts, tok, plain, device="cpu", batch_size=16)
    assert spearmanr(got[:, 0], want[:, 0])[0] >= 0.999 and np.abs(got - want).max() < 1e-3
    assert pd.Series(got[:, 0]).notna().all()
