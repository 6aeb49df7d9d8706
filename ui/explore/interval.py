"""Explore-page helpers: per-score interval controls, URL state, and the keep-mask of the current view.

Each score keeps its own interval in ``st.session_state[INTERVALS_KEY]`` (widget state is dropped by Streamlit
when a widget is not drawn, e.g. after switching score), restored into the widgets before they are drawn.
The current selection (``ui/shared/selection.py``: the URL's ``dataset``, ``score``, bounds) is loaded into these
widgets when it changes, and the page writes the widgets back as the current selection.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import streamlit as st

from euds_core.selection.interval_index import SortedScoreIndex
from euds_core.selection.intervals import Interval
from ui.shared.selection import BANDS, MODES, SEED, Selection, mark_loaded, notice, widgets_need_loading

INTERVALS_KEY = "explore_intervals"
PAGE = "explore"


def _keys(score: str) -> dict[str, str]:
    return {f: f"iv_{f}_{score}" for f in ("mode", "pct", "raw", "keep", "band")}


def _stored(score: str, values: np.ndarray) -> dict:
    lo, hi = float(np.min(values)), float(np.max(values))
    default = {"mode": "percentile", "pct": (0.0, 1.0), "raw": (lo, hi), "keep": 0.5, "band": "middle"}
    return st.session_state.setdefault(INTERVALS_KEY, {}).setdefault(score, default)


def set_interval(score: str, values: np.ndarray, **fields) -> None:
    """Change a score's stored interval and its widgets (call before the widgets are drawn)."""
    stored = _stored(score, values)
    stored.update(fields)
    for field, key in _keys(score).items():
        st.session_state[key] = stored[field]


def raw_range(values: np.ndarray) -> tuple[float, float, float]:
    """Slider range and step for raw values: 200 steps across the data's span."""
    lo, hi = float(np.min(values)), float(np.max(values))
    span = hi - lo if hi > lo else 1.0
    return lo, lo + span if hi > lo else hi + 1.0, span / 200


def interval_controls(score: str, values: np.ndarray, container=None) -> Interval:
    """Mode radio + slider(s) for ``score``; returns its :class:`Interval`. Keys: ``iv_<field>_<score>``."""
    c = container or st
    stored = _stored(score, values)
    keys = _keys(score)
    for field, key in keys.items():
        if key not in st.session_state:
            st.session_state[key] = stored[field]
    mode = c.radio(
        "Bounds",
        list(MODES),
        format_func=MODES.get,
        key=keys["mode"],
        horizontal=True,
        on_change=_carry_over,
        args=(score, values),
    )
    if mode == "percentile":
        c.slider(
            "Percentile interval",
            0.0,
            1.0,
            step=0.01,
            key=keys["pct"],
            help="rank of the score in [0, 1]: 0 = lowest, 1 = highest",
        )
        interval = Interval(
            score, "percentile", lo=st.session_state[keys["pct"]][0], hi=st.session_state[keys["pct"]][1]
        )
    elif mode == "threshold":
        lo, hi, step = raw_range(values)
        a, b = st.session_state[keys["raw"]]
        st.session_state[keys["raw"]] = (min(max(a, lo), hi), max(min(b, hi), lo))
        c.slider("Score interval", lo, hi, step=step, key=keys["raw"], format="%.3f")
        interval = Interval(
            score, "threshold", lo=st.session_state[keys["raw"]][0], hi=st.session_state[keys["raw"]][1]
        )
    else:
        left, right = c.columns([2, 1])
        left.slider("Keep fraction", 0.01, 1.0, step=0.01, key=keys["keep"])
        right.select_slider("Band", BANDS, key=keys["band"], help="which part of the score order to keep")
        interval = Interval(score, "keep", keep=st.session_state[keys["keep"]], band=st.session_state[keys["band"]])
    for field, key in keys.items():
        stored[field] = st.session_state[key]
    return interval


def apply_box_selection(score: str, values: np.ndarray, bounds: tuple[float, float] | None) -> bool:
    """Turn raw bounds dragged on the histogram into the score's interval, in its current mode (percentile stays
    percentile). Returns True when the interval changed."""
    if bounds is None:
        return False
    lo, hi = max(bounds[0], float(np.min(values))), min(bounds[1], float(np.max(values)))
    if hi < lo:
        return False
    mode = _stored(score, values)["mode"]
    if mode == "percentile":
        set_interval(score, values, pct=_percentiles_of(values, lo, hi))
    else:
        set_interval(score, values, mode="threshold", raw=(lo, hi))
    return True


def _percentiles_of(values: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """The percentile interval of the raw bounds ``lo``-``hi``, to the sliders' two decimals."""
    n, ordered = len(values), np.sort(values)
    # Fraction of rows strictly below / at-or-below, on the (rank - 1) / (n - 1) scale of percentile_rank.
    plo = float(np.searchsorted(ordered, lo, side="left")) / max(n - 1, 1)
    phi = (float(np.searchsorted(ordered, hi, side="right")) - 1) / max(n - 1, 1)
    return round(min(plo, 1.0), 2), round(max(min(phi, 1.0), 0.0), 2)


def _carry_over(score: str, values: np.ndarray) -> None:
    """A switch of the Bounds mode starts the new mode's controls at the rows the old mode kept (percentile <->
    raw bounds, or their kept fraction), instead of at that mode's own last values (full range at first)."""
    keys, stored = _keys(score), _stored(score, values)
    kept = stored_interval(score, values).mask(values, SEED)  # the old mode's rows: stored is not yet updated
    if not kept.any():
        return
    lo, hi = float(values[kept].min()), float(values[kept].max())
    new = {"threshold": {"raw": (lo, hi)}, "percentile": {"pct": _percentiles_of(values, lo, hi)}}.get(
        st.session_state[keys["mode"]], {"keep": max(round(float(kept.mean()), 2), 0.01)}
    )
    stored.update(new)
    for field, value in new.items():
        st.session_state[keys[field]] = value


def interval_bounds(interval: Interval, values: np.ndarray, kept: np.ndarray) -> tuple[float, float]:
    """The interval's ends in raw score units (for drawing): the kept rows' min and max."""
    if interval.mode == "threshold":
        return float(interval.lo), float(interval.hi)
    if kept.any():
        return float(values[kept].min()), float(values[kept].max())
    return float(np.min(values)), float(np.min(values))


def apply_selection(selection: Selection, names: list[str], values_of, top) -> bool:
    """Load a new current selection (a link, a reload, another page's change) into Explore's widgets once;
    returns False, after saying so at the top, when its score is not among the cached ``names``."""
    if not widgets_need_loading(PAGE, selection):
        return True
    mark_loaded(PAGE, selection)
    if not selection.intervals:
        return True
    missing = [i.score for i in selection.intervals if i.score not in names]
    if missing:
        notice(
            top,
            f"The selection names the score '{missing[0]}', which is not cached for this dataset (cached: "
            f"{', '.join(names)}). Explore shows another score below; score '{missing[0]}' on the Score page to "
            "see the selection.",
        )
        return False
    for interval in selection.intervals:
        values = values_of(interval.score)
        if interval.mode == "percentile":
            set_interval(interval.score, values, mode="percentile", pct=(float(interval.lo), float(interval.hi)))
        elif interval.mode == "threshold":
            lo, hi, _ = raw_range(values)
            a = float(interval.lo) if np.isfinite(interval.lo) else lo
            b = float(interval.hi) if np.isfinite(interval.hi) else hi
            if b < lo or a > hi:  # the slider can only hold bounds inside the values: it would keep other rows
                notice(
                    top,
                    f"The link's bounds {a:.4g}–{b:.4g} lie outside every {interval.score} value ({lo:.4g}–{hi:.4g}) "
                    "and keep no row; the slider shows the nearest bounds inside that range instead. Set the "
                    "interval you mean.",
                )
            set_interval(interval.score, values, mode="threshold", raw=(a, b))
        else:
            set_interval(interval.score, values, mode="keep", keep=float(interval.keep), band=str(interval.band))
    st.session_state["explore_score"] = selection.intervals[0].score
    st.session_state[BALANCED_KEY] = bool(selection.intervals[0].label_balanced)
    st.session_state["explore_combine"] = "Intersection" if len(selection.intervals) > 1 else "One score"
    if len(selection.intervals) > 1:
        st.session_state["explore_members"] = [i.score for i in selection.intervals[1:]]
    return True


def remember_applied(selection: Selection) -> None:
    """Explore wrote ``selection`` itself: it is not a new selection to load into the widgets next run."""
    mark_loaded(PAGE, selection)


@st.cache_resource(max_entries=32, show_spinner=False)
def _score_index(key: tuple, _values: np.ndarray) -> SortedScoreIndex:
    return SortedScoreIndex(_values, seed=SEED)


def interval_mask(
    interval: Interval, values: np.ndarray, key: tuple | None = None, labels: np.ndarray | None = None
) -> np.ndarray:
    """(n,) bool keep-mask. With a ``key`` naming the array (dataset id, score, options), a pre-sorted index is
    built once and reused, so a drag costs a searchsorted plus the O(kept) mask (same result as select).
    A label-balanced interval ranks within each label group (``labels``), without the index."""
    if key is None or interval.label_balanced:
        return interval.mask(values.astype(np.float64), SEED, labels)
    if key is None:
        return interval.mask(values.astype(np.float64), SEED)
    index = _score_index(key, values)
    return index.kept_mask(index.span_for(interval))


BALANCED_KEY = "explore_label_balanced"


def label_balanced_control(interval: Interval, labels: np.ndarray | None) -> Interval:
    """The "within each label" checkbox: the interval applied per label group keeps the label proportions.
    Off (and disabled) without labels or for raw-value bounds, which do not depend on the other rows."""
    usable = labels is not None and interval.mode != "threshold"
    checked = st.checkbox(
        "Keep the label proportions (apply the interval within each label)",
        key=BALANCED_KEY,
        disabled=not usable,
        help="ranks are computed within each class, so the kept rows keep the label mix of the whole dataset"
        if usable
        else "needs a label column and percentile or keep bounds",
    )
    return replace(interval, label_balanced=bool(checked and usable))


def stored_interval(score: str, values: np.ndarray) -> Interval:
    """The interval last set for ``score`` (full range when never touched), without drawing widgets."""
    s = _stored(score, values)
    if s["mode"] == "percentile":
        return Interval(score, "percentile", lo=s["pct"][0], hi=s["pct"][1])
    if s["mode"] == "threshold":
        return Interval(score, "threshold", lo=s["raw"][0], hi=s["raw"][1])
    return Interval(score, "keep", keep=s["keep"], band=s["band"])
