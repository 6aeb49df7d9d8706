"""int8 matmuls: per-row activations, per-channel weights, smoothing and a residual pass keep outputs close to fp32."""

import numpy as np
import pandas as pd
import pytest
import torch

from euds_core.errors import EudsInputError
from euds_core.models.embeddings import compute_embeddings, embedding_key
from euds_core.models.int8_matmuls import (
    RESIDUAL_PASS_ERROR,
    Int8MatmulLinear,
    cpu_kernel_flags,
    native_int8,
    quantise_rows,
    use_int8_matmuls,
)
from euds_core.models.loading import load_encoder, resolve_encoder_path
from euds_core.storage.cache import DatasetCache
from tests.helpers import requires_assets


def relative_error(got: torch.Tensor, ref: torch.Tensor) -> float:
    return float((got - ref).norm() / ref.norm())


def outlier_inputs(rows: int = 64, features: int = 48, seed: int = 0) -> torch.Tensor:
    """(rows, features) activations whose channel 3 is ~100x the others (the LLM pattern smoothing is for)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, features, generator=generator)
    x[:, 3] *= 100.0
    return x


def test_quantise_rows_is_symmetric_int8_per_row():
    x = torch.tensor([[0.5, -1.0, 0.25], [100.0, 3.0, -50.0]])
    rounded, scale = quantise_rows(x)
    assert rounded.abs().max() == 127 and torch.equal(rounded, rounded.round())
    assert torch.allclose(scale[:, 0], torch.tensor([1.0, 100.0]) / 127)
    assert torch.allclose(rounded * scale, x, atol=float(scale.max()) / 2)


def test_int8_linear_matches_fp32_and_each_fix_shrinks_the_error():
    torch.manual_seed(0)
    linear = torch.nn.Linear(48, 40)
    x = outlier_inputs()
    ref = linear(x).detach()
    plain = Int8MatmulLinear(linear)
    smoothed = Int8MatmulLinear(linear, x.abs().amax(0))
    twice = Int8MatmulLinear(linear, x.abs().amax(0), residual_pass=True)
    errors = [relative_error(layer(x), ref) for layer in (plain, smoothed, twice)]
    assert plain(x).dtype == torch.float32 and plain.weight_int8.dtype == torch.int8
    assert errors[0] < 0.05 and errors[1] < errors[0] and errors[2] < errors[1]  # each fix is measured to help
    assert errors[2] < 0.01
    batched = twice(x.reshape(8, 8, 48))  # (batch, length, features) in, same shape out
    assert batched.shape == (8, 8, 40) and torch.allclose(batched.reshape(64, 40), twice(x))


def test_use_int8_matmuls_swaps_every_linear_and_gives_the_coarse_ones_a_second_pass():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(48, 64), torch.nn.GELU(), torch.nn.Linear(64, 8))
    calibration = outlier_inputs(seed=1)
    x = outlier_inputs(seed=2)
    ref = model(x).detach()
    errors = use_int8_matmuls(model, lambda: model(calibration))
    layers = [m for m in model.modules() if isinstance(m, Int8MatmulLinear)]
    assert len(layers) == 2 and not any(type(m) is torch.nn.Linear for m in model.modules())
    assert [layer.residual_pass for layer in layers] == [errors[n] > RESIDUAL_PASS_ERROR for n in ("0", "2")]
    assert all(0 < e < 0.1 for e in errors.values())
    assert relative_error(model(x), ref) < 0.02


def test_cpu_capabilities_are_reported():
    assert isinstance(native_int8("cpu"), bool)
    assert native_int8("cuda") is False  # the int8 path is CPU-only
    assert cpu_kernel_flags()


@requires_assets
def test_int8_encoder_embeds_like_fp32_and_is_cached_under_its_own_key(workspace):
    texts = ["a gripping, well acted thriller", "the plot makes no sense", "", "football results from saturday"]
    table = pd.DataFrame({"text": texts})
    cache = DatasetCache("int8-encoder-test")
    fp32 = compute_embeddings(table, device="cpu", cache=cache, precision="fp32")
    int8 = compute_embeddings(table, device="cpu", cache=cache, precision="int8")
    assert (fp32 * int8).sum(1).min() > 0.999 and not np.array_equal(fp32, int8)
    assert embedding_key("packaged:minilm", "int8") not in (
        embedding_key("packaged:minilm", p) for p in ("fp32", "bf16")
    )
    model = load_encoder(str(resolve_encoder_path()), "cpu", "int8")
    assert any(isinstance(m, Int8MatmulLinear) for m in model.modules())
    with pytest.raises(EudsInputError, match="CPU only"):
        load_encoder(str(resolve_encoder_path()), "cuda", "int8")


@requires_assets
@pytest.mark.parametrize(
    ("bf16", "int8", "precision"),
    [(False, True, "fp32"), (True, True, "bf16"), (True, False, "bf16"), (False, False, "fp32")],
)
def test_semantic_params_say_which_embeddings_auto_uses(monkeypatch, bf16, int8, precision):
    """Without ONNX Runtime, auto embeds in bf16 where it is native, else fp32 (never int8: the encoder misses
    the cosine bar); with it, onnx on the CPU."""
    from euds_core.models import int8_matmuls, mixed_precision, onnx_encoder
    from euds_core.scores.semantic import SemanticScorer

    monkeypatch.setattr(mixed_precision, "native_bf16", lambda device: bf16 and device == "cpu")
    monkeypatch.setattr(int8_matmuls, "native_int8", lambda device: int8 and device == "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert SemanticScorer().params()["precision"] == "onnx"
    monkeypatch.setattr(onnx_encoder, "onnx_runtime_available", lambda: False)
    assert SemanticScorer().params()["precision"] == precision
    assert SemanticScorer(encoder="hashing").params()["precision"] == "fp32"
