"""The fast LM pass (token-budget batches, head on scored positions, bf16 matmuls where native) keeps the scores."""

import numpy as np
import pandas as pd
import pytest
import torch

from euds_core.errors import EudsInputError
from euds_core.models import int8_matmuls, mixed_precision, onnx_encoder
from euds_core.models.int8_matmuls import INT8_VERSION
from euds_core.models.loading import load_causal_lm
from euds_core.models.precision import load_scoring_lm, resolve_encoder_precision, resolve_lm_precision
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


@pytest.mark.parametrize(("measured", "chosen"), [("bf16", "bf16-matmul"), ("int8", INT8_VERSION), ("fp32", "fp32")])
def test_precision_and_what_auto_chose_are_in_the_cache_key(tiny_causal_lm_dir, monkeypatch, measured, chosen):
    from euds_core.models import precision

    monkeypatch.setattr(precision, "measured_path", lambda kind, path: measured)  # the measurement: test_auto_choice
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    auto = GenerativeScorer(lm=str(tiny_causal_lm_dir)).params()
    fp32 = GenerativeScorer(lm=str(tiny_causal_lm_dir), precision="fp32").params()
    bf16_params = GenerativeScorer(lm=str(tiny_causal_lm_dir), precision="bf16").params()
    int8_params = GenerativeScorer(lm=str(tiny_causal_lm_dir), precision="int8").params()
    assert auto["precision"] == f"auto-v4:cpu={chosen}"
    assert fp32["precision"] == "fp32" and bf16_params["precision"] == "bf16-matmul"
    assert int8_params["precision"] == INT8_VERSION == "int8-smooth-v1"


@pytest.mark.parametrize(("bf16", "int8"), [(True, True), (True, False), (False, True), (False, False)])
def test_precision_resolution(monkeypatch, bf16, int8):
    monkeypatch.setattr(mixed_precision, "native_bf16", lambda device: bf16)
    monkeypatch.setattr(int8_matmuls, "native_int8", lambda device: int8 and device == "cpu")
    assert resolve_lm_precision("fp32", "cpu") == "fp32"
    assert resolve_lm_precision("int8", "cpu") == "int8"
    assert resolve_lm_precision("int8", "cuda") == "bf16"  # int8 kernels are CPU-only
    assert resolve_lm_precision("auto", "cpu") == ("bf16" if bf16 else "int8" if int8 else "fp32")
    assert resolve_lm_precision("auto", "cuda") == ("bf16" if bf16 else "fp32")
    # The CPU encoder runs through ONNX Runtime (fp32) whatever the flags; int8 embeddings miss the bar.
    assert resolve_encoder_precision("cpu") == "onnx"
    assert resolve_encoder_precision("cuda") == ("bf16" if bf16 else "fp32")
    monkeypatch.setattr(onnx_encoder, "onnx_runtime_available", lambda: False)
    assert resolve_encoder_precision("cpu") == ("bf16" if bf16 else "fp32")
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


@pytest.mark.slow
@requires_assets
@pytest.mark.skipif(
    not int8_matmuls.native_int8("cpu"), reason="this CPU has no int8 dot-product instructions (VNNI or AMX)"
)
def test_smollm2_int8_matmuls_rank_like_fp32_on_snippets():
    """int8 matmuls (smoothed, residual pass where one is too coarse): Spearman 0.995 on 128 snippets."""
    from scipy.stats import spearmanr

    from euds_core.data.builtins import load_builtin

    table = load_builtin("rotten_tomatoes").table.sample(64, random_state=2).reset_index(drop=True)
    fp32 = GenerativeScorer(precision="fp32").score(table, batch_size=16)
    int8 = GenerativeScorer(precision="int8").score(table, batch_size=16)
    assert spearmanr(fp32, int8)[0] >= 0.99
    assert np.abs(fp32 - int8).mean() < 0.06  # nats; per-tensor dynamic int8 moved them by ~1.1
    from euds_core.models import auto_choice, loading  # auto's accuracy check passes int8 SmolLM2 (0.9966)

    _seconds, accuracy, _prepare = auto_choice.measure_lm_paths(str(loading.resolve_lm_path()), ["fp32", "int8"])
    assert accuracy["int8"] >= auto_choice.LM_SPEARMAN_BAR == int8_matmuls.TOKEN_SPEARMAN_BAR
