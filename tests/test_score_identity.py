"""Full identity of derived results: a combined score's key and manifest carry every member's models."""

from __future__ import annotations

import numpy as np

from euds_core.curation.export import export_subset, read_manifest
from euds_core.data.datasets import save_dataset
from euds_core.data.table import Dataset
from euds_core.scores import make_scorer
from euds_core.scoring.engine import score_dataset
from euds_core.selection.intervals import Interval, SelectionSpec
from tests.test_finetune import build_tiny_bert, tiny_table


def options(lm, encoder) -> dict:
    return {"tokenizer": "whitespace", "lm": str(lm), "encoder": str(encoder)}


def test_combined_params_nest_every_member(tiny_causal_lm_dir):
    params = make_scorer("igse", options(tiny_causal_lm_dir, "hashing")).params()
    assert set(params["members"]) == {"information", "generative", "semantic"}
    assert params["members"]["semantic"] == make_scorer("semantic", {"encoder": "hashing"}).params()
    assert (
        params["members"]["generative"]["lm"]
        == make_scorer("generative", {"lm": str(tiny_causal_lm_dir)}).params()["lm"]
    )
    assert make_scorer("gs", options(tiny_causal_lm_dir, "hashing")).params()["members"].keys() == {
        "generative",
        "semantic",
    }


def test_semantic_key_holds_the_embedding_precision():
    fp32 = make_scorer("semantic", {"precision": "fp32"}).params()
    bf16 = make_scorer("semantic", {"precision": "bf16"}).params()
    assert fp32["precision"] == "fp32" and bf16["precision"] == "bf16" and fp32 != bf16
    assert make_scorer("semantic", {}).params()["precision"] in ("fp32", "bf16", "onnx")  # resolved, never "auto"


def test_rescoring_with_another_encoder_changes_igse(tiny_causal_lm_dir, tmp_path):
    ds = Dataset(name="tiny", task="classification", table=tiny_table(30))
    save_dataset(ds)
    first = score_dataset(ds, ["igse"], options=options(tiny_causal_lm_dir, "hashing"), device="cpu")
    encoder = build_tiny_bert(tmp_path / "encoder")
    second = score_dataset(ds, ["igse"], options=options(tiny_causal_lm_dir, encoder), device="cpu")
    # information and generative are the same models, so any change in igse comes from the new encoder
    assert np.array_equal(first["information"], second["information"])
    assert not np.allclose(first["semantic"], second["semantic"])
    assert not np.allclose(first["igse"], second["igse"])  # before: the old igse came back from the cache
    again = score_dataset(ds, ["igse"], options=options(tiny_causal_lm_dir, "hashing"), device="cpu", cached_only=True)
    assert np.array_equal(again["igse"], first["igse"])  # each identity keeps its own cache entry


def test_igse_export_manifest_names_every_model_hash(tiny_causal_lm_dir, tmp_path):
    ds = Dataset(name="tiny", task="classification", table=tiny_table(30))
    save_dataset(ds)
    opts = options(tiny_causal_lm_dir, "hashing")
    scores = score_dataset(ds, ["igse"], options=opts, device="cpu")
    params = make_scorer("igse", opts).params()
    spec = SelectionSpec(ds.id, [Interval("igse", "percentile", lo=0.2, hi=0.8)], score_params={"igse": params})
    export_subset(ds, scores, spec, tmp_path / "subset.csv")
    hashes = read_manifest(tmp_path / "manifest.json")["scorers"][0]["model_hashes"]
    assert hashes == {
        "members.information.tokenizer": "whitespace",
        "members.generative.lm": params["members"]["generative"]["lm"],
        "members.semantic.encoder": "hashing",
    }
    assert len(hashes["members.generative.lm"]) == 12  # a model fingerprint, not a path


def test_every_score_read_from_embeddings_keys_their_resolved_precision(tmp_path, monkeypatch):
    """kNN, near-duplicate, EL2N and the classifier scores read the same embeddings as semantic: a bf16 machine
    and an fp32 one must not share their cached values."""
    from euds_core.models import embeddings

    encoder = build_tiny_bert(tmp_path)
    names = ("semantic", "knn_distance", "near_duplicate", "el2n", "classifier_entropy", "margin")
    keys = {}
    for precision in ("fp32", "bf16"):
        monkeypatch.setattr(embeddings, "resolve_encoder_precision", lambda device, *_, _p=precision: _p)
        keys[precision] = {n: make_scorer(n, {"encoder": str(encoder)}).params() for n in names}
    for name in names:
        assert keys["fp32"][name]["precision"] == "fp32" and keys["bf16"][name]["precision"] == "bf16", name
    hashing = make_scorer("knn_distance", {"encoder": "hashing"}).params()
    assert hashing["precision"] == "fp32"  # no model, no precision choice
