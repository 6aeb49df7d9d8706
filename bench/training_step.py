"""One MiniLM training step on CPU, by phase (forward, backward, clip + AdamW): what the light fine-tune's time is
made of, and how OpenMP's wait policy, torch threads, bf16 autocast and frozen word embeddings change it.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m bench.training_step --threads 2 --precision bf16 --freeze-embeddings

Batches of 16 short texts (3-11 words, as the 5,000-row check's), 64 tokens at most; 2 warm-up steps, then the
mean of 10. Prints one JSON line with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--freeze-embeddings", action="store_true")
    args = parser.parse_args()
    import torch

    from euds_core.experiments import training
    from euds_core.models.loading import resolve_encoder_path

    torch.set_num_threads(args.threads)
    tokenizer, model = training._load_model(str(resolve_encoder_path("packaged:minilm")), 2, 0)
    if args.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=2e-4)
    words = "see you lunch home later ok thanks love win free prize cash".split()
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, size=3 + i % 9)) + f" n{i}" for i in range(16 * 12)]
    features = training._encode(tokenizer, texts, None, 64)
    labels = torch.zeros(16, dtype=torch.long)
    spent = {"forward": 0.0, "backward": 0.0, "optimizer": 0.0}
    model.train()
    for step in range(12):
        t0 = time.perf_counter()
        logits = training._forward(
            model,
            tokenizer,
            features[step * 16 : (step + 1) * 16],
            "cpu",
            "bf16-autocast" if args.precision == "bf16" else "fp32",
        )
        loss = torch.nn.functional.cross_entropy(logits, labels)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= 2:
            for name, seconds in zip(spent, (t1 - t0, t2 - t1, time.perf_counter() - t2), strict=True):
                spent[name] += seconds / 10
    print(
        json.dumps(
            {
                **vars(args),
                "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                "step_s": {k: round(v, 3) for k, v in spent.items()},
                "total_s": round(sum(spent.values()), 3),
                "load": [round(v, 1) for v in os.getloadavg()],
            }
        )
    )


if __name__ == "__main__":
    main()
