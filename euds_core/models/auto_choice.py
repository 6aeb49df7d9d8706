"""``auto`` decided by measurement: on first use per CPU model, library versions and model fingerprint, time
each adequate scoring path on a short fixed batch and keep the fastest one that meets its accuracy bar.

Adequate paths: fp32 always; bf16 matmuls where the CPU multiplies bf16 natively (emulated bf16 is ~2x slower
than fp32, docs/performance.md); int8 matmuls where it has int8 dot products (VNNI, AMX); for the encoder also
fp32 through ONNX Runtime where it is installed. Accuracy bars (against the fp32 model, on held-out text that is
never data being scored): the LM's next-token entropies over ``int8_matmuls.CHECK_TEXTS`` must rank alike
(Spearman >= :data:`LM_SPEARMAN_BAR`); the encoder's embeddings of the timing texts must keep a cosine >=
:data:`ENCODER_MIN_COSINE` to fp32's, row by row. A path below its bar is not timed.

The record (chosen path, every path's seconds and accuracy, the machine and the load average) is a JSON file in
the model cache shared by every workspace (storage.workspace.model_cache_dir), named by the model's fingerprint
and a hash of the machine's identity (CPU model name, CPU flags, torch and ONNX Runtime versions, threads) and of
the candidate paths, so a second run reads it and times nothing, and another CPU kind measures its own. Who
measures and when: models/precision.py. ``python -m euds_core doctor`` prints the records.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import numpy as np

from euds_core.storage.atomic_files import write_json_atomic
from euds_core.storage.workspace import model_cache_dir

CHOICE_VERSION = "measured-v1"  # part of the record's name: bump when what is timed or the bars change
LM_SPEARMAN_BAR = 0.99  # int8_matmuls.TOKEN_SPEARMAN_BAR: the bar the int8 LM has had since issue 19
ENCODER_MIN_COSINE = 0.999  # the encoder bar: ORT's own int8 (0.979) and our int8 (0.9989) miss it
LM_TIMING_ROWS, LM_TIMING_TOKENS = 2, 128  # one batch of 256 tokens: ~0.1-0.5 s per path on 2 idle cores
TIMED_ROUNDS = 2  # after one untimed round (kernels built per shape); the best round counts
DROP_SLOWER_THAN = 1.5  # a path this much slower than the fastest after one timed round is not timed again


@lru_cache(maxsize=1)
def cpu_model_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_identity() -> dict:
    """What decides which path is fastest: the CPU kind, its flags, the kernels' libraries, the threads."""
    import torch

    from euds_core.models.int8_matmuls import cpu_kernel_flags
    from euds_core.models.onnx_encoder import onnx_runtime_available

    ort = None
    if onnx_runtime_available():
        import onnxruntime

        ort = onnxruntime.__version__
    return {
        "cpu": cpu_model_name(),
        "flags": cpu_kernel_flags(),
        "torch": torch.__version__,
        "onnxruntime": ort,
        "threads": torch.get_num_threads(),
    }


def candidate_paths(kind: str) -> list[str]:
    """The adequate paths on this CPU for ``kind`` (``lm`` or ``encoder``), fp32 first (the reference)."""
    from euds_core.models.int8_matmuls import native_int8
    from euds_core.models.mixed_precision import native_bf16
    from euds_core.models.onnx_encoder import onnx_runtime_available

    paths = ["fp32"] + (["bf16"] if native_bf16("cpu") else []) + (["int8"] if native_int8("cpu") else [])
    if kind == "encoder" and onnx_runtime_available():
        paths.append("onnx")
    return paths


def record_path(kind: str, model_path: str, candidates: list[str]) -> Path:
    """The model cache's record of ``auto`` for this model on this machine with these candidates."""
    from euds_core.models.int8_matmuls import INT8_VERSION
    from euds_core.models.loading import model_hash
    from euds_core.models.onnx_encoder import ONNX_VERSION

    identity = {**machine_identity(), "candidates": candidates, "int8": INT8_VERSION, "onnx": ONNX_VERSION}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]
    name = Path(model_path).name
    return model_cache_dir() / f"auto-{CHOICE_VERSION}-{kind}-{name}-{model_hash(Path(model_path))}-{digest}.json"


def read_choice(kind: str, model_path: str, candidates: list[str]) -> dict | None:
    """The recorded measurement, or None when this machine has not measured this model yet."""
    path = record_path(kind, model_path, candidates)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def measure_choice(kind: str, model_path: str, candidates: list[str], *, again: bool = False) -> dict:
    """Measure and record (under a lock, so two first uses at once measure once); returns the record.

    Without ``again`` a record another process finished meanwhile is returned as it is.
    """
    target = record_path(kind, model_path, candidates)
    with open(target.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not again and (done := read_choice(kind, model_path, candidates)) is not None:
                return done
            t0 = time.perf_counter()
            measure = measure_lm_paths if kind == "lm" else measure_encoder_paths
            seconds, accuracy, prepare = measure(model_path, candidates)
            record = _record(kind, model_path, seconds, accuracy, time.perf_counter() - t0)
            record["prepare_seconds"] = prepare  # building each copy (int8: calibration), not timed as speed
            write_json_atomic(target, record, indent=1)
            return record
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _record(kind: str, model_path: str, seconds: dict, accuracy: dict, took: float) -> dict:
    """The record: the fastest path that met its bar (fp32 always does), with everything that decided it."""
    bar = LM_SPEARMAN_BAR if kind == "lm" else ENCODER_MIN_COSINE
    return {
        "kind": kind,
        "model": str(model_path),
        "chosen": min(seconds, key=seconds.get),
        "seconds": seconds,
        "accuracy": accuracy,
        "bar": {"metric": "entropy Spearman vs fp32" if kind == "lm" else "min cosine vs fp32", "at_least": bar},
        "batch": f"{LM_TIMING_ROWS} x {LM_TIMING_TOKENS} tokens"
        if kind == "lm"
        else f"{len(encoder_timing_texts())} texts",
        "machine": machine_identity(),
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "took_seconds": round(took, 1),
    }


def best_seconds(runs: dict[str, Callable[[], object]], rounds: int = TIMED_ROUNDS) -> dict[str, float]:
    """Each run's best wall time over ``rounds``, after one untimed round (kernels are built per shape); the runs
    alternate within each round, so load from other processes hits them alike. After the first timed round a
    run slower than :data:`DROP_SLOWER_THAN` x the fastest is not timed again (it cannot win: short timing)."""
    best = {name: float("inf") for name in runs}
    for r in range(rounds + 1):
        fastest = min(best.values())
        for name, run in runs.items():
            if r > 1 and best[name] > DROP_SLOWER_THAN * fastest:
                continue
            t = time.perf_counter()
            run()
            if r:
                best[name] = min(best[name], time.perf_counter() - t)
    return {name: round(s, 4) for name, s in best.items()}


def lm_timing_sequences(tokenizer) -> list[list[int]]:
    """:data:`LM_TIMING_ROWS` fixed sequences of :data:`LM_TIMING_TOKENS` tokens cut from the calibration and
    check texts (start token first, as the scorers score them)."""
    from euds_core.models.int8_matmuls import CALIBRATION_TEXTS, CHECK_TEXTS
    from euds_core.models.loading import one_sequence_ids

    ids = one_sequence_ids(tokenizer, CHECK_TEXTS + CALIBRATION_TEXTS)
    ids = (ids * (1 + LM_TIMING_ROWS * LM_TIMING_TOKENS // max(len(ids), 1)))[: LM_TIMING_ROWS * LM_TIMING_TOKENS + 64]
    step = 16  # overlapping windows: different rows, one fixed shape
    return [ids[i * step : i * step + LM_TIMING_TOKENS] for i in range(LM_TIMING_ROWS)]


def measure_lm_paths(model_path: str, candidates: list[str]) -> tuple[dict, dict, dict]:
    """({path: best seconds}, {path: entropy Spearman vs fp32}, {path: seconds to build its copy}) for the causal
    LM; a path below the bar is not timed."""
    import torch
    from scipy.stats import spearmanr

    from euds_core.models.int8_matmuls import CHECK_TEXTS
    from euds_core.models.lm_pass import sequence_token_stats
    from euds_core.models.loading import build_scoring_lm, load_causal_lm, one_sequence_ids

    tok, reference = getattr(load_causal_lm, "__wrapped__", load_causal_lm)(model_path, "cpu")  # private fp32
    check = torch.tensor([one_sequence_ids(tok, CHECK_TEXTS)])

    def token_entropies(model) -> np.ndarray:
        with torch.inference_mode():
            logp = torch.log_softmax(model(input_ids=check).logits[0].float(), -1)  # (L, V)
        return (-(logp.exp() * logp).sum(-1)).numpy()

    expected, accuracy, runs, prepare = token_entropies(reference), {}, {}, {}
    sequences = lm_timing_sequences(tok)
    for path in candidates:
        t = time.perf_counter()
        model = reference if path == "fp32" else build_scoring_lm(model_path, "cpu", path)[1]
        prepare[path] = round(time.perf_counter() - t, 2)
        got = token_entropies(model)
        constant = expected.max() == expected.min() or got.max() == got.min()
        accuracy[path] = 1.0 if path == "fp32" else (0.0 if constant else round(float(spearmanr(expected, got)[0]), 4))
        if path == "fp32" or accuracy[path] >= LM_SPEARMAN_BAR:
            runs[path] = lambda m=model: sequence_token_stats(
                sequences, [1] * len(sequences), tok, m, device="cpu", batch_size=16
            )
    return best_seconds(runs), accuracy, prepare


def encoder_timing_texts() -> list[str]:
    """16 fixed texts: the held-out check sentences (short, like review snippets) and four long ones joined from
    them (like news articles), so the choice sees both shapes the scorers meet."""
    from euds_core.models.int8_matmuls import CALIBRATION_TEXTS, CHECK_TEXTS

    texts = list(CHECK_TEXTS + CALIBRATION_TEXTS)
    joined = " ".join(texts)
    return texts[:12] + [joined[i * 97 :] + " " + joined[: i * 97] for i in range(4)]


def measure_encoder_paths(model_path: str, candidates: list[str]) -> tuple[dict, dict, dict]:
    """({path: best seconds}, {path: min cosine vs fp32}, {path: seconds to build it}) for the sentence encoder;
    a path below the bar is not timed."""
    from euds_core.models.loading import load_encoder

    build = getattr(load_encoder, "__wrapped__", load_encoder)  # private copies: the process cache stays
    texts = encoder_timing_texts()
    encode = lambda model: model.encode(  # noqa: E731
        texts, batch_size=16, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    reference = build(model_path, "cpu", "fp32")
    expected, accuracy, runs, prepare = encode(reference), {}, {}, {}
    for path in candidates:
        t = time.perf_counter()
        model = reference if path == "fp32" else build(model_path, "cpu", path)
        prepare[path] = round(time.perf_counter() - t, 2)
        accuracy[path] = round(float((encode(model) * expected).sum(1).min()), 6)
        if path == "fp32" or accuracy[path] >= ENCODER_MIN_COSINE:
            runs[path] = lambda m=model: encode(m)
    return best_seconds(runs), accuracy, prepare
