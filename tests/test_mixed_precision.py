"""bf16 matmuls with fp32 activations: every Linear swapped, fp32 out, outputs close to the fp32 model's."""

import numpy as np
import pandas as pd
import pytest
import torch

from euds_core.models.embeddings import compute_embeddings, embedding_key, load_cached_embeddings
from euds_core.models.loading import load_encoder, resolve_encoder_path
from euds_core.models.mixed_precision import Bf16MatmulLinear, native_bf16, use_bf16_matmuls
from euds_core.storage.cache import DatasetCache
from tests.helpers import requires_assets


def test_use_bf16_matmuls_swaps_every_linear_and_keeps_fp32_activations():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.LayerNorm(32), torch.nn.Linear(32, 4, bias=False)
    )
    x = torch.randn(8, 16)
    ref = model(x)
    assert use_bf16_matmuls(model) == 2
    assert not any(type(m) is torch.nn.Linear for m in model.modules())
    assert all(m.weight.dtype == torch.bfloat16 for m in model.modules() if isinstance(m, Bf16MatmulLinear))
    assert model[2].weight.dtype == torch.float32  # norms stay fp32
    out = model(x)
    assert out.dtype == torch.float32
    assert torch.allclose(out, ref, atol=0.05) and not torch.equal(out, ref)  # rounded operands, close result


def test_native_bf16_is_false_for_cuda_without_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    assert native_bf16("cuda") is False
    assert isinstance(native_bf16("cpu"), bool)


@requires_assets
def test_bf16_encoder_embeds_like_fp32_and_is_cached_under_its_own_key(workspace):
    texts = ["a gripping, well acted thriller", "the plot makes no sense", "", "football results from saturday"]
    table = pd.DataFrame({"text": texts})
    cache = DatasetCache("mixed-precision-test")
    fp32 = compute_embeddings(table, device="cpu", cache=cache, precision="fp32")
    bf16 = compute_embeddings(table, device="cpu", cache=cache, precision="bf16")
    assert (fp32 * bf16).sum(1).min() > 0.999 and not np.array_equal(fp32, bf16)
    assert embedding_key("packaged:minilm", "fp32") != embedding_key("packaged:minilm", "bf16")
    assert embedding_key("hashing", "bf16") == embedding_key("hashing", "fp32")  # no model: nothing to round
    assert load_cached_embeddings("mixed-precision-test", len(texts)) is not None
    model = load_encoder(str(resolve_encoder_path()), "cpu", "bf16")
    assert any(isinstance(m, Bf16MatmulLinear) for m in model.modules())
