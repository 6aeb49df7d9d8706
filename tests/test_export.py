"""Export: the effective subset + manifest, and a rebuild from the manifest that gives the identical file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from euds_core.curation.decision_log import effective_overrides, set_decision
from euds_core.curation.export import export_subset, read_manifest, rebuild_from_manifest, subset_frame
from euds_core.data.datasets import save_dataset
from euds_core.data.table import Dataset
from euds_core.errors import EudsInputError
from euds_core.scores import make_scorer
from euds_core.scoring.engine import score_dataset
from euds_core.selection.intervals import Interval, SelectionSpec

REPO_ROOT = Path(__file__).resolve().parents[1]
OPTIONS = {"tokenizer": "whitespace"}


def tiny_dataset(n: int = 20) -> Dataset:
    table = pd.DataFrame(
        {
            "id": [f"s{i}" for i in range(n)],
            "text": [" ".join(f"w{j % (i % 6 + 1)}" for j in range(3 + i % 9)) + ' "quoted", é' for i in range(n)],
            "label": ["pos" if i % 3 else "neg" for i in range(n)],
        }
    )
    return Dataset(name="tiny", task="classification", table=table)


def scored(ds: Dataset) -> tuple[pd.DataFrame, SelectionSpec]:
    save_dataset(ds)
    scores = score_dataset(ds, ["information"], options=OPTIONS)
    spec = SelectionSpec(
        ds.id,
        [Interval("information", "percentile", lo=0.2, hi=0.8)],
        seed=1,
        score_params={"information": make_scorer("information", OPTIONS).params()},
    )
    return scores, spec


def test_subset_applies_intervals_then_overrides():
    ds = tiny_dataset()
    scores, spec = scored(ds)
    plain, mask = subset_frame(ds, scores, spec)
    outside = ds.table["id"][~mask].iloc[0]
    inside = plain["id"].iloc[0]
    spec.overrides = {outside: "keep", inside: "drop"}
    reviewed, _ = subset_frame(ds, scores, spec)
    assert set(reviewed["id"]) == (set(plain["id"]) | {outside}) - {inside}
    assert list(reviewed.columns) == ["id", "text", "label", "information"]
    assert reviewed["id"].tolist() == [i for i in ds.table["id"] if i in set(reviewed["id"])]  # dataset order


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_rebuild_from_manifest_is_byte_identical(tmp_path, fmt):
    ds = tiny_dataset()
    scores, spec = scored(ds)
    set_decision(ds.id, "s0", "keep")
    spec.overrides = effective_overrides(ds.id)
    result = export_subset(ds, scores, spec, tmp_path / f"subset.{fmt}")
    manifest = read_manifest(tmp_path / "manifest.json")
    assert manifest["dataset"]["id"] == ds.id
    assert manifest["scorers"][0]["name"] == "information"
    assert manifest["scorers"][0]["model_hashes"] == {"tokenizer": "whitespace"}
    assert manifest["bounds"][0]["lo"] == 0.2 and manifest["seed"] == 1
    assert manifest["override_count"] == 1 and manifest["subset"]["rows"] == result.kept
    assert manifest["package_version"] and manifest["created"]
    report = manifest["subset_report"]  # issue 6: the subset report travels with every export
    assert report["n_kept"] == result.kept and report["n_pool"] == len(ds.table)
    assert sum(report["label_counts_kept"].values()) == result.kept and 0 <= report["label_balance"] <= 1
    assert set(report["score_means"]) >= {"information"}
    # The manifest freezes the overrides: later review changes do not change the rebuild.
    set_decision(ds.id, "s1", "drop")
    rebuilt = rebuild_from_manifest(tmp_path / "manifest.json", tmp_path / f"again.{fmt}")
    assert (tmp_path / f"again.{fmt}").read_bytes() == (tmp_path / f"subset.{fmt}").read_bytes()
    assert rebuilt.manifest["matches"] == {"ids": True, "bytes": True}


def test_hf_folder_export_keeps_ids_in_order(tmp_path):
    pytest.importorskip("datasets")
    from datasets import load_from_disk

    ds = tiny_dataset()
    scores, spec = scored(ds)
    result = export_subset(ds, scores, spec, tmp_path / "subset_hf", fmt="hf")
    loaded = load_from_disk(str(result.path))
    expected, _ = subset_frame(ds, scores, spec)
    assert loaded["id"] == expected["id"].tolist()
    rebuilt = rebuild_from_manifest(tmp_path / "manifest.json", tmp_path / "again_hf")
    assert load_from_disk(str(rebuilt.path))["id"] == expected["id"].tolist()
    assert rebuilt.manifest["matches"]["ids"]


def test_rebuild_errors_are_clear(tmp_path, workspace):
    bad = tmp_path / "manifest.json"
    bad.write_text("{not json")
    with pytest.raises(EudsInputError, match="not valid JSON"):
        rebuild_from_manifest(bad, tmp_path / "x.jsonl")
    ds = tiny_dataset()
    scores, spec = scored(ds)
    export_subset(ds, scores, spec, tmp_path / "subset.jsonl")
    for path in (workspace / "cache").rglob("*.npy"):
        path.unlink()  # the scores are gone from this workspace
    with pytest.raises(EudsInputError, match="not cached"):
        rebuild_from_manifest(tmp_path / "manifest.json", tmp_path / "x.jsonl")


def test_cli_export_then_select_manifest_gives_the_identical_file(tmp_path, workspace):
    data = tmp_path / "data.csv"
    tiny_dataset().table.to_csv(data, index=False)
    env = {**os.environ, "EUDS_HOME": str(workspace)}

    def cli(*args, check=True):
        proc = subprocess.run(
            [sys.executable, "-m", "euds_core", *args],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert not check or proc.returncode == 0, proc.stderr
        return proc

    cols = ["--id-col", "id", "--label-col", "label"]
    cli("review", str(data), *cols, "--set", "s2=drop", "--set", "s3=keep")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    first = cli(
        "export",
        str(data),
        *cols,
        "--score",
        "information",
        "--plo",
        "0.1",
        "--phi",
        "0.7",
        "--tokenizer",
        "whitespace",
        "--out",
        str(out_dir / "subset.jsonl"),
    )
    assert first.stdout.startswith("kept ")
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["override_count"] == 2
    ids = [json.loads(line)["id"] for line in (out_dir / "subset.jsonl").read_text().splitlines()]
    assert "s3" in ids and "s2" not in ids
    again = cli("select", "--manifest", str(out_dir / "manifest.json"), "--out", str(tmp_path / "rebuilt.jsonl"))
    assert again.stdout.strip() == first.stdout.strip()
    assert (tmp_path / "rebuilt.jsonl").read_bytes() == (out_dir / "subset.jsonl").read_bytes()
    clash = cli(
        "select",
        "--manifest",
        str(out_dir / "manifest.json"),
        "--score",
        "information",
        "--out",
        str(tmp_path / "r.jsonl"),
        check=False,
    )
    assert clash.returncode == 2 and clash.stderr.startswith("error:") and len(clash.stderr.strip().splitlines()) == 1
