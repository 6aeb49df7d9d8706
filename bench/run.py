"""EUDS Studio benchmarks: each figure against a baseline measured in the same process.

    python bench/run.py [--quick] [--only generative_scoring,cache_hit,...]

Prints one line per figure, ``NAME: VALUE UNIT (baseline VALUE, ratio X.Xx)`` plus notes. Baseline and ours are
run in alternating rounds on the same inputs, so a machine shared with other jobs slows both alike. The
workspace cache lives in a temporary EUDS_HOME (its ``models`` folder links to the real one, so the
dequantised LM copy is reused). Results and the machine they came from: bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")


def line(name: str, value: float, unit: str, baseline: float, ratio: float, note: str = "") -> str:
    text = f"{name}: {value:.4g} {unit} (baseline {baseline:.4g}, ratio {ratio:.1f}x)"
    return text + (f"  {note}" if note else "")


def _setup_workspace() -> Path:
    """A temporary EUDS_HOME whose ``models`` links to the real workspace's (no 20 s GGUF dequantisation)."""
    real = Path(os.environ.get("EUDS_HOME") or Path.home() / ".euds").expanduser()
    (real / "models").mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="euds-bench-"))
    (home / "models").symlink_to(real / "models", target_is_directory=True)
    os.environ["EUDS_HOME"] = str(home)
    return home


def _snippets(n: int, seed: int = 0) -> list[str]:
    """``n`` rotten_tomatoes review snippets (short texts, ~24 SmolLM2 tokens each), seeded sample."""
    from euds_core.datasets import load_builtin

    table = load_builtin("rotten_tomatoes").table
    rng = np.random.default_rng(seed)
    return table["text"].iloc[rng.choice(len(table), n, replace=False)].tolist()


# ---------------------------------------------------------------------------------------------- generative


def bench_generative(quick: bool) -> list[str]:
    """Tokens/s of compute_lm_stats (auto precision) vs one model(**tok(text)) per text in fp32, no batching."""
    import pandas as pd
    import torch
    from scipy.stats import spearmanr

    from euds_core.models import load_causal_lm, resolve_lm_path, resolve_lm_precision
    from euds_core.scores.generative import compute_lm_stats

    rounds, per_round = (2, 64) if quick else (4, 128)
    texts = _snippets(rounds * per_round)
    path = str(resolve_lm_path())
    tok, model = load_causal_lm(path, "cpu")  # fp32 reference
    bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id

    def naive(batch: list[str]) -> np.ndarray:
        out = np.zeros((len(batch), 2))
        with torch.no_grad():
            for i, text in enumerate(batch):
                enc = tok(text, return_tensors="pt", add_special_tokens=False)
                ids = torch.cat([torch.tensor([[bos]]), enc["input_ids"]], dim=1)  # same BOS as the scorer
                logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)[:-1]  # (L-1, V)
                out[i, 0] = -(logp.exp() * logp).sum(-1).mean().item()
                out[i, 1] = -logp.gather(-1, ids[0, 1:, None]).mean().item()
        return out

    def ours(batch: list[str]) -> np.ndarray:
        return compute_lm_stats(pd.DataFrame({"text": batch}), lm="packaged:smollm2", max_tokens=256, device="cpu", batch_size=16, cache=None, precision="auto")

    t0 = time.perf_counter()
    ours(texts[:4])  # load + quantise once (cached in-process afterwards)
    load_s = time.perf_counter() - t0
    naive(texts[:2])  # warm-up
    n_tokens = sum(len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"])
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
    ref, got = np.concatenate(ref), np.concatenate(got)
    rho_ent = spearmanr(ref[:, 0], got[:, 0])[0]
    rho_nll = spearmanr(ref[:, 1], got[:, 1])[0]
    base, fast = n_tokens / t_naive, n_tokens / t_ours
    precision = resolve_lm_precision("auto", "cpu")
    return [
        line(
            "generative_scoring", fast, "tokens/s", base, fast / base,
            f"[{len(texts)} snippets, {n_tokens} tokens, {precision}; Spearman vs fp32: entropy {rho_ent:.4f}, "
            f"perplexity {rho_nll:.4f}; one-off load+quantise {load_s:.1f} s]",
        )
    ]


# ---------------------------------------------------------------------------------------------- semantic


def bench_semantic(quick: bool) -> list[str]:
    """Samples/s of SemanticScorer vs encoding one text at a time with the same encoder (then the same k-means)."""
    import pandas as pd
    from scipy.stats import spearmanr

    from euds_core.models import load_encoder, resolve_encoder_path
    from euds_core.scores.semantic import SemanticScorer, fit_unit_centroids, soft_assignment_entropy

    rounds, per_round = (2, 200) if quick else (3, 400)
    texts = _snippets(rounds * per_round, seed=1)
    model = load_encoder(str(resolve_encoder_path()), "cpu")
    scorer = SemanticScorer()

    def naive(batch: list[str]) -> np.ndarray:
        emb = np.stack([model.encode(t, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False) for t in batch])
        return soft_assignment_entropy(emb, fit_unit_centroids(emb, scorer.k, scorer.seed), scorer.tau)

    def ours(batch: list[str]) -> np.ndarray:
        return scorer.score(pd.DataFrame({"text": batch}), device="cpu", batch_size=16, cache=None)  # the CLI default on CPU

    naive(texts[:20]), ours(texts[:20])  # warm-up
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
    rho = spearmanr(np.concatenate(ref), np.concatenate(got))[0]
    base, fast = len(texts) / t_naive, len(texts) / t_ours
    return [line("semantic_scoring", fast, "samples/s", base, fast / base, f"[{len(texts)} snippets, batch 16; Spearman vs naive {rho:.4f}]")]


# ---------------------------------------------------------------------------------------------- main

BENCHES = {
    "generative_scoring": bench_generative,
    "semantic_scoring": bench_semantic,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs; finishes in under 3 minutes on 2 cores")
    parser.add_argument("--only", help="comma-separated figure names (default: all)")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(BENCHES)
    _setup_workspace()
    import torch

    print(f"# {'quick' if args.quick else 'full'} run, torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs", flush=True)
    started = time.perf_counter()
    for name in names:
        t = time.perf_counter()
        for text in BENCHES[name](args.quick):
            print(text, flush=True)
        print(f"#   {name} took {time.perf_counter() - t:.1f} s", flush=True)
    print(f"# total {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
