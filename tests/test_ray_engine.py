"""--engine ray gives the same scores as the local engine (local in-process Ray, a few hundred rows)."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("ray.data")

from euds_core.data.table import Dataset
from euds_core.scoring.engine import score_dataset  # noqa: E402
from euds_core.scoring.ray_engine import score_dataset_ray, shutdown_ray  # noqa: E402
from tests.helpers import TINY_VOCAB  # noqa: E402

pytestmark = pytest.mark.slow  # starting Ray takes ~10-30 s on 2 cores


@pytest.fixture(scope="module", autouse=True)
def ray_session():
    yield
    shutdown_ray()


def make_dataset(n: int = 300, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    words = TINY_VOCAB[4:]
    texts = [" ".join(rng.choice(words, rng.integers(1, 12))) for _ in range(n)]
    table = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "text": texts, "label": rng.choice(["x", "y"], n)})
    return Dataset(name="ray-test", task="classification", table=table)


def test_ray_matches_local_for_row_local_and_model_scores(tiny_causal_lm_dir, tmp_path, monkeypatch):
    options = {"tokenizer": "whitespace", "lm": str(tiny_causal_lm_dir), "precision": "fp32", "encoder": "hashing"}
    names = ["information", "generative", "semantic", "is"]
    ds = make_dataset()
    storage = tmp_path / "shared-storage"
    via_ray = score_dataset_ray(
        ds, names, device="cpu", options=options, num_actors=2, cpus_per_actor=1, storage=storage
    )
    assert storage.is_dir() and not any(storage.iterdir())  # the result shards went through it, then away
    monkeypatch.setenv("EUDS_HOME", str(tmp_path / "other-home"))  # a fresh cache: the local engine recomputes
    local = score_dataset(ds, names, device="cpu", options=options)
    assert list(via_ray.columns) == list(local.columns) == ["information", "generative", "semantic", "is", "igse"]
    np.testing.assert_array_equal(via_ray["information"], local["information"])
    np.testing.assert_allclose(via_ray["generative"], local["generative"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(via_ray["semantic"], local["semantic"], atol=1e-5)
    np.testing.assert_allclose(via_ray["is"], local["is"], atol=1e-6)
    np.testing.assert_allclose(via_ray["igse"], local["igse"], atol=1e-6)


def test_cli_engine_ray_writes_the_same_file_as_local(tmp_path, capsys):
    from euds_core.cli import main

    src = tmp_path / "pool.csv"
    make_dataset(120, seed=1).table[["text", "label"]].to_csv(src, index=False)
    args = ["score", str(src), "--text-col", "text", "--scores", "information", "--tokenizer", "whitespace"]
    assert main([*args, "--engine", "ray", "--out", str(tmp_path / "ray.parquet")]) == 0
    assert main([*args, "--out", str(tmp_path / "local.parquet")]) == 0
    via_ray, local = pd.read_parquet(tmp_path / "ray.parquet"), pd.read_parquet(tmp_path / "local.parquet")
    pd.testing.assert_frame_equal(via_ray, local)
    assert "wrote 120 rows" in capsys.readouterr().out
