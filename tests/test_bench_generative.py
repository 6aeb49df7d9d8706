"""The fast LM pass (token-budget batches, head on scored positions, bf16 matmuls where native) keeps the scores."""

import numpy as np
import pandas as pd
import pytest

from euds_core.errors import EudsInputError
from euds_core.models import mixed_precision
from euds_core.models.loading import load_causal_lm, load_scoring_lm, resolve_lm_precision
from euds_core.scores.generative import GenerativeScorer, lm_token_stats
from tests.helpers import requires_assets

TEXTS = [
    "the cat sat on the mat and the dog ran fast",
    "sun",
    "",
    "a red moon",
    "the blue sun was slow and the cat is red",
]


@pytest.mark.parametrize("budget", [1, 7, 30, 10_000])
def test_token_budget_does_not_change_scores(tiny_causal_lm_dir, budget):
    tok, model = load_causal_lm(str(tiny_causal_lm_dir), "cpu")
    one_by_one = np.concatenate([lm_token_stats([t], tok, model, device="cpu", batch_size=1) for t in TEXTS])
    batched = lm_token_stats(TEXTS, tok, model, device="cpu", batch_size=1, token_budget=budget)
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)


def test_precision_is_in_the_cache_key(tiny_causal_lm_dir):
    auto = GenerativeScorer(lm=str(tiny_causal_lm_dir)).params()
    fp32 = GenerativeScorer(lm=str(tiny_causal_lm_dir), precision="fp32").params()
    bf16 = GenerativeScorer(lm=str(tiny_causal_lm_dir), precision="bf16").params()
    assert auto["precision"] == "auto-v3" and fp32["precision"] == "fp32" and bf16["precision"] == "bf16-matmul"


@pytest.mark.parametrize("native", [True, False])
def test_precision_resolution(monkeypatch, native):
    monkeypatch.setattr(mixed_precision, "native_bf16", lambda device: native)
    assert resolve_lm_precision("fp32", "cpu") == "fp32"
    assert resolve_lm_precision("int8", "cuda") == "bf16"  # int8 kernels are CPU-only
    assert resolve_lm_precision("auto", "cpu") == ("bf16" if native else "fp32")
    assert resolve_lm_precision("auto", "cuda") == ("bf16" if native else "fp32")
    with pytest.raises(EudsInputError, match="precision"):
        resolve_lm_precision("fp8", "cpu")


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_reduced_precision_copies_score_close_to_fp32(tiny_causal_lm_dir, precision):
    table = pd.DataFrame({"text": TEXTS})
    fp32 = GenerativeScorer(lm=str(tiny_causal_lm_dir), precision="fp32").score(table, batch_size=2)
    low = GenerativeScorer(lm=str(tiny_causal_lm_dir), precision=precision).score(table, batch_size=2)
    assert np.all(np.isfinite(low)) and np.abs(low - fp32).max() < 0.1
    _, cached_fp32 = load_causal_lm(str(tiny_causal_lm_dir), "cpu")
    _, copy = load_scoring_lm(str(tiny_causal_lm_dir), "cpu", precision)
    assert copy is not cached_fp32 and next(cached_fp32.parameters()).dtype.is_floating_point


@pytest.mark.slow
@requires_assets
def test_smollm2_bf16_matmuls_rank_like_fp32_on_snippets():
    """bf16 matmuls with fp32 activations: Spearman 0.9998 on 384 snippets; must clear the 0.99 bar here."""
    from scipy.stats import spearmanr

    from euds_core.data.builtins import load_builtin

    table = load_builtin("rotten_tomatoes").table.sample(48, random_state=1).reset_index(drop=True)
    fp32 = GenerativeScorer(precision="fp32").score(table, batch_size=16)
    bf16 = GenerativeScorer(precision="bf16").score(table, batch_size=16)
    assert spearmanr(fp32, bf16)[0] >= 0.99
    assert np.abs(fp32 - bf16).mean() < 0.03  # nats; a whole-model bf16 copy moved them by ~0.06
