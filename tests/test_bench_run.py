"""bench/run.py prints the issue's line format; the cheap figures run (no timing is asserted)."""

import importlib.util
import re
from pathlib import Path

import pytest

LINE = re.compile(r"^[a-z0-9_]+: [0-9.e+]+ \S+ \(baseline [0-9.e+]+, ratio [0-9.]+x\)")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_run", Path(__file__).resolve().parents[1] / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_line_format(bench):
    assert LINE.match(bench.line("interval_update_1m", 0.31, "ms", 180.0, 580.6, "[note]"))
    assert bench.line("x", 1, "s", 2, 2).endswith("ratio 2.0x)")


def test_gpu_line_without_cuda_says_skipped(bench, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench.bench_gpu_mfu(quick=True) == ["gpu_mfu: skipped: no GPU (torch.cuda.is_available() is False)"]


def test_interval_update_figure_runs_and_checks_its_answer(bench):
    (text,) = bench.bench_interval_update(quick=True)
    assert LINE.match(text) and text.startswith("interval_update_1m:")


def test_process_cpu_seconds_counts_this_process_work(bench):
    import os
    import time

    before = bench.process_cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:  # burn ~0.3 s of CPU
        pass
    assert bench.process_cpu_seconds(os.getpid()) - before >= 0.2
    assert bench.cpu_model()


def test_server_poll_cpu_is_skipped_by_a_plain_quick_run(bench, capsys, monkeypatch):
    monkeypatch.setattr(bench, "BENCHES", {"server_poll_cpu": bench.bench_server_poll_cpu})
    monkeypatch.setattr(bench, "_setup_workspace", lambda: None)
    assert bench.main(["--quick"]) == 0
    assert "server_poll_cpu: skipped under --quick" in capsys.readouterr().out


def test_as_cpu_without_bf16_makes_auto_choose_int8_and_onnx_and_says_so(bench, monkeypatch):
    from euds_core.models import int8_matmuls, mixed_precision, onnx_encoder
    from euds_core.models.precision import resolve_lm_precision

    monkeypatch.setattr(mixed_precision, "native_bf16", lambda device: True)  # a bf16 CPU, restored afterwards
    monkeypatch.setattr(int8_matmuls, "native_int8", lambda device: device == "cpu")
    monkeypatch.setattr(onnx_encoder, "onnx_runtime_available", lambda: True)
    monkeypatch.setitem(bench.SCORING_PRECISION, "without_bf16", False)
    assert bench.scoring_precision_note("lm", "auto").startswith("bf16 (auto, CPU-flag rule;")
    bench.decide_as_cpu_without_bf16()
    assert resolve_lm_precision("auto", "cpu") == "int8" and resolve_lm_precision("auto", "cuda") == "bf16"
    assert bench.scoring_precision_note("lm", "auto").startswith(
        "int8 (auto, CPU-flag rule, decided as on a CPU without bf16;"
    )
    assert bench.scoring_precision_note("encoder", "auto").startswith(
        "onnx (auto, CPU-flag rule, decided as on a CPU without bf16;"
    )


def test_unknown_figure_is_a_clear_error(bench, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--only", "no_such_figure"])
    assert "unknown figure(s) no_such_figure" in capsys.readouterr().err


def test_every_figure_lives_in_its_own_module(bench):
    modules = {fn.__module__ for fn in bench.BENCHES.values()}
    assert len(modules) == len(bench.BENCHES) and all(m.startswith("bench.") for m in modules)
    assert "full_pass_bbc_news" in bench.BENCHES and "full_pass_bbc_news" in bench.QUICK_SKIPS


def test_full_pass_line_reports_wall_time_rows_per_second_and_each_pass(bench, monkeypatch, tmp_path):
    """The figure's bookkeeping (the jobs themselves are the app's, as in time_to_first_view)."""
    import time
    import types

    import numpy as np

    from bench import full_pass_bbc_news as figure

    features = tmp_path / "features"

    def fake_start():
        dataset = types.SimpleNamespace(table=list(range(2225)))
        return dataset, ["job"], features

    def fake_wait(job_ids):
        for prefix in ("embedding-abc", "lm_stats-def"):
            (features / prefix).mkdir(parents=True)
            np.save(features / prefix / "all.npy", np.zeros(3))
        time.sleep(0.05)

    monkeypatch.setattr(figure, "start_app_score_jobs", fake_start)
    monkeypatch.setattr(figure, "wait_until_done", fake_wait)
    monkeypatch.setattr(figure, "scoring_precision_note", lambda model, forced: f"{model}-path")
    (text,) = figure.bench_full_pass_bbc_news(quick=True)
    assert text.startswith("full_pass_bbc_news: ") and " rows/s (goal <= 240 s on 2 idle CPU cores)" in text
    assert "2,225 rows" in text and "encoder pass done at 0 s, LM pass done at 0 s" in text
    assert "LM lm-path, encoder encoder-path" in text and "load " in text
