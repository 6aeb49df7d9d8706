"""A sentence encoder run by ONNX Runtime in fp32 on the CPU: the same embeddings as the PyTorch fp32 encoder
(cosine >= 0.99999), about twice as fast, on every x86 CPU (issue 19: CPUs without native bf16).

The encoder's transformer is exported once with ``torch.onnx.export(dynamo=True)`` into the model cache shared by every
workspace (named by the folder's fingerprint and :data:`ONNX_VERSION`); pooling and normalisation follow the
folder's sentence-transformers config (``1_Pooling/config.json``, ``sentence_bert_config.json``), as
sentence-transformers itself would: mean pooling when a plain transformers folder has none.

Measured on the 2-core AMD EPYC (bench/RESULTS.md): 400 rotten_tomatoes snippets, batch 16, ORT fp32 embedded
~2.0x as fast as sentence-transformers fp32, min cosine 1.0000. ORT's own dynamic int8 quantisation
(per-channel weights) was ~4x as fast but its min cosine was 0.979, far below the 0.999 bar, so it is not used.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from euds_core.errors import EudsInputError
from euds_core.storage.atomic_files import atomic_folder
from euds_core.storage.workspace import model_cache_dir

# Part of the embedding cache key: bump when the export or the pooling changes.
ONNX_VERSION = "onnx-fp32-v2"  # v2: the torch.export-based exporter (v1: TorchScript)
OPSET = 18


def onnx_runtime_available() -> bool:
    """Whether ONNX Runtime and the exporter's ``onnx`` and ``onnxscript`` are installed (all in requirements.txt)."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx", "onnxscript"))


def onnx_runtime_tag() -> str:
    """:data:`ONNX_VERSION` plus the ONNX Runtime version (its kernels decide the last bits): the key's part."""
    import onnxruntime

    return f"{ONNX_VERSION}-ort{onnxruntime.__version__}"


def export_encoder(path: Path, fingerprint: str) -> Path:
    """``model.onnx`` of the folder's transformer (inputs as its tokenizer gives them, output the last hidden
    state), exported once per ``fingerprint`` (loading.model_hash of the folder); two first exports at once:
    the first finished folder wins."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = model_cache_dir() / f"{path.name}-{fingerprint}-{ONNX_VERSION}"
    if (folder / "model.onnx").exists():
        return folder / "model.onnx"
    kwargs = dict(local_files_only=True, trust_remote_code=False)
    tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
    model = AutoModel.from_pretrained(path, dtype=torch.float32, **kwargs).eval()
    example = tokenizer(["an example", "a second, longer example text"], padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in example]

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            return self.inner(**dict(zip(names, inputs, strict=True))).last_hidden_state

    # The torch.export-based exporter (``dynamo=True``, with onnxscript; the TorchScript one is deprecated since
    # torch 2.9), dynamic batch and length. The equality tests (tests/test_onnx_encoder.py) guard the graph.
    batch, tokens = torch.export.Dim("batch"), torch.export.Dim("tokens")
    with atomic_folder(folder) as tmp, torch.no_grad(), _quiet_exporter():
        torch.onnx.export(
            LastHiddenState(model).eval(),
            tuple(example[n] for n in names),
            str(tmp / "model.onnx"),
            dynamo=True,
            verbose=False,
            external_data=False,
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_shapes=(tuple({0: batch, 1: tokens} for _ in names),),  # forward(*inputs): one tuple
            opset_version=OPSET,
        )
    return folder / "model.onnx"


@contextmanager
def _quiet_exporter():
    """Hide the exporter's notes about itself (torchvision ops it skips, torch-internal deprecations, axis names
    merged), which say nothing about the user's model or data; anything else still shows."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*treespec.*LeafSpec.*")
            warnings.filterwarnings("ignore", message=r"# The axis name: .* will not be used")
            yield
    finally:
        registration.setLevel(level)


def _pooling_mode(path: Path) -> str:
    """mean | cls | max from the sentence-transformers pooling config; mean when the folder has none."""
    config = path / "1_Pooling" / "config.json"
    if not config.exists():
        return "mean"
    flags = json.loads(config.read_text())
    supported = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max"}
    on = [key for key, value in flags.items() if key.startswith("pooling_mode") and value]
    if len(on) != 1 or on[0] not in supported:  # e.g. mean_sqrt_len or several modes concatenated
        raise EudsInputError(f"{path}: pooling {on} is not supported by the onnx encoder; use precision fp32")
    return supported[on[0]]


def _max_tokens(path: Path, tokenizer, config) -> int:
    st_config = path / "sentence_bert_config.json"
    limit = json.loads(st_config.read_text()).get("max_seq_length") if st_config.exists() else None
    if limit:
        return int(limit)
    limits = [tokenizer.model_max_length, getattr(config, "max_position_embeddings", 512)]
    return int(min(v for v in limits if isinstance(v, int) and v > 0))


class OnnxSentenceEncoder:
    """The part of sentence-transformers' ``encode`` that compute_embeddings uses, on an ONNX Runtime session."""

    def __init__(self, path: str, fingerprint: str, threads: int | None = None):
        import onnxruntime as ort
        import torch
        from transformers import AutoConfig, AutoTokenizer

        folder = Path(path)
        kwargs = dict(local_files_only=True, trust_remote_code=False)
        self.tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
        self.pooling = _pooling_mode(folder)
        self.max_tokens = _max_tokens(folder, self.tokenizer, AutoConfig.from_pretrained(folder, **kwargs))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()  # the job's share of the CPU
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(export_encoder(folder, fingerprint)), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = [i.name for i in self.session.get_inputs()]

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="np")
        feeds = {n: enc[n].astype(np.int64) for n in self.inputs}
        hidden = self.session.run(None, feeds)[0]  # (batch, tokens, dim) float32
        mask = enc["attention_mask"][..., None].astype(np.float32)
        if self.pooling == "cls":
            return hidden[:, 0]
        if self.pooling == "max":
            return np.where(mask > 0, hidden, -1e9).max(axis=1)
        return (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)

    def encode(
        self,
        texts: list[str] | str,
        batch_size: int = 32,
        normalize_embeddings: bool = False,
        convert_to_numpy: bool = True,
        show_progress_bar: bool = False,
    ) -> np.ndarray:
        """(n, dim) float32 embeddings in ``texts`` order (a single string: (dim,)); batches of similar length."""
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        out = np.zeros((len(texts), 0), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")  # longest first, as sentence-transformers
        parts = [
            self._embed_batch([texts[i] for i in order[s : s + batch_size]]) for s in range(0, len(texts), batch_size)
        ]
        if parts:
            out = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
            out[order] = np.concatenate(parts).astype(np.float32)
        if normalize_embeddings and len(out):
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out[0] if single else out
