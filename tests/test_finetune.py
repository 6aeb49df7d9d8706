"""Fine-tune experiments and the interval search: tiny random-init BERT built on the spot, EUDS_HOME in tmp."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from euds_core.cli import main
from euds_core.errors import EudsInputError
from euds_core.experiments import finetune
from euds_core.experiments.finetune import FinetuneConfig, GridSpec, run_grid
from euds_core.experiments.grid_job import grid_message, parse_grid_message
from euds_core.experiments.interval_search import (
    IntervalSearchSettings,
    best_cell,
    interval_cells,
    search_interval,
    search_split,
)
from euds_core.experiments.run_store import RESULT_COLUMNS, latest_grid_runs, load_runs
from euds_core.experiments.splits import stratified_split
from euds_core.experiments.subsets import subset_rows
from euds_core.experiments.training import RunResult, build_qa_candidates, train_and_evaluate
from tests.helpers import requires_assets

WORDS = "good great fine bad awful poor movie film plot actor the a is was".split()


def build_tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A 1-layer random-init BERT classifier + word-level tokenizer with [CLS]/[SEP] templates (~60 KB)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *WORDS])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]"
    )
    tok.save_pretrained(folder)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


def tiny_table(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        positive = i % 3 != 0  # 2:1 imbalance, so stratification is visible
        word = rng.choice(["good", "great", "fine"] if positive else ["bad", "awful", "poor"])
        rows.append(
            (
                f"r{i}",
                " ".join(rng.choice(["the", "movie", "film", "plot", "was"], 3)) + f" {word}",
                "pos" if positive else "neg",
            )
        )
    return pd.DataFrame(rows, columns=["id", "text", "label"])


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_config(model: Path) -> FinetuneConfig:
    return FinetuneConfig(model=str(model), epochs=1, max_len=16, batch_size=8, lr=1e-3, device="cpu")


# ---------------------------------------------------------------------------------------------- split


def test_split_is_stratified_disjoint_and_fixed():
    labels = np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 20 + ["d"])  # "d" has one row: stays in train
    train, test = stratified_split(labels, len(labels), 0.2, seed=3)
    assert set(train).isdisjoint(test) and len(train) + len(test) == len(labels)
    assert {c: int((labels[test] == c).sum()) for c in "abcd"} == {"a": 10, "b": 6, "c": 4, "d": 0}
    again_train, again_test = stratified_split(labels, len(labels), 0.2, seed=3)
    assert np.array_equal(test, again_test) and np.array_equal(train, again_train)
    assert not np.array_equal(test, stratified_split(labels, len(labels), 0.2, seed=4)[1])


def test_unlabelled_split_is_plain_and_seeded():
    train, test = stratified_split(None, 50, 0.2, seed=0)
    assert len(test) == 10 and np.array_equal(test, stratified_split(None, 50, 0.2, seed=0)[1])


# ---------------------------------------------------------------------------------------------- strategies


def test_interval_and_random_train_on_the_same_count():
    table = tiny_table(100)
    pool, _ = stratified_split(table["label"].to_numpy(), len(table), 0.2, 0)
    scores = pd.DataFrame({"igse": np.random.default_rng(1).random(len(table))})
    kwargs = dict(table=table, pool=pool, scores=scores, score="igse")
    for size in (0.05, 0.16, 0.5):
        interval = subset_rows("interval", size, 0, **kwargs)
        random = subset_rows("random", size, 0, **kwargs)
        assert len(interval) == len(random) == round(size * len(pool))
        assert set(interval) <= set(pool) and set(random) <= set(pool)
    # the middle band of the pool's scores: its rows sit strictly inside the pool's score range
    middle = subset_rows("interval", 0.5, 0, **kwargs)
    values = scores["igse"].to_numpy()
    assert values[middle].min() > values[pool].min() and values[middle].max() < values[pool].max()
    assert np.array_equal(subset_rows("full", 0.1, 0, **kwargs), np.sort(pool))
    high = subset_rows("igse", 0.25, 0, **{**kwargs, "band": "high"})
    assert values[high].min() >= np.quantile(values[pool], 0.74)


def test_sampler_strategies_pick_the_same_count_from_the_pool():
    table = tiny_table(100)
    pool, _ = stratified_split(table["label"].to_numpy(), len(table), 0.2, 0)
    scores = pd.DataFrame({"igse": np.random.default_rng(1).random(len(table))})
    embeddings = np.random.default_rng(2).normal(size=(len(table), 8)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    assert {"hard_easy", "kcenter"} <= set(finetune.sampler_names())
    kwargs = dict(table=table, pool=pool, scores=scores, score="igse", embeddings=embeddings)
    for name in ("hard_easy", "kcenter"):
        rows = subset_rows(name, 0.25, 0, **kwargs)
        assert len(rows) == len(np.unique(rows)) == round(0.25 * len(pool)) and set(rows) <= set(pool)
    assert finetune.needs_embeddings(["random", "kcenter"]) and not finetune.needs_embeddings(["random", "hard_easy"])


def test_interval_without_scores_and_unknown_strategy_are_input_errors():
    table = tiny_table(20)
    pool = np.arange(16)
    with pytest.raises(EudsInputError, match="needs a score"):
        subset_rows("interval", 0.5, 0, table=table, pool=pool, scores=None, score=None)
    with pytest.raises(EudsInputError, match="unknown strategy"):
        subset_rows("nonsense", 0.5, 0, table=table, pool=pool, scores=None, score=None)


def test_grid_plan_runs_full_once_per_seed():
    spec = GridSpec(strategies=["interval", "random", "full"], sizes=[0.5, 0.1, 1.0], seeds=[0, 1])
    plan = spec.plan()
    assert len(plan) == 2 * (3 * 2 + 1)
    assert [p for p in plan if p[0] == "full"] == [("full", 1.0, 0), ("full", 1.0, 1)]


def test_count_trainings_counts_the_full_pool_once_per_seed():
    spec = GridSpec(strategies=["interval", "random", "full"], sizes=[0.5, 0.1, 1.0], seeds=[0, 1])
    plan = spec.plan()
    assert len(plan) == 14 and finetune.count_trainings(plan) == 2 * (2 * 2 + 1)
    assert finetune.count_trainings([("interval", 0.5, 0), ("random", 0.5, 0)]) == 2


def test_grid_message_round_trip():
    assert parse_grid_message(grid_message(2, 9, 0.45, "random @ 0.1")) == (3, 9, 0.45)
    assert parse_grid_message("something else") is None


# ---------------------------------------------------------------------------------------------- grid + SQLite


def test_restarted_grid_skips_finished_runs(tiny_bert, monkeypatch):
    table = tiny_table(60)
    scores = pd.DataFrame({"igse": np.random.default_rng(0).random(len(table))})
    spec = GridSpec(
        strategies=["interval", "random", "full"],
        sizes=[0.5, 1.0],
        seeds=[0],
        score="igse",
        config=tiny_config(tiny_bert),
    )
    calls = []
    real = finetune.train_and_evaluate
    monkeypatch.setattr(finetune, "train_and_evaluate", lambda *a, **k: calls.append(1) or real(*a, **k))
    progress = []
    runs = run_grid("ds", table, spec, task="classification", scores=scores, progress=lambda *a: progress.append(a))
    assert len(runs) == 5 and list(runs.columns[1:8]) == RESULT_COLUMNS
    # interval@1.0, random@1.0 and full train on the same rows: trained once, copied twice
    assert len(calls) == 3
    assert runs[runs.size_fraction == 1.0].accuracy.nunique() == 1
    assert (runs.groupby("size_fraction").n_train.nunique() == 1).all()
    assert progress[-1][0] == progress[-1][1] == 3  # the counter counts trainings, not the copied twins
    assert max(p[0] for p in progress) == 3 and {p[1] for p in progress} == {3}
    assert ((runs.accuracy >= 0) & (runs.accuracy <= 1)).all()

    calls.clear()
    again = run_grid("ds", table, spec, task="classification", scores=scores)
    assert calls == [] and again[RESULT_COLUMNS].equals(runs[RESULT_COLUMNS])

    from euds_core.storage.store import connect

    with connect() as conn:  # lose one run, as if the process died while training it
        conn.execute("DELETE FROM finetune_runs WHERE strategy='random' AND size_fraction=0.5")
    run_grid("ds", table, spec, task="classification", scores=scores)
    assert len(calls) == 1 and len(load_runs("ds", spec.key("ds", scores))) == 5

    calls.clear()  # another scores file: the same settings select other rows, so every subset run trains again
    other = pd.DataFrame({"igse": np.random.default_rng(1).random(len(table))})
    assert spec.key("ds", other) != spec.key("ds", scores)
    run_grid("ds", table, spec, task="classification", scores=other)
    assert len(calls) == 3


def test_cancel_stops_the_grid_and_keeps_finished_runs(tiny_bert):
    from euds_core.errors import ScoringCancelled

    table = tiny_table(40)
    spec = GridSpec(strategies=["random"], sizes=[0.5, 1.0], seeds=[0], config=tiny_config(tiny_bert))
    state = {"runs": 0}

    def progress(done, total, fraction, message):
        state["runs"] = done

    with pytest.raises(ScoringCancelled):
        run_grid("ds2", table, spec, task="classification", progress=progress, cancel=lambda: state["runs"] >= 1)
    assert len(load_runs("ds2", spec.key("ds2"))) == 1


def test_grid_key_changes_with_settings(tiny_bert):
    base = GridSpec(strategies=["random"], config=tiny_config(tiny_bert))
    other = GridSpec(strategies=["random"], config=FinetuneConfig(model=str(tiny_bert), epochs=2, max_len=16))
    assert base.key("d") != other.key("d") and base.key("d") != base.key("e")


# ---------------------------------------------------------------------------------------------- Q&A


def test_qa_candidates_one_true_and_three_distinct_others():
    answers = ["yes", "no", "maybe", "yes", "later", "never", "now"]
    rows = np.array([0, 1, 2])
    cands = build_qa_candidates(answers, rows, np.arange(len(answers)), seed=5)
    assert cands.shape == (3, 4) and np.array_equal(cands[:, 0], rows)
    for row in cands:
        texts = [answers[i] for i in row]
        assert len(set(texts)) == 4  # the duplicate "yes" (row 3) is never a negative of row 0
    assert np.array_equal(cands, build_qa_candidates(answers, rows, np.arange(len(answers)), seed=5))
    with pytest.raises(EudsInputError, match="distinct answers"):
        build_qa_candidates(["a", "b", "a"], np.array([0]), np.arange(3), seed=0)


def test_qa_answer_selection_trains_and_scores(tiny_bert):
    qa = pd.DataFrame(
        {
            "id": [f"q{i}" for i in range(40)],
            "question": [f"the {w} is" for w in (WORDS * 3)[:40]],
            "answer": (WORDS * 3)[:40],
        }
    )
    qa["text"] = qa["question"] + "\n\n" + qa["answer"]
    train, test = stratified_split(None, len(qa), 0.25, 0)
    result = train_and_evaluate(qa, train, test, task="qa", config=tiny_config(tiny_bert), seed=0)
    assert 0.0 <= result.accuracy <= 1.0 and 0.0 <= result.macro_f1 <= 1.0 and result.n_train == len(train)


# ---------------------------------------------------------------------------------------------- interval search


def test_interval_cells_respect_min_keep():
    cells = interval_cells(0.1, 0.2)
    assert len(cells) == 45 and all(hi - lo >= 0.2 - 1e-9 for lo, hi in cells) and (0.0, 1.0) in cells
    assert len(interval_cells(0.25, 1.0)) == 1
    with pytest.raises(EudsInputError):
        interval_cells(0.1, 0.0)


def test_search_grid_shape_and_signal():
    rng = np.random.default_rng(0)
    n, dim = 600, 16
    labels = rng.integers(0, 3, n)
    score = rng.random(n)  # rows with a high score carry no class signal in their embedding
    emb = np.where(
        (score > 0.6)[:, None],
        rng.normal(size=(n, dim)),
        rng.normal(size=(3, dim))[labels] + 0.5 * rng.normal(size=(n, dim)),
    )
    settings = IntervalSearchSettings(min_keep=0.3, step=0.2, pca_dims=8)
    grid = search_interval(emb.astype(np.float32), labels, score, search_split(labels), settings)
    assert len(grid) == len(interval_cells(0.2, 0.3)) and list(grid.columns[:4]) == [
        "p_lo",
        "p_hi",
        "keep_fraction",
        "n_train",
    ]
    assert (grid.keep_fraction >= 0.3 - 0.01).all() and grid.accuracy.between(0, 1).all()
    cell = grid.set_index(["p_lo", "p_hi"]).accuracy
    assert cell[(0.0, 0.4)] > cell[(0.6, 1.0)] + 0.1  # the informative low band trains a better proxy
    assert best_cell(grid).p_lo < 0.6


def test_search_rejects_bad_input():
    emb = np.zeros((10, 4), dtype=np.float32)
    labels = np.array(["a", "b"] * 5)
    split = search_split(labels)
    with pytest.raises(EudsInputError, match="two label classes"):
        search_interval(emb, np.array(["a"] * 10), np.arange(10.0), split)
    with pytest.raises(EudsInputError, match="same rows"):
        search_interval(emb, labels, np.arange(9.0), split)


# ---------------------------------------------------------------------------------------------- CLI


@pytest.fixture
def odd_csv(tmp_path) -> tuple[Path, Path]:
    """A CSV with unusual column names and a matching scores file (as `score` writes it)."""
    table = tiny_table(50)
    raw = pd.DataFrame({"Review Id": table["id"], "Blurb (text)": table["text"], "Critic Verdict": table["label"]})
    path = tmp_path / "odd reviews.csv"
    raw.to_csv(path, index=False)
    scores = pd.DataFrame({"id": [f"row-{i}" for i in range(50)], "text": table["text"], "label": table["label"]})
    scores["igse"] = np.random.default_rng(0).random(50).astype(np.float32)
    scores_path = tmp_path / "s.parquet"
    scores.to_parquet(scores_path)
    return path, scores_path


def test_cli_finetune_writes_the_documented_columns(odd_csv, tiny_bert, tmp_path, capsys):
    data, scores = odd_csv
    out = tmp_path / "r.csv"
    code = main(
        [
            "finetune",
            str(data),
            "--text-col",
            "Blurb (text)",
            "--label-col",
            "Critic Verdict",
            "--scores-file",
            str(scores),
            "--score",
            "igse",
            "--sizes",
            "0.5,1.0",
            "--strategies",
            "interval,random",
            "--seeds",
            "1",
            "--epochs",
            "1",
            "--max-len",
            "16",
            "--model",
            str(tiny_bert),
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    result = pd.read_csv(out)
    assert list(result.columns) == RESULT_COLUMNS and len(result) == 4
    assert result.groupby("size_fraction").n_train.nunique().eq(1).all()


def finetune_args(data: Path, scores: Path, model: Path, out: Path, *extra: str) -> list[str]:
    return [
        "finetune",
        str(data),
        "--text-col",
        "Blurb (text)",
        "--label-col",
        "Critic Verdict",
        "--scores-file",
        str(scores),
        "--score",
        "igse",
        "--epochs",
        "1",
        "--max-len",
        "16",
        "--model",
        str(model),
        "--out",
        str(out),
        *extra,
    ]


VERDICT = r"(better by \d+\.\d pt \(95 % CI -?\d+\.\d–-?\d+\.\d\)|worse by .*|no detectable difference)"


def test_cli_finetune_prints_a_verdict_line_per_size(odd_csv, tiny_bert, tmp_path, capsys):
    import re

    data, scores = odd_csv
    extra = ["--sizes", "0.25,0.5", "--strategies", "interval,random", "--seeds", "2"]
    code = main(finetune_args(data, scores, tiny_bert, tmp_path / "r.csv", *extra))
    out = capsys.readouterr().out
    assert code == 0
    verdicts = [line for line in out.splitlines() if " vs random: " in line]
    assert [line.split(":")[0] for line in verdicts] == ["size 0.25", "size 0.5"]
    for line in verdicts:
        assert re.search(f"interval vs random: {VERDICT}", line) and "over 2 seeds" in line
    assert "95 % CI" in out  # the curve points carry their interval too


def test_cli_finetune_confirms_an_explicit_interval(odd_csv, tiny_bert, tmp_path, capsys):
    data, scores = odd_csv
    extra = ["--plo", "0.2", "--phi", "0.6", "--strategies", "interval,random,full", "--seeds", "2"]
    code = main(finetune_args(data, scores, tiny_bert, tmp_path / "r.csv", *extra))
    out = capsys.readouterr().out
    assert code == 0
    result = pd.read_csv(tmp_path / "r.csv")
    sizes = result.groupby("strategy").size_fraction.unique().to_dict()
    assert {k: list(v) for k, v in sizes.items()} == {"full": [1.0], "interval:0.2-0.6": [0.4], "random": [0.4]}
    assert result.groupby("size_fraction").n_train.nunique().eq(1).all()  # random has the interval's size
    assert len(result) == 6 and "size 0.4: interval:0.2-0.6 vs random: " in out


BAD_FINETUNE = [
    (["--strategies", "interval:0.6-0.2"], "p_lo < p_hi"),
    (["--strategies", "interval:x"], "interval:P_LO-P_HI"),
    (["--plo", "0.2"], "--plo and --phi"),
    (["--sizes", "0,2"], "--sizes"),
    (["--sizes", "abc"], "--sizes"),
    (["--strategies", "interval"], "--scores-file"),
    (["--seeds", "x"], "--seeds"),
    (["--epochs", "0"], "--epochs"),
    (["--model", "/no/such/model"], "not a model folder"),
]


@pytest.mark.parametrize(("extra", "needle"), BAD_FINETUNE)
def test_cli_finetune_bad_input_exits_2(odd_csv, tmp_path, capsys, extra, needle, tiny_bert):
    data, _ = odd_csv
    base = [
        "finetune",
        str(data),
        "--text-col",
        "Blurb (text)",
        "--label-col",
        "Critic Verdict",
        "--strategies",
        "random",
        "--model",
        str(tiny_bert),
    ]
    code = main([*base, *extra, "--out", str(tmp_path / "r.csv")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error:") and needle in err[0]


def test_cli_finetune_scores_of_other_data_exit_2(odd_csv, tmp_path, capsys, tiny_bert):
    data, scores = odd_csv
    code = main(
        [
            "finetune",
            str(data),
            "--text-col",
            "Blurb (text)",
            "--label-col",
            "Critic Verdict",
            "--limit",
            "60",
            "--scores-file",
            str(scores),
            "--score",
            "nope",
            "--model",
            str(tiny_bert),
            "--out",
            str(tmp_path / "r.csv"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and "nope" in err


def train_ids_args(data: Path, model: Path, out: Path, *extra: str) -> list[str]:
    base = ["finetune", str(data), "--text-col", "Blurb (text)", "--label-col", "Critic Verdict"]
    return [*base, "--epochs", "1", "--max-len", "16", "--model", str(model), "--out", str(out), *extra]


def test_cli_finetune_trains_the_rows_of_an_ids_file_against_stratified_random(odd_csv, tiny_bert, tmp_path, capsys):
    """``--train-ids`` (e.g. what `export` wrote) is the CLI's selection: its pool rows, at their own size, against
    label-stratified random at that size, with a verdict line."""
    data, scores = odd_csv
    ids = pd.read_parquet(scores)["id"].iloc[:24]
    pd.DataFrame({"id": ids, "text": "x"}).to_csv(tmp_path / "subset.csv", index=False)
    out = tmp_path / "r.csv"
    code = main(train_ids_args(data, tiny_bert, out, "--train-ids", str(tmp_path / "subset.csv"), "--seeds", "2"))
    printed = capsys.readouterr()
    assert code == 0, printed.err
    result = pd.read_csv(out)
    assert set(result.strategy) == {"selection", "random:balanced"} and len(result) == 4
    n_train = result.groupby("strategy").n_train.unique().to_dict()
    assert len(set(map(tuple, n_train.values()))) == 1  # random at exactly the selection's size
    assert 0 < n_train["selection"][0] <= 24  # the listed rows that are in the pool (some may be test rows)
    assert "selection vs random:balanced (its matching baseline): " in printed.out


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--strategies", "selection,random"], "--train-ids FILE"),
        (["--train-ids", "{ids}", "--strategies", "random"], "add selection to --strategies"),
        (["--train-ids", "{no_id}"], "needs an `id` column"),
        (["--train-ids", "{unknown}"], "not in this dataset"),
    ],
)
def test_cli_finetune_train_ids_bad_input_exits_2(odd_csv, tiny_bert, tmp_path, capsys, extra, needle):
    data, _ = odd_csv
    files = {"ids": ["row-1"], "no_id": None, "unknown": ["row-1", "nope-7"]}
    for name, ids in files.items():
        frame = pd.DataFrame({"id": ids}) if ids else pd.DataFrame({"sample": ["row-1"]})
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    extra = [e.format(**{n: tmp_path / f"{n}.csv" for n in files}) for e in extra]
    code = main(train_ids_args(data, tiny_bert, tmp_path / "r.csv", *extra))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error:") and needle in err[0], err


def test_cli_search_interval(odd_csv, tmp_path, capsys):
    _, scores = odd_csv
    out = tmp_path / "grid.csv"
    code = main(
        [
            "search-interval",
            str(scores),
            "--score",
            "igse",
            "--label-col",
            "label",
            "--min-keep",
            "0.5",
            "--encoder",
            "hashing",
            "--out",
            str(out),
        ]
    )
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "--test-fraction 0.2 --split-seed 0" in printed.out  # the confirm command carries the split
    grid = pd.read_csv(out)
    assert len(grid) == len(interval_cells(0.1, 0.5)) and (grid.keep_fraction >= 0.45).all()
    assert main(["search-interval", str(scores), "--score", "missing", "--label-col", "label", "--out", str(out)]) == 2
    assert (
        main(
            [
                "search-interval",
                str(scores),
                "--score",
                "igse",
                "--label-col",
                "label",
                "--min-keep",
                "0",
                "--encoder",
                "hashing",
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert main(["search-interval", str(scores), "--score", "igse", "--out", str(tmp_path / "grid.txt")]) == 2


def test_finetune_job_kind_runs_a_grid(tiny_bert):
    from euds_core.data.datasets import save_dataset
    from euds_core.data.table import Dataset
    from euds_core.runtime.job_kinds import JOB_KINDS

    ds = Dataset(name="tiny", task="classification", table=tiny_table(40))
    dataset_id = save_dataset(ds)
    updates = []
    args = {
        "dataset_id": dataset_id,
        "strategies": ["random"],
        "sizes": [0.5],
        "seeds": [0],
        "config": {"model": str(tiny_bert), "epochs": 1, "max_len": 16, "device": "cpu"},
        "threads": 1,
    }
    result = JOB_KINDS["finetune"](
        args, type("R", (), {"update": lambda self, f, m: updates.append((f, m)), "cancelled": lambda self: False})()
    )
    assert result["runs"] == 1 and updates[-1][0] == 1.0
    assert parse_grid_message(updates[0][1]) == (1, 1, 0.0)


def test_interval_search_job_saves_a_label_balanced_grid_where_the_page_reads_it():
    from euds_core.data.datasets import load_saved_dataset, save_dataset
    from euds_core.data.table import Dataset
    from euds_core.experiments.interval_search import load_search_grid
    from euds_core.runtime.job_kinds import JOB_KINDS
    from euds_core.scoring.engine import score_dataset

    dataset_id = save_dataset(Dataset(name="tiny", task="classification", table=tiny_table(120)))
    options = {"tokenizer": "whitespace"}
    score_dataset(load_saved_dataset(dataset_id), ["information"], options=options)  # the job reads cached scores
    updates = []
    args = {"dataset_id": dataset_id, "score": "information", "min_keep": 0.4, "step": 0.2}
    result = JOB_KINDS["interval_search"](
        {**args, "encoder": "hashing", "options": options},
        type("R", (), {"update": lambda self, f, m: updates.append((f, m)), "cancelled": lambda self: False})(),
    )
    grid = load_search_grid(dataset_id, "information")
    assert result["cells"] == len(grid) == len(interval_cells(0.2, 0.4))
    assert grid.label_balanced.all() and result["best"]["label_balanced"]  # the page's default
    assert updates[-1][0] == 1.0


# ---------------------------------------------------------------------------------------------- real model


@pytest.mark.slow
@requires_assets
def test_real_minilm_fine_tune_beats_the_majority_class():
    import time

    from euds_core.data.datasets import load_dataset

    table = load_dataset("bbc_news", limit=200).table
    train, test = stratified_split(table["label"].to_numpy(), len(table), 0.2, 0)
    config = FinetuneConfig(epochs=1, max_len=64, batch_size=8, lr=2e-4, device="cpu")
    started = time.perf_counter()
    result = train_and_evaluate(table, train, test, task="classification", config=config, seed=0)
    majority = table["label"].iloc[test].value_counts(normalize=True).max()
    assert result.accuracy > majority + 0.2, (result, majority)
    assert time.perf_counter() - started < 120


def test_kill_9_during_a_grid_keeps_finished_runs_and_the_rerun_completes(tiny_bert):
    """Issue 7: the job process dies mid-grid; finished runs stay in SQLite and a restart only adds the rest."""
    import os
    import signal
    import time

    from euds_core.data.datasets import save_dataset
    from euds_core.data.table import Dataset
    from euds_core.runtime.jobs import get_job, start_job
    from euds_core.storage.store import connect

    ds = Dataset(name="tiny", task="classification", table=tiny_table(80))
    dataset_id = save_dataset(ds)
    args = {
        "dataset_id": dataset_id,
        "strategies": ["random"],
        "sizes": [0.25, 0.5, 1.0],
        "seeds": [0, 1, 2, 3],
        "config": {"model": str(tiny_bert), "epochs": 2, "max_len": 16, "device": "cpu"},
        "threads": 1,
    }
    job_id = start_job("finetune", args, dataset_id=dataset_id)
    deadline = time.time() + 240
    while time.time() < deadline and len(load_runs(dataset_id)) < 2 and get_job(job_id).active:
        time.sleep(0.1)
    with connect() as conn:
        pid = conn.execute("SELECT pid FROM jobs WHERE id=?", (job_id,)).fetchone()["pid"]
    assert get_job(job_id).active, "the grid finished before it could be killed"
    os.killpg(pid, signal.SIGKILL)
    time.sleep(0.5)
    kept = load_runs(dataset_id)
    assert 2 <= len(kept) < 12
    assert get_job(job_id).status in ("failed", "running")  # marked failed once its process is seen dead
    again = start_job("finetune", args, dataset_id=dataset_id, wait=True)
    assert get_job(again).status == "done", get_job(again).error
    final = load_runs(dataset_id)
    assert len(final) == 12  # 3 sizes x 4 seeds, random only (1.0 is the same subset for every seed-draw)
    before = kept.set_index(["size_fraction", "seed"])["accuracy"]
    after = final.set_index(["size_fraction", "seed"])["accuracy"]
    assert (after.loc[before.index] == before).all()  # finished runs were skipped, not retrained


def test_explicit_interval_keeps_its_percentiles_and_random_matches_its_size():
    table = tiny_table(125)
    pool = np.arange(100)  # scores rise with the row, so percentile p is row p of the pool
    scores = pd.DataFrame({"igse": np.arange(125, dtype=float)})
    rows = subset_rows("interval:0.2-0.6", 0.0, 0, table=table, pool=pool, scores=scores, score="igse")
    assert rows.tolist() == list(range(20, 60))
    spec = GridSpec(strategies=["interval:0.2-0.6", "random", "full"], sizes=[0.1], seeds=[0, 1], score="igse")
    assert spec.plan()[:4] == [("random", 0.1, 0), ("interval:0.2-0.6", 0.4, 0), ("random", 0.4, 0), ("full", 1.0, 0)]
    assert len(subset_rows("random", 0.4, 0, table=table, pool=pool, scores=scores, score="igse")) == 40
    with pytest.raises(EudsInputError, match="p_lo < p_hi"):
        GridSpec(strategies=["interval:0.7-0.3"], score="igse").check()


def test_two_grids_on_one_dataset_give_one_answer_each(tiny_bert, monkeypatch):
    """Two grids (two scores) on one dataset: a page or report reads one grid; joining them is an error."""
    from euds_core.experiments.statistics import curve_summary, paired_verdicts

    table = tiny_table(60)
    rng = np.random.default_rng(0)
    scores = pd.DataFrame({"information": rng.random(len(table)), "semantic": rng.random(len(table))})
    fake = iter(np.linspace(0.5, 0.9, 50))
    monkeypatch.setattr(
        finetune,
        "train_and_evaluate",
        lambda table, rows, test, **k: RunResult(
            float(next(fake)), 0.5, len(rows), 0.1, correct=np.arange(len(test)) % 2 == 0
        ),
    )
    for score in ("information", "semantic"):
        spec = GridSpec(
            strategies=["interval", "random"], sizes=[0.5], seeds=[0, 1, 2], score=score, config=tiny_config(tiny_bert)
        )
        run_grid("two", table, spec, task="classification", scores=scores)
    every = load_runs("two")
    assert len(every) == 12 and every["grid_key"].nunique() == 2
    with pytest.raises(EudsInputError, match="mix"):
        paired_verdicts(every)
    information = latest_grid_runs("two", "information")
    assert len(information) == 6 and information["grid_key"].nunique() == 1
    assert latest_grid_runs("two")["grid_key"].iloc[0] != information["grid_key"].iloc[0]  # the newest
    verdicts = paired_verdicts(information)
    assert len(verdicts) == 1 and verdicts.iloc[0].seeds == 3
    curve = curve_summary(information)
    assert (curve.interval == "seeds and test rows").all() and (curve.ci_high > curve.ci_low).all()


def test_grid_key_names_the_device_and_its_precision(tiny_bert):
    params = tiny_config(tiny_bert).key_params()
    assert params["device"] in ("cpu", "cuda", "mps") and params["precision"] in ("fp32", "bf16-autocast")


def test_refits_use_the_encoder_that_made_the_scores_file(tmp_path):
    """`score` records its options beside the file; finetune and the searches refit with that encoder."""
    from types import SimpleNamespace

    from euds_core.cli.experiment_commands import refit_options

    scores = tmp_path / "s.csv"
    assert (
        main(
            [
                "score",
                "rotten_tomatoes",
                "--limit",
                "40",
                "--scores",
                "information",
                "--tokenizer",
                "whitespace",
                "--encoder",
                "hashing",
                "--out",
                str(scores),
            ]
        )
        == 0
    )
    assert refit_options(SimpleNamespace(scores_file=str(scores), encoder=None))["encoder"] == "hashing"
    assert refit_options(SimpleNamespace(scores_file=str(scores), encoder="other"))["encoder"] == "hashing"
    other = tmp_path / "t.csv"
    other.write_text(scores.read_text())  # a file without the record: --encoder, else the defaults
    assert refit_options(SimpleNamespace(scores_file=str(other), encoder="hashing")) == {"encoder": "hashing"}
    assert refit_options(SimpleNamespace(scores_file=str(other), encoder=None)) is None
