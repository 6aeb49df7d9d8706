"""full_pass_bbc_news: the users' real wait, all three entropies of bbc_news from "Score it" to the last row."""

from __future__ import annotations

import time

from bench.common import load_average, scoring_precision_note
from bench.score_jobs import pass_finished_at, start_app_score_jobs, wait_until_done

GOAL_SECONDS = 240  # on 2 idle CPU cores with bf16 or VNNI (issue 29; ~448 s before it)


def bench_full_pass_bbc_news(quick: bool) -> list[str]:
    """Wall seconds and rows/s from starting the app's score jobs for information, generative and semantic
    entropy on all of bbc_news (2,225 articles, most over 256 SmolLM2 tokens) in a fresh workspace with the
    packaged models until every job is done; when each model pass finished. ``--quick`` runs it too (it is
    the figure): there is no smaller version of the whole pass.

    The dequantised LM copy and ``auto``'s measured choice live in the shared model cache (``make setup``
    makes both), so they are not part of the users' wait here; a first-ever run on a CPU kind adds the
    measurement (a few seconds, reported by ``python -m euds_core doctor``).
    """
    t0, t0_wall = time.perf_counter(), time.time()
    dataset, job_ids, features = start_app_score_jobs()
    wait_until_done(job_ids)
    wall = time.perf_counter() - t0
    encoder_s, lm_s = (pass_finished_at(features, p, t0_wall) for p in ("embedding", "lm_stats"))
    rows = len(dataset.table)
    paths = f"LM {scoring_precision_note('lm', 'auto')}, encoder {scoring_precision_note('encoder', 'auto')}"
    done = ", ".join(f"{name} pass done at {s:.0f} s" for name, s in (("encoder", encoder_s), ("LM", lm_s)) if s)
    return [
        f"full_pass_bbc_news: {wall:.1f} s, {rows / wall:.2f} rows/s (goal <= {GOAL_SECONDS} s on 2 idle CPU cores)  "
        f"[bbc_news, {rows:,} rows, information + generative + semantic, fresh workspace; {done}; "
        f"{paths}; {load_average()} at the end]"
    ]
