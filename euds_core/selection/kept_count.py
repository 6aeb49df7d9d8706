"""The kept count every page and the export show: the rows the intervals keep (intersection, label balancing),
then the review's overrides, counted and named the same way everywhere ("2,763 by the interval, −2 manual drops
= 2,761").

``apply_overrides`` is the one place an override changes a row; ``apply_selection`` (intervals.py) and so every
export go through it, so the count here is the number of rows an export writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd


def apply_overrides(in_interval: np.ndarray, ids, overrides: Mapping[str, str]) -> np.ndarray:
    """(n,) bool: the interval's verdict per row, with each row's review override (``keep`` / ``drop``) winning."""
    if not overrides:
        return np.asarray(in_interval, dtype=bool)
    decisions = pd.Series(np.asarray(ids)).astype(str).map(overrides).to_numpy()
    return np.where(decisions == "keep", True, np.where(decisions == "drop", False, in_interval))


@dataclass(frozen=True)
class KeptCount:
    """How many rows a selection keeps: ``by_interval`` before the overrides, ``kept`` after them, and the rows
    the overrides moved each way (an override that agrees with the interval changes no count)."""

    total: int
    by_interval: int
    kept: int
    manual_keeps: int  # rows outside the interval that a keep override brings in
    manual_drops: int  # rows inside the interval that a drop override takes out

    @property
    def changed(self) -> bool:
        return bool(self.manual_keeps or self.manual_drops)

    def estimated_kept(self, total_rows: int) -> int:
        """The kept count scaled from these ``total`` rows (a random sample, on a partial view) to ``total_rows``."""
        return round(self.kept / max(self.total, 1) * total_rows)

    def breakdown(self, what: str = "the interval") -> str:
        """``2,763 by the interval, −2 manual drops = 2,761`` (``2,763`` when no override changes a row)."""
        if not self.changed:
            return f"{self.kept:,}"
        parts = [f"{self.by_interval:,} by {what}"]
        if self.manual_keeps:
            parts.append(f"+{self.manual_keeps:,} manual keep{'s' if self.manual_keeps != 1 else ''}")
        if self.manual_drops:
            parts.append(f"−{self.manual_drops:,} manual drop{'s' if self.manual_drops != 1 else ''}")
        return ", ".join(parts) + f" = {self.kept:,}"


def kept_count(in_interval: np.ndarray, ids, overrides: Mapping[str, str]) -> KeptCount:
    """The count of rows kept by ``in_interval`` (the selection's mask) and then by the ``overrides``."""
    before = np.asarray(in_interval, dtype=bool)
    after = apply_overrides(before, ids, overrides)
    return KeptCount(
        total=len(before),
        by_interval=int(before.sum()),
        kept=int(after.sum()),
        manual_keeps=int((after & ~before).sum()),
        manual_drops=int((before & ~after).sum()),
    )
