"""A self-contained HTML selection report for demos: one file, no network (plotly.js is inlined once).

Sections: counts, score histograms (all vs kept), the 2-D map when coordinates are given, label balance
before/after, sample excerpts (kept and dropped), the fine-tune curve with 95 % CIs and the verdicts against
random when the caller passes them (``experiments`` sits above this package), and the selection spec. Every piece of dataset text goes through :func:`html.escape`.
"""

from __future__ import annotations

import html
import json
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from euds_core import __version__
from euds_core.data.table import Dataset
from euds_core.selection.intervals import SelectionSpec, apply_selection

KEPT_COLOUR, DROPPED_COLOUR = "#1f77b4", "#c7c7c7"
MAX_MAP_POINTS = 5000
HIST_BINS = 40

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2rem; } .muted { color: #666; font-size: 0.9rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.text { max-width: 640px; white-space: pre-wrap; }
.cards { display: flex; gap: 1rem; flex-wrap: wrap; } .card { border: 1px solid #ddd; border-radius: 6px; padding: 0.6rem 1rem; }
.card b { display: block; font-size: 1.4rem; } pre { background: #f7f7f7; padding: 0.8rem; overflow-x: auto; font-size: 0.8rem; }
"""


# ---------------------------------------------------------------------------------------------- pieces


def _table(frame: pd.DataFrame, text_columns: tuple[str, ...] = ("text",)) -> str:
    """An escaped HTML table (never ``DataFrame.to_html(escape=False)``)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, record, strict=True):
            if isinstance(value, float | np.floating):
                cells.append(f'<td class="num">{value:.4g}</td>')
            elif isinstance(value, int | np.integer):
                cells.append(f'<td class="num">{value}</td>')
            else:
                cls = ' class="text"' if column in text_columns else ""
                cells.append(f"<td{cls}>{html.escape(str(value))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _histogram(name: str, values: np.ndarray, kept: np.ndarray):
    import plotly.graph_objects as go

    edges = np.histogram_bin_edges(values, bins=HIST_BINS)  # (bins + 1,)
    all_counts, _ = np.histogram(values, bins=edges)
    kept_counts, _ = np.histogram(values[kept], bins=edges)
    centres, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    fig = go.Figure()
    fig.add_bar(x=centres, y=kept_counts, width=widths, name="kept", marker_color=KEPT_COLOUR)
    fig.add_bar(x=centres, y=all_counts - kept_counts, width=widths, name="dropped", marker_color=DROPPED_COLOUR)
    fig.update_layout(barmode="stack", title=name, height=300, margin=dict(l=40, r=20, t=40, b=30), bargap=0)
    return fig


def _map(xy: np.ndarray, kept: np.ndarray, seed: int = 0):
    import plotly.graph_objects as go

    rows = np.arange(len(xy))
    if len(rows) > MAX_MAP_POINTS:
        rows = np.sort(np.random.default_rng(seed).choice(len(rows), MAX_MAP_POINTS, replace=False))
    fig = go.Figure()
    for name, colour, mask in (("dropped", DROPPED_COLOUR, ~kept[rows]), ("kept", KEPT_COLOUR, kept[rows])):
        pts = xy[rows[mask]]  # (n_points, 2)
        fig.add_scattergl(x=pts[:, 0], y=pts[:, 1], mode="markers", name=name, marker=dict(color=colour, size=4))
    fig.update_layout(title="Map (kept vs dropped)", height=480, margin=dict(l=20, r=20, t=40, b=20))
    return fig


# One fixed colour per strategy (the baselines grey / black), others from a palette: never left to a template.
STRATEGY_COLOURS = {"interval": "#2563eb", "random": "#9ca3af", "full": "#111827"}
OTHER_STRATEGY_COLOURS = ["#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"]


def strategy_colours(strategies) -> dict[str, str]:
    others = iter(OTHER_STRATEGY_COLOURS * 4)
    return {s: STRATEGY_COLOURS.get(s) or next(others) for s in strategies}


def ci_error_bars(curve: pd.DataFrame, **style) -> dict:
    """plotly ``error_y`` from a curve's ``accuracy`` and its 95 % CI columns ``ci_low`` / ``ci_high``."""
    return dict(
        type="data",
        symmetric=False,
        array=curve["ci_high"] - curve["accuracy"],
        arrayminus=curve["accuracy"] - curve["ci_low"],
        visible=True,
        **style,
    )


def _finetune_figure(curve: pd.DataFrame):
    import plotly.graph_objects as go

    fig = go.Figure()
    colours = strategy_colours(sorted(map(str, curve["strategy"].unique())))
    for strategy, part in curve.groupby("strategy"):
        colour = colours[str(strategy)]
        fig.add_scatter(
            x=part["size_fraction"],
            y=part["accuracy"],
            name=str(strategy),
            mode="lines+markers",
            line=dict(color=colour, width=2),
            marker=dict(color=colour, size=8),
            error_y=ci_error_bars(part, color=colour),
        )
    sizes = sorted(curve["size_fraction"].unique())
    fig.update_layout(
        title="Fine-tune: test accuracy vs subset size (error bars: 95 % CI over seeds)",
        height=380,
        font=dict(size=14),
        xaxis=dict(title="subset size (share of the pool)", tickvals=sizes, tickformat=".0%", showgrid=True),
        yaxis=dict(title="test accuracy", tickformat=".0%", showgrid=True, zeroline=False),
        legend=dict(title="strategy"),
        margin=dict(l=70, r=20, t=50, b=60),
    )
    return fig


def label_balance(labels: pd.Series, before: np.ndarray, after: np.ndarray) -> pd.DataFrame:
    """Rows and share per label: all data, interval selection, effective selection (after review)."""
    out = pd.DataFrame({"label": sorted(labels.astype(str).unique())})
    for name, mask in (("all", np.ones(len(labels), dtype=bool)), ("interval", before), ("effective", after)):
        counts = labels[mask].astype(str).value_counts()
        out[name] = out["label"].map(counts).fillna(0).astype(int)
        out[f"{name} %"] = (100.0 * out[name] / max(int(mask.sum()), 1)).round(1)
    return out


def _excerpt(text: str, max_chars: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


# ---------------------------------------------------------------------------------------------- report


def build_report_html(
    dataset: Dataset,
    scores: pd.DataFrame,
    spec: SelectionSpec,
    *,
    map_xy: np.ndarray | None = None,
    finetune_curve: pd.DataFrame | None = None,
    finetune_verdicts: list[str] | None = None,
    finetune_verdicts_note: str = "",
    n_excerpts: int = 5,
    excerpt_chars: int = 300,
    title: str | None = None,
) -> str:
    """The whole report as one HTML string (plotly.js inlined in the first figure, none fetched).

    ``finetune_curve`` (``experiments.statistics.curve_summary`` of one grid: mean and 95 % CI per strategy and
    size) and ``finetune_verdicts`` (its lines against random) add the fine-tune section; ``finetune_verdicts_note``
    (what the lines' q means) is a paragraph under them.
    """
    frame = dataset.table[["id"]].copy()
    for name in scores.columns:
        frame[name] = scores[name].to_numpy()
    before = apply_selection(replace(spec, overrides={}), frame)  # the interval selection alone
    after = apply_selection(spec, frame)  # with the review's overrides
    curve = finetune_curve if finetune_curve is not None else pd.DataFrame()
    if map_xy is not None and len(map_xy) != len(frame):
        map_xy = None
    hist_html, map_html, curve_html = _figure_html(scores, spec, after, map_xy, curve)
    parts = [
        _head(dataset, title),
        "<h2>Counts</h2>" + _count_cards(len(frame), before, after, spec.overrides or {}),
        _intervals_section(spec),
        "<h2>Scores</h2>" + "".join(hist_html) if hist_html else "",
        "<h2>Map</h2>" + map_html if map_html else "",
    ]
    if dataset.has_labels:
        parts.append(
            "<h2>Label balance before / after</h2>" + _table(label_balance(dataset.table["label"], before, after))
        )
    parts.append(_excerpt_section(dataset, scores, spec, after, n_excerpts, excerpt_chars))
    parts.append(_agreement_section(dataset.id))
    if curve_html:
        verdicts = "".join(f"<li>{html.escape(line)}</li>" for line in finetune_verdicts or [])
        q_note = f"<p>{html.escape(finetune_verdicts_note)}</p>" if finetune_verdicts_note else ""
        parts.append(
            "<h2>Fine-tune curve</h2>"
            + curve_html
            + _table(curve)
            + (f"<h3>Against random at the same size</h3><ul>{verdicts}</ul>{q_note}" if verdicts else "")
        )
    parts.append(
        "<h2>Selection spec</h2><pre>" + html.escape(json.dumps(json.loads(spec.to_json()), indent=1)) + "</pre>"
    )
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)


def _agreement_section(dataset_id: str) -> str:
    """Double-review rounds: Cohen's kappa per round and the rows the two reviewers disagree on."""
    from euds_core.curation.double_review import agreement, list_rounds

    results = [agreement(dataset_id, r) for r in list_rounds(dataset_id)]
    if not results:
        return ""
    summary = pd.DataFrame(
        {
            "round": [a.round.round_id for a in results],
            "reviewers": [" and ".join(a.round.reviewers) for a in results],
            "rows": [len(a.round.sample_ids) for a in results],
            "decided by both": [a.both_decided for a in results],
            "agreed": [a.agreed for a in results],
            "Cohen's kappa": [a.kappa_text() for a in results],
        }
    )
    parts = ["<h2>Double review: agreement</h2>", _table(summary, text_columns=())]
    for result in results:
        if len(result.disagreements):
            parts.append(f"<h3>Disagreements in round {html.escape(result.round.round_id)}</h3>")
            parts.append(_table(result.disagreements, text_columns=()))
    return "".join(parts)


def _figure_html(
    scores: pd.DataFrame, spec: SelectionSpec, kept: np.ndarray, map_xy: np.ndarray | None, curve: pd.DataFrame
) -> tuple[list[str], str, str]:
    """(score histograms, map, fine-tune curve) as HTML; plotly.js is inlined once, in the first figure."""
    hist_scores = list(dict.fromkeys([*(i.score for i in spec.intervals), *scores.columns]))[:6]
    figures = [_histogram(name, scores[name].to_numpy(dtype=np.float64), kept) for name in hist_scores]
    if map_xy is not None:
        figures.append(_map(np.asarray(map_xy, dtype=np.float64), kept))
    if not curve.empty:
        figures.append(_finetune_figure(curve))
    fig_html = [
        f.to_html(full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False})
        for i, f in enumerate(figures)
    ]
    n = len(hist_scores)
    return fig_html[:n], fig_html[n] if map_xy is not None else "", fig_html[-1] if not curve.empty else ""


def _head(dataset: Dataset, title: str | None) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
            f"<title>{html.escape(title or f'EUDS selection report: {dataset.name}')}</title><style>{_CSS}</style>"
            "</head><body>",
            f"<h1>{html.escape(title or 'EUDS selection report')}</h1>",
            f"<p class='muted'>Dataset <b>{html.escape(dataset.name)}</b> · id <code>{html.escape(dataset.id)}</code> · "
            f"{html.escape(datetime.now(tz=UTC).strftime('%Y-%m-%d %H:%M UTC'))} · euds_core "
            f"{html.escape(__version__)}</p>",
        ]
    )


def _count_cards(n: int, before: np.ndarray, after: np.ndarray, overrides: dict) -> str:
    cards = [
        ("rows", n),
        ("interval keeps", int(before.sum())),
        ("kept after review", int(after.sum())),
        ("overrides", len(overrides)),
        ("forced keep", sum(v == "keep" for v in overrides.values())),
        ("forced drop", sum(v == "drop" for v in overrides.values())),
    ]
    return (
        "<div class='cards'>"
        + "".join(f"<div class='card'><b>{v:,}</b>{html.escape(k)}</div>" for k, v in cards)
        + "</div>"
    )


def _intervals_section(spec: SelectionSpec) -> str:
    if not spec.intervals:
        return ""
    bounds = pd.DataFrame(
        [
            {"score": i.score, "mode": i.mode, "lo": i.lo, "hi": i.hi, "keep": i.keep, "band": i.band}
            for i in spec.intervals
        ]
    )
    return "<h2>Intervals</h2>" + _table(bounds.astype(object).where(bounds.notna(), ""))


def _excerpt_section(
    dataset: Dataset, scores: pd.DataFrame, spec: SelectionSpec, kept: np.ndarray, n: int, chars: int
) -> str:
    score = spec.intervals[0].score if spec.intervals else (scores.columns[0] if len(scores.columns) else None)
    table = dataset.table
    out = ["<h2>Sample excerpts</h2>"]
    for name, mask in (("Kept", kept), ("Dropped", ~kept)):
        rows = np.flatnonzero(mask)  # (n_rows_in_group,)
        if score is not None and len(rows):
            order = np.argsort(scores[score].to_numpy()[rows], kind="stable")
            rows = rows[order]  # by score, so the picks spread over its range
            picks = rows[np.unique(np.linspace(0, len(rows) - 1, min(n, len(rows))).round().astype(int))]
        else:
            picks = rows[:n]
        part = pd.DataFrame({"id": table["id"].to_numpy()[picks]})
        if dataset.has_labels:
            part["label"] = table["label"].to_numpy()[picks]
        if score is not None:
            part[score] = scores[score].to_numpy()[picks].astype(float)
        part["review"] = part["id"].map(spec.overrides or {}).fillna("")
        part["text"] = [_excerpt(t, chars) for t in table["text"].to_numpy()[picks]]
        out.append(f"<h3>{name} ({int(mask.sum()):,}; spread over the {html.escape(score or 'row')} range)</h3>")
        out.append(_table(part) if len(part) else "<p class='muted'>none</p>")
    return "".join(out)
