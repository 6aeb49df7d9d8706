"""time_to_first_view: seconds from "Score it" on bbc_news to the first drawable view of every entropy."""

from __future__ import annotations

import time

from bench.common import load_average
from bench.score_jobs import job_states, pass_started, start_app_score_jobs, stop_jobs


def bench_time_to_first_view(quick: bool) -> list[str]:
    """Seconds from "score" (the score jobs the pages start) to the first moment the three entropies and IGSE are
    all drawable for bbc_news (each has scored rows), and (full run only) to every row scored.

    The jobs run as the app starts them (bench.score_jobs), in a fresh workspace (the dequantised LM copy and
    the measured precision choice in the model cache are reused). ``--quick`` stops at the first view and ends
    the jobs. The page adds its own poll (3 s) and drawing on top.
    """
    from euds_core.scores import EUDS_SCORES
    from euds_core.scoring.engine import scores_so_far

    t0 = time.perf_counter()
    dataset, job_ids, features = start_app_score_jobs()
    first_view = all_rows = None
    scored: dict[str, int] = {}
    while all_rows is None:
        time.sleep(1.0)
        jobs = job_states(job_ids)
        # Cheap look first (files on disk), then the real partial frame once every pass has rows.
        started = all(pass_started(features, prefix) for prefix in ("lm_stats", "embedding"))
        if first_view is None and started and jobs[0].status == "done":
            frame = scores_so_far(dataset, list(EUDS_SCORES))
            if all(n in frame and frame[n].notna().any() for n in (*EUDS_SCORES, "igse")):
                first_view = time.perf_counter() - t0
                scored = {n: int(frame[n].notna().sum()) for n in (*EUDS_SCORES, "igse")}
                if quick:
                    stop_jobs(job_ids)
                    break
        if all(j.status == "done" for j in jobs):
            all_rows = time.perf_counter() - t0
    rows = ", ".join(f"{n} {c:,}" for n, c in scored.items())
    total = f"{all_rows:.0f} s" if all_rows is not None else "not measured (--quick)"
    return [
        f"time_to_first_view: {first_view:.1f} s (goal <= 60 s on 2 idle CPU cores)  [bbc_news, {len(dataset.table):,} "
        f"rows; rows scored at the first view: {rows}; time to all rows: {total}; {load_average()} at the end]"
    ]
