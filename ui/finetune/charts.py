"""Figures and tables of the Fine-tune page: pure functions of the runs frame (no Streamlit), testable alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from euds_core.curation.html_report import ci_error_bars, strategy_colours
from euds_core.experiments.interval_search import best_cell
from euds_core.experiments.run_store import RESULT_COLUMNS
from euds_core.experiments.statistics import curve_summary
from euds_core.experiments.subsets import SELECTION
from ui.shared.verdict_wording import size_text


def runs_colours(runs: pd.DataFrame) -> dict[str, str]:
    """One colour per strategy for every figure of these runs (and the HTML report): the same key, the same colour."""
    return strategy_colours(sorted(map(str, runs["strategy"].unique())))


def summarise_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (strategy, size): mean accuracy with its 95 % CI over seeds (the curve's points and error bars),
    plus the standard deviation, mean n_train, macro-F1 and training seconds."""
    summary = curve_summary(runs)
    if summary.empty:
        return summary.assign(accuracy_std=pd.Series(dtype=float), train_seconds=pd.Series(dtype=float))
    spread = runs.groupby(["strategy", "size_fraction"], as_index=False).agg(
        accuracy_std=("accuracy", lambda a: float(np.std(a, ddof=1)) if len(a) > 1 else 0.0),
        train_seconds=("train_seconds", "mean"),
    )
    return summary.merge(spread, on=["strategy", "size_fraction"]).sort_values(["strategy", "size_fraction"])


def accuracy_vs_size_figure(
    runs: pd.DataFrame, *, height: int = 380, majority: float | None = None, verdicts: pd.DataFrame | None = None
) -> go.Figure:
    """Accuracy against subset size (log x), one line per strategy, error bars = 95 % CI over seeds; dashed
    lines at the full pool's accuracy (when the grid has it) and at ``majority`` (always guessing the most
    frequent label of the test split): the two references a subset's accuracy is read against. ``verdicts``
    (:func:`~euds_core.experiments.statistics.paired_verdicts`): the selection's matched verdict is written at
    its point, the difference with its 95 % CI in points."""
    summary = summarise_runs(runs)
    colours = runs_colours(runs)
    fig = go.Figure()
    for strategy, part in summary.groupby("strategy", sort=False):
        colour = colours[str(strategy)]
        fig.add_trace(
            go.Scatter(
                x=part["size_fraction"],
                y=part["accuracy"],
                error_y=ci_error_bars(part, thickness=1.2),
                mode="lines+markers" if len(part) > 1 else "markers",
                marker=dict(
                    size=9 if strategy == "full" else 7, symbol="star" if strategy == "full" else "circle", color=colour
                ),
                line=dict(color=colour, dash="dot" if strategy == "random" else "solid"),
                name=str(strategy),
                customdata=np.stack([part["n_train"], part["seeds"], part["ci_low"], part["ci_high"]], axis=1),
                hovertemplate="%{fullData.name}<br>size %{x:.0%} (n=%{customdata[0]:.0f})<br>accuracy %{y:.3f}"
                " (95 % CI %{customdata[2]:.3f}–%{customdata[3]:.3f})<br>seeds %{customdata[1]}<extra></extra>",
            )
        )
    sizes = sorted(summary["size_fraction"].unique())
    fig.update_xaxes(
        type="log",
        title="subset size (share of the training pool, log scale)",
        tickvals=sizes,
        ticktext=[size_text(s) for s in sizes],
    )
    fig.update_yaxes(title="test accuracy")
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=30, b=10), legend_title_text="strategy", plot_bgcolor="white"
    )
    full = summary[summary["strategy"] == "full"]["accuracy"]
    for value, text in ((full.mean() if len(full) else None, "full pool"), (majority, "majority class")):
        if value is not None:
            fig.add_hline(y=float(value), line_dash="dash", line_color="#777", annotation_text=f"{text} {value:.3f}")
    _annotate_selection_verdict(fig, summary, verdicts)
    return fig


def selection_verdict_text(verdict: pd.Series) -> str:
    """The selection's difference to its baseline with the 95 % CI, in points (one line)."""
    return (
        f"selection vs {verdict['baseline']}: {verdict['difference_pt']:+.1f} pt "
        f"(95 % CI {verdict['ci_low_pt']:+.1f} to {verdict['ci_high_pt']:+.1f}, {int(verdict['seeds'])} seeds)"
    )


def _annotate_selection_verdict(fig: go.Figure, summary: pd.DataFrame, verdicts: pd.DataFrame | None) -> None:
    if verdicts is None or verdicts.empty:
        return
    for _, verdict in verdicts[(verdicts["strategy"] == SELECTION) & verdicts["matched"]].iterrows():
        point = summary[
            (summary["strategy"] == SELECTION) & np.isclose(summary["size_fraction"], verdict.size_fraction)
        ]
        if len(point):
            fig.add_annotation(
                x=np.log10(verdict.size_fraction),  # a log axis places annotations by log10(x)
                y=float(point["accuracy"].iloc[0]),
                text=selection_verdict_text(verdict),
                showarrow=True,
                arrowhead=2,
                ax=0,
                ay=-40,
                bgcolor="rgba(255,255,255,0.85)",
            )


def accuracy_vs_time_figure(runs: pd.DataFrame, *, height: int = 320) -> go.Figure:
    """Each run as a point: training seconds against accuracy, coloured by strategy."""
    colours = runs_colours(runs)
    fig = go.Figure()
    for strategy, part in runs.groupby("strategy", sort=False):
        fig.add_trace(
            go.Scatter(
                x=part["train_seconds"],
                y=part["accuracy"],
                mode="markers",
                marker=dict(size=8, color=colours[str(strategy)], opacity=0.8),
                name=str(strategy),
                customdata=np.stack([part["size_fraction"], part["seed"]], axis=1),
                hovertemplate="%{fullData.name}<br>%{x:.1f} s, accuracy %{y:.3f}<br>size %{customdata[0]:.0%}, seed %{customdata[1]}<extra></extra>",
            )
        )
    fig.update_xaxes(title="training seconds")
    fig.update_yaxes(title="test accuracy")
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=30, b=10), legend_title_text="strategy", plot_bgcolor="white"
    )
    return fig


def runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs as the CLI's CSV columns, newest last."""
    return runs[RESULT_COLUMNS].reset_index(drop=True)


def runs_csv(runs: pd.DataFrame) -> bytes:
    return runs_table(runs).to_csv(index=False).encode("utf-8")


def interval_grid_figure(grid: pd.DataFrame, *, height: int = 420) -> go.Figure:
    """The interval search as a clickable heat map: one square per (p_lo, p_hi) cell, colour = validation gain
    over random at the same size (blue better, red worse), so wide cells do not win by size alone.

    Drawn as a scatter of square markers (not a heatmap trace) because Streamlit's point selection reports
    scatter points reliably; ``customdata`` carries (p_lo, p_hi) for the click handler. A grid saved before
    gains existed is coloured by accuracy.
    """
    has_gain = "gain" in grid.columns
    colour = 100.0 * grid["gain"] if has_gain else grid["accuracy"]
    best = best_cell(grid).name if len(grid) else None
    reach = float(np.nanmax(np.abs(colour))) if has_gain and len(grid) else None
    random_acc = grid["random_accuracy"] if has_gain else grid["accuracy"] * np.nan
    fig = go.Figure(
        go.Scatter(
            x=grid["p_lo"],
            y=grid["p_hi"],
            mode="markers",
            marker=dict(
                symbol="square",
                size=26,
                color=colour,
                colorscale="RdBu" if has_gain else "Viridis",
                cmid=0.0 if has_gain else None,
                cmin=-reach if reach else None,
                cmax=reach if reach else None,
                colorbar=dict(title="gain over random (pt)" if has_gain else "accuracy"),
                line=dict(width=[3 if i == best else 0 for i in grid.index], color="#111827"),
            ),
            customdata=np.stack(
                [grid["p_lo"], grid["p_hi"], grid["keep_fraction"], grid["accuracy"], random_acc, colour], axis=1
            ),
            hovertemplate="p_lo %{customdata[0]:.2f}, p_hi %{customdata[1]:.2f}<br>keeps %{customdata[2]:.0%}"
            "<br>validation accuracy %{customdata[3]:.3f}<br>random at this size %{customdata[4]:.3f}"
            "<extra></extra>",
            name="cells",
        )
    )
    fig.update_xaxes(title="p_lo (lower percentile)", range=[-0.07, 1.0], dtick=0.1)
    fig.update_yaxes(title="p_hi (upper percentile)", range=[0.0, 1.07], dtick=0.1)
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=30, b=10), plot_bgcolor="white", clickmode="event+select"
    )
    return fig


def clicked_cell(selection) -> tuple[float, float] | None:
    """(p_lo, p_hi) of the cell a user clicked, from a Streamlit plotly selection event (or None)."""
    points = (
        (selection or {}).get("selection", {}).get("points", [])
        if isinstance(selection, dict)
        else getattr(getattr(selection, "selection", None), "points", [])
    )
    if not points:
        return None
    point = points[0]  # x = p_lo, y = p_hi (customdata comes back as a dict in some Streamlit versions)
    return round(float(point["x"]), 6), round(float(point["y"]), 6)


def explore_link_params(dataset_spec: str, score: str, p_lo: float, p_hi: float) -> dict[str, str]:
    """The Explore page's URL state for an interval: ``?dataset=...&score=...&plo=...&phi=...``."""
    return {"dataset": dataset_spec, "score": score, "plo": f"{p_lo:.2f}", "phi": f"{p_hi:.2f}"}
