"""One writer process of the concurrent-writes stress test (``tests/test_atomic_writes.py``).

``python -m tests.concurrent_writer OUT ROUNDS`` waits for ``OUT/go``, then for each round writes the same
files as its sibling processes (a saved dataset, a cached score, feature chunks, a copied model folder, subset
exports in three formats and an ``hf`` folder, their manifests) and reads every one of them straight back while
the others are writing the same paths. Any torn file, lost rename or traceback makes it exit non-zero.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from euds_core.curation.export import export_subset, file_digest, subset_frame, write_subset
from euds_core.data.datasets import load_saved_dataset, save_dataset
from euds_core.data.readers import read_table_file
from euds_core.data.table import Dataset
from euds_core.selection.intervals import Interval, SelectionSpec
from euds_core.storage.atomic_files import atomic_folder
from euds_core.storage.cache import ChunkPlan, DatasetCache, load_array, run_chunked

SCORE = "words"
SCORE_PARAMS = {"unit": "words"}
SUBSET_FORMATS = ("jsonl", "csv", "parquet")
MODEL_FILES = {"config.json": '{"model_type": "stress"}', "weights.bin": "w" * 4096}


def round_dataset(round_no: int, n: int = 40) -> Dataset:
    """The same table in every process for a given round (so the same id and paths), a new one each round."""
    table = pd.DataFrame(
        {
            "id": [f"r{round_no}-{i}" for i in range(n)],
            "text": [" ".join(f"w{(i * j + round_no) % 11}" for j in range(2 + i % 7)) for i in range(n)],
            "label": ["pos" if (i + round_no) % 3 else "neg" for i in range(n)],
        }
    )
    return Dataset(name=f"stress-{round_no}", task="classification", table=table)


def expected_features(round_no: int, rows: np.ndarray) -> np.ndarray:
    """Deterministic per-row features, so every writer of a chunk writes identical bytes."""
    return np.stack([rows * 0.5 + round_no, np.sqrt(rows + 1.0)], axis=1).astype(np.float32)  # (len(rows), 2)


def round_scores(ds: Dataset) -> pd.DataFrame:
    """A deterministic score column (words per row), written through the score cache like a scorer's."""
    return pd.DataFrame({SCORE: ds.table["text"].str.split().str.len().to_numpy(dtype=np.float32)})


def selection_spec(ds: Dataset) -> SelectionSpec:
    return SelectionSpec(ds.id, [Interval(SCORE, "threshold", lo=3, hi=6)], seed=1, score_params={SCORE: SCORE_PARAMS})


def write_round(out: Path, round_no: int) -> None:
    """Write every kind of file of one round (the same paths and content as the sibling processes)."""
    ds = round_dataset(round_no)
    assert save_dataset(ds) == ds.id
    scores = round_scores(ds)
    DatasetCache(ds.id).save_score(SCORE, SCORE_PARAMS, scores[SCORE].to_numpy())
    order = np.argsort(-np.arange(len(ds.table)))  # a permutation, as the scorers pass one sorted by length
    folder = DatasetCache(ds.id).feature_dir("stress", {"round": round_no})
    features = run_chunked(folder, ChunkPlan(order, chunk_rows=8), lambda rows: expected_features(round_no, rows))
    np.testing.assert_array_equal(features, expected_features(round_no, np.arange(len(ds.table))))
    with atomic_folder(out / f"model-{round_no}") as tmp:  # like the dequantised LM copy: first finished wins
        for name, text in MODEL_FILES.items():
            (tmp / name).write_text(text)
    spec = selection_spec(ds)
    for fmt in SUBSET_FORMATS:
        (out / f"round-{round_no}-{fmt}").mkdir(exist_ok=True)
        export_subset(ds, scores, spec, out / f"round-{round_no}-{fmt}" / f"subset.{fmt}")
    write_subset(ds.table, out / f"hf-{round_no}", "hf")  # a folder replaced over the other writers' copies


def check_round(out: Path, round_no: int, *, check_hf: bool) -> None:
    """Every file of the round reads back whole and right (called while the other writers still write).

    ``check_hf`` only once all writers are done: a replaced folder is briefly absent (moved aside, then the new
    one renamed in), which ``atomic_folder(replace=True)`` documents.
    """
    ds = round_dataset(round_no)
    pd.testing.assert_frame_equal(load_saved_dataset(ds.id).table, ds.table)
    cache = DatasetCache(ds.id)
    scores = round_scores(ds)
    cached = cache.load_score(SCORE, SCORE_PARAMS)
    assert cached is not None, f"round {round_no}: the cached score is missing or damaged"
    np.testing.assert_array_equal(cached, scores[SCORE].to_numpy())
    assert cache.cached_scores()[0]["params"] == SCORE_PARAMS
    all_rows = load_array(cache.feature_dir("stress", {"round": round_no}) / "all.npy")
    assert all_rows is not None, f"round {round_no}: the finished features are missing or damaged"
    np.testing.assert_array_equal(all_rows, expected_features(round_no, np.arange(len(ds.table))))
    for name, text in MODEL_FILES.items():
        assert (out / f"model-{round_no}" / name).read_text() == text
    ids = subset_frame(ds, scores, selection_spec(ds))[0]["id"].tolist()
    for fmt in SUBSET_FORMATS:
        folder = out / f"round-{round_no}-{fmt}"
        assert read_table_file(folder / f"subset.{fmt}")["id"].astype(str).tolist() == ids, f"{folder}: wrong rows"
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["subset"]["sha256"] == file_digest(folder / f"subset.{fmt}"), f"{folder}: digest differs"
    if check_hf:
        pd.testing.assert_frame_equal(read_table_file(out / f"hf-{round_no}"), ds.table)


def main(out: Path, rounds: int) -> int:
    (out / f"ready-{os.getpid()}").touch()
    while not (out / "go").exists():  # start together, so the rounds overlap
        time.sleep(0.01)
    for round_no in range(rounds):
        write_round(out, round_no)
        check_round(out, round_no, check_hf=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), int(sys.argv[2])))
