"""How a selection treats injected defects: kept / dropped per kind, recall and precision.

Read from the ``defect`` column and the near-copy groups of :mod:`euds_core.data.defects`.

* A defect row of kind ``boilerplate``, ``label_flip``, ``garbled`` or ``off_topic`` is *removed* when dropped.
* A near-duplicate group (a source row and its copies, g rows) holds g - 1 redundant rows and one clean one:
  it counts as *cleaned* once at most one copy remains; dropping d of its rows removes min(d, g - 1) redundant
  rows, and dropping all g also loses its clean row.
* Clean units: untouched rows outside every group, plus one per group.

Per kind: ``recall`` = removed / total (groups cleaned / groups for near-duplicates); ``precision`` =
removed / (removed + clean units lost), i.e. the precision the selection would have on a pool holding only
that kind and the clean rows. ``all`` sums every kind (a group's g - 1 copies count as its defect rows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from euds_core.data.defects import DEFECT_KINDS, defect_flags, duplicate_groups, has_defects

REPORT_COLUMNS = ["kind", "total", "kept", "dropped", "recall", "precision"]


def _group_outcome(groups: np.ndarray, kept: np.ndarray) -> tuple[int, int, int, int]:
    """(groups, groups cleaned, redundant rows removed, groups that lost every row)."""
    in_group = groups >= 0
    if not in_group.any():
        return 0, 0, 0, 0
    ids, size = np.unique(groups[in_group], return_counts=True)
    kept_count = np.bincount(np.searchsorted(ids, groups[in_group & kept]), minlength=len(ids))
    dropped = size - kept_count
    removed = np.minimum(dropped, size - 1)
    return len(ids), int((kept_count <= 1).sum()), int(removed.sum()), int((kept_count == 0).sum())


def defect_report(table: pd.DataFrame, kept: np.ndarray) -> pd.DataFrame:
    """One row per defect kind present (plus ``clean`` and ``all``): :data:`REPORT_COLUMNS`. Empty without a
    ``defect`` column. ``kept``: boolean keep-mask over the table's rows."""
    if not has_defects(table):
        return pd.DataFrame(columns=REPORT_COLUMNS)
    kept = np.asarray(kept, dtype=bool)
    flags, groups = defect_flags(table), duplicate_groups(table)
    n_groups, cleaned, group_removed, groups_lost = _group_outcome(groups, kept)
    plain_clean = (flags == "") & (groups < 0)
    clean_lost = int((plain_clean & ~kept).sum()) + groups_lost
    clean_total = int(plain_clean.sum()) + n_groups
    rows = []
    for kind in DEFECT_KINDS:
        is_kind = flags == kind
        if not is_kind.any():
            continue
        if kind == "near_duplicate":
            total, removed, recall = int(is_kind.sum()), group_removed, cleaned / max(n_groups, 1)
        else:
            total, removed = int(is_kind.sum()), int((is_kind & ~kept).sum())
            recall = removed / total
        kept_rows = int((is_kind & kept).sum())
        precision = removed / (removed + clean_lost) if removed + clean_lost else float("nan")
        rows.append([kind, total, kept_rows, total - kept_rows, recall, precision, removed])
    frame = pd.DataFrame(rows, columns=[*REPORT_COLUMNS, "removed"])
    total, removed = int(frame["total"].sum()), int(frame["removed"].sum())
    dropped_all = int((~kept).sum())
    overall = ["all", total, total - int(frame["dropped"].sum()), int(frame["dropped"].sum())]
    overall += [removed / total if total else float("nan"), removed / dropped_all if dropped_all else float("nan")]
    clean = ["clean", clean_total, clean_total - clean_lost, clean_lost, float("nan"), float("nan")]
    return pd.concat([frame[REPORT_COLUMNS], pd.DataFrame([overall, clean], columns=REPORT_COLUMNS)], ignore_index=True)


def clean_kept_share(report: pd.DataFrame) -> float:
    """The share of clean units a selection kept (NaN without defects)."""
    clean = report[report["kind"] == "clean"]
    return (
        float(clean["kept"].iloc[0] / clean["total"].iloc[0]) if len(clean) and clean["total"].iloc[0] else float("nan")
    )


def defects_removed_share(report: pd.DataFrame) -> float:
    """The share of defect rows removed (recall over every kind; NaN without defects)."""
    overall = report[report["kind"] == "all"]
    return float(overall["recall"].iloc[0]) if len(overall) else float("nan")
