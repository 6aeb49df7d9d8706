"""interval_update_1m: server-side ms for one percentile-interval change at 1 M rows."""

from __future__ import annotations

import time

import numpy as np

from bench.common import line


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
