import numpy as np
import pandas as pd
import pytest

from euds_core.cli import main
from tests.helpers import requires_assets

WORDS = "the a cat dog sat on mat ran fast slow red blue sun moon is was and".split()


@pytest.fixture
def scores_file(tmp_path, capsys):
    rows = [
        {"Snippet Text": " ".join(WORDS[(i * 3 + j * j) % len(WORDS)] for j in range(4 + i % 5)), "Tag!": "ab"[i % 2]}
        for i in range(40)
    ]
    data = tmp_path / "odd.jsonl"
    pd.DataFrame(rows).to_json(data, orient="records", lines=True)
    out = tmp_path / "scores.parquet"
    argv = ["score", str(data), "--text-col", "Snippet Text", "--label-col", "Tag!", "--encoder", "hashing"]
    assert main(argv + ["--scores", "ttr,mtld,knn_distance,classifier_entropy", "--out", str(out)]) == 0
    capsys.readouterr()
    return out


@pytest.mark.parametrize("sampler", ["mig", "kcenter", "cluster_balanced", "hard_easy"])
def test_select_with_each_sampler(sampler, scores_file, tmp_path, capsys):
    kept = tmp_path / "kept.jsonl"
    argv = [
        "select",
        str(scores_file),
        "--sampler",
        sampler,
        "--keep",
        "0.25",
        "--encoder",
        "hashing",
        "--out",
        str(kept),
    ]
    if sampler == "hard_easy":
        argv += ["--score", "classifier_entropy"]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == "kept 10 of 40"
    frame = pd.read_json(kept, lines=True)
    assert len(frame) == 10 and frame["id"].is_unique and "knn_distance" in frame.columns


def test_mig_uses_a_score_as_quality(scores_file, tmp_path, capsys):
    kept = tmp_path / "kept.csv"
    argv = ["select", str(scores_file), "--sampler", "mig", "--keep", "0.1", "--score", "mtld", "--encoder", "hashing"]
    assert main(argv + ["--out", str(kept)]) == 0
    assert capsys.readouterr().out.strip() == "kept 4 of 40"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--sampler", "mig"], "needs --keep"),
        (["--sampler", "nope", "--keep", "0.1"], "unknown sampler"),
        (["--sampler", "hard_easy", "--keep", "0.1"], "needs a score"),
        (["--sampler", "mig", "--keep", "0.1", "--lo", "1"], "drop --lo"),
        (["--sampler", "hard_easy", "--keep", "0.1", "--score", "nope"], "no score column"),
        (["--sampler", "kcenter", "--keep", "1.5"], "between 0 and 1"),
    ],
)
def test_sampler_input_errors_exit_2(extra, message, scores_file, tmp_path, capsys):
    argv = ["select", str(scores_file), "--encoder", "hashing", "--out", str(tmp_path / "k.jsonl")] + extra
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1


@pytest.mark.slow
@requires_assets
def test_real_encoder_scores_then_mig(tmp_path, capsys):
    """Packaged MiniLM on 100 BBC rows: the literature scores are finite and spread; MIG keeps 10 % exactly."""
    out, kept = tmp_path / "s.parquet", tmp_path / "k.jsonl"
    scores = "classifier_entropy,el2n,knn_distance,near_duplicate,mtld"
    assert main(["score", "bbc_news", "--limit", "100", "--scores", scores, "--out", str(out)]) == 0
    frame = pd.read_parquet(out)
    for name in scores.split(","):
        values = frame[name].to_numpy()
        assert values.dtype == "float32" and np.all(np.isfinite(values)) and values.std() > 0, name
    capsys.readouterr()
    assert main(["select", str(out), "--sampler", "mig", "--keep", "0.1", "--out", str(kept)]) == 0
    assert capsys.readouterr().out.strip() == "kept 10 of 100"
    assert pd.read_json(kept, lines=True)["label"].nunique() >= 3  # 10 picks spread over the 5 topics
