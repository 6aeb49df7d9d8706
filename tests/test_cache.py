import numpy as np
import pytest

from euds_core.errors import ScoringCancelled
from euds_core.storage.cache import ChunkPlan, DatasetCache, load_array, run_chunked, save_array


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


def test_score_cache_lists_what_is_cached():
    cache = DatasetCache("abc")
    cache.save_score("information", {"tokenizer": "whitespace"}, np.ones(3, dtype=np.float32))
    assert cache.load_score("information", {"tokenizer": "whitespace"}).tolist() == [1, 1, 1]
    assert cache.load_score("information", {"tokenizer": "other"}) is None
    assert [c["scorer"] for c in cache.cached_scores()] == ["information"]
