"""Export the effective subset (interval selection + review overrides) with a manifest that rebuilds it.

The manifest (``manifest.json``) holds the full :class:`SelectionSpec` (dataset hash, intervals, seed, the
scorers' params with their model hashes, the review overrides as they were at export time), the file's
format, row count and sha256, the created time and the package version. ``rebuild_from_manifest`` reads the
dataset and the cached scores of this workspace by those keys and writes the same rows in the same order
through the same writer, so a CSV / JSONL / Parquet rebuild is byte-for-byte identical.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from euds_core import __version__
from euds_core.curation.decision_log import effective_decisions, reviewer_counts
from euds_core.curation.recipe_columns import duplicate_copy_for
from euds_core.curation.roles import require
from euds_core.data.builtins import BUILTIN_DATASETS, load_builtin
from euds_core.data.datasets import load_saved_dataset
from euds_core.data.table import TABLE_COLUMNS, Dataset, dataset_hash
from euds_core.errors import EudsInputError
from euds_core.models.embeddings import load_cached_embeddings
from euds_core.models.loading import DEFAULT_ENCODER
from euds_core.selection.intervals import SelectionSpec, apply_selection
from euds_core.selection.recipe import DUPLICATE_COPY
from euds_core.selection.subset_report import subset_report
from euds_core.storage.atomic_files import atomic_folder, atomic_path, write_text_atomic
from euds_core.storage.cache import DatasetCache
from euds_core.storage.workspace import workspace_dir

FORMATS = ("csv", "jsonl", "parquet", "hf")
MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
MODEL_PARAM_KEYS = ("lm", "encoder", "tokenizer", "model")  # params whose value is a model fingerprint


@dataclass
class ExportResult:
    path: Path
    manifest_path: Path | None
    manifest: dict
    kept: int
    total: int


# ---------------------------------------------------------------------------------------------- scores


def _scores_for_spec(dataset: Dataset, spec: SelectionSpec, scores_file: str | Path | None) -> pd.DataFrame:
    """The score columns the spec's intervals need: from the cache by (name, params), else from ``scores_file``."""
    names = list(dict.fromkeys(i.score for i in spec.intervals))
    cache = DatasetCache(dataset.id)
    file_frame = None
    out = {}
    for name in names:
        params = spec.score_params.get(name)
        if name == DUPLICATE_COPY and params is not None:  # a recipe's near-duplicate column: recomputed
            out[name] = duplicate_copy_for(dataset.table, params, cache)
            continue
        values = cache.load_score(name, params) if params is not None else None
        if values is None and scores_file is not None:
            if file_frame is None:
                file_frame = _read_scores_file(scores_file, dataset.id)
            if name in file_frame.columns:
                values = pd.to_numeric(file_frame[name], errors="coerce").to_numpy(dtype=np.float32)
        if values is None:
            raise EudsInputError(
                f"the score '{name}' with the manifest's parameters is not cached in this workspace; score the dataset "
                f"again with the same models (python -m euds_core score ... --scores {name}) or pass the scores file"
            )
        out[name] = np.asarray(values, dtype=np.float32)
    return pd.DataFrame(out, index=dataset.table.index)


def _read_scores_file(path: str | Path, dataset_id: str) -> pd.DataFrame:
    from euds_core.data.readers import read_table_file

    frame = read_table_file(path)
    if dataset_hash(frame) != dataset_id:
        raise EudsInputError(f"{Path(path).name} holds a different dataset than the manifest's ({dataset_id})")
    return frame


# ---------------------------------------------------------------------------------------------- subset


def subset_frame(dataset: Dataset, scores: pd.DataFrame, spec: SelectionSpec) -> tuple[pd.DataFrame, np.ndarray]:
    """The effective subset (dataset columns + the spec's score columns, dataset row order) and its mask."""
    if spec.dataset_id != dataset.id:
        raise EudsInputError(f"the selection is for dataset {spec.dataset_id}, not {dataset.id}")
    score_names = [n for n in dict.fromkeys(i.score for i in spec.intervals)]
    missing = [n for n in score_names if n not in scores.columns]
    if missing:
        raise EudsInputError(
            f"no score '{missing[0]}' for this dataset; score it first (Score page or `score --scores {missing[0]}`)"
        )
    frame = dataset.table[[c for c in TABLE_COLUMNS if c in dataset.table.columns]].copy()
    for name in score_names:
        frame[name] = scores[name].to_numpy(dtype=np.float32)
    mask = apply_selection(spec, frame)
    return frame[mask].reset_index(drop=True), mask


def guess_format(out: str | Path, fmt: str | None = None) -> str:
    if fmt:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise EudsInputError(f"unknown export format '{fmt}'; use one of: {', '.join(FORMATS)}")
        return fmt
    suffix = Path(out).suffix.lower().lstrip(".")
    if suffix in ("csv", "jsonl", "parquet"):
        return suffix
    if suffix == "":
        return "hf"
    raise EudsInputError(
        f"cannot tell the format of '{Path(out).name}'; end it in .csv, .jsonl or .parquet, or pass --format"
    )


def subset_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    """The file content of a CSV / JSONL / Parquet export (the one writer for the page, the CLI and rebuilds)."""
    if fmt == "csv":
        return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
    if fmt == "jsonl":
        text = frame.to_json(orient="records", lines=True, force_ascii=False)
        return (text if text.endswith("\n") or not text else text + "\n").encode("utf-8")
    if fmt == "parquet":
        import io

        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue()
    raise EudsInputError(f"format '{fmt}' has no single-file form; use csv, jsonl or parquet")


def write_subset(frame: pd.DataFrame, out: str | Path, fmt: str) -> Path:
    """Write atomically: a uniquely named temp file (or folder for ``hf``) renamed into place."""
    out = Path(out)
    if not out.parent.exists():
        raise EudsInputError(f"the folder of the output does not exist: {out.parent}")
    if fmt == "hf":
        try:
            from datasets import Dataset as HFDataset
        except ImportError:  # pragma: no cover - datasets is in requirements.txt
            raise EudsInputError("the hf format needs the 'datasets' package: pip install datasets") from None
        with atomic_folder(out, replace=True) as tmp:
            HFDataset.from_pandas(frame, preserve_index=False).save_to_disk(str(tmp))
        return out
    with atomic_path(out) as tmp:
        tmp.write_bytes(subset_bytes(frame, fmt))
    return out


def ids_digest(ids) -> str:
    return hashlib.sha256("\x1f".join(map(str, ids)).encode("utf-8", "surrogatepass")).hexdigest()


def file_digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


# ---------------------------------------------------------------------------------------------- manifest


def _model_hashes(params, prefix: str = "") -> dict[str, str]:
    out = {}
    if isinstance(params, dict):
        for key, value in params.items():
            if isinstance(value, dict):
                out.update(_model_hashes(value, f"{prefix}{key}."))
            elif key in MODEL_PARAM_KEYS and isinstance(value, str):
                out[f"{prefix}{key}"] = value
    return out


def selection_report(dataset: Dataset, scores: pd.DataFrame, mask: np.ndarray, encoder: str = DEFAULT_ENCODER) -> dict:
    """The subset report (label balance, score means, Vendi / cluster coverage when embeddings are cached, and
    per defect kind the kept / dropped counts when the dataset carries injected defects)."""
    from euds_core.data.defects import has_defects
    from euds_core.selection.defect_report import defect_report

    score_cols = scores[[c for c in scores.columns if pd.api.types.is_numeric_dtype(scores[c])]]
    report = subset_report(
        mask,
        embeddings=load_cached_embeddings(dataset.id, len(dataset.table), encoder),
        labels=dataset.table["label"].to_numpy() if dataset.has_labels else None,
        scores=score_cols if len(score_cols.columns) else None,
    )
    if has_defects(dataset.table):  # injected defects: kept / dropped, recall and precision per kind
        report["defects"] = defect_report(dataset.table, mask).to_dict("records")
    return report


def build_manifest(
    dataset: Dataset, spec: SelectionSpec, subset: pd.DataFrame, fmt: str, path: Path | None, report: dict | None = None
) -> dict:
    """The manifest dict: enough to rebuild the subset with ``select --manifest`` (plus the subset report)."""
    overrides = spec.overrides or {}
    return {
        "euds_manifest": MANIFEST_VERSION,
        "package_version": __version__,
        "created": datetime.now(tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "dataset": {
            "id": dataset.id,
            "name": dataset.name,
            "task": dataset.task,
            "source": dataset.source,
            "rows": len(dataset.table),
        },
        "scorers": [
            {
                "name": name,
                "params": spec.score_params.get(name, {}),
                "model_hashes": _model_hashes(spec.score_params.get(name, {})),
            }
            for name in dict.fromkeys(i.score for i in spec.intervals)
        ],
        "bounds": [asdict(i) for i in spec.intervals],
        "seed": spec.seed,
        "override_count": len(overrides),
        "overrides_keep": sum(1 for v in overrides.values() if v == "keep"),
        "overrides_drop": sum(1 for v in overrides.values() if v == "drop"),
        "reviewers": _override_reviewers(dataset.id, overrides),
        "subset": {
            "format": fmt,
            "file": path.name if path is not None else None,
            "rows": len(subset),
            "columns": list(map(str, subset.columns)),
            "ids_sha256": ids_digest(subset["id"]),
            "sha256": file_digest(path) if path is not None else None,
        },
        "spec": json.loads(spec.to_json()),
        "subset_report": report,
        "rebuild": f"python -m euds_core select --manifest {MANIFEST_NAME} --out {path.name if path is not None else 'subset.jsonl'}",
    }


def _override_reviewers(dataset_id: str, overrides: dict[str, str]) -> list[dict]:
    """Who made the overrides this export applies: per reviewer, their keep and drop counts."""
    if not overrides:
        return []
    decisions = effective_decisions(dataset_id)
    applied = decisions[decisions["id"].map(overrides) == decisions["decision"]]
    return reviewer_counts(applied)


def manifest_json(manifest: dict) -> str:
    return json.dumps(manifest, indent=1, sort_keys=False, default=str) + "\n"


def write_manifest(manifest: dict, path: str | Path) -> Path:
    path = Path(path)
    write_text_atomic(path, manifest_json(manifest))
    return path


def export_subset(
    dataset: Dataset,
    scores: pd.DataFrame,
    spec: SelectionSpec,
    out: str | Path,
    *,
    fmt: str | None = None,
    manifest_path: str | Path | None = None,
    user: str | None = None,
) -> ExportResult:
    """Write the effective subset to ``out`` and its manifest (default: ``manifest.json`` beside it).

    ``user`` exports: with a team file their role must allow it (the lead role).
    """
    require(user, "export")
    out = Path(out)
    fmt = guess_format(out, fmt)
    subset, mask = subset_frame(dataset, scores, spec)
    path = write_subset(subset, out, fmt)
    manifest = build_manifest(dataset, spec, subset, fmt, path, selection_report(dataset, scores, mask))
    manifest_path = Path(manifest_path) if manifest_path is not None else out.parent / MANIFEST_NAME
    write_manifest(manifest, manifest_path)
    return ExportResult(
        path=path, manifest_path=manifest_path, manifest=manifest, kept=int(mask.sum()), total=len(mask)
    )


# ---------------------------------------------------------------------------------------------- rebuild


def read_manifest(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise EudsInputError(f"no such manifest: {path}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EudsInputError(
            f"{path.name} is not valid JSON ({exc}); give the manifest.json written by export"
        ) from None
    if not isinstance(manifest, dict) or "spec" not in manifest or "dataset" not in manifest:
        raise EudsInputError(f"{path.name} is not an EUDS export manifest (no 'spec' / 'dataset')")
    return manifest


def dataset_for_manifest(manifest: dict, scores_file: str | Path | None = None) -> Dataset:
    """The manifest's dataset: from the workspace by hash, else its built-in source, else the scores file."""
    info = manifest["dataset"]
    dataset_id = info["id"]
    if (workspace_dir("datasets") / f"{dataset_id}.parquet").exists():
        return load_saved_dataset(dataset_id)
    source = info.get("source") or ""
    for candidate in (info.get("name"), source):
        if candidate in BUILTIN_DATASETS:
            try:
                ds = load_builtin(candidate)
            except Exception:  # asset package missing: fall through to the clear error below
                break
            if ds.id == dataset_id:
                return ds
    if scores_file is not None:
        frame = _read_scores_file(scores_file, dataset_id)
        table = frame[[c for c in TABLE_COLUMNS if c in frame.columns]].reset_index(drop=True)
        return Dataset(
            name=info.get("name", dataset_id), task=info.get("task", "unlabelled"), table=table, source=str(scores_file)
        )
    raise EudsInputError(
        f"the dataset {dataset_id} ({info.get('name', '?')}) is not in this workspace; load or score it first "
        "(python -m euds_core score ...) or pass the scores file written by `score`"
    )


def rebuild_from_manifest(
    manifest_path: str | Path, out: str | Path, *, fmt: str | None = None, scores_file: str | Path | None = None
) -> ExportResult:
    """Rebuild the subset a manifest describes into ``out``; ``manifest['matches']`` says if it is identical."""
    manifest = read_manifest(manifest_path)
    try:
        spec = SelectionSpec.from_json(json.dumps(manifest["spec"]))
    except (TypeError, KeyError) as exc:
        raise EudsInputError(f"the manifest's spec is malformed: {exc}") from None
    out = Path(out)
    if fmt is None and out.suffix == "" and manifest.get("subset", {}).get("format") == "hf":
        fmt = "hf"
    fmt = guess_format(out, fmt)
    dataset = dataset_for_manifest(manifest, scores_file)
    scores = _scores_for_spec(dataset, spec, scores_file)
    subset, mask = subset_frame(dataset, scores, spec)
    path = write_subset(subset, out, fmt)
    expected = manifest.get("subset", {})
    same_ids = expected.get("ids_sha256") == ids_digest(subset["id"])
    same_bytes = (
        fmt == expected.get("format") and expected.get("sha256") is not None and expected["sha256"] == file_digest(path)
    )
    result_manifest = {**manifest, "matches": {"ids": same_ids, "bytes": same_bytes}}
    return ExportResult(
        path=path, manifest_path=Path(manifest_path), manifest=result_manifest, kept=int(mask.sum()), total=len(mask)
    )


def export_bytes(
    dataset: Dataset, scores: pd.DataFrame, spec: SelectionSpec, fmt: str, file_name: str, *, user: str | None = None
) -> tuple[bytes, dict]:
    """The subset file's bytes and its manifest, for a download (CSV / JSONL / Parquet; ``hf`` is a zip).

    ``user`` downloads: with a team file their role must allow exporting (the lead role).
    """
    require(user, "export")
    import io
    import tempfile
    import zipfile

    subset, mask = subset_frame(dataset, scores, spec)
    report = selection_report(dataset, scores, mask)
    if fmt == "hf":
        with tempfile.TemporaryDirectory() as tmp:
            folder = write_subset(subset, Path(tmp) / Path(file_name).stem, "hf")
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in sorted(folder.rglob("*")):
                    if path.is_file():
                        archive.write(path, str(path.relative_to(folder.parent)))
            data = buffer.getvalue()
        manifest = build_manifest(dataset, spec, subset, fmt, None, report)
        manifest["subset"]["file"] = Path(file_name).stem
        manifest["rebuild"] = f"python -m euds_core select --manifest {MANIFEST_NAME} --out {Path(file_name).stem}"
        return data, manifest
    data = subset_bytes(subset, fmt)
    manifest = build_manifest(dataset, spec, subset, fmt, None, report)
    manifest["subset"].update(file=file_name, sha256=hashlib.sha256(data).hexdigest())
    manifest["rebuild"] = f"python -m euds_core select --manifest {MANIFEST_NAME} --out {file_name}"
    return data, manifest
