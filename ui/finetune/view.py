"""Fine-tune page helpers: start the background grid / search jobs and draw their live progress.

User-controlled text (job messages, errors, file names) goes through ``st.text`` so it is never rendered as
Markdown or HTML.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from euds_core.curation.roles import allowed, require
from euds_core.data.table import Dataset
from euds_core.errors import EudsInputError
from euds_core.experiments.finetune import DEFAULT_SIZES, FinetuneConfig, GridSpec, grid_score_names
from euds_core.experiments.grid_job import parse_grid_message
from euds_core.experiments.interval_search import best_cell
from euds_core.experiments.selection_check import DEFAULT_SEEDS, LIGHT_CPU_CONFIG, save_selection_ids
from euds_core.experiments.statistics import paired_verdicts
from euds_core.experiments.subsets import SELECTION, interval_strategy
from euds_core.runtime.jobs import Job, cancel_job, list_jobs, start_job
from ui.shared.form_state import Field, initial, remember
from ui.shared.identity import current_identity
from ui.shared.jobs_view import POLL_SECONDS, format_eta
from ui.shared.scores import score_options
from ui.shared.verdict_wording import Q_EXPLANATION, readable_message, readable_verdict_lines, size_text

GRID_KEY = "ft_grid_key"
CONFIRM_SEEDS = 5  # the confirmation's default: enough to put a CI on a difference of a few points


def build_spec(
    *,
    strategies,
    sizes,
    seeds: int,
    score,
    band,
    model: str,
    epochs: int,
    max_len: int,
    label_balanced: bool = False,
    light: bool = False,
) -> GridSpec:
    """The grid of the form's values; ``light``: with the speed settings of Explore's fine-tune check
    (:func:`light_settings`)."""
    config = FinetuneConfig(
        model=model.strip() or "packaged:minilm", epochs=int(epochs), max_len=int(max_len), **light_settings(light)
    )
    return GridSpec(
        strategies=list(strategies),
        sizes=sorted(float(s) for s in sizes),
        seeds=list(range(int(seeds))),
        score=score,
        band=band,
        config=config,
        label_balanced=label_balanced,
    )


def light_settings(light: bool) -> dict:
    """The speed settings of Explore's fine-tune check (precision, frozen word embeddings, test sample:
    ``LIGHT_CPU_CONFIG``), or none."""
    names = ("precision", "freeze_embeddings", "test_sample")
    return {name: getattr(LIGHT_CPU_CONFIG, name) for name in names} if light else {}


def light_help() -> str:
    c = LIGHT_CPU_CONFIG
    return (
        f"precision {c.precision} (bf16 only where the CPU multiplies it natively), "
        f"{'frozen' if c.freeze_embeddings else 'trained'} word embeddings, "
        f"{f'a fixed sample of {c.test_sample:,} test rows' if c.test_sample else 'the whole test split'}: "
        "the settings of Explore's fine-tune check (docs/experiments.md)"
    )


GRID_BANDS = ("middle", "low", "high")


def grid_fields(
    dataset: Dataset, score_names: list[str], strategies_all: list[str], has_selection: bool = False
) -> list[Field]:
    """The grid form's remembered fields (a reload keeps them: ``ui/shared/form_state.py``). With
    ``has_selection`` (Explore's kept rows are known) the default is "Train this selection": those rows vs
    label-stratified random at their size, with the light CPU settings of Explore's check (3 seeds, 1 epoch, 64
    tokens); other sizes, strategies and the full pool are options."""
    strategies = ("interval", "random", "full") if score_names else ("random", "full")
    return [
        Field("ft_model", "packaged:minilm"),
        Field("ft_sizes", () if has_selection else (0.1, 0.25, 1.0), options=DEFAULT_SIZES),
        Field("ft_strategies", (SELECTION, "random:balanced") if has_selection else strategies, tuple(strategies_all)),
        Field("ft_band", "middle", options=GRID_BANDS),
        Field("ft_seeds", DEFAULT_SEEDS["finetune"] if has_selection else 1, lo=1, hi=10),
        Field("ft_epochs", LIGHT_CPU_CONFIG.epochs, lo=1, hi=20),
        Field("ft_max_len", LIGHT_CPU_CONFIG.max_len if has_selection else 128, lo=16, hi=512),
        Field("ft_balanced", dataset.task == "classification"),
        Field("ft_light", has_selection),
    ]


def grid_form(
    dataset: Dataset, score_names: list[str], strategies_all: list[str], has_selection: bool = False
) -> tuple[bool, GridSpec]:
    """The grid's form (model, sizes, strategies, the interval's score and band, seeds, epochs, length, label
    balance): (whether it was submitted, the grid it describes). Its last submitted values survive a reload;
    ``has_selection``: see :func:`grid_fields`."""
    fields = grid_fields(dataset, score_names, strategies_all, has_selection)
    first = {f.key: initial(f) for f in fields}
    with st.form("ft_form", enter_to_submit=False):  # Enter in a number field never starts a grid
        model = st.text_input(
            "Model folder",
            first["ft_model"],
            key="ft_model",
            help="a local BERT-family folder; packaged:minilm = all-MiniLM-L6-v2",
        )
        c1, c2, c3 = st.columns(3)
        sizes = c1.multiselect(
            "Subset sizes", list(DEFAULT_SIZES), first["ft_sizes"], key="ft_sizes", format_func=size_text
        )
        strategies = c2.multiselect("Strategies", strategies_all, first["ft_strategies"], key="ft_strategies")
        score = c3.selectbox(
            "Score of the interval",
            score_names or [None],
            key="ft_score",
            help="interval = this score's band, at each size",
        )
        c4, c5, c6, c7 = st.columns(4)
        band = c4.selectbox("Band", GRID_BANDS, GRID_BANDS.index(first["ft_band"]), key="ft_band")
        seeds = c5.number_input("Seeds", 1, 10, first["ft_seeds"], key="ft_seeds")
        epochs = c6.number_input("Epochs", 1, 20, first["ft_epochs"], key="ft_epochs")
        max_len = c7.number_input("Max length (tokens)", 16, 512, first["ft_max_len"], step=16, key="ft_max_len")
        balanced = st.checkbox(
            "Label-balanced bands",
            value=first["ft_balanced"],
            key="ft_balanced",
            disabled=dataset.task != "classification",
            help="rank each score band within each label group, so a subset keeps the pool's label proportions",
        )
        light = st.checkbox("Light CPU settings", value=first["ft_light"], key="ft_light", help=light_help())
        submitted = st.form_submit_button("Run grid in the background", type="primary")
    remember(fields)
    spec = build_spec(
        strategies=strategies,
        sizes=sizes,
        seeds=seeds,
        score=score,
        band=band,
        model=model,
        epochs=epochs,
        max_len=max_len,
        label_balanced=bool(balanced) and dataset.task == "classification",
        light=bool(light),
    )
    return submitted, spec


def spec_args(dataset_id: str, spec: GridSpec, options: dict) -> dict:
    from dataclasses import asdict

    selection = {"selection_key": save_selection_ids(spec.selection_ids)} if spec.selection_ids is not None else {}
    return {
        **selection,
        "dataset_id": dataset_id,
        "strategies": spec.strategies,
        "sizes": spec.sizes,
        "seeds": spec.seeds,
        "score": spec.score,
        "band": spec.band,
        "label_balanced": spec.label_balanced,
        "config": asdict(spec.config),
        "options": options,
        "threads": 2,
    }


def confirm_spec(
    form_spec: GridSpec, score: str, p_lo: float, p_hi: float, seeds: int, label_balanced: bool = False
) -> GridSpec:
    """The search's confirmation: that exact interval (label-balanced when the search was) vs random at the same
    size vs full, on the test split, with the form's model and training settings."""
    return GridSpec(
        strategies=[interval_strategy(p_lo, p_hi, label_balanced), "random", "full"],
        sizes=[],
        seeds=list(range(int(seeds))),
        score=score,
        config=form_spec.config,
        label_balanced=label_balanced,
    )


def explore_kept_ids(dataset: Dataset) -> list[str] | None:
    """The ids Explore keeps for the current selection (every member with its own variant, then the review
    overrides: what Review and Export keep); None without labels, an interval, or its complete scores."""
    from ui.shared.review_interval import selection_mask
    from ui.shared.score_variants import selection_scores
    from ui.shared.selection import current_selection
    from ui.shared.selection_checks import kept_ids_with_overrides

    current = current_selection()
    if dataset.task != "classification" or not current.intervals:
        return None
    frame = selection_scores(dataset, current.variant_map()).frame
    if any(i.score not in frame.columns for i in current.intervals):
        return None
    return kept_ids_with_overrides(dataset, selection_mask(current, frame, dataset))[0]


def bind_selection(dataset: Dataset, spec: GridSpec, kept_ids: list[str] | None) -> GridSpec:
    """``spec`` with its ``selection`` strategy bound to Explore's kept ids (unchanged when it has none)."""
    from euds_core.experiments.finetune import with_selection

    if SELECTION not in spec.strategies:
        return spec
    if kept_ids is None:
        raise EudsInputError("the selection strategy trains the rows Explore keeps: set an interval on Explore")
    return with_selection(spec, dataset.table, kept_ids)


def start_grid(dataset, spec: GridSpec, scores, options: dict) -> str | None:
    """Validate and launch the ``finetune`` job; returns the grid key (or None after showing the error).

    ``scores``: the dataset's cached scores frame; the key holds a digest of the values the grid selects by.
    A ``selection`` strategy trains Explore's kept ids of the current selection.
    """
    try:
        require(current_identity(), "finetune")  # a lead's action when the workspace has a team file
        spec = bind_selection(dataset, spec, explore_kept_ids(dataset) if SELECTION in spec.strategies else None)
        spec.check()
        missing = [n for n in grid_score_names(spec) if n not in scores.columns]
        if missing:
            raise EudsInputError(f"compute the score(s) {', '.join(missing)} on the Score page first")
        key = spec.key(dataset.id, scores)
    except EudsInputError as exc:
        st.error("Cannot start the grid:")
        st.text(str(exc))
        return None
    start_job("finetune", {**spec_args(dataset.id, spec, options), "grid_key": key}, dataset_id=dataset.id)
    st.session_state[GRID_KEY] = key
    return key


SEARCH_SCORE_PARAM = "search_score"
MIN_KEEP = Field("ft_min_keep", 0.2, lo=0.1, hi=1.0)  # the search's smallest kept fraction (a slider)


def search_score_select(container, score_names: list[str], fallback: str | None) -> str:
    """The interval search's score; it rides in the URL (``?search_score=``) so a reload shows the same heat map,
    and starts as the current selection's score when the URL names none."""
    start = fallback if fallback in score_names else score_names[0]
    item = Field("ft_search_score", start, tuple(score_names), param=SEARCH_SCORE_PARAM)
    score = container.selectbox("Score", score_names, score_names.index(initial(item)), key="ft_search_score")
    remember([item])
    return score


def latest_job(dataset_id: str, kind: str) -> Job | None:
    jobs = list_jobs(dataset_id, kind, limit=1)
    return jobs[0] if jobs else None


def is_active(job: Job | None) -> bool:
    return bool(job and job.active)


def live_job_section(dataset_id: str, kind: str, key: str, draw_results: Callable[[Job | None], None]) -> None:
    """The latest ``kind`` job's progress, then ``draw_results(job)``, in a fragment that polls while the job runs
    and redraws the whole page once when it ends (its results may change what the page above shows)."""

    def section(was_active: bool) -> None:
        job = latest_job(dataset_id, kind)
        job_progress(job, key=key)
        if was_active and not is_active(job):
            st.rerun()  # the job ended: redraw the page once, then stop polling
        draw_results(job)

    active = is_active(latest_job(dataset_id, kind))
    st.fragment(section, run_every=POLL_SECONDS if active else None)(active)


def start_training_job(container, kind: str, args: dict, dataset_id: str, what: str) -> None:
    """Start a background job that trains models (a lead's, as fine-tunes are), or say in ``container`` why not."""
    if allowed(current_identity(), "finetune"):
        start_job(kind, args, dataset_id=dataset_id)
    else:
        container.error(f"Starting {what} needs the lead role — ask a lead.")


def job_progress(job: Job | None, *, key: str) -> None:
    """Overall bar, the current run's bar, ETA and Cancel while active; the outcome when finished."""
    if job is None:
        return
    if job.active:
        parsed = parse_grid_message(job.message)
        left, right = st.columns([6, 1], vertical_alignment="bottom")
        left.progress(job.progress, text=f"Overall: {job.progress:.0%} · {format_eta(job.eta_seconds)}")
        if parsed is not None:
            current, total, fraction = parsed
            left.progress(fraction, text=f"Run {current} of {total}: {fraction:.0%}")
        left.text(readable_message(job.message) if job.message else job.status)
        if right.button(
            "Cancel", key=f"{key}_cancel_{job.id}", help="stop at the next training step; finished runs stay saved"
        ):
            cancel_job(job.id)
            st.toast("Cancelling…")
    elif job.status == "failed":
        st.error("The last job failed:")
        st.text(job.error or "")
    elif job.status == "cancelled":
        st.warning("The last job was cancelled; start it again to resume (finished runs are skipped).")


def show_verdicts(runs) -> None:
    """One line per (strategy, size) against random at the same size and seeds, as plain text (the selection
    against label-stratified random when that ran)."""
    lines = readable_verdict_lines(paired_verdicts(runs, balanced={SELECTION}), runs)
    if not lines:
        st.caption("No verdict yet: it needs random runs at the same size and seeds as another strategy.")
        return
    st.markdown(
        "**Against random at the same size** (paired by seed and test row; 95 % CI over seeds and test rows; "
        "Benjamini–Hochberg false discovery rate 5 % across these comparisons)"
    )
    for line in lines:
        st.text(line)
    st.caption(Q_EXPLANATION)


def best_cell_actions(dataset, grid, score: str, form_spec: GridSpec, scores, options: dict):
    """The best cell's line, "Confirm with a fine-tune" (starts the confirmation grid) and "Open on Explore".

    Returns the best cell's (p_lo, p_hi) when the user asked to open it on Explore, else None.
    """
    best = best_cell(grid)
    gain = f", {best.gain * 100:+.1f} pt over random at its size" if "gain" in grid.columns else ""
    st.caption(
        f"Best cell: plo {best.p_lo:.2f}, phi {best.p_hi:.2f}, validation accuracy {best.accuracy:.3f}{gain} "
        f"(full pool: {grid[(grid.p_lo == 0) & (grid.p_hi == 1)].accuracy.max():.3f})."
    )
    left, middle, right = st.columns([2, 1, 2], vertical_alignment="bottom")
    confirm_seeds = Field("ft_confirm_seeds", CONFIRM_SEEDS, lo=2, hi=20)
    seeds = middle.number_input("Seeds", 2, 20, initial(confirm_seeds), key="ft_confirm_seeds")
    remember([confirm_seeds])
    if left.button("Confirm with a fine-tune", key="ft_confirm", type="primary"):
        balanced = bool(best.get("label_balanced", False))  # grids saved before the option were global
        confirm = confirm_spec(form_spec, score, float(best.p_lo), float(best.p_hi), seeds, balanced)
        if start_grid(dataset, confirm, scores, options):
            st.rerun()
    if right.button("Open the best cell on Explore", key="ft_open_best"):
        return float(best.p_lo), float(best.p_hi)
    return None


# ---------------------------------------------------------------------------------------------- selection study

STUDY_SIZES = (0.1, 0.16, 0.25)
# A table's size_fraction column as a percentage (the stored fraction stays exact, e.g. 0.54007 of the pool)
SIZE_COLUMN = {"size_fraction": st.column_config.NumberColumn("size", format="percent", help="of the training pool")}


def study_args(dataset_id: str, form_spec: GridSpec, scores: list[str], size: float, seeds: int, options: dict):
    """The ``selection_study`` job's args: the form's model and training settings, the cached scores."""
    from dataclasses import asdict

    return {
        "dataset_id": dataset_id,
        "sizes": [float(size)],
        "seeds": list(range(int(seeds))),
        "scores": list(scores),
        "options": options,
        "label_balanced": True,
        "config": asdict(form_spec.config),
        "threads": 2,
    }


def study_results(dataset_id: str) -> None:
    """The latest study: the search's word per size, the leaderboard (with verdicts) and the curve."""
    from euds_core.experiments.leaderboard import leaderboard
    from euds_core.experiments.study import load_study
    from ui.finetune.charts import accuracy_vs_size_figure

    cells, searches = load_study(dataset_id)
    if cells.empty:
        st.info("No selection study yet: press the button above (it fine-tunes 3 methods x seeds; minutes on a GPU).")
        return
    for s in searches:
        st.text(f"Search at size {size_text(s['size'])} (cross-fitted over the pool): {s['verdict']}")
    board = leaderboard(cells)
    shown = board[
        ["method", "size_fraction", "seeds", "n_train", "accuracy", "ci_low", "ci_high", "gain_pt", "verdict"]
    ]
    st.dataframe(shown, hide_index=True, width="stretch", column_config=SIZE_COLUMN)
    st.caption(Q_EXPLANATION)
    runs = cells.rename(columns={"method": "strategy"}).assign(train_seconds=cells["seconds"])
    st.plotly_chart(accuracy_vs_size_figure(runs), key="ft_study_curve", width="stretch")
    auto = cells[cells["method"] == "auto"]["choice"]
    if len(auto):
        st.caption(f"auto trained on: {auto.iloc[0]}")


def selection_study_section(dataset: Dataset, spec: GridSpec, score_names: list[str]) -> None:
    """One button: search, then confirm the winner vs random vs full with a real fine-tune (a background job)."""
    st.subheader("Selection study")
    st.caption(
        "One button: search every cached score x band x label balancing x near-duplicate removal, cross-fitted over "
        "the pool (linear proxy; a winner must beat the same search on permuted scores), then fine-tune the "
        "winner, random at the same size and the full pool with the form's model, and measure them on the untouched "
        "test split. When nothing beats the permuted scores, the winner is a random subset and the study says so."
    )
    if dataset.task != "classification" or not score_names:
        st.info("The selection study needs labelled data and at least one computed score (Score page).")
    else:
        t1, t2, t3 = st.columns([1, 1, 2], vertical_alignment="bottom")
        fields = [Field("ft_study_size", STUDY_SIZES[1], STUDY_SIZES), Field("ft_study_seeds", 3, lo=2, hi=10)]
        size, seeds = (initial(f) for f in fields)
        study_size = t1.selectbox(
            "Subset size", STUDY_SIZES, STUDY_SIZES.index(size), key="ft_study_size", format_func=size_text
        )
        study_seeds = t2.number_input("Seeds", 2, 10, seeds, key="ft_study_seeds")
        remember(fields)
        if t3.button("Run the selection study", key="ft_study", type="primary"):
            args = study_args(dataset.id, spec, score_names, study_size, study_seeds, score_options())
            start_training_job(t3, "selection_study", args, dataset.id, "a fine-tune")
        live_job_section(dataset.id, "selection_study", "ft_study", lambda _job: study_results(dataset.id))
    from ui.finetune.sweep import break_even_section  # the break-even sweep of the same dataset

    size, seeds = st.session_state.get("ft_study_size", 0.16), st.session_state.get("ft_study_seeds", 3)
    break_even_section(dataset, score_names, size, seeds, score_options())
