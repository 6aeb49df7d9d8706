"""semantic_scoring: samples/s of the semantic entropy pass vs one text at a time through the fp32 encoder."""

from __future__ import annotations

import time

import numpy as np

from bench.common import SCORING_PRECISION, alternate_rounds, line, load_average, scoring_precision_note, snippets


def _encoder_passes(forced: str):
    """(naive, ours, scorer): one text at a time through the fp32 encoder; the scorer's own embedding step
    (``auto``: the measured choice) or a forced precision, batch 16."""
    import pandas as pd

    from euds_core.models.embeddings import compute_embeddings
    from euds_core.models.loading import load_encoder, resolve_encoder_path
    from euds_core.scores.semantic import SemanticScorer

    model = load_encoder(str(resolve_encoder_path()), "cpu")  # fp32
    scorer = SemanticScorer()

    def naive(batch: list[str]) -> np.ndarray:
        encode = lambda t: model.encode(t, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)  # noqa: E731
        return np.stack([encode(t) for t in batch])

    def ours(batch: list[str]) -> np.ndarray:
        frame = pd.DataFrame({"text": batch})
        if forced == "auto":
            return scorer.embed(frame, device="cpu", batch_size=16, cache=None)  # the scorer's step, CLI default
        return compute_embeddings(frame, device="cpu", batch_size=16, precision=forced)  # a forced precision

    return naive, ours, scorer


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
    from scipy.stats import spearmanr

    forced = SCORING_PRECISION["precision"]
    rounds, per_round = (4, 100) if quick else (6, 200)
    texts = snippets(rounds * per_round, seed=1)
    naive, ours, scorer = _encoder_passes(forced)
    naive(texts[:20]), ours(texts[:20])  # warm-up; auto measures here on first use
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
    note = (
        f"[{len(texts)} snippets, batch 16, {scoring_precision_note('encoder', forced)}; vs naive fp32: min cosine "
        f"{(ref * got).sum(1).min():.5f}, Spearman of H_S on shared centroids {rho:.4f}; k-means x{scorer.n_fits} "
        f"and H_S {pool_seconds[1]:.2f} s; {load_average()}]"
    )
    return [line("semantic_scoring", fast, "samples/s", base, fast / base, note)]
