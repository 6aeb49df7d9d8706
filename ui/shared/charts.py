"""Plotly figure builders for the pages: pure functions of arrays (no Streamlit), testable on their own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

KEPT_COLOUR = "#2563eb"
DROPPED_COLOUR = "#cbd5e1"
BAND_COLOUR = "rgba(37, 99, 235, 0.08)"
HIST_BINS = 60


def histogram_bins(values: np.ndarray, n_bins: int = HIST_BINS) -> np.ndarray:
    """Shared bin edges for the kept and dropped parts (same bars, stacked). Shape (n_bins + 1,)."""
    lo, hi = float(np.min(values)), float(np.max(values))
    if hi <= lo:
        hi = lo + 1e-6
    return np.linspace(lo, hi, n_bins + 1)


def score_histogram(
    values: np.ndarray,
    kept: np.ndarray,
    *,
    title: str = "",
    bounds: tuple[float, float] | None = None,
    unit: str = "",
    height: int = 300,
    selectable: bool = False,
) -> go.Figure:
    """Stacked histogram of one score: kept rows in colour, dropped in grey, the interval as a shaded band.

    Bars are pre-binned (``np.histogram``) so a million rows cost two bincounts, not a million points sent
    to the browser. ``bounds`` are the interval's raw-value ends; ``selectable`` turns on box-select dragging.
    """
    edges = histogram_bins(values)
    centres = (edges[:-1] + edges[1:]) / 2  # (n_bins,)
    width = edges[1] - edges[0]
    kept_counts, _ = np.histogram(values[kept], bins=edges)
    dropped_counts, _ = np.histogram(values[~kept], bins=edges)
    fig = go.Figure()
    hover = "%{x:.3g}: %{y} rows<extra>%{fullData.name}</extra>"
    fig.add_bar(x=centres, y=kept_counts, width=width, name="kept", marker_color=KEPT_COLOUR, hovertemplate=hover)
    fig.add_bar(
        x=centres, y=dropped_counts, width=width, name="dropped", marker_color=DROPPED_COLOUR, hovertemplate=hover
    )
    if bounds is not None:
        lo, hi = bounds
        fig.add_vrect(x0=lo, x1=hi, fillcolor=BAND_COLOUR, line_width=0, layer="below")
        for x in (lo, hi):
            fig.add_vline(x=x, line_color=KEPT_COLOUR, line_width=2, line_dash="dash")
    fig.update_layout(
        barmode="stack",
        bargap=0.02,
        height=height,
        title=dict(text=title, x=0, font_size=14),
        margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        legend=dict(orientation="h", y=1.12, x=1, xanchor="right"),
        xaxis_title=unit or None,
        yaxis_title="rows",
        dragmode="select" if selectable else "zoom",
        selectdirection="h",
        plot_bgcolor="white",
    )
    fig.update_xaxes(showgrid=False)
    fig.update_yaxes(gridcolor="#eef1f5")
    return fig


def box_bounds(selection: dict | None) -> tuple[float, float] | None:
    """Raw-value bounds (x0 <= x1) of a box drawn on a histogram, from a Streamlit plotly selection event."""
    if not selection:
        return None
    boxes = selection.get("box") or []
    for box in boxes:
        xs = box.get("x")
        if xs and len(xs) >= 2:
            return float(min(xs)), float(max(xs))
    points = selection.get("points") or []
    xs = [p["x"] for p in points if "x" in p]
    if xs:
        return float(min(xs)), float(max(xs))
    return None


def length_histogram(lengths: np.ndarray, height: int = 240) -> go.Figure:
    fig = go.Figure(go.Histogram(x=lengths, nbinsx=50, marker_color=KEPT_COLOUR))
    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=10, b=10),
        xaxis_title="characters per text",
        yaxis_title="rows",
        bargap=0.02,
        plot_bgcolor="white",
    )
    fig.update_yaxes(gridcolor="#eef1f5")
    return fig


def label_balance_table(labels: pd.Series, kept: np.ndarray | None = None) -> pd.DataFrame:
    """Per label: rows and share in all data, and (when ``kept`` is given) in the kept subset."""
    counts = labels.value_counts().sort_index()
    out = pd.DataFrame({"label": counts.index.astype(str), "all": counts.values})
    out["all %"] = (100 * out["all"] / max(len(labels), 1)).round(1)
    if kept is not None:
        kept_counts = labels[kept].value_counts().reindex(counts.index, fill_value=0)
        out["kept"] = kept_counts.values
        out["kept %"] = (100 * out["kept"] / max(int(kept.sum()), 1)).round(1)
    return out


def label_balance_figure(balance: pd.DataFrame, height: int = 240) -> go.Figure:
    """Grouped bars of label shares, all vs kept (from :func:`label_balance_table`)."""
    fig = go.Figure()
    fig.add_bar(x=balance["label"], y=balance["all %"], name="all", marker_color=DROPPED_COLOUR)
    if "kept %" in balance:
        fig.add_bar(x=balance["label"], y=balance["kept %"], name="kept", marker_color=KEPT_COLOUR)
    fig.update_layout(
        barmode="group",
        height=height,
        margin=dict(l=10, r=10, t=10, b=10),
        yaxis_title="% of rows",
        legend=dict(orientation="h", y=1.15, x=1, xanchor="right"),
        plot_bgcolor="white",
    )
    fig.update_yaxes(gridcolor="#eef1f5")
    return fig


def cluster_name(cluster: int) -> str:
    """How the map's legend names an HDBSCAN cluster (-1: the points it leaves in no cluster)."""
    return "noise" if cluster == -1 else f"cluster {cluster}"


def cluster_retention_figure(retention: pd.DataFrame) -> go.Figure:
    """Horizontal stacked bars, one per map cluster (named with its size): the shares of its rows kept and dropped,
    so a small cluster's loss shows as plainly as a large one's; the counts are in the hover (from
    ``cluster_retention``)."""
    names = [
        f"{cluster_name(int(c))} ({int(n):,})" for c, n in zip(retention["cluster"], retention["rows"], strict=True)
    ]
    fig = go.Figure()
    for part, colour in (("kept", KEPT_COLOUR), ("dropped", DROPPED_COLOUR)):
        fig.add_bar(
            y=names,
            x=100 * retention[part] / retention["rows"],
            customdata=retention[part],
            name=part,
            orientation="h",
            marker_color=colour,
            hovertemplate=f"%{{y}}: %{{customdata:,}} {part} (%{{x:.0f}} %)<extra></extra>",
        )
    fig.update_layout(
        barmode="stack",
        height=min(max(200, 22 * len(names) + 70), 900),
        margin=dict(l=10, r=10, t=30, b=10),
        xaxis_title="% of the cluster's rows",
        legend=dict(orientation="h", y=1.0, yanchor="bottom", x=1, xanchor="right"),
        plot_bgcolor="white",
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(gridcolor="#eef1f5")
    return fig


def _add_map_points(fig: go.Figure, xy: np.ndarray, rows: np.ndarray, hover: list[str], name: str, marker: dict):
    fig.add_scattergl(
        x=xy[:, 0],
        y=xy[:, 1],
        mode="markers",
        customdata=rows,
        text=hover,
        hovertemplate="%{text}<extra></extra>",
        name=name,
        marker=marker,
    )


def embedding_map_figure(
    xy: np.ndarray,
    *,
    colour: pd.Series | np.ndarray,
    colour_name: str,
    hover: list[str],
    rows: np.ndarray,
    height: int = 520,
    discrete_colours: dict[str, str] | None = None,
) -> go.Figure:
    """2-D map (WebGL scatter): ``xy`` (m, 2) are the coordinates of table rows ``rows`` (m,); ``colour`` and
    ``hover`` are per table row. Numeric ``colour`` -> a colour scale, else one trace per category.

    ``customdata`` carries each point's row index, so a lasso selection maps straight back to table rows.
    """
    colour = np.asarray(colour)[rows]
    hover = [hover[i] for i in rows]
    fig = go.Figure()
    if np.issubdtype(colour.dtype, np.number) and discrete_colours is None:
        colour_bar = dict(title=colour_name, thickness=12)
        marker = dict(size=5, color=colour, colorscale="Viridis", showscale=True, colorbar=colour_bar)
        _add_map_points(fig, xy, rows, hover, colour_name, marker)
    else:
        colour = colour.astype(str)
        palette = discrete_colours or {}
        for value in sorted(set(colour.tolist()), key=lambda v: (v not in palette, v)):
            idx = np.flatnonzero(colour == value)
            _add_map_points(
                fig, xy[idx], rows[idx], [hover[i] for i in idx], value, dict(size=5, color=palette.get(value))
            )
    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=10, b=10),
        dragmode="lasso",
        plot_bgcolor="white",
        legend=dict(title=colour_name, orientation="h", y=1.06, x=1, xanchor="right"),
    )
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, title=None)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, title=None)
    return fig


def selected_rows(selection: dict | None) -> np.ndarray:
    """Table row indices of the points selected on an :func:`embedding_map_figure` (via ``customdata``)."""
    if not selection:
        return np.zeros(0, dtype=np.int64)
    rows = []
    for p in selection.get("points") or []:
        cd = p.get("customdata")
        if isinstance(cd, list):
            cd = cd[0] if cd else None
        if cd is not None:
            rows.append(int(cd))
    return np.unique(np.asarray(rows, dtype=np.int64))
