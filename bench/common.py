"""What every figure shares: the line format, alternating rounds, the scoring precision and the machine's state."""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# What generative_scoring and semantic_scoring score with; --precision forces one (e.g. int8 on a bf16 CPU);
# without_bf16: auto decides as on a CPU without native bf16 (--as-cpu-without-bf16).
SCORING_PRECISION = {"precision": "auto", "without_bf16": False}


def decide_as_cpu_without_bf16() -> None:
    """Make ``auto`` choose what it chooses on a CPU without native bf16 (bf16 is no candidate). Only the choice
    is simulated: the kernels still run on this CPU, and none of the other paths issues bf16 instructions."""
    from euds_core.models import mixed_precision

    native = mixed_precision.native_bf16
    mixed_precision.native_bf16 = lambda device: False if device == "cpu" else native(device)
    SCORING_PRECISION["without_bf16"] = True


def alternate_rounds(texts, rounds: int, per_round: int, naive, ours):
    """Baseline and ours on the same slices, alternating round by round so load from other jobs hits both.

    Returns (baseline outputs, our outputs, baseline seconds, our seconds), outputs concatenated in text order.
    """
    t_naive = t_ours = 0.0
    ref, got = [], []
    for r in range(rounds):
        batch = texts[r * per_round : (r + 1) * per_round]
        t = time.perf_counter()
        ref.append(naive(batch))
        t_naive += time.perf_counter() - t
        t = time.perf_counter()
        got.append(ours(batch))
        t_ours += time.perf_counter() - t
    return np.concatenate(ref), np.concatenate(got), t_naive, t_ours


def line(name: str, value: float, unit: str, baseline: float, ratio: float, note: str = "") -> str:
    text = f"{name}: {value:.4g} {unit} (baseline {baseline:.4g}, ratio {ratio:.1f}x)"
    return text + (f"  {note}" if note else "")


def scoring_precision_note(model: str, forced: str) -> str:
    """``bf16 (auto, measured; CPU: AVX512 VNNI)``: the precision a scoring figure ran at, how it was chosen, and
    the CPU features that decided the kernels. ``model`` is ``lm`` or ``encoder``."""
    from euds_core.models.int8_matmuls import cpu_kernel_flags
    from euds_core.models.loading import resolve_encoder_path, resolve_lm_path
    from euds_core.models.precision import resolve_encoder_precision, resolve_lm_precision

    lm, encoder = str(resolve_lm_path()), str(resolve_encoder_path())  # the packaged models the figures use
    if model == "lm":
        chosen = resolve_lm_precision(forced, "cpu", lm)
    else:
        chosen = resolve_encoder_precision("cpu", encoder) if forced == "auto" else forced
    measured = os.environ.get("EUDS_AUTO_PRECISION") != "flags"  # models/precision.py
    how = ("auto, measured" if measured else "auto, CPU-flag rule") if forced == "auto" else "forced"
    if SCORING_PRECISION["without_bf16"]:
        how += ", decided as on a CPU without bf16"
    return f"{chosen} ({how}; CPU: {cpu_kernel_flags()})"


def setup_workspace() -> Path:
    """A temporary EUDS_HOME (the model cache is shared: no 20 s GGUF dequantisation per run)."""
    home = Path(tempfile.mkdtemp(prefix="euds-bench-"))
    os.environ["EUDS_HOME"] = str(home)
    return home


def snippets(n: int, seed: int = 0) -> list[str]:
    """``n`` rotten_tomatoes review snippets (short texts, ~24 SmolLM2 tokens each), seeded sample."""
    from euds_core.data.builtins import load_builtin

    table = load_builtin("rotten_tomatoes").table
    rng = np.random.default_rng(seed)
    return table["text"].iloc[rng.choice(len(table), n, replace=False)].tolist()


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else the machine type."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.machine()
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.machine())


def load_average() -> str:
    """``load 1.23/0.98/0.50``: the 1, 5 and 15 minute load averages, printed beside every timed number (the
    machine is shared; a number means little without the load it was measured under)."""
    return "load " + "/".join(f"{v:.2f}" for v in os.getloadavg())


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (not its children), from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
