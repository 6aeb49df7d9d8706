"""Export: the effective subset (interval + review overrides) as CSV / JSONL / Parquet / HF folder, with a
manifest.json that rebuilds it (``python -m euds_core select --manifest manifest.json --out ...``), and a
one-click self-contained HTML selection report.
"""

from __future__ import annotations

import streamlit as st

from euds_core.curation.decision_log import effective_overrides
from euds_core.errors import EudsInputError
from ui.export.view import (
    FORMATS,
    MANIFEST_FILE,
    MIMES,
    default_file_name,
    manifest_download,
    prepared_export,
    report_file_name,
    report_html,
    save_to_workspace,
    show_saved,
)
from ui.shared.form_state import Field, initial, remember
from ui.shared.page_stop import end_page
from ui.shared.review_interval import selection_count, selection_spec, shown_selection
from ui.shared.selection import describe_selection
from ui.shared.state import page_dataset

st.title("Export")
dataset = page_dataset()
no_scores = "No scores yet: the export holds every row, with the review's overrides applied."
inputs_label = "Change the selection (shared with Explore and Review)"
shown = shown_selection(dataset, "export", no_scores, expander=inputs_label)
current, scored, in_interval = shown.selection, shown.scored, shown.in_interval
scores = scored.frame
overrides = effective_overrides(dataset.id)
count = selection_count(dataset, in_interval, overrides)  # the banner's, Explore's and Review's number
shown.draw_banner(count)
spec = selection_spec(dataset, current, scored, overrides)

FORMAT_FIELD = Field("export_format", "jsonl", options=tuple(FORMATS))  # a reload keeps the format chosen
formats = list(FORMATS)
fmt = st.radio(
    "Format",
    formats,
    formats.index(initial(FORMAT_FIELD)),
    format_func=FORMATS.get,
    key="export_format",
    horizontal=True,
)
remember([FORMAT_FIELD])
file_name = default_file_name(dataset, fmt)
try:
    data, manifest = prepared_export(dataset, scores, spec, fmt, file_name)
except EudsInputError as exc:
    st.error(str(exc))
    end_page()

st.markdown("**What this exports**")
st.text(
    f"Dataset: {dataset.name} ({len(dataset.table):,} rows, id {dataset.id})\n"
    f"Selection: {describe_selection(current, scored.labels)}\n"
    f"Review overrides: {len(overrides):,} ({sum(v == 'keep' for v in overrides.values()):,} keep, "
    f"{sum(v == 'drop' for v in overrides.values()):,} drop), applied on top of the interval\n"
    f"Rows: {count.breakdown()}"
)  # st.text: the dataset name is the user's file name, shown as plain text
if manifest["subset"]["rows"] != count.kept:  # one rule (euds_core/selection/kept_count.py): never expected
    st.error(f"The file holds {manifest['subset']['rows']:,} rows, not the {count.kept:,} counted above.")
m1, m2, m3 = st.columns(3)
m1.metric("Rows exported", f"{manifest['subset']['rows']:,}", help=f"of {len(dataset.table):,}")
m2.metric("Interval keeps", f"{count.by_interval:,}")
m3.metric(
    "Review overrides", f"{len(overrides):,}", help="stored decisions; those agreeing with the interval change no row"
)

d1, d2, d3 = st.columns(3)
d1.download_button(
    f"Download {file_name}" + (".zip" if fmt == "hf" else ""),
    data,
    file_name=file_name + (".zip" if fmt == "hf" else ""),
    mime=MIMES[fmt],
    key="export_download_data",
    width="stretch",
)
d2.download_button(
    f"Download {MANIFEST_FILE}",
    manifest_download(manifest),
    file_name=MANIFEST_FILE,
    mime="application/json",
    key="export_download_manifest",
    width="stretch",
)
d3.button(
    "Save both to the workspace",
    key="export_save",
    on_click=save_to_workspace,
    args=(dataset, scores, spec, fmt, file_name),
    width="stretch",
    help="writes the subset and manifest.json under EUDS_HOME/exports/",
)
show_saved()
st.caption("Rebuild the identical file from the manifest with:")
st.code(f"python -m euds_core select --manifest {MANIFEST_FILE} --out {manifest['subset']['file']}", language="bash")

st.subheader("Manifest")
st.json(manifest, expanded=1)

st.subheader("Selection report")
st.caption(
    "One self-contained HTML file: histograms, map, counts, label balance before/after, excerpts, fine-tune curve."
)
st.download_button(
    "Download the HTML report",
    lambda: report_html(dataset, scores, spec),
    file_name=report_file_name(dataset),
    mime="text/html",
    key="export_report",
)
