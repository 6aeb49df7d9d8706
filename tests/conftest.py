"""Shared fixtures: a throw-away workspace per test, and a tiny causal LM built on the spot (no assets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import build_tiny_causal_lm

_SHARED_MODELS = None


@pytest.fixture(autouse=True)
def workspace(tmp_path, monkeypatch, tmp_path_factory) -> Path:
    """EUDS_HOME in a temp folder, so no test reads or pollutes ~/.euds.

    The model cache (dequantised LM copies, ~500 MB; EUDS_MODEL_CACHE) is one temp folder for the whole
    session, so slow tests pay the ~20 s GGUF dequantisation once and never touch the user's ~/.cache.
    """
    global _SHARED_MODELS
    if _SHARED_MODELS is None:
        _SHARED_MODELS = tmp_path_factory.mktemp("shared-models")
    home = tmp_path / "euds-home"
    home.mkdir()
    monkeypatch.setenv("EUDS_HOME", str(home))
    monkeypatch.setenv("EUDS_MODEL_CACHE", str(_SHARED_MODELS))
    # auto follows the CPU-flag rule: no test times the packaged models (tests/test_auto_choice.py measures).
    monkeypatch.setenv("EUDS_AUTO_PRECISION", "flags")
    return home


@pytest.fixture(scope="session")
def tiny_causal_lm_dir(tmp_path_factory) -> Path:
    """A 2-layer random-init Llama + word-level tokenizer folder (see tests/helpers.py)."""
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture(scope="session")
def uniform_causal_lm_dir(tiny_causal_lm_dir, tmp_path_factory) -> Path:
    """The tiny LM with a zero output head: every next-token distribution is uniform (loss = ln V, hand-checkable)."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    folder = tmp_path_factory.mktemp("uniform-lm") / "lm"
    shutil.copytree(tiny_causal_lm_dir, folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    with torch.no_grad():
        model.get_output_embeddings().weight.zero_()
    model.save_pretrained(folder)
    return folder
