"""Sample-first scoring: a seeded random sample first, then random length-sorted chunks; same final values;
partial values readable while the pass runs (issue 17)."""

import numpy as np
import pandas as pd
import pytest

from euds_core.data.table import Dataset
from euds_core.errors import ScoringCancelled
from euds_core.scores.generative import compute_lm_stats, lm_token_stats
from euds_core.scoring.engine import score_dataset, scores_so_far
from euds_core.storage.cache import (
    ChunkPlan,
    DatasetCache,
    first_stage_rows,
    load_partial_rows,
    run_chunked,
    sample_first_order,
    sample_first_plan,
)

MODEL_FREE = {"tokenizer": "whitespace", "encoder": "hashing"}


def test_sample_first_order_is_a_random_sample_then_sorted_random_chunks():
    lengths = np.arange(100)  # row i has length i: a length-sorted order would start with rows 0, 1, 2, ...
    order = sample_first_order(lengths, first_rows=10, chunk_rows=30, seed=0)
    assert sorted(order.tolist()) == list(range(100))
    first = order[:10]
    assert first.max() > 50 and first.min() > 0  # not the 10 shortest: a random draw
    for start, stop in ((0, 10), (10, 40), (40, 70), (70, 100)):
        assert np.all(np.diff(lengths[order[start:stop]]) >= 0)  # length-sorted within each chunk
    assert not np.all(np.diff(lengths[order[10:]]) >= 0)  # but the chunks are not length bands
    np.testing.assert_array_equal(order, sample_first_order(lengths, first_rows=10, chunk_rows=30, seed=0))
    assert not np.array_equal(order, sample_first_order(lengths, first_rows=10, chunk_rows=30, seed=1))


def test_first_stage_is_sized_by_cost():
    assert first_stage_rows(np.full(2225, 257.0), 32_000) == 124  # bbc_news-like: ~128 texts of 256 tokens
    assert first_stage_rows(np.full(10, 257.0), 32_000) == 10  # never more than the rows
    assert first_stage_rows(np.full(5000, 5000.0), 32_000) == 32  # a floor, so the histogram has something


def test_chunked_partial_rows_then_resume_give_the_plain_values(tmp_path):
    values_of = np.linspace(0, 1, 50, dtype=np.float32) ** 2  # the "score" of each row
    plan = sample_first_plan(np.arange(50) % 7, first_rows=8, chunk_rows=12)
    order = plan.order
    calls = []

    def compute(rows):
        calls.append(len(rows))
        return values_of[rows]

    stop = iter([False, False, True])
    with pytest.raises(ScoringCancelled):
        run_chunked(tmp_path, plan, compute, cancel=lambda: next(stop, False))
    assert calls == [8, 12]
    rows, partial = load_partial_rows(tmp_path, 50)
    np.testing.assert_array_equal(rows, np.sort(order[:20]))  # the first stage + one random chunk
    np.testing.assert_array_equal(partial, values_of[rows])
    result = run_chunked(tmp_path, plan, compute)
    assert calls == [8, 12, 12, 12, 6]  # resumed: finished chunks were not recomputed
    np.testing.assert_array_equal(result, values_of)
    np.testing.assert_array_equal(run_chunked(None, ChunkPlan(np.arange(50), 50), compute), result)
    rows, full = load_partial_rows(tmp_path, 50)
    assert len(rows) == 50 and not list(tmp_path.glob("chunk-*")) and not list(tmp_path.glob("plan-*"))


def test_chunks_of_another_plan_are_never_reused(tmp_path):
    order_a = sample_first_order(np.arange(20), first_rows=4, chunk_rows=8, seed=0)
    order_b = sample_first_order(np.arange(20), first_rows=4, chunk_rows=8, seed=1)
    stop = iter([False, True])
    with pytest.raises(ScoringCancelled):
        run_chunked(tmp_path, ChunkPlan(order_a, 8, first_chunk_rows=4), lambda r: r * 1.0, cancel=lambda: next(stop))
    result = run_chunked(tmp_path, ChunkPlan(order_b, 8, first_chunk_rows=4), lambda r: r * 1.0)
    np.testing.assert_array_equal(result, np.arange(20))  # chunk-0 of plan a holds other rows: not reused


def test_generative_sample_first_matches_the_plain_pass(tiny_causal_lm_dir):
    from euds_core.models.loading import load_causal_lm

    rng = np.random.default_rng(0)
    words = "the a cat dog sat on mat ran fast slow red blue sun moon is was and".split()
    texts = [" ".join(rng.choice(words, size=rng.integers(3, 40))) for _ in range(120)]
    table = pd.DataFrame({"text": texts})
    cache = DatasetCache("lm-sample-first")
    staged = compute_lm_stats(
        table, lm=str(tiny_causal_lm_dir), max_tokens=256, device="cpu", batch_size=2, cache=cache, first_stage_tokens=1
    )  # batch 2: 64-row chunks after a 32-row first stage
    tok, model = load_causal_lm(str(tiny_causal_lm_dir), "cpu")
    plain = lm_token_stats(texts, tok, model, device="cpu", batch_size=2)  # one length-sorted pass, as before
    np.testing.assert_allclose(staged, plain, rtol=1e-6, atol=1e-6)


def _dataset(n=300) -> Dataset:
    rng = np.random.default_rng(1)
    words = "alpha beta gamma delta eps zeta eta theta iota kappa lambda mu".split()
    texts = [" ".join(rng.choice(words[: rng.integers(3, 12)], size=rng.integers(2, 30))) for _ in range(n)]
    return Dataset(name="t", task="unlabelled", table=pd.DataFrame({"id": [str(i) for i in range(n)], "text": texts}))


def test_scores_so_far_reads_a_cancelled_semantic_pass_then_the_final_values():
    from euds_core.models import embeddings

    ds = _dataset(700)
    features = DatasetCache(ds.id).root / "features"
    with pytest.raises(ScoringCancelled):  # cancelled once the first stage's chunk is saved
        score_dataset(
            ds, ["information", "semantic"], options=MODEL_FREE, cancel=lambda: any(features.glob("*/chunk-*"))
        )
    so_far = scores_so_far(ds, ["information", "semantic", "generative", "is"], options=MODEL_FREE)
    assert list(so_far.columns) == ["information", "semantic", "is"]  # generative never started: no column
    assert so_far["information"].notna().all()
    scored = so_far["semantic"].notna()
    assert scored.sum() == embeddings.FIRST_STAGE_ROWS  # the first stage (the cancel came before the next chunk)
    assert so_far["semantic"][scored].between(0, 1).all()
    np.testing.assert_array_equal(so_far["is"].notna(), scored)  # the combination: rows with every member
    final = score_dataset(ds, ["information", "semantic"], options=MODEL_FREE)
    plain = score_dataset(
        Dataset(name="copy", task="unlabelled", table=ds.table.assign(id=ds.table["id"] + "-copy")),
        ["semantic"],
        options=MODEL_FREE,
    )
    np.testing.assert_array_equal(final["semantic"].to_numpy(), plain["semantic"].to_numpy())
    done = scores_so_far(ds, ["information", "semantic"], options=MODEL_FREE)
    np.testing.assert_array_equal(done["semantic"].to_numpy(), final["semantic"].to_numpy())


def test_scores_so_far_ranks_a_combination_on_the_rows_all_members_have():
    ds = _dataset(60)
    cache = DatasetCache(ds.id)
    from euds_core.scoring.engine import make_scorer

    for name, values in (("information", np.arange(60.0)), ("semantic", np.arange(60.0)[::-1].copy())):
        cache.save_score(name, make_scorer(name, MODEL_FREE).params(), values.astype(np.float32))
    so_far = scores_so_far(ds, ["is"], options=MODEL_FREE)
    assert "is" in so_far and so_far["is"].notna().all()
    np.testing.assert_allclose(so_far["is"], 0.5)  # opposite ranks average to the middle


def test_one_job_scores_every_model_pass_first_stage_before_any_rest(tiny_causal_lm_dir):
    ds = _dataset(700)
    options = {**MODEL_FREE, "lm": str(tiny_causal_lm_dir), "first_stage_tokens": 1}  # LM first stage: 32 rows
    events = []
    staged = score_dataset(
        ds,
        ["semantic", "generative"],
        options=options,
        progress=lambda name, done, total, _m: events.append((name, done)),
    )
    firsts = [events.index(("semantic", 256)), events.index(("generative", 32))]
    rests = [
        events.index(("semantic", 700)),
        next(i for i, e in enumerate(events) if e[0] == "generative" and e[1] > 32),
    ]
    assert max(firsts) < min(rests)  # both partial views exist before either pass goes on
    copy = Dataset(name="copy", task="unlabelled", table=ds.table.assign(id=ds.table["id"] + "-copy"))
    for name in ("semantic", "generative"):  # the same values as each pass on its own
        alone = score_dataset(copy, [name], options=options)
        np.testing.assert_allclose(staged[name].to_numpy(), alone[name].to_numpy(), rtol=1e-6, atol=1e-6)


def test_a_plans_fingerprint_names_its_chunks_as_before():
    """Chunk files are named by the plan's fingerprint: a fixed value, so a killed pass resumes after an upgrade."""
    order = np.random.default_rng(3).permutation(30)
    assert ChunkPlan(order, 8, first_chunk_rows=5).fingerprint() == "53c5e5e082"
    assert ChunkPlan(order, 8).fingerprint() == "cdfb4f75e1"
    assert ChunkPlan(order, 8, first_chunk_rows=5).bounds() == [(0, 5), (5, 13), (13, 21), (21, 29), (29, 30)]
