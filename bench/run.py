"""EUDS Studio benchmarks: each figure against a baseline measured in the same process.

    python bench/run.py [--quick] [--only generative_scoring,cache_hit,...] [--precision auto|fp32|bf16|int8]

Prints one line per figure, ``NAME: VALUE UNIT (baseline VALUE, ratio X.Xx)`` plus notes. Baseline and ours are
run in alternating rounds on the same inputs, so a machine shared with other jobs slows both alike. The
workspace cache lives in a temporary EUDS_HOME; the dequantised LM copy is read from the model cache every
workspace shares (storage.workspace.model_cache_dir). Results and the machine they came from: bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")

# What generative_scoring and semantic_scoring score with; --precision forces one (e.g. int8 on a bf16 CPU);
# without_bf16: auto decides as on a CPU without native bf16 (--as-cpu-without-bf16).
SCORING_PRECISION = {"precision": "auto", "without_bf16": False}


def decide_as_cpu_without_bf16() -> None:
    """Make ``auto`` choose what it chooses on a CPU without native bf16 (int8 LM, onnx encoder). Only the choice
    is simulated: the kernels still run on this CPU, and neither path issues bf16 instructions."""
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
    """``int8 (auto; CPU: AVX512 VNNI)``: the precision a scoring figure ran at, how it was chosen, and the
    CPU features that decided the kernels. ``model`` is ``lm`` or ``encoder``."""
    from euds_core.models.int8_matmuls import cpu_kernel_flags
    from euds_core.models.loading import resolve_encoder_precision, resolve_lm_path, resolve_lm_precision

    lm = str(resolve_lm_path())  # the packaged LM, which the scoring figures use
    if forced == "auto":
        chosen = resolve_lm_precision("auto", "cpu", lm) if model == "lm" else resolve_encoder_precision("cpu")
    else:
        chosen = resolve_lm_precision(forced, "cpu", lm) if model == "lm" else forced
    how = "auto" if forced == "auto" else "forced"
    if SCORING_PRECISION["without_bf16"]:
        how += ", decided as on a CPU without bf16"
    return f"{chosen} ({how}; CPU: {cpu_kernel_flags()})"


def _setup_workspace() -> Path:
    """A temporary EUDS_HOME (the model cache is shared: no 20 s GGUF dequantisation per run)."""
    home = Path(tempfile.mkdtemp(prefix="euds-bench-"))
    os.environ["EUDS_HOME"] = str(home)
    return home


def _snippets(n: int, seed: int = 0) -> list[str]:
    """``n`` rotten_tomatoes review snippets (short texts, ~24 SmolLM2 tokens each), seeded sample."""
    from euds_core.data.builtins import load_builtin

    table = load_builtin("rotten_tomatoes").table
    rng = np.random.default_rng(seed)
    return table["text"].iloc[rng.choice(len(table), n, replace=False)].tolist()


# ---------------------------------------------------------------------------------------------- generative


def bench_generative(quick: bool) -> list[str]:
    """Tokens/s of compute_lm_stats (auto precision) vs one model(**tok(text)) per text in fp32, no batching."""
    import pandas as pd
    import torch
    from scipy.stats import spearmanr

    from euds_core.models.loading import load_causal_lm, resolve_lm_path, resolve_lm_precision
    from euds_core.scores.generative import compute_lm_stats, lm_bos_id

    forced = SCORING_PRECISION["precision"]
    if forced == "onnx":
        return ["generative_scoring: skipped (onnx is an encoder backend; the LM has auto, fp32, bf16, int8)"]
    rounds, per_round = (2, 128) if quick else (4, 256)  # rounds of 128+: real scoring batches sorted chunks of 512+
    texts = _snippets(rounds * per_round)
    path = str(resolve_lm_path())
    tok, model = load_causal_lm(path, "cpu")  # fp32 reference
    bos = lm_bos_id(tok)  # the token the scorer prepends (document separator, else BOS)

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
        return compute_lm_stats(
            pd.DataFrame({"text": batch}),
            lm="packaged:smollm2",
            max_tokens=256,
            device="cpu",
            batch_size=16,
            cache=None,
            precision=forced,
        )

    t0 = time.perf_counter()
    ours(texts[:4])  # load the model once (cached in-process afterwards)
    load_s = time.perf_counter() - t0
    naive(texts[:2])  # warm-up
    n_tokens = sum(len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"])
    ref, got, t_naive, t_ours = alternate_rounds(texts, rounds, per_round, naive, ours)
    rho_ent = spearmanr(ref[:, 0], got[:, 0])[0]
    rho_nll = spearmanr(ref[:, 1], got[:, 1])[0]
    base, fast = n_tokens / t_naive, n_tokens / t_ours
    precision = resolve_lm_precision(forced, "cpu", path)
    return [
        line(
            "generative_scoring",
            fast,
            "tokens/s",
            base,
            fast / base,
            f"[{len(texts)} snippets, {n_tokens} tokens, {scoring_precision_note('lm', forced)}; Spearman vs fp32: "
            f"entropy {rho_ent:.4f}, "
            f"perplexity {rho_nll:.4f}; one-off model load + {precision} copy {load_s:.1f} s]",
        )
    ]


def bench_generative_truncation(quick: bool) -> list[str]:
    """Spearman of the generative entropy over the first 128 tokens vs the first 256, on long bbc_news texts.

    A cheaper long-text path is offered only if it keeps the ranking (goal: Spearman >= 0.95). The texts are a
    seeded sample of bbc_news articles with at least 256 SmolLM2 tokens (where truncation changes what is
    read), so no row is padded and one causal pass of 256 tokens gives both means exactly: the entropies at
    the first 128 positions do not see the later tokens. Checked against the scorer's own 128- and
    256-token values on the first texts.
    """
    import pandas as pd
    import torch
    from scipy.stats import spearmanr

    from euds_core.data.builtins import load_builtin
    from euds_core.models.loading import load_causal_lm, load_scoring_lm, resolve_lm_path
    from euds_core.scores.generative import compute_lm_stats, lm_bos_id

    n = 96 if quick else 256
    texts = load_builtin("bbc_news").table["text"].tolist()
    tok, model = load_scoring_lm(str(resolve_lm_path()), "cpu", "auto", load_causal_lm)
    ids = tok(texts, add_special_tokens=False, truncation=True, max_length=256)["input_ids"]
    long_rows = np.flatnonzero(np.array([len(x) for x in ids]) >= 256)
    rows = np.random.default_rng(0).choice(long_rows, min(n, len(long_rows)), replace=False)
    bos = lm_bos_id(tok)
    entropies = np.zeros((len(rows), 256), dtype=np.float64)  # (n, 256) entropy at each scored position
    t = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(rows), 2):
            batch = torch.tensor([[bos, *ids[i]] for i in rows[start : start + 2]])  # (B, 257), no padding
            logp = torch.log_softmax(model(input_ids=batch).logits[:, :256].float(), dim=-1)  # (B, 256, V)
            entropies[start : start + len(batch)] = (-(logp.exp() * logp).sum(-1)).double().numpy()
            del logp
    seconds = time.perf_counter() - t
    e256, e128 = entropies.mean(1), entropies[:, :128].mean(1)  # (n,), (n,)
    check = pd.DataFrame({"text": [texts[i] for i in rows[:4]]})
    scorer = {
        m: compute_lm_stats(
            check, lm="packaged:smollm2", max_tokens=m, device="cpu", batch_size=16, cache=None, precision="auto"
        )[:, 0]
        for m in (128, 256)
    }
    max_diff = max(np.abs(scorer[128] - e128[:4]).max(), np.abs(scorer[256] - e256[:4]).max())
    rho = spearmanr(e256, e128)[0]
    rank_top = len(set(np.argsort(e256)[-len(rows) // 4 :]) & set(np.argsort(e128)[-len(rows) // 4 :])) / (
        len(rows) // 4
    )
    return [
        line(
            "generative_128_vs_256",
            rho,
            "Spearman",
            1.0,
            2.0,
            f"[{len(rows)} of {len(long_rows)} bbc_news texts with >= 256 SmolLM2 tokens (seed 0), bf16 matmuls; "
            f"top-quarter overlap {rank_top:.2f}; mean entropy 256: {e256.mean():.3f}, 128: {e128.mean():.3f} nats; "
            f"max |diff| vs the scorer's own values on 4 texts {max_diff:.4f}; one 256-token pass {seconds:.1f} s; "
            "ratio = token count saved (attention cost aside)]",
        )
    ]


# ---------------------------------------------------------------------------------------------- semantic


def bench_semantic(quick: bool) -> list[str]:
    """Samples/s of SemanticScorer vs encoding one text at a time with the same encoder, each followed by the
    scorer's k-means fits and entropy on all the snippets.

    The rounds alternate the per-row work (embedding); the k-means fits and H_S then run once per side on the
    whole set, as ``SemanticScorer.score`` does on a pool (one k-means per 100-text round would fit it four
    times as often as a scorer does). Fidelity is measured on the embeddings against the naive fp32 ones: min
    cosine, and the Spearman of H_S when both are scored against the same centroids (k-means on the two sets
    can settle in different local optima after any tiny change of the inputs, which says nothing about the
    kernel).
    """
    import pandas as pd
    from scipy.stats import spearmanr

    from euds_core.models.embeddings import compute_embeddings
    from euds_core.models.loading import load_encoder, resolve_encoder_path, resolve_encoder_precision
    from euds_core.scores.semantic import SemanticScorer

    forced = SCORING_PRECISION["precision"]
    precision = resolve_encoder_precision("cpu") if forced == "auto" else forced

    rounds, per_round = (4, 100) if quick else (6, 200)
    texts = _snippets(rounds * per_round, seed=1)
    model = load_encoder(str(resolve_encoder_path()), "cpu")  # fp32
    scorer = SemanticScorer()

    def naive(batch: list[str]) -> np.ndarray:
        return np.stack(
            [model.encode(t, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False) for t in batch]
        )

    def ours(batch: list[str]) -> np.ndarray:
        frame = pd.DataFrame({"text": batch})
        if forced == "auto":
            return scorer.embed(frame, device="cpu", batch_size=16, cache=None)  # the scorer's step, CLI default
        return compute_embeddings(frame, device="cpu", batch_size=16, precision=precision)  # a forced precision

    naive(texts[:20]), ours(texts[:20])  # warm-up
    ref, got, t_naive, t_ours = alternate_rounds(texts, rounds, per_round, naive, ours)  # (n, dim) each
    pool_seconds = []
    for emb in (ref, got):  # the pool's k-means fits and entropy, once per side
        t = time.perf_counter()
        scorer.entropy(emb, scorer.centroid_sets(emb))
        pool_seconds.append(time.perf_counter() - t)
    t_naive, t_ours = t_naive + pool_seconds[0], t_ours + pool_seconds[1]
    centroid_sets = scorer.centroid_sets(ref)
    rho = spearmanr(*(scorer.entropy(e, centroid_sets) for e in (ref, got)))[0]
    base, fast = len(texts) / t_naive, len(texts) / t_ours
    return [
        line(
            "semantic_scoring",
            fast,
            "samples/s",
            base,
            fast / base,
            f"[{len(texts)} snippets, batch 16, {scoring_precision_note('encoder', forced)}; vs naive fp32: min cosine "
            f"{(ref * got).sum(1).min():.5f}, Spearman of H_S on shared centroids {rho:.4f}; k-means x{scorer.n_fits} "
            f"and H_S {pool_seconds[1]:.2f} s]",
        )
    ]


# ---------------------------------------------------------------------------------------------- GPU


GPU_BF16_PEAK = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10": 125e12}  # dense


def bench_gpu_mfu(quick: bool) -> list[str]:
    """Model FLOPs/s over the device's bf16 peak for the generative pass; baseline = the naive fp32 loop on the GPU."""
    import pandas as pd
    import torch

    if not torch.cuda.is_available():
        return ["gpu_mfu: skipped: no GPU (torch.cuda.is_available() is False)"]
    from euds_core.models.loading import load_causal_lm, resolve_lm_path
    from euds_core.scores.generative import compute_lm_stats, lm_bos_id

    name = torch.cuda.get_device_name(0)
    peak = next((v for k, v in GPU_BF16_PEAK.items() if k in name), None)
    path = str(resolve_lm_path())
    tok, model32 = load_causal_lm(path, "cpu")
    cfg = model32.config
    n_layers, hidden = cfg.num_hidden_layers, cfg.hidden_size
    params = sum(p.numel() for n, p in model32.named_parameters() if "embed_tokens" not in n)
    params += model32.get_output_embeddings().weight.numel()  # the (tied) head does a matmul per token
    texts = [" ".join(t.split() * 4) for t in _snippets(1024 if quick else 4096, seed=2)]  # ~100-token texts
    n_tokens = sum(
        len(ids) + 1 for ids in tok(texts, add_special_tokens=False, truncation=True, max_length=256)["input_ids"]
    )
    mean_len = n_tokens / len(texts)
    flops_per_token = 2 * params + 4 * n_layers * hidden * mean_len  # matmuls + causal attention (QK^T and AV, halved)

    def ours(batch):
        return compute_lm_stats(
            pd.DataFrame({"text": batch}),
            lm="packaged:smollm2",
            max_tokens=256,
            device="cuda",
            batch_size=64,
            cache=None,
            precision="auto",
        )

    ours(texts[:64])
    torch.cuda.synchronize()
    t = time.perf_counter()
    ours(texts)
    torch.cuda.synchronize()
    fast = n_tokens / (time.perf_counter() - t)
    model = model32.to("cuda")
    bos = lm_bos_id(tok)  # the token the scorer prepends (document separator, else BOS)
    few = texts[:128]
    few_tokens = sum(
        len(ids) + 1 for ids in tok(few, add_special_tokens=False, truncation=True, max_length=256)["input_ids"]
    )
    with torch.no_grad():
        t = time.perf_counter()
        for text in few:
            ids = torch.tensor(
                [[bos] + tok(text, add_special_tokens=False, truncation=True, max_length=256)["input_ids"]],
                device="cuda",
            )
            logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
            (-(logp.exp() * logp).sum(-1)).mean().item()
        torch.cuda.synchronize()
        base = few_tokens / (time.perf_counter() - t)
    model32.to("cpu")
    out = [
        line(
            "generative_scoring_gpu",
            fast,
            "tokens/s",
            base,
            fast / base,
            f"[{name}, bf16, {len(texts)} texts x ~{mean_len:.0f} tokens]",
        )
    ]
    if peak is None:
        out.append(
            f"gpu_mfu: skipped: unknown bf16 peak for '{name}' ({fast * flops_per_token / 1e12:.1f} TFLOP/s measured)"
        )
    else:
        mfu, base_mfu = fast * flops_per_token / peak, base * flops_per_token / peak
        out.append(
            line(
                "gpu_mfu",
                100 * mfu,
                "%",
                100 * base_mfu,
                mfu / base_mfu,
                f"[{name}, peak {peak / 1e12:.0f} TFLOP/s bf16 dense]",
            )
        )
    return out


# ---------------------------------------------------------------------------------------------- interval update


def bench_interval_update(quick: bool) -> list[str]:
    """Server-side ms for one percentile-interval change at 1 M rows: mask, kept count, kept/dropped histogram, labels."""
    import pandas as pd

    from euds_core.selection.interval_index import SortedScoreIndex
    from euds_core.selection.intervals import select_percentile

    n, bins, changes = 1_000_000, 60, 10
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(2.0, 0.5, n // 2), rng.normal(3.5, 0.8, n - n // 2)]).astype(np.float32)
    labels = rng.choice(np.array(["fresh", "rotten"]), n)
    edges = np.linspace(scores.min(), scores.max(), bins + 1)

    def naive(p_lo, p_hi):
        mask = select_percentile(scores, p_lo, p_hi)
        kept = int(mask.sum())
        hist_kept, _ = np.histogram(scores[mask], bins=edges)
        hist_dropped, _ = np.histogram(scores[~mask], bins=edges)
        balance = pd.Series(labels[mask]).value_counts()
        return kept, hist_kept, hist_dropped, balance

    t = time.perf_counter()
    index = SortedScoreIndex(scores, labels=labels, bins=edges)
    build_s = time.perf_counter() - t
    t_naive, t_ours = [], []
    for _ in range(changes):
        p_lo, p_hi = np.sort(rng.uniform(0, 1, 2))
        t = time.perf_counter()
        ref = naive(p_lo, p_hi)
        t_naive.append(time.perf_counter() - t)
        t = time.perf_counter()
        got = index.update(index.span_percentile(p_lo, p_hi))
        t_ours.append(time.perf_counter() - t)
        assert got.kept == ref[0] and got.histogram.kept.tolist() == ref[1].tolist()  # same answer, not just faster
    base, fast = 1000 * float(np.median(t_naive)), 1000 * float(np.median(t_ours))
    return [
        line(
            "interval_update_1m",
            fast,
            "ms",
            base,
            base / fast,
            f"[median of {changes} percentile drags, {bins} bins, 2 labels, mask included; one-off index build {build_s:.2f} s; "
            f"without the mask {1000 * _time_no_mask(index):.2f} ms]",
        )
    ]


def _time_no_mask(index) -> float:
    t = time.perf_counter()
    index.update(index.span_percentile(0.2, 0.7), with_mask=False)
    return time.perf_counter() - t


# ---------------------------------------------------------------------------------------------- map


def synthetic_mixture(n: int, dim: int = 384, k: int = 30, seed: int = 0) -> np.ndarray:
    """(n, dim) float32: a 30-cluster Gaussian mixture (unit-variance-ish noise around random centres)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim)).astype(np.float32)
    return centres[rng.integers(0, k, n)] + rng.normal(scale=0.6, size=(n, dim)).astype(np.float32)


def bench_umap(quick: bool) -> list[str]:
    """Seconds for compute_embedding_map (PCA 50 + UMAP 100 epochs + HDBSCAN) vs umap-learn defaults on the raw data."""
    import umap
    from sklearn.manifold import trustworthiness

    from euds_core.selection.embed_map import compute_embedding_map

    n = 15_000 if quick else 100_000
    x = synthetic_mixture(n)
    small = synthetic_mixture(2_000, seed=1)
    compute_embedding_map(small, seed=0), umap.UMAP().fit_transform(small)  # numba compilation, not timed
    t = time.perf_counter()
    baseline = umap.UMAP().fit_transform(x)
    t_base = time.perf_counter() - t
    t = time.perf_counter()
    emap = compute_embedding_map(x, seed=0)
    t_ours = time.perf_counter() - t
    sample = np.random.default_rng(0).choice(n, 5_000, replace=False)
    tw_base = trustworthiness(x[sample], baseline[sample], n_neighbors=5)
    tw_ours = trustworthiness(x[sample], emap.coords[sample], n_neighbors=5)
    name = "umap_100k" if not quick else "umap_100k"
    size = f"n={n:,} (quick: 15k, not 100k)" if quick else f"n={n:,}"
    return [
        line(
            name,
            t_ours,
            "s",
            t_base,
            t_base / t_ours,
            f"[{size} x 384, 30 clusters, warm; trustworthiness@5 on 5k: ours {tw_ours:.4f}, default {tw_base:.4f}, "
            f"diff {tw_ours - tw_base:+.4f}; {emap.n_clusters} HDBSCAN clusters]",
        )
    ]


# ---------------------------------------------------------------------------------------------- cache


def bench_cache_hit(quick: bool) -> list[str]:
    """Second identical score_dataset call (cache hit, no model load) vs the first (computes everything)."""
    from euds_core.data.builtins import load_builtin
    from euds_core.data.table import Dataset
    from euds_core.scoring.engine import score_dataset

    rows = 64 if quick else 512
    full = load_builtin("rotten_tomatoes")
    table = full.table.sample(rows, random_state=0).reset_index(drop=True)
    dataset = Dataset(name="rt-bench", task=full.task, table=table, source=full.source, skipped={})
    names = ["information", "generative", "semantic"]
    t = time.perf_counter()
    first = score_dataset(dataset, names, device="cpu")
    t_first = time.perf_counter() - t
    t = time.perf_counter()
    second = score_dataset(dataset, names, device="cpu")
    t_second = time.perf_counter() - t
    assert first.equals(second)
    return [
        line(
            "cache_hit",
            t_second * 1000,
            "ms",
            t_first * 1000,
            t_first / t_second,
            f"[{rows} rows x {', '.join(first.columns)}]",
        )
    ]


# ---------------------------------------------------------------------------------------------- server

# A stand-in for a running job's process: it reports progress like a real job (JobReporter, twice a second)
# but burns no CPU, so the figure is the server's polling cost alone.
STAND_IN_JOB = """
import sys, time
from euds_core.runtime.job_reporter import JobReporter
reporter, seconds, t0 = JobReporter(sys.argv[1]), float(sys.argv[2]), time.monotonic()
while (elapsed := time.monotonic() - t0) < seconds:
    reporter.update(elapsed / seconds, f"batch {int(elapsed)}", force=True)
    time.sleep(0.5)
"""
OLD_SERVER_SETTINGS = (
    {"server.fileWatcherType": "auto", "runner.postScriptGC": "true"},  # Streamlit's defaults, before issue 14
    {"EUDS_JOB_POLL_SECONDS": "1"},  # the jobs panel's old poll interval
)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else the machine type."""
    import platform

    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.machine()
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.machine())


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (not its children), from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _start_stand_in_job(dataset_id: str, seconds: float):
    """A 'score' job row whose process is the stand-in above; returns (job id, process)."""
    import subprocess
    import uuid

    from euds_core.storage.store import connect, now, to_json

    job_id = uuid.uuid4().hex[:12]
    proc = subprocess.Popen([sys.executable, "-c", STAND_IN_JOB, job_id, str(seconds)], cwd=ROOT)
    with connect() as conn:
        conn.execute(
            "INSERT INTO jobs (id, kind, dataset_id, args, status, pid, created, updated) VALUES (?,?,?,?,?,?,?,?)",
            (job_id, "score", dataset_id, to_json({"scores": ["generative"]}), "running", proc.pid, now(), now()),
        )
    return job_id, proc


def _finish_job(job_id: str, proc) -> None:
    from euds_core.storage.store import connect, now

    proc.terminate()
    proc.wait(timeout=10)
    with connect() as conn:
        conn.execute("UPDATE jobs SET status='done', progress=1, updated=? WHERE id=?", (now(), job_id))


def _server_cpu_per_minute(browser, home: Path, dataset_id: str, settings: tuple[dict, dict], window: float):
    """(CPU s per minute while the Score page polls a running job, the same once the job is done and it idles)."""
    import signal

    from tests.browser.conftest import open_app, start_streamlit_server

    flags, env = settings
    server, url = start_streamlit_server(home, flags={"server.address": "127.0.0.1", **flags}, env=env)
    job_id, stand_in = _start_stand_in_job(dataset_id, window * 3 + 120)
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=url)
    try:
        page = context.new_page()
        page.set_default_timeout(120_000)
        open_app(page, "/Score", dataset="bbc_news")
        progress = page.get_by_text(re.compile(r"generative\*? — batch \d+")).first
        progress.wait_for()
        time.sleep(5)  # first-run imports and caches settle
        t, cpu, shown = time.monotonic(), process_cpu_seconds(server.pid), progress.inner_text()
        time.sleep(window)
        polling = (process_cpu_seconds(server.pid) - cpu) / (time.monotonic() - t) * 60
        if progress.inner_text() == shown:
            raise RuntimeError(f"the page did not poll: its progress stayed at {shown!r}")
        _finish_job(job_id, stand_in)
        time.sleep(8)  # the panel sees the job end, reruns the page once, then stops polling
        t, cpu = time.monotonic(), process_cpu_seconds(server.pid)
        time.sleep(window / 2)
        idle = (process_cpu_seconds(server.pid) - cpu) / (time.monotonic() - t) * 60
        return polling, idle
    finally:
        context.close()
        if stand_in.poll() is None:
            stand_in.kill()
            stand_in.wait()
        os.killpg(server.pid, signal.SIGTERM)  # the server runs in its own session (see start_streamlit_server)
        server.wait(timeout=30)


def bench_server_poll_cpu(quick: bool) -> list[str]:
    """CPU seconds per minute of a real ``streamlit run`` server (127.0.0.1) while one headless Chromium page
    polls a running job, with this repo's settings vs the old ones (file watcher on, post-run GC, 1 s poll)."""
    import shutil

    chromium = shutil.which("chromium")
    if chromium is None:
        return ["server_poll_cpu: skipped: chromium not installed (apt-get install -y chromium)"]
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM_ARGS, seed_scores

    window = 10.0 if quick else 60.0
    home = Path(os.environ["EUDS_HOME"])
    dataset_id = seed_scores(home, scores=("information",))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            ours = _server_cpu_per_minute(browser, home, dataset_id, ({}, {}), window)
            old = _server_cpu_per_minute(browser, home, dataset_id, OLD_SERVER_SETTINGS, window)
        finally:
            browser.close()
    return [
        line(
            "server_poll_cpu",
            ours[0],
            "CPU-s/min",
            old[0],
            old[0] / max(ours[0], 1e-9),
            f"[one page polling a running job, {window:.0f} s windows; baseline: fileWatcherType auto, "
            f"postScriptGC true, 1 s poll; idle after the job: ours {ours[1]:.2f}, baseline {old[1]:.2f} CPU-s/min; "
            f"{cpu_model()}]",
        )
    ]


# ---------------------------------------------------------------------------------------------- first view


def _stop_jobs(job_ids: list[str], cancel_job) -> None:
    """Cancel the bench's own jobs and end their processes (by id) now, not after the chunk in progress."""
    import signal

    from euds_core.storage.store import connect

    for job_id in job_ids:
        cancel_job(job_id)
        with connect() as conn:
            row = conn.execute("SELECT pid, status FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row and row[0] and row[1] in ("queued", "running"):
            try:
                os.kill(int(row[0]), signal.SIGTERM)
            except ProcessLookupError:
                pass


def bench_time_to_first_view(quick: bool) -> list[str]:
    """Seconds from "score" (the three score jobs the pages start) to the first moment the three entropies and
    IGSE are all drawable for bbc_news (each has scored rows), and (full run only) to every row scored.

    The jobs run as the app starts them (scoring.engine.score_job_groups: information; then semantic and
    generative in one process, each pass's first stage before either pass's rest), the packaged models, default options, a fresh workspace (the dequantised LM copy is reused). ``--quick``
    stops at the first view and ends the jobs. The page adds its own poll (3 s) and drawing on top.
    """
    from euds_core.data.builtins import load_builtin
    from euds_core.data.datasets import save_dataset
    from euds_core.runtime.jobs import cancel_job, get_job, start_job
    from euds_core.scores import EUDS_SCORES
    from euds_core.scoring.engine import score_job_groups, scores_so_far
    from euds_core.storage.cache import DatasetCache

    dataset = load_builtin("bbc_news")
    save_dataset(dataset)
    features = DatasetCache(dataset.id).root / "features"
    t0 = time.perf_counter()
    job_ids = [
        start_job(
            "score", {"dataset_id": dataset.id, "scores": group, "device": "cpu", "options": {}}, dataset_id=dataset.id
        )
        for group in score_job_groups(list(EUDS_SCORES))  # the app's jobs for its "Score it" button
    ]
    first_view = all_rows = None
    scored: dict[str, int] = {}
    while all_rows is None:
        time.sleep(1.0)
        jobs = [get_job(j) for j in job_ids]
        if any(j.status == "failed" for j in jobs):
            raise RuntimeError(f"a score job failed: {[j.error for j in jobs if j.error]}")
        # Cheap look first (files on disk), then the real partial frame once every pass has rows.
        started = [
            any(features.glob(f"{f}-*/chunk-*.npy")) or any(features.glob(f"{f}-*/all.npy"))
            for f in ("lm_stats", "embedding")
        ]
        if first_view is None and all(started) and jobs[0].status == "done":
            frame = scores_so_far(dataset, list(EUDS_SCORES))
            if all(n in frame and frame[n].notna().any() for n in (*EUDS_SCORES, "igse")):
                first_view = time.perf_counter() - t0
                scored = {n: int(frame[n].notna().sum()) for n in (*EUDS_SCORES, "igse")}
                if quick:
                    _stop_jobs(job_ids, cancel_job)
                    break
        if all(j.status == "done" for j in jobs):
            all_rows = time.perf_counter() - t0
    rows = ", ".join(f"{n} {c:,}" for n, c in scored.items())
    total = f"{all_rows:.0f} s" if all_rows is not None else "not measured (--quick)"
    return [
        f"time_to_first_view: {first_view:.1f} s (goal <= 60 s on 2 idle CPU cores)  [bbc_news, {len(dataset.table):,} "
        f"rows; rows scored at the first view: {rows}; time to all rows: {total}; "
        f"load average at the end: {os.getloadavg()[0]:.1f}]"
    ]


# ---------------------------------------------------------------------------------------------- main

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
}
# Figures of minutes each (two servers and a browser; a fresh workspace scoring bbc_news; two long LM passes):
# --quick runs them only when named with --only.
QUICK_SKIPS = {"server_poll_cpu", "time_to_first_view", "generative_128_vs_256"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs; finishes in under 3 minutes on 2 cores")
    parser.add_argument("--only", help="comma-separated figure names (default: all)")
    parser.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16", "int8", "onnx"),
        default="auto",
        help="precision of generative_scoring and semantic_scoring (default: what auto picks on this CPU; onnx: "
        "the encoder only)",
    )
    parser.add_argument(
        "--as-cpu-without-bf16",
        action="store_true",
        help="let auto choose as it would on a CPU without native bf16 (int8 LM, onnx encoder); the kernels still "
        "run on this CPU",
    )
    args = parser.parse_args(argv)
    SCORING_PRECISION["precision"] = args.precision
    if args.as_cpu_without_bf16:
        decide_as_cpu_without_bf16()
    names = args.only.split(",") if args.only else list(BENCHES)
    _setup_workspace()
    import torch

    print(
        f"# {'quick' if args.quick else 'full'} run, torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs",
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
        print(f"#   {name} took {time.perf_counter() - t:.1f} s", flush=True)
    print(f"# total {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
