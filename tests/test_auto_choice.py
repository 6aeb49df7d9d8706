"""``auto`` by measurement (models/auto_choice.py, models/precision.py): the fastest path that meets its bar is
chosen once per machine and model, recorded in the model cache, reused without timing, keyed into the scores,
and never measured on a Streamlit script thread."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from euds_core.models import auto_choice, int8_matmuls, mixed_precision, onnx_encoder, precision
from euds_core.scores.generative import GenerativeScorer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def measuring(monkeypatch, tmp_path):
    """``auto`` measures (the suite's EUDS_AUTO_PRECISION=flags is lifted) on a CPU with bf16 and VNNI, into a
    model cache of this test's own."""
    monkeypatch.delenv("EUDS_AUTO_PRECISION", raising=False)
    monkeypatch.setenv("EUDS_MODEL_CACHE", str(tmp_path / "models"))
    monkeypatch.setattr(mixed_precision, "native_bf16", lambda device: device == "cpu")
    monkeypatch.setattr(int8_matmuls, "native_int8", lambda device: device == "cpu")
    precision._kept_choice.cache_clear()
    yield
    precision._kept_choice.cache_clear()


def test_best_seconds_alternates_keeps_the_best_round_and_drops_hopeless_paths():
    calls = {"fast": 0, "slow": 0}
    clock = iter(range(10_000))
    costs = {"fast": 1, "slow": 5}

    def run(name):
        calls[name] += 1
        for _ in range(costs[name] - 1):
            next(clock)

    fake_time = types.SimpleNamespace(perf_counter=lambda: next(clock))
    real_time = auto_choice.time
    auto_choice.time = fake_time
    try:
        best = auto_choice.best_seconds({"fast": lambda: run("fast"), "slow": lambda: run("slow")}, rounds=2)
    finally:
        auto_choice.time = real_time
    assert best == {"fast": 1, "slow": 5}
    assert calls == {"fast": 3, "slow": 2}  # untimed + 2 rounds; slow was > 1.5x after round 1: not run again


def test_lm_measurement_times_only_paths_that_meet_the_bar(uniform_causal_lm_dir, tiny_causal_lm_dir):
    """The uniform LM's int8 and bf16 entropies are constant: no ranking kept, so only fp32 is timed; the tiny
    random LM is timed on every path and the choice is the fastest timed one."""
    seconds, accuracy, _ = auto_choice.measure_lm_paths(str(uniform_causal_lm_dir), ["fp32", "bf16", "int8"])
    assert accuracy == {"fp32": 1.0, "bf16": 0.0, "int8": 0.0} and set(seconds) == {"fp32"}
    seconds, accuracy, prepare = auto_choice.measure_lm_paths(str(tiny_causal_lm_dir), ["fp32", "bf16", "int8"])
    assert set(accuracy) == set(prepare) == {"fp32", "bf16", "int8"} and accuracy["fp32"] == 1.0
    assert set(seconds) == {p for p, a in accuracy.items() if a >= auto_choice.LM_SPEARMAN_BAR}
    record = auto_choice._record("lm", str(tiny_causal_lm_dir), seconds, accuracy, 1.0)
    assert record["chosen"] == min(seconds, key=seconds.get)
    assert record["machine"]["cpu"] and record["machine"]["torch"] and record["load_average"]


def test_first_use_measures_and_records_then_a_second_run_does_no_timing(tiny_causal_lm_dir, measuring):
    lm = str(tiny_causal_lm_dir)
    chosen = precision.resolve_lm_precision("auto", "cpu", lm)  # measures now
    candidates = auto_choice.candidate_paths("lm")
    record = json.loads(auto_choice.record_path("lm", lm, candidates).read_text())
    assert candidates == ["fp32", "bf16", "int8"] and record["chosen"] == chosen and chosen in record["seconds"]
    assert (
        GenerativeScorer(lm=lm)
        .params()["precision"]
        .startswith("auto-v4:cpu=" + {"bf16": "bf16-matmul", "int8": int8_matmuls.INT8_VERSION}.get(chosen, chosen))
    )
    # A second run: a new process with the same model cache and CPU flags must read the record, not time.
    script = f"""
from euds_core.models import auto_choice, int8_matmuls, mixed_precision, precision
mixed_precision.native_bf16 = lambda device: device == "cpu"
int8_matmuls.native_int8 = lambda device: device == "cpu"
def no_timing(*args, **kwargs):
    raise AssertionError("measured again")
auto_choice.measure_choice = auto_choice.measure_lm_paths = auto_choice.best_seconds = no_timing
print(precision.resolve_lm_precision("auto", "cpu", {lm!r}))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == chosen


def test_a_record_decides_and_other_candidates_are_measured_apart(tiny_causal_lm_dir, measuring, monkeypatch):
    """The choice comes from the record (keyed by the candidates too: a CPU without bf16 keeps its own)."""
    lm = str(tiny_causal_lm_dir)
    monkeypatch.setattr(auto_choice, "measure_lm_paths", lambda *a: pytest.fail("measured although recorded"))
    for chosen in ("int8", "fp32"):
        path = auto_choice.record_path("lm", lm, ["fp32", "bf16", "int8"])
        path.write_text(json.dumps({"chosen": chosen, "seconds": {chosen: 1.0}}))
        precision._kept_choice.cache_clear()
        assert precision.resolve_lm_precision("auto", "cpu", lm) == chosen
    monkeypatch.setattr(mixed_precision, "native_bf16", lambda device: False)
    assert auto_choice.record_path("lm", lm, auto_choice.candidate_paths("lm")) != path
    assert precision.resolve_lm_precision("auto", "cpu") == "int8"  # no LM named: the CPU-flag rule


def test_never_measures_on_a_streamlit_script_thread(tiny_causal_lm_dir, measuring, monkeypatch):
    """On a page's script thread with no record yet, auto answers the flag rule's prediction, writes nothing
    and keeps nothing, so the next call after a job measured reads the record."""
    module = types.ModuleType("streamlit.runtime.scriptrunner_utils.script_run_context")
    module.get_script_run_ctx = lambda suppress_warning=False: object()  # "this thread runs a page script"
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(auto_choice, "measure_choice", lambda *a, **k: pytest.fail("measured on the page thread"))
    lm = str(tiny_causal_lm_dir)
    assert precision.on_streamlit_script_thread()
    assert precision.resolve_lm_precision("auto", "cpu", lm) == "bf16"  # predicted: native bf16
    assert not auto_choice.record_path("lm", lm, auto_choice.candidate_paths("lm")).exists()
    auto_choice.record_path("lm", lm, auto_choice.candidate_paths("lm")).write_text(json.dumps({"chosen": "int8"}))
    assert precision.resolve_lm_precision("auto", "cpu", lm) == "int8"  # a record exists: it decides


def test_encoder_measurement_rejects_a_path_below_the_cosine_bar(monkeypatch, tmp_path):
    """An encoder path whose embeddings turn away from fp32's is not timed and cannot be chosen."""
    from tests.test_finetune import build_tiny_bert

    encoder = str(build_tiny_bert(tmp_path / "encoder"))
    monkeypatch.setattr(onnx_encoder, "onnx_runtime_available", lambda: False)
    seconds, accuracy, _ = auto_choice.measure_encoder_paths(encoder, ["fp32", "bf16"])
    assert accuracy["fp32"] == pytest.approx(1.0, abs=1e-5) and "fp32" in seconds
    assert ("bf16" in seconds) == (accuracy["bf16"] >= auto_choice.ENCODER_MIN_COSINE)


def test_doctor_prints_the_choice_and_the_timings(capsys, monkeypatch):
    from euds_core.cli import main

    records = [
        {
            "kind": "lm",
            "model": "/models/SmolLM2.gguf",
            "chosen": "bf16",
            "seconds": {"fp32": 1.5, "bf16": 0.5},
            "accuracy": {"fp32": 1.0, "bf16": 0.9997, "int8": 0.95},
            "bar": {"metric": "entropy Spearman vs fp32", "at_least": 0.99},
            "batch": "2 x 128 tokens",
            "measured_at": "2026-12-02 21:00 UTC",
            "load_average": [0.5, 0.4, 0.3],
            "took_seconds": 4.2,
        }
    ]
    monkeypatch.setattr(precision, "measure_default_models", lambda again=False: records)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "causal LM (SmolLM2.gguf): auto = bf16" in out
    assert "fp32  1.500 s (3.00x the fastest)" in out and "chosen: the fastest that meets its bar" in out
    assert "int8  not timed" in out and "misses the bar" in out
