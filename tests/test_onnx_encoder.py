"""The encoder through ONNX Runtime: the same embeddings as the PyTorch fp32 encoder, keyed apart, CPU only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from euds_core.errors import EudsInputError
from euds_core.models.embeddings import compute_embeddings, embedding_key
from euds_core.models.loading import load_encoder, resolve_encoder_path
from euds_core.models.onnx_encoder import ONNX_VERSION, onnx_runtime_available
from euds_core.storage.cache import DatasetCache
from tests.helpers import requires_assets
from tests.test_finetune import build_tiny_bert

pytestmark = pytest.mark.skipif(not onnx_runtime_available(), reason="onnxruntime/onnx not installed")

TEXTS = ["good movie", "", "a very long and rather boring film about nothing at all " * 3, "bad", "fine fine fine"]


def test_onnx_embeddings_equal_the_pytorch_fp32_ones(tmp_path):
    folder = str(build_tiny_bert(tmp_path / "bert"))
    torch_fp32 = load_encoder(folder, "cpu", "fp32").encode(TEXTS, batch_size=2, normalize_embeddings=True)
    onnx = load_encoder(folder, "cpu", "onnx")
    got = onnx.encode(TEXTS, batch_size=2, normalize_embeddings=True)  # batches of mixed lengths: padding
    assert got.shape == torch_fp32.shape and got.dtype == np.float32
    assert (got * torch_fp32).sum(axis=1).min() > 0.99999
    np.testing.assert_allclose(onnx.encode(TEXTS[2], normalize_embeddings=True), got[2], atol=1e-5)  # one string


def test_onnx_embeddings_are_cached_under_their_own_key(tmp_path):
    folder = str(build_tiny_bert(tmp_path / "bert"))
    table = pd.DataFrame({"text": TEXTS * 4})
    cache = DatasetCache("onnx-key")
    onnx = compute_embeddings(table, encoder=folder, cache=cache, precision="onnx", batch_size=4)
    fp32 = compute_embeddings(table, encoder=folder, cache=cache, precision="fp32", batch_size=4)
    assert (onnx * fp32).sum(axis=1).min() > 0.99999
    key = embedding_key(folder, "onnx")["precision"]
    assert key.startswith(ONNX_VERSION + "-ort") and key != embedding_key(folder, "fp32").get("precision")
    assert len(list(cache.root.glob("features/embedding-*"))) == 2  # never served for each other


def test_onnx_runs_on_the_cpu_only(tmp_path):
    with pytest.raises(EudsInputError, match="CPU only"):
        load_encoder(str(build_tiny_bert(tmp_path / "bert")), "cuda", "onnx")


@pytest.mark.slow
@requires_assets
def test_packaged_minilm_in_onnx_matches_fp32_on_real_snippets():
    from euds_core.data.builtins import load_builtin

    texts = load_builtin("rotten_tomatoes").table["text"].sample(64, random_state=3).tolist()
    path = str(resolve_encoder_path())
    ref = load_encoder(path, "cpu", "fp32").encode(texts, batch_size=16, normalize_embeddings=True)
    got = load_encoder(path, "cpu", "onnx").encode(texts, batch_size=16, normalize_embeddings=True)
    assert (ref * got).sum(axis=1).min() > 0.99999  # the bar is 0.999
