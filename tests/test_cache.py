import numpy as np
import pytest

from euds_core.errors import ScoringCancelled
from euds_core.storage.cache import ChunkPlan, DatasetCache, load_array, load_partial_rows, run_chunked, save_array


def test_save_load_and_corruption_detected(tmp_path):
    path = tmp_path / "a.npy"
    save_array(path, np.arange(5, dtype=np.float32))
    np.testing.assert_array_equal(load_array(path), np.arange(5))
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert load_array(path) is None and not path.exists()  # recomputed, never trusted


def test_chunked_run_resumes_after_cancel(tmp_path):
    calls = []

    def compute(rows):
        calls.append(len(rows))
        return rows.astype(np.float32) * 2

    order = np.arange(10)[::-1].copy()
    stop_after = iter([False, False, True])
    with pytest.raises(ScoringCancelled):
        run_chunked(tmp_path / "f", ChunkPlan(order, chunk_rows=4), compute, cancel=lambda: next(stop_after, False))
    assert calls == [4, 4]
    result = run_chunked(tmp_path / "f", ChunkPlan(order, chunk_rows=4), compute)
    assert calls == [4, 4, 2]  # only the missing chunk was computed
    np.testing.assert_array_equal(result, np.arange(10) * 2)  # back in row order
    assert run_chunked(tmp_path / "f", ChunkPlan(order, chunk_rows=4), lambda r: pytest.fail("recomputed")) is not None


def test_a_cancel_inside_a_chunk_keeps_its_finished_steps_and_the_rerun_computes_only_the_rest(tmp_path):
    # One 12-row chunk computed 3 rows a step; the cancel comes before the third step: 6 rows are done.
    calls = []

    def compute(rows):
        calls.append(rows.tolist())
        return rows.astype(np.float32) * 2

    order = np.arange(12)[::-1].copy()
    plan, folder = ChunkPlan(order, chunk_rows=12), tmp_path / "f"
    stop_after = iter([False, False, True])
    with pytest.raises(ScoringCancelled, match="after 6 of 12 rows"):
        run_chunked(folder, plan, compute, cancel=lambda: next(stop_after, False), step_rows=3)
    assert calls == [[11, 10, 9], [8, 7, 6]]
    rows, values = load_partial_rows(folder, 12)  # the partial view shows the kept rows too
    assert rows.tolist() == [6, 7, 8, 9, 10, 11] and values.tolist() == [12, 14, 16, 18, 20, 22]
    calls.clear()
    result = run_chunked(folder, plan, compute, step_rows=3)
    assert calls == [[5, 4, 3], [2, 1, 0]]  # only the steps the cancelled run had not finished
    np.testing.assert_array_equal(result, np.arange(12) * 2)
    assert not list(folder.glob("partial-*")) and not list(folder.glob("chunk-*"))
    # A half-written pair (the kill came between its two writes) is ignored: the chunk is computed whole.
    other = tmp_path / "g"
    with pytest.raises(ScoringCancelled):
        run_chunked(other, plan, compute, cancel=iter([False, True]).__next__, step_rows=3)
    (values_file,) = other.glob("partial-*-values.npy")
    save_array(values_file, np.zeros(5, dtype=np.float32))
    calls.clear()
    np.testing.assert_array_equal(run_chunked(other, plan, compute, step_rows=3), np.arange(12) * 2)
    assert len(calls) == 4


def test_score_cache_lists_what_is_cached():
    cache = DatasetCache("abc")
    cache.save_score("information", {"tokenizer": "whitespace"}, np.ones(3, dtype=np.float32))
    assert cache.load_score("information", {"tokenizer": "whitespace"}).tolist() == [1, 1, 1]
    assert cache.load_score("information", {"tokenizer": "other"}) is None
    assert [c["scorer"] for c in cache.cached_scores()] == ["information"]
