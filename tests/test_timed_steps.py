"""Timed steps inside a chunk (storage.cache._Step): progress every ~STEP_SECONDS whatever the rate, while the
LM pass's steps are whole batches of the chunk, so its scores equal the unstepped pass's exactly."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from euds_core.errors import ScoringCancelled
from euds_core.models.lm_pass import lm_token_stats, token_budget_batches
from euds_core.models.loading import load_causal_lm
from euds_core.scores import generative
from euds_core.scores.generative import compute_lm_stats
from euds_core.storage import cache


class FakeClock:
    """Seconds that pass only when the fake model computes: ``per_row`` seconds per row."""

    def __init__(self, per_row: float):
        self.now, self.per_row = 0.0, per_row

    def perf_counter(self) -> float:
        return self.now


def test_timed_steps_grow_to_the_target_shrink_when_slower_and_report_after_each(monkeypatch):
    clock = FakeClock(per_row=0.25 / 3)
    monkeypatch.setattr(cache, "time", SimpleNamespace(perf_counter=clock.perf_counter))
    units = [np.arange(s, s + 3)[::-1] for s in range(0, 120, 3)][::-1]  # 40 units of 3 rows, out of order
    steps, reports = [], []

    def compute(rows):
        seconds = len(rows) * clock.per_row
        steps.append((len(rows) // 3, seconds))
        clock.now += seconds
        if len(steps) == 5:
            clock.per_row *= 4  # the machine got busy: 1 s per unit from here
        return rows * 10.0

    order = np.random.default_rng(0).permutation(120)
    values = cache.run_chunked(
        None,
        cache.ChunkPlan(order, chunk_rows=120),
        compute,
        step_units=lambda rows: units,
        progress=lambda d, n, m: reports.append(d),
    )
    np.testing.assert_array_equal(values, np.arange(120) * 10.0)  # every row back in its place
    assert [u for u, _ in steps] == [1, 2, 4, 8, 8, 8, 2, 2, 2, 2, 1]
    assert all(s <= cache.STEP_SECONDS for _, s in steps[:5] + steps[6:])  # the step after the slowdown is late
    assert len(reports) == len(steps)  # after every step (the last one: the chunk's own report)
    assert reports == sorted(reports) and reports[-1] == 120


def test_timed_steps_check_cancel_before_each_step(monkeypatch):
    clock = FakeClock(per_row=1.0)
    monkeypatch.setattr(cache, "time", SimpleNamespace(perf_counter=clock.perf_counter))
    calls = []

    def compute(rows):
        calls.append(len(rows))
        clock.now += len(rows)
        return rows * 1.0

    units = lambda rows: [np.arange(s, s + 2) for s in range(0, len(rows), 2)]  # noqa: E731
    with pytest.raises(ScoringCancelled):
        cache.run_chunked(
            None,
            cache.ChunkPlan(np.arange(100), chunk_rows=100),
            compute,
            step_units=units,
            cancel=lambda: len(calls) >= 3,
        )
    assert calls == [2, 2, 2]  # 2 s per step: stopped inside the chunk


def test_step_units_must_cover_the_chunk():
    with pytest.raises(ValueError, match="cover 4 of 6"):
        cache.run_chunked(
            None, cache.ChunkPlan(np.arange(6), 6), lambda r: r * 1.0, step_units=lambda r: [np.arange(4)]
        )


def test_token_budget_batches_are_the_passes_batches():
    lengths = [5, 3, 9, 3, 2, 9, 4]
    batches = token_budget_batches(lengths, budget=10)
    assert [b.tolist() for b in batches] == [[4, 1, 3], [6, 0], [2], [5]]  # ascending, stable; rows x max <= 10


def lm_stats(texts, lm_dir, reports=None):
    return compute_lm_stats(
        pd.DataFrame({"text": texts}),
        lm=str(lm_dir),
        max_tokens=32,
        device="cpu",
        batch_size=2,  # a 128-token budget: several batches per chunk
        cache=None,
        progress=None if reports is None else (lambda d, n, m: reports.append(d)),
        first_stage_tokens=300,
    )


def test_the_lm_pass_in_timed_steps_equals_the_unstepped_pass(tiny_causal_lm_dir, monkeypatch):
    words = "the cat sat on a mat and dog ran fast red blue sun moon was slow".split()
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, size=int(rng.integers(0, 40)))) for _ in range(90)]
    with monkeypatch.context() as patch:  # the unstepped pass: each chunk one step, as before steps existed
        patch.setattr(generative._ChunkedLmPass, "chunk_batches", lambda self, rows: [np.arange(len(rows))])
        unstepped = lm_stats(texts, tiny_causal_lm_dir)
    monkeypatch.setattr(cache, "STEP_SECONDS", 1e-9)  # one batch per step: as many step seams as there can be
    reports = []
    stepped = lm_stats(texts, tiny_causal_lm_dir, reports)
    np.testing.assert_array_equal(stepped, unstepped)  # the same batches, so the same bits
    assert len(reports) > 10 and reports == sorted(reports) and reports[-1] == 90
    tok, model = load_causal_lm(str(tiny_causal_lm_dir), "cpu")
    one_by_one = [lm_token_stats([t], tok, model, device="cpu", batch_size=2, max_tokens=32) for t in texts]
    np.testing.assert_allclose(stepped, np.concatenate(one_by_one), atol=1e-5)  # and right: padding only
