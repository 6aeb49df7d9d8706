"""Export-page helpers: the subset + manifest downloads, a copy in the workspace, and the HTML report."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from euds_core.curation.export import MANIFEST_NAME, export_bytes, export_subset, manifest_json
from euds_core.curation.html_report import build_report_html
from euds_core.data.table import Dataset
from euds_core.errors import EudsInputError
from euds_core.selection.intervals import SelectionSpec
from euds_core.storage.workspace import workspace_dir
from ui.shared.identity import current_identity
from ui.shared.verdict_wording import Q_EXPLANATION, readable_verdict_lines

FORMATS = {"jsonl": "JSONL", "csv": "CSV", "parquet": "Parquet", "hf": "HF save_to_disk folder (zip)"}
MIMES = {
    "jsonl": "application/jsonl",
    "csv": "text/csv",
    "parquet": "application/octet-stream",
    "hf": "application/zip",
}


def _file_stem(dataset: Dataset) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(dataset.name).stem) or dataset.id


def default_file_name(dataset: Dataset, fmt: str) -> str:
    return f"{_file_stem(dataset)}-subset" + ("" if fmt == "hf" else f".{fmt}")


def report_file_name(dataset: Dataset) -> str:
    return f"{_file_stem(dataset)}-selection-report.html"


@st.cache_data(show_spinner="Preparing the export…", max_entries=4)
def _export_bytes(
    _dataset: Dataset, _scores: pd.DataFrame, spec_json: str, fmt: str, file_name: str, dataset_id: str, user: str
) -> tuple[bytes, dict]:
    return export_bytes(_dataset, _scores, SelectionSpec.from_json(spec_json), fmt, file_name, user=user)


def prepared_export(
    dataset: Dataset, scores: pd.DataFrame, spec: SelectionSpec, fmt: str, file_name: str
) -> tuple[bytes, dict]:
    """The file bytes and manifest (cached per spec and user: a refused user never gets a lead's cached copy)."""
    return _export_bytes(dataset, scores, spec.to_json(), fmt, file_name, dataset.id, current_identity())


def save_to_workspace(dataset: Dataset, scores: pd.DataFrame, spec: SelectionSpec, fmt: str, file_name: str) -> None:
    """Write the subset + manifest.json into ``EUDS_HOME/exports/<dataset id>/<time>/`` (on_click handler)."""
    folder = workspace_dir("exports", dataset.id, datetime.now(tz=UTC).strftime("%Y%m%d-%H%M%S"))
    try:
        result = export_subset(dataset, scores, spec, folder / file_name, fmt=fmt, user=current_identity())
    except EudsInputError as exc:
        st.session_state["export_saved"] = ("error", str(exc))
        return
    st.session_state["export_saved"] = (str(result.path), str(result.manifest_path))


def show_saved() -> None:
    saved = st.session_state.get("export_saved")
    if saved and saved[0] == "error":
        st.error(saved[1])
    elif saved:
        path, manifest = saved
        st.success(f"Saved {path}")
        st.code(f"python -m euds_core select --manifest {manifest} --out {Path(path).name}", language="bash")


def report_html(dataset: Dataset, scores: pd.DataFrame, spec: SelectionSpec) -> bytes:
    """The self-contained HTML report (built when the download button is clicked)."""
    from ui.shared.map_view import dataset_map

    try:
        mapped = dataset_map(dataset)
    except Exception:  # the map is optional decoration; the report must still download
        mapped = None
    scores_used = [i.score for i in spec.intervals]
    curve, verdicts = finetune_evidence(dataset.id, scores_used[0] if len(scores_used) == 1 else None)
    return build_report_html(
        dataset,
        scores,
        spec,
        map_xy=mapped[0] if mapped else None,
        finetune_curve=curve,
        finetune_verdicts=verdicts,
        finetune_verdicts_note=Q_EXPLANATION,
    ).encode("utf-8")


def finetune_evidence(dataset_id: str, score: str | None = None) -> tuple[pd.DataFrame | None, list[str]]:
    """One fine-tune grid's curve (mean, 95 % CI) and its verdict lines against random, for the report: the
    latest grid that ranked by ``score`` (the selection's own score), or the latest grid when none is given."""
    from euds_core.experiments.run_store import latest_grid_runs
    from euds_core.experiments.statistics import curve_summary, paired_verdicts
    from euds_core.experiments.subsets import SELECTION

    runs = latest_grid_runs(dataset_id, score)
    if runs.empty:
        return None, []
    # as the Fine-tune page: the label-balanced selection is judged against label-stratified random
    return curve_summary(runs), readable_verdict_lines(paired_verdicts(runs, balanced={SELECTION}), runs)


def manifest_download(manifest: dict) -> bytes:
    return manifest_json(manifest).encode("utf-8")


MANIFEST_FILE = MANIFEST_NAME
