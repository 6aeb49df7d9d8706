"""The current selection: one object (dataset, score interval(s), score variant) that every page reads and writes.

It lives in ``st.session_state[SELECTION_KEY]`` and in the URL of every page, and the sidebar links carry it,
so a page can be bookmarked, reloaded or shared and shows the same rows. The URL wins when it names a
selection (a shared link, a reload); a URL without one (a bare page link) takes the session's.

URL: ``dataset``, ``score`` (+ ``variant``, the params hash of a cached score variant), the bounds as
``plo``/``phi`` (percentiles), ``lo``/``hi`` (raw values) or ``keep``/``band``, ``balanced=1`` when the first
interval is applied within each label group, and one ``also`` per further interval intersected with the first
(``also=semantic:percentile:0.1:0.9``; ``also=semantic@<variant>:percentile:0.1:0.9`` when that member reads a
cached variant other than the page's own settings, so every member's variant travels). Review overrides are not in
the URL: they are stored decisions, always applied on top (the review overlay).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

import streamlit as st

from euds_core.selection.intervals import BAND_OFFSETS, Interval
from euds_core.selection.kept_count import KeptCount
from ui.shared.state import SELECTION_KEY, current_dataset_spec

URL_KEYS = ("dataset", "score", "variant", "plo", "phi", "lo", "hi", "keep", "band", "balanced", "also")
BOUND_KEYS = ("plo", "phi", "lo", "hi", "keep", "band")
BANDS = tuple(BAND_OFFSETS)  # low, middle, high
MODES = {"percentile": "Percentile", "threshold": "Raw value", "keep": "Keep fraction"}  # interval mode: its label
SEED = 0  # breaks ties in keep-fraction bands; the seed every page's selection (and its export spec) uses
WIDGET_STEP = 0.01  # the percentile and keep-fraction sliders' step: the precision a bound is kept to
WIDGET_DECIMALS = 2  # that step in decimals (what the URL writes)
LOADED_KEY = "_selection_widgets_loaded"  # (page, selection) whose values the widgets hold
DEFAULT_LABEL = "the app's settings"  # the variant label of a score scored with the pages' own options
VARIANT_MARK = "@"  # joins a member's score and its variant in an ``also`` parameter


@dataclass(frozen=True)
class Selection:
    """What the pages select: ``intervals`` intersect (empty = every row); ``variants`` pairs each member score
    read from another cached variant with that variant's params hash (a member without a pair reads the variant
    scored with the page's options). Given as a mapping or pairs, kept as pairs in the intervals' order."""

    dataset: str
    intervals: tuple[Interval, ...] = ()
    variants: tuple[tuple[str, str], ...] = ()
    unknown: tuple[str, ...] = field(default=(), compare=False)  # what a URL asked for that could not be read
    notes: tuple[str, ...] = field(default=(), compare=False)  # what was read from a URL only after a fix (swapped)

    def __post_init__(self) -> None:
        object.__setattr__(self, "variants", _member_variants(self.intervals, self.variants))

    @property
    def score(self) -> str | None:
        return self.intervals[0].score if self.intervals else None

    @property
    def variant(self) -> str:
        """The first score's variant ("" = the page's own settings)."""
        return self.variant_of(self.score or "")

    def variant_of(self, score: str) -> str:
        return dict(self.variants).get(score, "")

    def variant_map(self) -> dict[str, str]:
        """Every member score -> its variant key ("" for the page's own settings): what the pages read."""
        return {i.score: self.variant_of(i.score) for i in self.intervals}

    def to_params(self) -> dict[str, str | list[str]]:
        params: dict[str, str | list[str]] = {"dataset": self.dataset}
        if not self.intervals:
            return params
        first = self.intervals[0]
        params["score"] = first.score
        if self.variant:
            params["variant"] = self.variant
        params.update(_bound_params(first))
        if first.label_balanced:
            params["balanced"] = "1"
        if len(self.intervals) > 1:
            params["also"] = [_also_param(i, self.variant_of(i.score)) for i in self.intervals[1:]]
        return params


def _member_variants(
    intervals: tuple[Interval, ...], given: Mapping[str, str] | Iterable[tuple[str, str]]
) -> tuple[tuple[str, str], ...]:
    """The (score, variant) pairs of the members that read another variant, in the intervals' order."""
    chosen = dict(given.items() if isinstance(given, Mapping) else given)
    scores = dict.fromkeys(i.score for i in intervals)
    return tuple((score, str(chosen[score])) for score in scores if chosen.get(score))


def _bound_params(interval: Interval) -> dict[str, str]:
    if interval.mode == "percentile":
        return {"plo": f"{interval.lo:.2f}", "phi": f"{interval.hi:.2f}"}
    if interval.mode == "threshold":
        return {"lo": f"{interval.lo:.6g}", "hi": f"{interval.hi:.6g}"}
    return {"keep": f"{interval.keep:.2f}", "band": str(interval.band)}


def _also_param(interval: Interval, variant: str = "") -> str:
    a, b = (interval.keep, interval.band) if interval.mode == "keep" else (interval.lo, interval.hi)
    score = f"{interval.score}{VARIANT_MARK}{variant}" if variant else interval.score
    return f"{score}:{interval.mode}:{_short(a)}:{_short(b)}"


def _short(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _clip01(value: float) -> float:
    """A fraction in [0, 1] at the sliders' precision: a typed 0.125 acts as 0.12 from the first run, as the
    slider and the URL (two decimals) keep it, so a rerun never acts on other rows."""
    return round(min(max(value, 0.0), 1.0), WIDGET_DECIMALS)


def interval_from_params(score: str, params: dict[str, str | None]) -> Interval:
    """The interval the bound parameters name (full percentile range when none); ValueError on a non-number."""
    if params.get("plo") is not None or params.get("phi") is not None:
        lo, hi = _clip01(float(params.get("plo") or 0.0)), _clip01(float(params.get("phi") or 1.0))
        return Interval(score, "percentile", lo=min(lo, hi), hi=max(lo, hi))
    if params.get("lo") is not None or params.get("hi") is not None:
        lo, hi = float(params.get("lo") or "-inf"), float(params.get("hi") or "inf")
        return Interval(score, "threshold", lo=min(lo, hi), hi=max(lo, hi))
    if params.get("keep") is not None:
        band = params.get("band") if params.get("band") in BANDS else "middle"
        return Interval(score, "keep", keep=max(_clip01(float(params["keep"])), WIDGET_STEP), band=band)
    return Interval(score, "percentile", lo=0.0, hi=1.0)


def bounds_reversed(params: Mapping[str, str | None]) -> bool:
    """True when the link gives both bounds of a pair (``plo``/``phi`` or ``lo``/``hi``) with the low one above
    the high one: :func:`interval_from_params` swaps them, and the page says so."""
    for low_key, high_key in (("plo", "phi"), ("lo", "hi")):
        low, high = params.get(low_key), params.get(high_key)
        if low is not None or high is not None:
            try:
                return low is not None and high is not None and float(low) > float(high)
            except ValueError:
                return False  # not numbers: selection_from_params says so
    return False


SWAPPED_NOTE = "This link's interval bounds were in the wrong order (low above high); they were swapped"


def _interval_from_also(text: str) -> tuple[Interval, str, bool]:
    """(the interval, its variant key or "", whether its bounds were swapped) of one ``also`` parameter;
    ValueError when it is not one."""
    member, mode, a, b = text.rsplit(":", 3)
    score, _, variant = member.partition(VARIANT_MARK)
    bounds = {"percentile": {"plo": a, "phi": b}, "threshold": {"lo": a, "hi": b}, "keep": {"keep": a, "band": b}}
    if mode not in bounds:
        raise ValueError(mode)
    return interval_from_params(score, bounds[mode]), variant, bounds_reversed(bounds[mode])


def selection_from_params(dataset: str, get, get_all) -> Selection | None:
    """The selection a URL names (``get``/``get_all`` read one / every value of a key), or None without ``score``."""
    score = get("score")
    if not score:
        return None
    unknown: list[str] = []
    bounds = {k: get(k) for k in BOUND_KEYS}
    swapped = bounds_reversed(bounds)
    try:
        first = interval_from_params(score, bounds)
    except ValueError:
        unknown.append("the link's bounds are not numbers (full range shown)")
        first = Interval(score, "percentile", lo=0.0, hi=1.0)
    if get("balanced") == "1" and first.mode != "threshold":  # balancing ranks within classes: no raw bounds
        first = replace(first, label_balanced=True)
    more, variants = [], {score: get("variant") or ""}
    for text in get_all("also"):
        try:
            interval, variant, member_swapped = _interval_from_also(text)
        except ValueError:
            unknown.append(f"the link's extra interval '{text}' is not score[@variant]:mode:low:high (left out)")
            continue
        more.append(interval)
        variants[interval.score] = variant
        swapped = swapped or member_swapped
    notes = (SWAPPED_NOTE,) if swapped else ()
    return Selection(dataset, (first, *more), variants=variants, unknown=tuple(unknown), notes=notes)


def url_selection(dataset: str) -> Selection | None:
    return selection_from_params(dataset, st.query_params.get, st.query_params.get_all)


def current_selection() -> Selection:
    """The URL's selection when it names one, else the session's (same dataset), else every row of the dataset."""
    dataset = current_dataset_spec()
    from_url = url_selection(dataset)
    saved = st.session_state.get(SELECTION_KEY)
    if from_url is not None:
        selection = from_url
    elif isinstance(saved, Selection) and saved.dataset == dataset:
        selection = saved
    else:
        selection = Selection(dataset)
    st.session_state[SELECTION_KEY] = selection
    for message in selection.unknown:
        st.warning(message.capitalize() + ".")
    for note in selection.notes:
        st.info(note + ".", icon=":material/swap_horiz:")  # fixed text: nothing from the URL is rendered
    return selection


def set_selection(selection: Selection) -> None:
    """Make ``selection`` the current one and put it in the URL (only when the URL differs: no extra rerun)."""
    st.session_state[SELECTION_KEY] = replace(selection, unknown=(), notes=())
    wanted = selection.to_params()
    current = {k: st.query_params.get_all(k) for k in URL_KEYS}
    as_lists = {k: (v if isinstance(v, list) else [v]) for k, v in wanted.items()}
    if any(current[k] != as_lists.get(k, []) for k in URL_KEYS):
        others = {k: st.query_params.get_all(k) for k in st.query_params if k not in URL_KEYS}
        st.query_params.from_dict({**others, **wanted})


def widgets_need_loading(page: str, selection: Selection) -> bool:
    """True when ``page``'s widgets must be loaded from ``selection``: it changed since the page last loaded or
    wrote it, or another page ran in between (Streamlit keys a widget's value to its page, so a widget with the
    same key on another page, or on this page after a visit elsewhere, starts from its default)."""
    return st.session_state.get(LOADED_KEY) != (page, selection)


def mark_loaded(page: str, selection: Selection) -> None:
    st.session_state[LOADED_KEY] = (page, selection)


def selection_link_params() -> dict[str, str | list[str]]:
    """Query parameters for a link to another page: the current selection (and the reviewer name)."""
    saved, dataset = st.session_state.get(SELECTION_KEY), current_dataset_spec()
    params = saved.to_params() if isinstance(saved, Selection) and saved.dataset == dataset else {"dataset": dataset}
    reviewer = (st.session_state.get("reviewer") or "").strip()
    if reviewer:
        params["reviewer"] = reviewer
    return params


def current_selection_text() -> str:
    """The session's current selection in words, stored with each review decision (where it was made from)."""
    saved = st.session_state.get(SELECTION_KEY)
    return describe_selection(saved) if isinstance(saved, Selection) else ""


def describe_interval(interval: Interval) -> str:
    balanced = ", within each label" if interval.label_balanced else ""
    if interval.mode == "percentile":
        return f"{interval.score} percentile {interval.lo:.2f}–{interval.hi:.2f}{balanced}"
    if interval.mode == "threshold":
        return f"{interval.score} values {interval.lo:.4g}–{interval.hi:.4g}"
    return f"{interval.score} keep {interval.keep:.0%} ({interval.band}{balanced})"


def describe_selection(selection: Selection, variant_labels: Mapping[str, str] | None = None) -> str:
    """``information (whitespace tokenizer) percentile 0.20–0.70 ∩ semantic ...`` or ``every row``;
    ``variant_labels`` names the settings each member score was read with (score -> label)."""
    if not selection.intervals:
        return "every row (no score interval)"
    parts = []
    for interval in selection.intervals:
        text, label = describe_interval(interval), (variant_labels or {}).get(interval.score, DEFAULT_LABEL)
        parts.append(text if label == DEFAULT_LABEL else text.replace(interval.score, f"{interval.score} ({label})", 1))
    return " ∩ ".join(parts)


def selection_banner(
    container,
    selection: Selection,
    count: KeptCount,
    variant_labels: Mapping[str, str] | None = None,
    total_rows: int | None = None,
) -> None:
    """The one line every page shows at its top: what is selected and how many rows it keeps after the review's
    overrides, naming them when they change the count ("2,763 by the interval, −2 manual drops = 2,761").

    ``total_rows`` (Explore's partial view: ``count`` covers a random sample) gives the count as the same estimate
    as the page's headline, "≈ K of N"."""
    if total_rows is not None and total_rows != count.total:
        kept = f"kept ≈ {count.estimated_kept(total_rows):,} of {total_rows:,} (estimate from the {count.total:,} rows scored so far)"
    else:
        kept = f"kept {count.kept:,} of {count.total:,}" + (f" ({count.breakdown()})" if count.changed else "")
    container.info(f"Selection: {describe_selection(selection, variant_labels)} · {kept}", icon=":material/filter_alt:")


def notice(container, text: str) -> None:
    """Say at the top of a page that it shows something other than the current selection."""
    container.warning(text, icon=":material/warning:")
