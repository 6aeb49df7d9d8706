"""EUDS Studio benchmarks: each figure against a baseline measured in the same process.

    python bench/run.py [--quick] [--only generative_scoring,cache_hit,...] [--precision auto|fp32|bf16|int8|onnx]

Prints one line per figure, ``NAME: VALUE UNIT (baseline VALUE, ratio X.Xx)`` plus notes (with the load average
the number was measured under). Baseline and ours are run in alternating rounds on the same inputs, so a machine
shared with other jobs slows both alike. One module per figure in bench/ (``bench/<figure>.py``), this file only
runs them. The workspace cache lives in a temporary EUDS_HOME; the dequantised LM copy and ``auto``'s measured
precision choice are read from the model cache every workspace shares (storage.workspace.model_cache_dir).
Results and the machine they came from: bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")

from bench.cache_hit import bench_cache_hit  # noqa: E402
from bench.common import (  # noqa: E402, F401  (line, cpu_model, ...: the names tests and scripts use)
    SCORING_PRECISION,
    cpu_model,
    decide_as_cpu_without_bf16,
    line,
    load_average,
    process_cpu_seconds,
    scoring_precision_note,
    setup_workspace,
)
from bench.full_pass_bbc_news import bench_full_pass_bbc_news  # noqa: E402
from bench.generative_128_vs_256 import bench_generative_truncation  # noqa: E402
from bench.generative_scoring import bench_generative  # noqa: E402
from bench.gpu_mfu import bench_gpu_mfu  # noqa: E402
from bench.interval_update import bench_interval_update  # noqa: E402
from bench.semantic_scoring import bench_semantic  # noqa: E402
from bench.server_poll_cpu import bench_server_poll_cpu  # noqa: E402
from bench.time_to_first_view import bench_time_to_first_view  # noqa: E402
from bench.umap_map import bench_umap  # noqa: E402

BENCHES = {
    "generative_scoring": bench_generative,
    "generative_128_vs_256": bench_generative_truncation,
    "semantic_scoring": bench_semantic,
    "gpu_mfu": bench_gpu_mfu,
    "interval_update_1m": bench_interval_update,
    "umap_100k": bench_umap,
    "cache_hit": bench_cache_hit,
    "server_poll_cpu": bench_server_poll_cpu,
    "time_to_first_view": bench_time_to_first_view,
    "full_pass_bbc_news": bench_full_pass_bbc_news,
}
# Figures of minutes each (two servers and a browser; a fresh workspace scoring bbc_news; two long LM passes):
# --quick runs them only when named with --only.
QUICK_SKIPS = {"server_poll_cpu", "time_to_first_view", "generative_128_vs_256", "full_pass_bbc_news"}
_setup_workspace = setup_workspace  # tests replace it (no temporary workspace for a figure that needs none)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs; finishes in under 3 minutes on 2 cores")
    parser.add_argument("--only", help=f"comma-separated figure names (default: all): {', '.join(BENCHES)}")
    parser.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16", "int8", "onnx"),
        default="auto",
        help="precision of generative_scoring and semantic_scoring (default: what auto measured fastest on this "
        "CPU; onnx: the encoder only)",
    )
    parser.add_argument(
        "--as-cpu-without-bf16",
        action="store_true",
        help="let auto choose as it would on a CPU without native bf16 (bf16 is no candidate); the kernels still "
        "run on this CPU",
    )
    args = parser.parse_args(argv)
    unknown = [n for n in (args.only or "").split(",") if n and n not in BENCHES]
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    SCORING_PRECISION["precision"] = args.precision
    if args.as_cpu_without_bf16:
        decide_as_cpu_without_bf16()
    names = args.only.split(",") if args.only else list(BENCHES)
    _setup_workspace()
    import torch

    mode = "quick" if args.quick else "full"
    print(
        f"# {mode} run, torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"{cpu_model()}, {load_average()}",
        flush=True,
    )
    started = time.perf_counter()
    for name in names:
        if args.quick and name in QUICK_SKIPS and not args.only:
            print(f"{name}: skipped under --quick (run: python bench/run.py --quick --only {name})", flush=True)
            continue
        t = time.perf_counter()
        for text in BENCHES[name](args.quick):
            print(text, flush=True)
        print(f"#   {name} took {time.perf_counter() - t:.1f} s ({load_average()})", flush=True)
    print(f"# total {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
