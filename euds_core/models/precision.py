"""Which precision a scorer's model runs at: ``auto`` resolved, and the scoring LM copy for it.

On a CPU, ``auto`` is the path measured fastest among those that meet their accuracy bar (auto_choice.py),
once per CPU model, library versions and model; on CUDA it is bf16 matmuls where the GPU has native bf16,
else fp32. Every score's cache key holds the resolved path, never ``auto``.

When the measurement runs: the first time a process resolves ``auto`` for a model on a CPU that has no record
of it yet (the first score job, a CLI ``score``, ``bench/run.py``, ``python -m euds_core doctor``; ``make setup``
runs ``doctor``, so usually before any of these). Never on a Streamlit script thread: a page that needs a key
before any record exists gets the CPU-flag rule's prediction (:func:`predicted_path`) and is not kept, so the
page's next run reads the record the score job wrote before its first value. ``EUDS_AUTO_PRECISION=flags``
makes ``auto`` follow the flag rule without measuring (the test suite sets it; measuring tests unset it).
"""

from __future__ import annotations

import os
import sys
import threading
from functools import lru_cache

from euds_core.errors import EudsInputError
from euds_core.models import auto_choice
from euds_core.models.loading import LM_PRECISIONS, build_scoring_lm, load_causal_lm


def on_streamlit_script_thread() -> bool:
    """Whether this call runs a Streamlit page script (where a few seconds of timing would freeze the page).

    Read from the modules Streamlit has already loaded: the library never imports Streamlit itself."""
    context = sys.modules.get("streamlit.runtime.scriptrunner_utils.script_run_context")
    get_context = getattr(context, "get_script_run_ctx", None)
    return get_context is not None and get_context(suppress_warning=True) is not None


def predicted_path(kind: str, device: str = "cpu") -> str:
    """The CPU-flag rule that ``auto`` followed before it was measured (and still follows on a Streamlit page
    before any record exists, and for the LM when no model is named): the LM in bf16 where the CPU has native
    bf16, else int8 where it has VNNI/AMX, else fp32; the encoder through ONNX Runtime where installed."""
    from euds_core.models.int8_matmuls import native_int8
    from euds_core.models.mixed_precision import native_bf16
    from euds_core.models.onnx_encoder import onnx_runtime_available

    if kind == "encoder" and onnx_runtime_available() and not device.startswith("cuda"):
        return "onnx"
    if native_bf16(device):
        return "bf16"
    return "int8" if kind == "lm" and native_int8(device) else "fp32"


_lock = threading.Lock()


@lru_cache(maxsize=16)
def _kept_choice(kind: str, model_path: str, candidates: tuple[str, ...]) -> str:
    """The recorded (or now measured) choice; cached per process only once it comes from a record."""
    record = auto_choice.read_choice(kind, model_path, list(candidates))
    if record is None:
        record = auto_choice.measure_choice(kind, model_path, list(candidates))
    return record["chosen"]


def measured_path(kind: str, model_path: str) -> str:
    """``auto``'s path for the model at ``model_path`` on this CPU: the record's choice, measuring it first if
    this machine has none yet (not on a Streamlit script thread: the flag rule's prediction, not kept)."""
    if os.environ.get("EUDS_AUTO_PRECISION") == "flags":  # no measuring (the test suite; CI without idle cores)
        return predicted_path(kind)
    candidates = tuple(auto_choice.candidate_paths(kind))
    if len(candidates) == 1:
        return candidates[0]
    if on_streamlit_script_thread() and auto_choice.read_choice(kind, model_path, list(candidates)) is None:
        return predicted_path(kind)
    with _lock:  # two threads of one process measure once
        return _kept_choice(kind, model_path, candidates)


def resolve_lm_precision(precision: str, device: str, lm_path: str | None = None) -> str:
    """How the causal LM scores: ``fp32``, ``bf16`` (bf16 matmuls, fp32 activations; mixed_precision.py) or
    ``int8`` (calibrated int8 matmuls; int8_matmuls.py, CPU only, so on CUDA it falls back to ``bf16``).

    ``auto`` on a CPU: the measured choice for the LM at ``lm_path`` (:func:`measured_path`); with no path, the
    CPU-flag rule (:func:`predicted_path`). On CUDA: bf16 where native, else fp32.
    """
    if precision not in LM_PRECISIONS:
        raise EudsInputError(f"unknown LM precision '{precision}'; use one of {', '.join(LM_PRECISIONS)}")
    cuda = device.startswith("cuda")
    if precision == "auto":
        if cuda or lm_path is None:
            return predicted_path("lm", device)
        return measured_path("lm", lm_path)
    if precision == "int8" and cuda:
        return "bf16"
    return precision


def resolve_encoder_precision(device: str, encoder_path: str | None = None) -> str:
    """``auto``'s encoder path: on a CPU the measured choice for the encoder at ``encoder_path`` (with no path,
    the flag rule: ONNX Runtime where installed); on CUDA bf16 matmuls where native, else fp32."""
    if device.startswith("cuda") or encoder_path is None:
        return predicted_path("encoder", device)
    return measured_path("encoder", encoder_path)


@lru_cache(maxsize=2)
def load_scoring_lm(path: str, device: str, precision: str = "auto", loader=None):
    """(tokenizer, model) for scoring at ``precision`` (resolved by :func:`resolve_lm_precision`), cached per
    process; loading.build_scoring_lm says what each copy is."""
    return build_scoring_lm(path, device, resolve_lm_precision(precision, device, path), loader or load_causal_lm)


def measure_default_models(again: bool = False) -> list[dict]:
    """Measure ``auto`` for the packaged LM and encoder now where this machine has no record (``again``: anew);
    returns both records. ``make setup`` (through ``doctor``) runs it, so no first score waits for it."""
    from euds_core.models.loading import resolve_encoder_path, resolve_lm_path

    records = []
    for kind, path in (("lm", resolve_lm_path()), ("encoder", resolve_encoder_path())):
        candidates = auto_choice.candidate_paths(kind)
        record = None if again else auto_choice.read_choice(kind, str(path), candidates)
        records.append(record or auto_choice.measure_choice(kind, str(path), candidates, again=again))
    _kept_choice.cache_clear()
    return records
