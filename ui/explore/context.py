"""Context beside Explore's kept count: a warning when the interval moves a label's share by more than 5 points
(with a one-click switch to label-balanced)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from euds_core.data.table import Dataset
from euds_core.selection.intervals import Interval
from ui.explore.interval import BALANCED_KEY

SHARE_WARNING_PT = 5.0


def label_share_shifts(labels: np.ndarray, kept: np.ndarray) -> pd.DataFrame:
    """Per label: its share of every row and of the kept rows (percent), and the shift in points."""
    frame = pd.DataFrame({"label": labels.astype(str), "kept": kept})
    every = frame["label"].value_counts(normalize=True) * 100
    kept_share = frame.loc[frame["kept"], "label"].value_counts(normalize=True).reindex(every.index, fill_value=0) * 100
    return pd.DataFrame({"all_pct": every, "kept_pct": kept_share, "shift_pt": kept_share - every})


def _balance_on() -> None:
    st.session_state[BALANCED_KEY] = True  # a callback: set before the checkbox is drawn again


def label_share_warning(dataset: Dataset, kept: np.ndarray, interval: Interval) -> None:
    """Warn when a label's share among the kept rows moves by more than 5 points; offer label balancing."""
    if not dataset.has_labels or interval.label_balanced or not kept.any():
        return
    shifts = label_share_shifts(dataset.table["label"].to_numpy(), kept)
    worst = shifts["shift_pt"].abs().idxmax()
    row = shifts.loc[worst]
    if abs(row["shift_pt"]) <= SHARE_WARNING_PT:
        return
    left, right = st.columns([4, 1], vertical_alignment="center")
    left.warning(
        f"This interval moves the share of label '{worst}' from {row['all_pct']:.1f} % of all rows to "
        f"{row['kept_pct']:.1f} % of the kept rows ({row['shift_pt']:+.1f} pt).",
        icon=":material/balance:",
    )
    usable = interval.mode != "threshold"
    right.button(
        "Keep the label proportions",
        key="explore_balance_now",
        on_click=_balance_on,
        disabled=not usable,
        help="apply the interval within each label" if usable else "needs percentile or keep-fraction bounds",
    )
