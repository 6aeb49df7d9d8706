"""--stream: batch-by-batch scores equal the in-memory path's, a killed run resumes, and RSS stays bounded."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from euds_core.cli import main
from euds_core.data.datasets import load_dataset
from euds_core.data.stream_readers import iter_table_batches
from euds_core.errors import EudsInputError
from euds_core.scores.lexical import TTRScorer, type_token_ratio
from euds_core.scoring import streaming
from euds_core.scoring.engine import score_dataset, scores_with_table
from euds_core.scoring.streaming import score_file_streaming
from tests.helpers import TINY_VOCAB

OPTIONS = {"tokenizer": "whitespace", "encoder": "hashing"}
BATCH_ROWS = 50  # 230 rows -> 5 batches
REPO = Path(__file__).resolve().parents[1]


def make_frame(n: int = 230, seed: int = 0) -> pd.DataFrame:
    """Texts of the tiny LM's words, labels; empty rows inside batch 0 and 1, and batch 2 (rows 100-149) all empty."""
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(TINY_VOCAB[4:], rng.integers(1, 12))) for _ in range(n)]
    for row, text in [(5, ""), (6, "  \x07 "), (57, None)] + [(r, "") for r in range(100, 150)]:
        if row < n:
            texts[row] = text
    return pd.DataFrame({"text": texts, "label": rng.choice(["x", "y"], n)})


def write_input(frame: pd.DataFrame, folder: Path, fmt: str) -> Path:
    """``frame`` saved as Parquet, CSV, JSONL or a Hugging Face save_to_disk folder; returns the path."""
    if fmt == "parquet":
        frame.to_parquet(path := folder / "pool.parquet", index=False)
    elif fmt == "csv":
        frame.to_csv(path := folder / "pool.csv", index=False)
    elif fmt == "jsonl":
        frame.to_json(path := folder / "pool.jsonl", orient="records", lines=True)
    else:
        datasets = pytest.importorskip("datasets")
        # Several small shards, so the reader crosses .arrow files inside a batch.
        datasets.Dataset.from_pandas(frame).save_to_disk(str(path := folder / "pool_hf"), num_shards=3)
    return path


def in_memory(path: Path, names: list[str], options: dict, **columns) -> tuple[pd.DataFrame, object]:
    """The in-memory CLI's output frame for ``path`` (load_dataset + score_dataset), and the dataset."""
    dataset = load_dataset(path, **columns)
    return scores_with_table(dataset, score_dataset(dataset, names, device="cpu", options=options)), dataset


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl", "hf"])
def test_streaming_equals_in_memory_for_every_format(fmt, tmp_path, tiny_causal_lm_dir):
    src = write_input(make_frame(), tmp_path, fmt)
    options = {**OPTIONS, "lm": str(tiny_causal_lm_dir), "precision": "fp32"}
    names = ["information", "ttr", "generative", "semantic"]
    out = tmp_path / "streamed.parquet"
    result = score_file_streaming(
        src, names, out=out, label_col="label", device="cpu", options=options, batch_rows=BATCH_ROWS
    )
    expected, dataset = in_memory(src, names, options, label_col="label")
    streamed = pd.read_parquet(out)

    assert list(streamed.columns) == ["id", "text", "label", "information", "ttr", "generative", "semantic", "igse"]
    assert list(streamed.columns) == list(expected.columns) and len(streamed) == len(expected) == 177
    assert result.skipped == dataset.skipped and sum(result.skipped.values()) == 53
    assert result.rows == 177 and result.dataset_id == dataset.id
    exact = ["id", "text", "label", "information", "ttr", "semantic", "igse"]
    pd.testing.assert_frame_equal(streamed[exact], expected[exact].reset_index(drop=True))
    # Batch composition changes the LM's padding, hence float noise, as between the Ray and local engines.
    np.testing.assert_allclose(streamed["generative"], expected["generative"], rtol=1e-4, atol=1e-4)
    assert streamed["generative"].dtype == np.float32
    assert not (tmp_path / "streamed.parquet.parts").exists()


def test_qa_ids_and_ifd_equal_in_memory(tmp_path, tiny_causal_lm_dir):
    rng = np.random.default_rng(1)
    n = 120
    frame = pd.DataFrame(
        {
            "q": [" ".join(rng.choice(TINY_VOCAB[4:], rng.integers(1, 6))) for _ in range(n)],
            "a": [" ".join(rng.choice(TINY_VOCAB[4:], rng.integers(1, 8))) for _ in range(n)],
            "key": [f"k{i * 7 % n:03d}" for i in range(n)],
        }
    )
    frame.loc[33, "a"] = None
    src = tmp_path / "qa.parquet"
    frame.to_parquet(src, index=False)
    columns = {"question_col": "q", "answer_col": "a", "id_col": "key"}
    options = {**OPTIONS, "lm": str(tiny_causal_lm_dir), "precision": "fp32"}
    out = tmp_path / "qa-scores.parquet"
    score_file_streaming(src, ["ifd", "mtld"], out=out, device="cpu", options=options, batch_rows=40, **columns)
    expected, _ = in_memory(src, ["ifd", "mtld"], options, **columns)
    streamed = pd.read_parquet(out)
    assert list(streamed.columns) == ["id", "text", "question", "answer", "ifd", "mtld"]
    pd.testing.assert_frame_equal(streamed.drop(columns="ifd"), expected.drop(columns="ifd").reset_index(drop=True))
    np.testing.assert_allclose(streamed["ifd"], expected["ifd"], rtol=1e-4, atol=1e-4)


def test_ids_follow_a_pandas_index_stored_in_parquet(tmp_path):
    frame = make_frame(90)
    frame.iloc[7:].to_parquet(ranged := tmp_path / "ranged.parquet")  # RangeIndex(7, 90) in the metadata
    frame[frame.index % 3 != 0].to_parquet(picked := tmp_path / "picked.parquet")  # __index_level_0__ column
    for src in (ranged, picked):
        ids = pd.concat(list(iter_table_batches(src, batch_rows=20)))["id"].tolist()
        assert ids == load_dataset(src).table["id"].tolist()


def test_duplicate_ids_across_batches_are_refused(tmp_path):
    frame = make_frame(60).assign(key=[f"k{i % 45}" for i in range(60)])  # k0..k14 again in the 2nd batch
    frame.to_csv(src := tmp_path / "dups.csv", index=False)
    with pytest.raises(EudsInputError, match="duplicate values"):
        list(iter_table_batches(src, id_col="key", batch_rows=50))


def test_semantic_fits_on_a_seeded_sample_when_the_pool_is_larger(tmp_path, monkeypatch):
    monkeypatch.setattr(streaming, "SEMANTIC_SAMPLE_ROWS", 60)
    write_input(make_frame(), tmp_path, "parquet")
    runs = []
    for name in ("a.parquet", "b.parquet"):
        score_file_streaming(
            tmp_path / "pool.parquet", ["semantic"], out=tmp_path / name, options=OPTIONS, batch_rows=50
        )
        runs.append(pd.read_parquet(tmp_path / name)["semantic"].to_numpy())
    np.testing.assert_array_equal(runs[0], runs[1])  # seeded: reruns agree
    assert np.all((runs[0] >= 0) & (runs[0] <= 1)) and runs[0].std() > 0


def test_killed_run_resumes_from_its_finished_shards(tmp_path, monkeypatch):
    src = write_input(make_frame(), tmp_path, "parquet")
    out = tmp_path / "s.parquet"
    calls = []
    score_ttr = TTRScorer.score

    def dies_on_third_call(self, table, **kwargs):
        calls.append(len(table))
        if len(calls) == 3:
            raise RuntimeError("killed")
        return score_ttr(self, table, **kwargs)

    def counted(self, table, **kwargs):
        calls.append(len(table))
        return score_ttr(self, table, **kwargs)

    names = ["information", "ttr", "semantic", "is"]  # row-local, two-pass and a combination
    run = dict(out=out, options=OPTIONS, batch_rows=BATCH_ROWS)
    monkeypatch.setattr(TTRScorer, "score", dies_on_third_call)
    with pytest.raises(RuntimeError, match="killed"):
        score_file_streaming(src, names, **run)
    # Batches 0 and 1 scored, batch 2 has no usable row (nothing to score), batch 3 died.
    parts = tmp_path / "s.parquet.parts"
    assert sorted(p.name for p in parts.glob("part-*")) == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    assert not out.exists()

    calls.clear()
    monkeypatch.setattr(TTRScorer, "score", counted)
    result = score_file_streaming(src, names, **run)
    assert len(calls) == 2  # only batches 3 and 4
    resumed = pd.read_parquet(out)

    calls.clear()
    score_file_streaming(src, names, **{**run, "out": tmp_path / "whole.parquet"})
    assert len(calls) == 4  # an uninterrupted run scores every batch with rows
    pd.testing.assert_frame_equal(resumed, pd.read_parquet(tmp_path / "whole.parquet"))
    assert result.rows == len(resumed) == 177 and not parts.exists()


def test_other_arguments_start_a_clean_work_folder(tmp_path, monkeypatch):
    src = write_input(make_frame(), tmp_path, "parquet")
    measured = []

    def dies_on_row_120(self, tokens):
        measured.append(1)
        if len(measured) == 120:  # inside batch 3: batches 0-2 are finished shards
            raise RuntimeError("killed")
        return type_token_ratio(tokens)

    monkeypatch.setattr(TTRScorer, "measure", dies_on_row_120)
    with pytest.raises(RuntimeError, match="killed"):
        score_file_streaming(src, ["ttr"], out=tmp_path / "s.parquet", options=OPTIONS, batch_rows=BATCH_ROWS)
    assert len(list((tmp_path / "s.parquet.parts").glob("part-*"))) == 3
    measured.clear()
    monkeypatch.setattr(TTRScorer, "measure", lambda self, tokens: measured.append(1) or type_token_ratio(tokens))
    score_file_streaming(src, ["ttr"], out=tmp_path / "s.parquet", options=OPTIONS, batch_rows=40)
    assert len(measured) == 177  # other batch rows: every usable row scored again, no old shard reused


def test_a_second_run_to_the_same_output_stops_with_a_clear_message(tmp_path):
    """Two `score --stream` runs to one OUT would share (and empty) one work folder: the second is refused."""
    src = write_input(make_frame(), tmp_path, "parquet")
    out = tmp_path / "s.parquet"
    with streaming.exclusive_output(out):  # a first run holds the output (flock: per open file, so here too)
        with pytest.raises(EudsInputError, match="another `score --stream` is writing"):
            score_file_streaming(src, ["ttr"], out=out, options=OPTIONS, batch_rows=BATCH_ROWS)
        assert not out.exists() and not (tmp_path / "s.parquet.parts").exists()
    score_file_streaming(src, ["ttr"], out=out, options=OPTIONS, batch_rows=BATCH_ROWS)  # released: it runs
    assert out.exists()


LOCK_HOLDER = """
import sys, time
from pathlib import Path
from euds_core.scoring.streaming import exclusive_output
with exclusive_output(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(120)
"""


def test_the_output_lock_is_released_when_its_holder_is_killed(tmp_path):
    """Another process holding the lock refuses a run; after that process is killed (-9), the lock is free."""
    out = tmp_path / "s.parquet"
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(out)], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1]
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(EudsInputError, match="another `score --stream` is writing"):
            with streaming.exclusive_output(out):
                pass
    finally:
        holder.kill()
        holder.wait(timeout=30)
    with streaming.exclusive_output(out):  # the kernel released the dead holder's lock
        pass


MEMORY_PROBE = """
import sys
from euds_core.scoring.streaming import score_file_streaming
score_file_streaming(sys.argv[1], ["information"], out=sys.argv[2], options={"tokenizer": "whitespace"},
                     batch_rows=10_000)
# VmHWM, not getrusage's ru_maxrss: Linux carries the parent's peak into ru_maxrss across fork + exec, so under
# pytest (torch loaded, big frames built) ru_maxrss reports the test runner's peak, not this process's.
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))  # KiB
"""


def short_texts_parquet(path: Path, n: int) -> Path:
    """``n`` random 8-20 word sentences over a 5,000-word vocabulary, as Parquet."""
    rng = np.random.default_rng(0)
    vocab = np.array([f"w{i}" for i in range(5000)])
    lengths = rng.integers(8, 21, n)
    words = vocab[rng.integers(0, len(vocab), lengths.sum())]
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    pd.DataFrame({"text": [" ".join(words[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]}).to_parquet(
        path, index=False
    )
    return path


def peak_rss_mib(src: Path, out: Path) -> float:
    """Peak RSS (MiB) of a fresh Python that streams ``information`` over ``src``."""
    proc = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(src), str(out)], capture_output=True, text=True, cwd=REPO, check=True
    )
    return int(proc.stdout.strip().splitlines()[-1]) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak RSS from Linux's /proc")
def test_peak_memory_does_not_grow_with_the_pool(tmp_path):
    """10x the rows, about the same peak RSS (measured here: +28 MiB for 40k -> 400k rows; in memory: +520 MiB)."""
    small = peak_rss_mib(short_texts_parquet(tmp_path / "40k.parquet", 40_000), tmp_path / "s40k.parquet")
    big = peak_rss_mib(short_texts_parquet(tmp_path / "400k.parquet", 400_000), tmp_path / "s400k.parquet")
    assert len(pd.read_parquet(tmp_path / "s400k.parquet", columns=["information"])) == 400_000
    assert big - small < 80, f"peak RSS {small:.0f} MiB for 40k rows, {big:.0f} MiB for 400k"


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_stream_writes_what_the_in_memory_cli_writes(tmp_path, capsys):
    src = write_input(make_frame(), tmp_path, "csv")
    common = ["score", src, "--label-col", "label", "--scores", "information,distinct_2", "--tokenizer", "whitespace"]
    code, stdout, stderr = run_cli(
        capsys, *common, "--stream", "--stream-batch-rows", BATCH_ROWS, "--out", tmp_path / "streamed.parquet"
    )
    assert code == 0, stderr
    assert "skipped 52 rows: missing text" in stderr and "skipped 1 rows: empty text" in stderr
    code, stdout_memory, _ = run_cli(capsys, *common, "--out", tmp_path / "memory.parquet")
    assert code == 0
    # Same line, same dataset id: the app and `select --apply-review` see the same dataset either way.
    assert stdout.replace("streamed.parquet", "X") == stdout_memory.replace("memory.parquet", "X")
    assert stdout.startswith("wrote 177 rows x 2 scores (information, distinct_2) to ")
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "streamed.parquet"), pd.read_parquet(tmp_path / "memory.parquet")
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--out", "{tmp}/s.csv"], "--stream writes Parquet only"),
        (["--scores", "knn_distance", "--out", "{tmp}/s.parquet"], "score 'knn_distance' cannot be streamed"),
        (["--limit", "10", "--out", "{tmp}/s.parquet"], "drop --limit"),
        (["--engine", "ray", "--out", "{tmp}/s.parquet"], "drop --engine ray"),
        (["--stream-batch-rows", "0", "--out", "{tmp}/s.parquet"], "positive number of rows"),
        (["--text-col", "nope", "--out", "{tmp}/s.parquet"], "no column 'nope'"),
    ],
)
def test_cli_stream_refusals_are_one_line(extra, message, tmp_path, capsys):
    src = write_input(make_frame(), tmp_path, "csv")
    code, _, stderr = run_cli(capsys, "score", src, "--stream", *[a.format(tmp=tmp_path) for a in extra])
    assert code == 2
    assert stderr.strip().splitlines() == [stderr.strip()] and stderr.startswith("error: ") and message in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["score", "bbc_news", "--stream"], "'bbc_news' is a built-in dataset"),
        (["score", "{tmp}/pool.json", "--stream"], "cannot be read in batches"),
        (["score", "{tmp}/empty.csv", "--stream"], "empty.csv is empty"),
        (["score", "{tmp}/header.csv", "--stream"], "the data has no rows"),
        (["score", "{tmp}/pool.csv", "--stream-batch-rows", "10"], "only applies with --stream"),
    ],
)
def test_cli_stream_input_refusals(argv, message, tmp_path, capsys):
    make_frame(10).to_json(tmp_path / "pool.json", orient="records")
    make_frame(10).to_csv(tmp_path / "pool.csv", index=False)
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "header.csv").write_text("text,label\n")
    argv = [a.format(tmp=tmp_path) for a in argv] + ["--scores", "information", "--out", str(tmp_path / "s.parquet")]
    code, _, stderr = run_cli(capsys, *argv)
    assert code == 2 and stderr.startswith("error: ") and message in stderr
    assert stderr.strip().splitlines() == [stderr.strip()]
