"""The Explore page's 2-D map: UMAP of the encoder embeddings with HDBSCAN clusters (both cached).

The embeddings come from the feature cache the semantic score fills; the page never starts an encoder run
itself. Lasso or box selection on the map lists the selected samples with their scores.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from euds_core.curation.decision_log import set_bulk_decision
from euds_core.data.table import Dataset
from euds_core.errors import EudsInputError
from euds_core.models.embeddings import load_cached_embeddings
from euds_core.models.loading import DEFAULT_ENCODER
from euds_core.runtime.jobs import start_job
from euds_core.selection.embed_map import EmbeddingMap, cached_embedding_map
from euds_core.selection.subset_report import cluster_retention, emptied_clusters
from euds_core.storage.cache import DatasetCache
from ui.shared.charts import (
    DROPPED_COLOUR,
    KEPT_COLOUR,
    cluster_name,
    cluster_retention_figure,
    embedding_map_figure,
    selected_rows,
)
from ui.shared.decision_buttons import decision_buttons
from ui.shared.identity import current_identity
from ui.shared.jobs_view import jobs_panel
from ui.shared.scores import score_options
from ui.shared.selection import current_selection_text

HOVER_CHARS = 160


def map_encoder() -> str:
    """The encoder whose cached embeddings the map (and the subset report) use: the pages' scoring option."""
    return score_options().get("encoder") or DEFAULT_ENCODER


def cached_embeddings(dataset: Dataset) -> np.ndarray | None:
    """(n_rows, dim) embeddings when the semantic score (or anything else) has cached them, else None."""
    return load_cached_embeddings(dataset.id, len(dataset.table), map_encoder())


_FOUND_MAPS: dict[tuple[str, str], EmbeddingMap] = {}  # (dataset id, encoder) -> its cached map, once found


def _cached_map(dataset_id: str, encoder: str, embeddings: np.ndarray) -> EmbeddingMap | None:
    """The map a ``map`` job cached, or None after starting that job (or attaching to the running one)."""
    if (dataset_id, encoder) not in _FOUND_MAPS:
        emap = cached_embedding_map(embeddings, DatasetCache(dataset_id))
        if emap is None:
            start_job("map", {"dataset_id": dataset_id, "encoder": encoder}, dataset_id=dataset_id)
            return None
        _FOUND_MAPS[(dataset_id, encoder)] = emap
    return _FOUND_MAPS[(dataset_id, encoder)]


def _hover_text(dataset: Dataset) -> list[str]:
    texts = dataset.table["text"].str.slice(0, HOVER_CHARS).str.replace("\n", " ")
    labels = dataset.table["label"] if dataset.has_labels else None
    # Plotly hover is rendered as (sanitised) HTML: escape < and > so a text cannot inject markup.
    safe = texts.str.replace("&", "&amp;").str.replace("<", "&lt;").str.replace(">", "&gt;")
    head = dataset.table["id"].astype(str) + (" · " + labels.astype(str) if labels is not None else "")
    return (head.str.replace("<", "&lt;") + "<br>" + safe).tolist()


def dataset_embedding_map(dataset: Dataset) -> EmbeddingMap | None:
    """The cached 2-D map of the dataset, or None without embeddings or while a background job computes it."""
    embeddings = cached_embeddings(dataset)
    return None if embeddings is None else _cached_map(dataset.id, map_encoder(), embeddings)


def dataset_map(dataset: Dataset) -> tuple[np.ndarray, np.ndarray] | None:
    """(xy, clusters) per pool row from the Explore page's cached map, or None before embeddings exist.

    Rows a sampled map (past 100 k points) left out have NaN coordinates and cluster -2 ("not mapped").
    """
    emap = dataset_embedding_map(dataset)
    return None if emap is None else (emap.coords_for_all_rows(), emap.clusters_for_all_rows())


def embedding_map_section(
    dataset: Dataset, scores: pd.DataFrame, kept: np.ndarray, active: str, values: np.ndarray
) -> None:
    try:
        emap = dataset_embedding_map(dataset)
    except EudsInputError as exc:
        st.error(f"Could not compute the map: {exc}")
        return
    if emap is None and cached_embeddings(dataset) is not None:
        st.info("The 2-D map (UMAP + HDBSCAN) is being computed in the background; it appears here when done.")
        jobs_panel(dataset.id, "map", limit=1)
        return
    if emap is None:
        st.info(
            "The map needs the encoder embeddings, which the **semantic** score computes and caches. "
            "Score semantic on the Score page and the map appears here."
        )
        return
    rows = emap.rows
    clusters = emap.clusters_for_all_rows()
    options = ["kept / dropped", "cluster", *(["label"] if dataset.has_labels else []), *scores.columns]
    colour_by = st.selectbox("Colour points by", options, key="map_colour")
    palette = None
    if colour_by == "kept / dropped":
        colour, palette = np.where(kept, "kept", "dropped"), {"kept": KEPT_COLOUR, "dropped": DROPPED_COLOUR}
    elif colour_by == "cluster":
        colour = np.where(clusters == -1, "noise", np.char.add("cluster ", clusters.astype(str)))  # cluster_name
    elif colour_by == "label":
        colour = dataset.table["label"].to_numpy()
    else:
        colour = scores[colour_by].to_numpy()
    if emap.sampled:
        st.caption(
            f"Showing a seeded sample of {len(rows):,} of {emap.n_rows:,} points (WebGL); all counts use every row."
        )
    st.caption(
        f"UMAP of the encoder embeddings · {emap.n_clusters} HDBSCAN clusters · lasso or box-select points to list them"
    )
    hover = _hover_text(dataset)
    fig = embedding_map_figure(
        emap.coords, colour=colour, colour_name=colour_by, hover=hover, rows=rows, discrete_colours=palette
    )
    map_column, side = st.columns([3, 1])
    event = map_column.plotly_chart(
        fig, on_select="rerun", selection_mode=("lasso", "box"), key="explore_map", width="stretch"
    )
    with side:
        cluster_retention_panel(clusters, kept)
    picked = selected_rows(event.selection if event else None)
    if len(picked):
        _picked_rows(dataset, scores, kept, clusters, picked)


def cluster_retention_panel(clusters: np.ndarray, kept: np.ndarray) -> None:
    """Beside the map: per HDBSCAN cluster of the cached map, the rows the interval keeps and drops, and a warning
    naming every cluster the interval empties (an interval can cut a whole topic out unseen)."""
    retention = cluster_retention(clusters, kept)
    st.markdown("**Kept / dropped per cluster**")
    if retention.empty:
        st.caption("No row is on the map.")
        return
    st.plotly_chart(
        cluster_retention_figure(retention),
        key="explore_cluster_bars",
        width="stretch",
        config={"displayModeBar": False},
    )
    empty = emptied_clusters(retention)
    if len(empty):
        named = [
            f"{cluster_name(int(c))} ({int(n):,} rows)" for c, n in zip(empty["cluster"], empty["rows"], strict=True)
        ]
        st.warning(
            f"The interval keeps no row of {len(empty):,} cluster{'s' if len(empty) != 1 else ''}: "
            + ", ".join(named[:8])
            + (f" and {len(named) - 8:,} more" if len(named) > 8 else "")
            + ". Colour the map by cluster to see where.",
            icon=":material/warning:",
        )


def _picked_rows(dataset: Dataset, scores: pd.DataFrame, kept: np.ndarray, clusters: np.ndarray, picked) -> None:
    """The rows lasso- or box-selected on the map (text as plain cells), with Keep / Drop for all of them."""
    table = dataset.table.iloc[picked]
    frame = pd.DataFrame({"id": table["id"].to_numpy(), "kept": kept[picked], "cluster": clusters[picked]})
    for name in scores.columns:
        frame[name] = scores[name].to_numpy()[picked].round(4)
    if dataset.has_labels:
        frame["label"] = table["label"].to_numpy()
    frame["text"] = table["text"].str.slice(0, 400).to_numpy()
    st.markdown(f"**{len(picked):,} selected on the map** ({int(kept[picked].sum()):,} kept)")
    st.dataframe(frame, hide_index=True, width="stretch", height=300)
    map_selection_actions(dataset.id, frame["id"].astype(str).tolist())


def _record_map_decision(dataset_id: str, sample_ids: list[str], decision: str) -> None:
    # A button callback: the decisions are committed before the page redraws (nothing lost on a crash).
    try:
        action = set_bulk_decision(
            dataset_id,
            sample_ids,
            decision,
            note="map selection",
            reviewer=current_identity(),
            selection=current_selection_text(),
        )
    except EudsInputError as exc:
        st.session_state["map_action_message"] = ("error", str(exc))
        return
    message = f"{decision.title()} recorded for {len(sample_ids):,} samples ({action})."
    st.session_state["map_action_message"] = ("success", message)


def map_selection_actions(dataset_id: str, sample_ids: list[str]) -> None:
    """Bulk Keep / Drop overrides for the lasso selection; they show on the Review page and in exports."""
    c1, c2, c3 = st.columns([1, 1, 3])
    decision_buttons(
        (c1, c2),
        "map",
        _record_map_decision,
        (dataset_id, sample_ids),
        label=lambda decision: f"{decision.title()} these {len(sample_ids):,}",
        help="records a manual override for every selected sample (undo on the Review page)",
    )
    if message := st.session_state.pop("map_action_message", None):
        kind, text = message
        (c3.error if kind == "error" else c3.success)(text)
