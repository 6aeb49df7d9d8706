"""cache_hit: a second identical score_dataset call (cache hit) vs the first."""

from __future__ import annotations

import time

from bench.common import line


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
