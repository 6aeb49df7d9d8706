"""The interval selection the Review and Export pages start from, and the spec they build from it.

The Explore page keeps its interval in the URL (``score`` + ``plo``/``phi``, ``lo``/``hi`` or
``keep``/``band``). These pages read it once per new URL into their own inputs (``review_*`` keys), keep a
copy in ``st.session_state[SAVED_KEY]`` (widget state is dropped when a page is left) and write changes back
to the URL in the same format, so Explore, Review and Export show one selection.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd
import streamlit as st

from euds_core.data.table import Dataset
from euds_core.scores import make_scorer
from euds_core.selection.intervals import Interval, SelectionSpec
from ui.scores import score_options

SAVED_KEY = "euds_interval"
URL_SEEN_KEY = "_review_url_seen"
URL_KEYS = ("score", "plo", "phi", "lo", "hi", "keep", "band")
NO_SCORE = "(none: every row)"
MODES = {"percentile": "Percentile", "threshold": "Raw value", "keep": "Keep fraction"}
SEED = 0


def _float(value, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def url_interval(names: list[str]) -> Interval | None:
    """The interval named by the URL query parameters, or None."""
    params = {k: st.query_params.get(k) for k in URL_KEYS}
    if params["score"] not in names:
        return None
    if params["plo"] is not None or params["phi"] is not None:
        return Interval(params["score"], "percentile", lo=_float(params["plo"], 0.0), hi=_float(params["phi"], 1.0))
    if params["lo"] is not None or params["hi"] is not None:
        return Interval(params["score"], "threshold", lo=_float(params["lo"], -np.inf), hi=_float(params["hi"], np.inf))
    if params["keep"] is not None:
        return Interval(params["score"], "keep", keep=_float(params["keep"], 0.5), band=params["band"] or "middle")
    return Interval(params["score"], "percentile", lo=0.0, hi=1.0)


def _load_into_widgets(interval: Interval | None, scores: pd.DataFrame) -> None:
    if interval is None:
        st.session_state["review_score"] = NO_SCORE
        return
    values = scores[interval.score].to_numpy(dtype=np.float64)
    st.session_state["review_score"] = interval.score
    st.session_state["review_mode"] = interval.mode
    st.session_state["review_plo"] = float(interval.lo) if interval.mode == "percentile" else 0.0
    st.session_state["review_phi"] = float(interval.hi) if interval.mode == "percentile" else 1.0
    lo = interval.lo if interval.mode == "threshold" and np.isfinite(interval.lo) else float(values.min())
    hi = interval.hi if interval.mode == "threshold" and np.isfinite(interval.hi) else float(values.max())
    st.session_state["review_lo"], st.session_state["review_hi"] = float(lo), float(hi)
    st.session_state["review_keep"] = float(interval.keep) if interval.keep is not None else 0.5
    st.session_state["review_band"] = str(interval.band) if interval.band in ("low", "middle", "high") else "middle"


def interval_inputs(scores: pd.DataFrame) -> Interval | None:
    """Score + bounds inputs, defaulting to the URL's interval; None = no interval (every row in)."""
    names = list(scores.columns)
    from_url = url_interval(names)
    signature = tuple((k, st.query_params.get(k)) for k in URL_KEYS)
    if from_url is not None and st.session_state.get(URL_SEEN_KEY) != signature:
        _load_into_widgets(from_url, scores)
    elif "review_score" not in st.session_state:
        saved = st.session_state.get(SAVED_KEY)
        _load_into_widgets(Interval(**saved) if saved and saved.get("score") in names else None, scores)
    st.session_state[URL_SEEN_KEY] = signature
    if st.session_state.get("review_score") not in [NO_SCORE, *names]:
        st.session_state["review_score"] = NO_SCORE

    c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
    score = c1.selectbox("Interval score", [NO_SCORE, *names], key="review_score")
    if score == NO_SCORE:
        st.session_state[SAVED_KEY] = None
        return None
    values = scores[score].to_numpy(dtype=np.float64)
    st.session_state.setdefault("review_mode", "percentile")
    mode = c2.radio("Bounds", list(MODES), format_func=MODES.get, key="review_mode", horizontal=True)
    if mode == "percentile":
        st.session_state.setdefault("review_plo", 0.0), st.session_state.setdefault("review_phi", 1.0)
        lo = c3.number_input("Lower percentile", 0.0, 1.0, step=0.05, key="review_plo")
        hi = c4.number_input("Upper percentile", 0.0, 1.0, step=0.05, key="review_phi")
        interval = Interval(score, "percentile", lo=float(min(lo, hi)), hi=float(max(lo, hi)))
    elif mode == "threshold":
        st.session_state.setdefault("review_lo", float(values.min()))
        st.session_state.setdefault("review_hi", float(values.max()))
        lo = c3.number_input("Lower bound", key="review_lo", format="%.4f")
        hi = c4.number_input("Upper bound", key="review_hi", format="%.4f")
        interval = Interval(score, "threshold", lo=float(min(lo, hi)), hi=float(max(lo, hi)))
    else:
        st.session_state.setdefault("review_keep", 0.5), st.session_state.setdefault("review_band", "middle")
        keep = c3.number_input("Keep fraction", 0.01, 1.0, step=0.05, key="review_keep")
        band = c4.selectbox("Band", ["low", "middle", "high"], key="review_band")
        interval = Interval(score, "keep", keep=float(keep), band=band)
    st.session_state[SAVED_KEY] = asdict(interval)
    _write_url(interval)
    return interval


def _write_url(interval: Interval) -> None:
    """The interval into the URL in Explore's format (only when it changed, so no extra rerun)."""
    params = {"score": interval.score}
    if interval.mode == "percentile":
        params.update(plo=f"{interval.lo:.2f}", phi=f"{interval.hi:.2f}")
    elif interval.mode == "threshold":
        params.update(lo=f"{interval.lo:.6g}", hi=f"{interval.hi:.6g}")
    else:
        params.update(keep=f"{interval.keep:.2f}", band=str(interval.band))
    current = {k: st.query_params.get(k) for k in URL_KEYS}
    if {k: current[k] for k in params} != params or any(current[k] is not None for k in URL_KEYS if k not in params):
        for key in URL_KEYS:
            if key in st.query_params and key not in params:
                del st.query_params[key]
        st.query_params.update(params)
        st.session_state[URL_SEEN_KEY] = tuple((k, params.get(k)) for k in URL_KEYS)


def interval_mask(interval: Interval | None, scores: pd.DataFrame) -> np.ndarray:
    if interval is None:
        return np.ones(len(scores), dtype=bool)
    return interval.mask(scores[interval.score].to_numpy(dtype=np.float64), SEED)


def selection_spec(dataset: Dataset, interval: Interval | None, overrides: dict[str, str]) -> SelectionSpec:
    """The spec of what the page shows: the interval, the scorer params (from the page's options), overrides."""
    intervals = [interval] if interval is not None else []
    params = {i.score: make_scorer(i.score, score_options()).params() for i in intervals}
    return SelectionSpec(dataset.id, intervals, seed=SEED, score_params=params, overrides=dict(overrides))
