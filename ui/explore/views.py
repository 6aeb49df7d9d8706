"""Explore-page sections: the "score it" prompt, kept-vs-all summary, score histograms, sample preview."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import streamlit as st

from euds_core.data.table import Dataset
from euds_core.scores import get_scorer_class
from euds_core.selection.intervals import Interval
from euds_core.selection.kept_count import KeptCount
from ui.explore.interval import interval_bounds
from ui.shared.charts import label_balance_figure, label_balance_table, score_histogram
from ui.shared.jobs_view import POLL_SECONDS, jobs_panel
from ui.shared.scores import FIRST_SCORES, partial_signature, running_scores, start_score_jobs

PREVIEW_ROWS = 25
TEXT_PREVIEW_CHARS = 400


def score_it_prompt(dataset: Dataset) -> None:
    """No cached scores: one click starts the three entropies, each model pass on a random sample first."""
    busy = running_scores(dataset.id)
    if not busy:
        st.info(
            f"**{dataset.name}** has no cached scores yet. Information entropy takes seconds; the model passes "
            "(semantic, generative) score a random sample first, so all three histograms show within about a "
            "minute on CPU as estimates, then fill in."
        )
        if st.button(f"Score it ({' + '.join(FIRST_SCORES)})", type="primary", key="explore_score_it"):
            start_score_jobs(dataset, FIRST_SCORES)
            st.rerun()
    else:
        st.info("Scoring… this page fills in as soon as the first score is cached.")
    jobs_panel(dataset.id, "score")


SUBSET_REPORT_KEY = "_explore_subset_report"  # (what it describes, the report)


def kept_summary(count: KeptCount, dataset: Dataset, total_rows: int | None = None) -> None:
    """The live headline: ``Kept K of N`` (the count of every page: after the review's overrides, named when they
    change it), kept fraction, dropped.

    ``total_rows`` (a partial view: the count covers a random sample of that many rows) turns the counts into
    estimates for the whole dataset, shown with "≈".
    """
    k, n = count.kept, count.total
    c1, c2, c3 = st.columns([2, 1, 1])
    c2.metric("Kept fraction", f"{k / max(n, 1):.1%}")
    if total_rows is None or total_rows == n:
        c1.markdown(f"### Kept {k:,} of {n:,}")
        if count.changed:
            c1.caption(f"{count.breakdown()} — the number Review and Export keep")
        c3.metric("Dropped", f"{n - k:,}")
        return
    estimate = count.estimated_kept(total_rows)
    c1.markdown(f"### ≈ {estimate:,} of {total_rows:,} kept")
    c1.caption(f"estimate: {k:,} of the {n:,} rows scored so far (a random sample); exact when scoring finishes")
    c3.metric("Dropped", f"≈ {total_rows - estimate:,}")


def defect_counts(kept: np.ndarray, dataset: Dataset, *, partial: bool = False) -> None:
    """With a ``defect`` column (injected defects): kept and dropped rows per kind, and the selection's recall
    and precision per kind (docs/experiments.md, "Where curation pays")."""
    from euds_core.data.defects import has_defects
    from euds_core.selection.defect_report import defect_report

    if not has_defects(dataset.table):
        return
    report = defect_report(dataset.table, kept)
    if report.empty:
        return
    with st.expander("Injected defects: kept and dropped per kind", expanded=True):
        if partial:
            st.caption("Counts of the rows scored so far (a random sample).")
        st.table(defect_table(report).set_index("defect kind"))  # a plain table: a few rows, readable as text


def defect_table(report: pd.DataFrame) -> pd.DataFrame:
    """The report as the page shows it (near-duplicate recall counts groups cleaned, see defect_report)."""
    table = report.rename(columns={"kind": "defect kind"})
    for column in ("recall", "precision"):
        table[column] = table[column].map(lambda v: "" if pd.isna(v) else f"{v:.0%}")
    return table


def partial_sample(dataset: Dataset, so_far: pd.DataFrame) -> tuple[Dataset, pd.DataFrame]:
    """The rows every score has so far (a random sample: passes finish rows in one seeded random order), as a
    dataset and a score frame the rest of the page draws like any other. Scores with no row yet are left out."""
    frame = so_far[[c for c in so_far.columns if so_far[c].notna().any()]]
    rows = np.flatnonzero(frame.notna().all(axis=1).to_numpy())
    table = dataset.table.iloc[rows].reset_index(drop=True)
    sample = Dataset(name=dataset.name, task=dataset.task, table=table, source=dataset.source, skipped=dataset.skipped)
    return sample, frame.iloc[rows].reset_index(drop=True)


def _rerun_when_rows_land(dataset_id: str, signature: tuple) -> None:
    if partial_signature(dataset_id) != signature:
        st.rerun(scope="app")


def refresh_while_scoring(dataset_id: str) -> None:
    """While a pass runs, redraw the page each time it finishes a chunk, so the partial view fills in."""
    if running_scores(dataset_id):
        st.fragment(_rerun_when_rows_land, run_every=POLL_SECONDS)(dataset_id, partial_signature(dataset_id))


def partial_banner(so_far: pd.DataFrame, total_rows: int, shown_rows: int, running: bool = True) -> None:
    """Say which scores are partial, and that the counts are estimates (issue 17); when no pass is running (it was
    cancelled or its process died), that nothing will fill in until scoring is started again."""
    counts = so_far[[c for c in so_far.columns if not get_scorer_class(c).depends_on]].notna().sum()
    parts = [
        f"{name}: {int(c):,} of {total_rows:,} rows scored (random sample)"
        for name, c in counts.items()
        if c < total_rows
    ]
    then = (
        "fills in as scoring goes on"
        if running
        else "stays so: scoring stopped part-way (cancelled or interrupted). Start it again on the Score page to "
        "finish; it resumes from the rows already scored"
    )
    st.info(
        "**Partial view** — " + "; ".join(parts) + " — counts are estimates. "
        f"Every chart uses the {shown_rows:,} rows all scores have so far and {then}; "
        "percentile intervals set now stay as they are when it finishes.",
        icon=":material/hourglass_empty:",
    )


def label_balance(kept: np.ndarray, dataset: Dataset) -> None:
    if not dataset.has_labels:
        st.caption("No labels: label balance needs a label column.")
        return
    balance = label_balance_table(dataset.table["label"], kept)
    st.plotly_chart(label_balance_figure(balance, height=260), width="stretch", key="explore_balance")
    st.dataframe(balance, hide_index=True, width="stretch")


def main_histogram(score: str, values: np.ndarray, kept: np.ndarray, interval: Interval, unit: str) -> None:
    fig = score_histogram(
        values,
        kept,
        title=f"{score}: drag across the bars to set the interval",
        unit=unit,
        bounds=interval_bounds(interval, values, kept),
        height=340,
        selectable=True,
    )
    st.plotly_chart(
        fig,
        on_select="rerun",
        selection_mode=("box",),
        key=f"hist_{score}",
        width="stretch",
        config={"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "autoScale2d"]},
    )


def other_histograms(
    scores: pd.DataFrame, active: str, kept: np.ndarray, bounds: dict[str, tuple[float, float]], units: dict
) -> None:
    """Small multiples: how the kept rows spread over every other cached score (bands for intersection members)."""
    others = [s for s in scores.columns if s != active]
    if not others:
        return
    st.markdown("**Kept rows on the other scores**")
    cols = st.columns(min(3, len(others)))
    for i, name in enumerate(others):
        fig = score_histogram(
            scores[name].to_numpy(), kept, title=name, unit=units.get(name, ""), bounds=bounds.get(name), height=220
        )
        fig.update_layout(showlegend=False)
        cols[i % len(cols)].plotly_chart(fig, width="stretch", key=f"small_{name}", config={"displayModeBar": False})


def _preview_frame(dataset: Dataset, values: np.ndarray, rows: np.ndarray, score: str) -> pd.DataFrame:
    table = dataset.table.iloc[rows]
    frame = pd.DataFrame({"id": table["id"].to_numpy(), score: np.round(values[rows], 4)})
    if dataset.has_labels:
        frame["label"] = table["label"].to_numpy()
    frame["text"] = table["text"].str.slice(0, TEXT_PREVIEW_CHARS).to_numpy()  # plain text cells, never HTML
    return frame


def preview(dataset: Dataset, score: str, values: np.ndarray, kept: np.ndarray) -> None:
    """Kept vs dropped samples side by side: a seeded random draw, or sorted by the score."""
    order = st.radio("Order", ["random", "highest score", "lowest score"], key="explore_preview_order", horizontal=True)
    rng = np.random.default_rng(0)
    columns = st.columns(2)
    for col, title, mask in ((columns[0], "Kept", kept), (columns[1], "Dropped", ~kept)):
        rows = np.flatnonzero(mask)
        if order == "random":
            rows = np.sort(rng.permutation(rows)[:PREVIEW_ROWS])
        else:
            sorted_rows = rows[np.argsort(values[rows], kind="stable")]
            rows = (sorted_rows[::-1] if order == "highest score" else sorted_rows)[:PREVIEW_ROWS]
        col.markdown(f"**{title}** ({int(mask.sum()):,} rows)")
        if len(rows):
            col.dataframe(
                _preview_frame(dataset, values, rows, score),
                hide_index=True,
                width="stretch",
                height=420,
                column_config={"text": st.column_config.TextColumn(width="large")},
            )
        else:
            col.caption("none")


def subset_report_panel(dataset: Dataset, scores: pd.DataFrame, kept: np.ndarray, scores_id: str = "") -> None:
    """Diversity (Vendi), cluster coverage, label balance and score means of the kept rows vs the pool, computed
    when asked (a button, with a spinner): Vendi is a pass over all embeddings, far too slow to repeat on every
    interval change of a large pool. The last report stays shown while it matches the kept rows and the scores
    (``scores_id`` names the score arrays, e.g. their params)."""
    from euds_core.curation.export import selection_report
    from ui.shared.map_view import map_encoder

    encoder = map_encoder()
    key = (
        dataset.id,
        encoder,
        json.dumps(list(scores.columns)),
        scores_id,
        hashlib.sha256(np.packbits(kept).tobytes()).hexdigest(),
    )
    saved = st.session_state.get(SUBSET_REPORT_KEY)
    if st.button("Subset report: diversity, coverage, balance", key="explore_subset_report"):
        with st.spinner("Computing the subset report (diversity needs a pass over every embedding)…"):
            saved = (key, selection_report(dataset, scores, kept, encoder))
        st.session_state[SUBSET_REPORT_KEY] = saved
    if saved is None:
        return
    if saved[0] != key:
        st.caption("The interval changed since the last subset report: press the button for this selection's report.")
        return
    report = saved[1]
    st.caption(
        f"The {report['n_kept']:,} kept rows (review overrides applied) beside all {report['n_pool']:,} rows: "
        "each figure for both."
    )
    st.dataframe(subset_report_table(report), hide_index=True, width="stretch")
    if "vendi_kept" not in report:
        st.caption("Vendi and cluster coverage need the encoder embeddings: score **semantic** first.")
    if report.get("defects"):
        st.markdown("**Injected defects: kept and dropped per kind**")
        st.dataframe(defect_table(pd.DataFrame(report["defects"])), hide_index=True, width="stretch")


def subset_report_table(report: dict) -> pd.DataFrame:
    """One row per figure of the subset report: the kept rows' value, the pool's, and one line on its meaning."""
    rows = [("Rows", f"{report['n_kept']:,}", f"{report['n_pool']:,}", "rows kept, and rows in the dataset")]
    if "vendi_kept" in report:
        rows.append(
            (
                "Vendi score",
                f"{report['vendi_kept']:.1f}",
                f"{report['vendi_pool']:.1f}",
                "effective number of distinct rows (cosine similarity of the encoder embeddings); higher = more varied",
            )
        )
    if "cluster_coverage" in report:
        n = report.get("n_clusters", 0)
        rows.append(
            (
                "Cluster coverage",
                f"{report['cluster_coverage']:.0%}",
                "100%",
                f"share of the dataset's {n} k-means topic clusters with at least one kept row",
            )
        )
        rows.append(
            (
                "Cluster balance",
                f"{report['cluster_balance']:.2f}",
                f"{report['cluster_balance_pool']:.2f}" if "cluster_balance_pool" in report else "",
                "how evenly the rows spread over those clusters (normalised entropy: 1 = even, 0 = one cluster)",
            )
        )
    if "label_balance" in report:
        rows.append(
            (
                "Label balance",
                f"{report['label_balance']:.2f}",
                f"{report['label_balance_pool']:.2f}" if "label_balance_pool" in report else "",
                "how evenly the labels occur (normalised entropy: 1 = every label equally often)",
            )
        )
    for name, means in (report.get("score_means") or {}).items():
        # '#' keeps trailing zeros: both columns show 4 significant digits ("3.300" beside "3.211", not "3.3")
        kept = "" if means["kept"] is None else f"{means['kept']:#.4g}"
        rows.append((f"Mean {name}", kept, f"{means['pool']:#.4g}", f"the average {name} score"))
    return pd.DataFrame(rows, columns=["figure", "kept", "all rows", "what it means"])
