"""The fine-tune verdict of "Train this selection" end to end (issue 25): 5,000 short texts (a seeded sample of the
built-in rotten_tomatoes), an information-score interval 0.25-0.75 keeping about half, the light fine-tune (3
seeds x the selection and its label-stratified random twin, 1 epoch, 64 tokens) and the test evaluation.

    .venv/bin/python -m bench.selection_finetune [--precision fp32|bf16|auto] [--test-sample N] [--threads T]
        [--freeze-embeddings yes|no]   # each option overrides the light default (selection_check.LIGHT_CPU_CONFIG)

Prints one JSON line: wall seconds, seconds per phase (model load, tokenising, training, evaluation), each run's
accuracy, the verdict, the load average before and after. Run it as a job would run (``OMP_WAIT_POLICY`` as the
job runner sets it) to measure what a user waits for.
"""

from __future__ import annotations

import argparse
import json
import os
import time


def _phase_timers(training) -> dict[str, float]:
    """Wrap the training module's phases with wall-clock accumulators (model load, tokenising, fit, predict)."""
    spent: dict[str, float] = {}
    for name in ("_load_model", "_encode", "_fit", "_predict_logits"):
        original = getattr(training, name)

        def timed(*a, _f=original, _n=name, **k):
            started = time.perf_counter()
            try:
                return _f(*a, **k)
            finally:
                spent[_n] = spent.get(_n, 0.0) + time.perf_counter() - started

        setattr(training, name, timed)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--precision", default=None)
    parser.add_argument("--test-sample", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--freeze-embeddings", choices=("yes", "no"), default=None)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from dataclasses import replace

    from euds_core.data.datasets import load_dataset
    from euds_core.experiments import training
    from euds_core.experiments.selection_check import LIGHT_CPU_CONFIG, check_selection
    from euds_core.scoring.engine import score_dataset
    from euds_core.selection.intervals import Interval

    full = load_dataset("rotten_tomatoes")
    table = full.table.sample(n=args.rows, random_state=0).reset_index(drop=True)
    full.table = table
    info = score_dataset(full, ["information"], options={"tokenizer": "whitespace"})["information"].to_numpy()
    kept = table["id"][Interval("information", "percentile", lo=0.25, hi=0.75).mask(info, 0)].tolist()
    overrides = {"precision": args.precision, "test_sample": args.test_sample}
    overrides["freeze_embeddings"] = None if args.freeze_embeddings is None else args.freeze_embeddings == "yes"
    config = replace(LIGHT_CPU_CONFIG, **{k: v for k, v in overrides.items() if v is not None})
    spent = _phase_timers(training)
    load_before, started = os.getloadavg(), time.perf_counter()
    result = check_selection(table, kept, mode="finetune", seeds=args.seeds, config=config)
    wall = time.perf_counter() - started
    print(
        json.dumps(
            {
                "wall_s": round(wall, 1),
                "phases_s": {k.strip("_"): round(v, 1) for k, v in spent.items()},
                "kept": len(kept),
                "trained_rows": result["trained_rows"],
                "config": result["config"],
                "runs": [
                    (r["strategy"], r["seed"], round(r["accuracy"], 4), round(r["seconds"], 1)) for r in result["runs"]
                ],
                "verdict": result["verdict"].get("verdict"),
                "load_before": [round(v, 1) for v in load_before],
                "load_after": [round(v, 1) for v in os.getloadavg()],
                "threads": args.threads,
                "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            }
        )
    )


if __name__ == "__main__":
    main()
