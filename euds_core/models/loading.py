"""Load the encoder, the causal LM and tokenizers from local folders; choose device and dtype.

No hub access: every loader takes a local path (defaults are the packaged assets, see assets.py) and passes
``local_files_only=True`` and ``trust_remote_code=False``. The packaged SmolLM2 is a GGUF file that
transformers dequantises to float32 in ~20 s; we save a plain copy once in the model cache shared by every
workspace (storage.workspace.model_cache_dir; ``make setup`` makes it) so later loads take well under a second.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

from euds_core.data.assets import minilm_folder, smollm2_gguf
from euds_core.errors import EudsInputError
from euds_core.storage.atomic_files import atomic_folder
from euds_core.storage.workspace import model_cache_dir

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub: loads are local or fail clearly
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEFAULT_ENCODER = "packaged:minilm"
DEFAULT_LM = "packaged:smollm2"


# ---------------------------------------------------------------------------------------------- devices


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; ``cuda`` without a GPU is a user error."""
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise EudsInputError("--device cuda was asked for but no CUDA GPU is visible; use --device auto or cpu")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise EudsInputError(f"unknown device '{device}'; use auto, cpu or cuda")
    return device


def inference_dtype(device: str):
    """The dtype :func:`load_causal_lm` loads in: bf16 on CUDA, fp32 on CPU (the scorers pick their own
    precision through precision.load_scoring_lm)."""
    import torch

    return torch.bfloat16 if device.startswith("cuda") else torch.float32


# ---------------------------------------------------------------------------------------------- paths and hashes


def resolve_encoder_path(spec: str = DEFAULT_ENCODER) -> Path:
    path = minilm_folder() if spec == DEFAULT_ENCODER else Path(spec).expanduser()
    if not (path / "config.json").exists():
        raise EudsInputError(f"{path} is not a model folder (no config.json); give a local Hugging Face model folder")
    return path


def resolve_lm_path(spec: str = DEFAULT_LM) -> Path:
    """The folder (or GGUF file) of the causal LM; ``packaged:smollm2`` is the packaged GGUF."""
    path = smollm2_gguf() if spec == DEFAULT_LM else Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path
    if not (path / "config.json").exists():
        raise EudsInputError(f"{path} is not a causal LM folder (no config.json) nor a .gguf file")
    return path


def model_hash(path: Path) -> str:
    """A fingerprint of a model folder or file: names, sizes, the config, and a digest of every byte of each
    weight file (:func:`file_digest`), so any change to the weights gives another fingerprint."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        rel = f.name if path.is_file() else str(f.relative_to(path))
        digest.update(f"{rel}:{f.stat().st_size}".encode())
        if f.suffix in (".json", ".txt") and f.stat().st_size < 5_000_000:
            digest.update(f.read_bytes())
        elif f.suffix in WEIGHT_SUFFIXES:
            digest.update(file_digest(f).encode())
    return digest.hexdigest()[:12]


WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".bin", ".pt", ".onnx")
DIGEST_CHUNK = 8 << 20  # bytes read at a time: a 500 MB file hashes in well under a second, in constant memory


def file_digest(path: Path) -> str:
    """SHA-256 of the whole file, read in chunks once and remembered per (path, size, mtime, inode) in
    ``model_cache_dir()/digests.json``: a lookup costs a ``stat``; a rewritten file is hashed again."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ino}"
    index = model_cache_dir() / "digests.json"
    known = json.loads(index.read_text(encoding="utf-8")) if index.exists() else {}
    if key in known:
        return known[key]
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(DIGEST_CHUNK), b""):
            sha.update(chunk)
    known[key] = sha.hexdigest()
    from euds_core.storage.atomic_files import write_json_atomic

    write_json_atomic(index, known, indent=0)
    return known[key]


# ---------------------------------------------------------------------------------------------- loaders


@lru_cache(maxsize=4)
def load_tokenizer(path: str):
    """A tokenizer from a local folder (used by the information score: the fine-tuning model's tokenizer)."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise EudsInputError(f"could not load a tokenizer from {path}: {str(exc).splitlines()[0]}") from None


ENCODER_PRECISIONS = ("fp32", "bf16", "int8", "onnx")


@lru_cache(maxsize=2)
def load_encoder(path: str, device: str, precision: str = "fp32"):
    """A sentence-transformers encoder (the packaged MiniLM folder carries its pooling config).

    ``precision="bf16"`` swaps its Linear layers for bf16-matmul ones (mixed_precision.py), ``"int8"`` for
    int8-matmul ones calibrated on a fixed text (int8_matmuls.py; CPU only); ``"onnx"`` runs the same fp32
    weights through ONNX Runtime (onnx_encoder.py; CPU only), with the same ``encode`` call.
    """
    from sentence_transformers import SentenceTransformer

    from euds_core.models.int8_matmuls import CALIBRATION_TEXTS, use_int8_matmuls
    from euds_core.models.mixed_precision import use_bf16_matmuls

    if precision not in ENCODER_PRECISIONS:
        raise EudsInputError(f"unknown encoder precision '{precision}'; use one of {', '.join(ENCODER_PRECISIONS)}")
    if precision in ("int8", "onnx") and device.startswith("cuda"):
        raise EudsInputError(f"the {precision} encoder runs on the CPU only; use --device cpu or precision bf16/fp32")
    if precision == "onnx":
        from euds_core.models.onnx_encoder import OnnxSentenceEncoder, onnx_runtime_available

        if not onnx_runtime_available():
            raise EudsInputError(
                "precision onnx needs the onnxruntime and onnx packages (pip install -r requirements.txt)"
            )
        try:
            return OnnxSentenceEncoder(path, model_hash(Path(path)))
        except (OSError, ValueError) as exc:
            raise EudsInputError(f"could not load an encoder from {path}: {str(exc).splitlines()[0]}") from None
    try:
        model = SentenceTransformer(path, device="cpu", local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise EudsInputError(f"could not load an encoder from {path}: {str(exc).splitlines()[0]}") from None
    model.eval()
    if precision == "bf16":
        use_bf16_matmuls(model)
    elif precision == "int8":
        # A residual pass in every layer: with one pass where it sufficed for the LM, min cosine 0.9971 < 0.999.
        calibrate = lambda: model.encode(list(CALIBRATION_TEXTS), batch_size=16, show_progress_bar=False)  # noqa: E731
        use_int8_matmuls(model, calibrate, residual_pass_error=0.0)
    return model.to(device).eval()


def _dequantised_copy_folder(gguf: Path) -> Path:
    return model_cache_dir() / f"{gguf.stem}-{model_hash(gguf)}-fp32"


def prepare_default_lm() -> Path:
    """Build the packaged LM's plain copy now (``make setup`` calls this), so no first score waits for it."""
    gguf = resolve_lm_path(DEFAULT_LM)
    getattr(load_causal_lm, "__wrapped__", load_causal_lm)(str(gguf), "cpu")
    return _dequantised_copy_folder(gguf)


@lru_cache(maxsize=2)
def load_causal_lm(path: str, device: str):
    """(tokenizer, model) for a local causal LM folder or GGUF file, in eval mode on ``device``.

    A GGUF file is dequantised once and saved as a plain safetensors copy in the shared model cache.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = Path(path)
    kwargs = dict(local_files_only=True, trust_remote_code=False)
    try:
        if source.suffix == ".gguf":
            copy = _dequantised_copy_folder(source)
            if not (copy / "config.json").exists():
                tok = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name, **kwargs)
                model = AutoModelForCausalLM.from_pretrained(
                    source.parent, gguf_file=source.name, dtype=torch.float32, **kwargs
                )
                # Drop the GGUF quantiser marker so save_pretrained writes a plain fp32 model.
                model.hf_quantizer = None
                if hasattr(model.config, "quantization_config"):
                    del model.config.quantization_config
                with atomic_folder(copy) as tmp:  # two first loads at once: the first finished copy wins
                    model.save_pretrained(tmp)
                    tok.save_pretrained(tmp)
            source = copy
        tok = AutoTokenizer.from_pretrained(source, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=inference_dtype(device), **kwargs)
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        raise EudsInputError(f"could not load a causal LM from {path}: {str(exc).splitlines()[0]}") from None
    model.to(device).eval()
    return tok, model


# ---------------------------------------------------------------------------------------------- fast scoring copies

LM_PRECISIONS = ("auto", "fp32", "bf16", "int8")


DOCUMENT_SEPARATOR = "<|endoftext|>"


def lm_bos_id(tokenizer) -> int | None:
    """The token prepended to every sequence so the first real token is predicted too.

    The pretraining document separator ``<|endoftext|>`` when the vocabulary has one (GPT-2, SmolLM, Qwen),
    else BOS, else EOS. An instruct model's BOS can open a chat turn instead (SmolLM2: ``<|im_start|>``, after
    which the model expects a role name); on 40 rotten_tomatoes snippets SmolLM2's mean NLL was 5.05 nats
    after ``<|endoftext|>`` vs 5.26 after ``<|im_start|>``, i.e. the separator reads them as documents.
    """
    separator = tokenizer.get_vocab().get(DOCUMENT_SEPARATOR)
    if separator is not None:
        return separator
    return tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id


def _lm_calibration_pass(tokenizer, model):
    """A function that runs ``model`` once over the int8 calibration texts as one sequence, each text after
    the scorers' start token (one shape: oneDNN builds its int8 kernels once, not once per text length)."""
    import torch

    from euds_core.models.int8_matmuls import CALIBRATION_TEXTS

    ids = one_sequence_ids(tokenizer, CALIBRATION_TEXTS)
    return lambda: model(input_ids=torch.tensor([ids]))


def one_sequence_ids(tokenizer, texts) -> list[int]:
    """Token ids of ``texts`` joined into one sequence, each text after the scorers' start token."""
    start = lm_bos_id(tokenizer)
    ids: list[int] = []
    for text in texts:
        ids += ([start] if start is not None else []) + tokenizer(text, add_special_tokens=False)["input_ids"]
    return ids


def build_scoring_lm(path: str, device: str, resolved: str, loader=None):
    """(tokenizer, model) scoring at the resolved precision ``resolved`` (``fp32``, ``bf16`` or ``int8``; which
    one ``auto`` means: models/precision.py).

    ``fp32`` on CPU is the copy :func:`load_causal_lm` caches. Otherwise a private fp32 copy is loaded on
    the CPU and converted: ``bf16`` swaps every Linear layer (the head included) for a bf16-matmul one and
    fuses each gated MLP's gate and up projections into one matmul; ``int8`` swaps every Linear layer (the head
    included: it added little error) for a calibrated int8-matmul one. Both copies run each RMSNorm as one
    kernel (mixed_precision.FusedRMSNorm). ``loader`` replaces :func:`load_causal_lm` (callers pass their
    module's name for it, so tests can patch it).
    """
    import torch

    from euds_core.models.int8_matmuls import use_int8_matmuls
    from euds_core.models.mixed_precision import use_bf16_matmuls, use_fused_gate_up, use_fused_rms_norms

    loader = loader or load_causal_lm
    if resolved == "fp32" and inference_dtype(device) == torch.float32:
        return loader(path, device)
    tok, model = getattr(loader, "__wrapped__", loader)(path, "cpu")  # private fp32 copy: the cached one stays
    if resolved == "int8":
        use_int8_matmuls(model, _lm_calibration_pass(tok, model))
    elif resolved == "bf16":
        use_bf16_matmuls(model)
        use_fused_gate_up(model)
    use_fused_rms_norms(model)
    return tok, model.to(device).eval()


def auto_token_budget(model, device: str, default: int) -> int:
    """Tokens per LM batch: ``default`` on CPU; on CUDA sized to the free GPU memory.

    In inference mode only one layer's activations live at a time, so the peak per token is about
    ``(4 * hidden + 3 * intermediate) * bytes`` for the body plus the attention scores; logits are bounded
    separately (chunked). We use half the free memory, between 1,024 and 65,536 tokens; an OOM still
    halves the budget and retries (see lm_pass.sequence_token_stats).
    """
    import torch

    if not device.startswith("cuda") or not torch.cuda.is_available():
        return default
    free, _total = torch.cuda.mem_get_info(torch.device(device))
    cfg = model.config
    hidden = getattr(cfg, "hidden_size", 1024)
    inter = getattr(cfg, "intermediate_size", 4 * hidden)
    bytes_per_value = 2 if next(model.parameters()).dtype in (torch.bfloat16, torch.float16) else 4
    per_token = (4 * hidden + 3 * inter) * bytes_per_value * 4  # x4: temporaries and allocator slack
    return int(min(65_536, max(1_024, free * 0.5 // per_token)))
