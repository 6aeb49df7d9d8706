"""Issue 26 item 5: the benchmark measures how well the linear proxy ranks methods as a real fine-tune does, over
a sample of >= 8 candidates, and never lets the proxy alone rank a method chosen by its own kind of model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau, spearmanr

from euds_core.cli import main
from euds_core.errors import EudsInputError
from euds_core.experiments.benchmark import BenchmarkConfig, benchmark_methods, run_benchmark
from euds_core.experiments.proxy_fidelity import (
    fidelity_lines,
    fidelity_sample,
    fidelity_table,
    is_proxy_derived,
    rank_agreement,
)
from euds_core.experiments.training import FinetuneConfig

SCORES = ["information", "semantic", "ttr", "mtld", "classifier_entropy", "el2n"]


def test_the_sample_keeps_the_baselines_and_leaves_proxy_derived_methods_out():
    methods = benchmark_methods(SCORES, samplers=True)
    sample, left_out = fidelity_sample(methods, 8, SCORES, seed=0)
    assert len(sample) == 8 and {"random", "random:balanced"} <= set(sample)
    assert {"classifier_entropy:high", "el2n:high", "hard_easy"} <= set(left_out)  # hard_easy is fed el2n here
    assert not set(sample) & set(left_out) and not {"full", "auto"} & set(sample)
    assert sample == [m for m in methods if m in sample]  # in the benchmark's order
    assert fidelity_sample(methods, 8, SCORES, seed=0)[0] == sample  # seeded
    assert not is_proxy_derived("hard_easy", ["information", "ttr"])  # fed information: not the proxy's
    with pytest.raises(EudsInputError, match="at least 8"):
        fidelity_sample(methods, 7, SCORES)
    with pytest.raises(EudsInputError, match="only"):
        fidelity_sample(benchmark_methods(["information", "el2n"], samplers=False), 8, ["information", "el2n"])


def _cells(proxy_of) -> pd.DataFrame:
    """Two seeds per method; the fine-tune ranks m0 < m1 < ... ; ``proxy_of(i)`` gives the proxy's accuracy."""
    methods = ["random", "random:balanced", *[f"information:m{k}" for k in range(7)], "margin:high"]
    rows = []
    for i, method in enumerate(methods):
        for seed in range(2):
            accuracy = 0.6 + 0.02 * i + 0.001 * seed
            rows.append(
                {"dataset": "d", "method": method, "size_fraction": 0.1, "seed": seed, "accuracy": accuracy}
                | {"proxy_accuracy": proxy_of(i, method)}
            )
    return pd.DataFrame(rows)


def test_the_agreement_is_scipys_over_the_methods_the_proxy_may_rank():
    rng = np.random.default_rng(3)
    noise = rng.random(10)
    cells = _cells(lambda i, m: 0.99 if m == "margin:high" else 0.5 + 0.01 * i + 0.03 * noise[i])
    table = fidelity_table(cells, "d", 0.1)
    assert bool(table.loc["margin:high", "proxy_derived"]) and np.isnan(table.loc["margin:high", "proxy_rank"])
    ranked = table[~table.proxy_derived]
    agreement = rank_agreement(table)
    assert agreement["methods"] == 9
    assert agreement["spearman"] == pytest.approx(spearmanr(ranked.proxy, ranked.finetune).statistic)
    assert agreement["kendall"] == pytest.approx(kendalltau(ranked.proxy, ranked.finetune).statistic)
    assert agreement["spearman"] < 1.0  # the noise reorders some methods: not a constant answer
    perfect = rank_agreement(fidelity_table(_cells(lambda i, m: 0.5 + 0.01 * i), "d", 0.1))
    assert perfect["spearman"] == pytest.approx(1.0) and perfect["kendall"] == pytest.approx(1.0)
    reversed_ = rank_agreement(fidelity_table(_cells(lambda i, m: 0.9 - 0.01 * i), "d", 0.1))
    assert reversed_["spearman"] == pytest.approx(-1.0)
    lines = fidelity_lines(cells, "d", 0.1, table_rows=True)
    assert lines[0].startswith("Proxy fidelity: Spearman ρ = ") and "Kendall τ = " in lines[0]
    assert "over 9 methods" in lines[0] and "Not ranked by the proxy" in lines[1] and "margin:high" in lines[1]
    assert not any(line.startswith("| margin:high") for line in lines)
    flat = _cells(lambda i, m: 0.5)
    assert "undefined" in fidelity_lines(flat, "d", 0.1)[0]
    assert "at least 8" in fidelity_lines(flat[flat.method.isin(["random", "margin:high"])], "d", 0.1)[0]


@pytest.fixture
def words_csv(tmp_path):
    """150 rows of the tiny BERT's own words, two labels; 70 % of the rows carry their label's sentiment words, the
    rest words of both, so subsets differ in what they teach (measured: 6 epochs give 0.5–0.97 on 45 rows)."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(150):
        positive = i % 2 == 0
        clear = ["good", "great", "fine"] if positive else ["bad", "awful", "poor"]
        mood = rng.choice(clear if rng.random() < 0.7 else ["good", "great", "fine", "bad", "awful", "poor"], 1 + i % 3)
        filler = rng.choice(["the", "movie", "film", "plot", "actor", "is", "was", "a"], 2 + i % 7)
        rows.append({"text": " ".join([*filler, *mood]), "label": "pos" if positive else "neg"})
    path = tmp_path / "words.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_benchmark_fidelity_fine_tunes_a_sample_and_prints_the_agreement(words_csv, tmp_path, capsys):
    from euds_core.cli.experiment_commands import print_fidelity
    from euds_core.data.datasets import load_dataset
    from tests.test_finetune import build_tiny_bert

    model = build_tiny_bert(tmp_path / "tiny-bert")
    ds = load_dataset(str(words_csv), text_col="text", label_col="label")
    config = BenchmarkConfig(
        mode="finetune",
        sizes=[0.3],
        seeds=[0],
        scores=["information", "semantic", "ttr", "mtld", "classifier_entropy"],  # 10 candidates, 1 proxy-derived
        options={"encoder": "hashing", "tokenizer": "whitespace"},
        samplers=False,
        fidelity=8,
        finetune=FinetuneConfig(model=str(model), epochs=6, max_len=16, batch_size=8, lr=1e-2, device="cpu"),
    )
    cells = run_benchmark(ds, config, tmp_path / "out")
    assert cells.method.nunique() == 8 and {"random", "random:balanced"} <= set(cells.method)
    assert cells.attrs["fidelity_left_out"] == ["classifier_entropy:high"]
    assert "classifier_entropy:high" not in set(cells.method)
    assert (
        cells.accuracy.astype(float).nunique() > 1 and cells.proxy_accuracy.astype(float).nunique() > 1
    )  # two rankings to compare
    print_fidelity(cells, cells.attrs["fidelity_left_out"])
    out = capsys.readouterr().out
    assert "Left out of the sample, never ranked by the proxy: classifier_entropy:high (" in out
    assert "Spearman ρ = " in out and "Kendall τ = " in out and "over 8 methods" in out
    assert out.count("\n| ") == 9  # the header and one row per sampled method


@pytest.mark.parametrize(
    ("extra", "message"), [(["--fidelity", "5"], "at least 8"), (["--fidelity", "8", "--proxy"], "without --proxy")]
)
def test_bad_fidelity_options_are_one_clear_line(words_csv, tmp_path, capsys, extra, message):
    cmd = ["benchmark", str(words_csv), "--encoder", "hashing", "--tokenizer", "whitespace", "--no-samplers"]
    cmd += ["--scores", "information,ttr", *extra, "--out", str(tmp_path / "b")]
    assert main(cmd) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and len(err.splitlines()) == 1
