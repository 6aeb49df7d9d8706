"""How the app and its HTML report show fine-tune sizes and verdicts to a reader (display only).

A subset size is a fraction of the training pool; the ``selection`` strategy's is computed from a row count
(``euds_core/experiments/finetune.py`` ``with_selection``), e.g. 0.54007. Stored values and grid keys keep the
exact fraction; a reader sees "54 % (1,234 rows)". The verdicts' ``q`` is explained in one sentence that states
the rule of ``euds_core/experiments/statistics.py`` (``verdict_text``, ``with_verdicts``).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from euds_core.experiments.statistics import CONFIDENCE, FDR, verdict_lines

Q_EXPLANATION = (
    "q: the two-sided p-value of the paired difference (bootstrap over seeds and test rows; a t-test over seeds "
    "for runs saved without per-row results), adjusted by Benjamini–Hochberg across every comparison of the same "
    f"runs (one grid, one check, or one dataset of a leaderboard). A verdict says 'better' or 'worse' only when "
    f"q < {FDR:g} and the {CONFIDENCE * 100:.0f} % interval of the difference lies wholly above or below 0; "
    "otherwise it says 'no detectable difference'."
)


def size_text(fraction: float, n_rows: int | None = None) -> str:
    """A size fraction as a reader's percentage, "54 %" (whole percent from 10 %, two significant digits below,
    never rounded up to 100 % when it is not the whole pool), with ``n_rows`` when known: "54 % (1,234 rows)"."""
    percent = 100.0 * float(fraction)
    text = f"{percent:.0f}" if percent >= 10 else f"{percent:.2g}"
    if text == "100" and percent < 100:
        text = f"{math.floor(percent * 10) / 10:g}"
    rows = f" ({int(n_rows):,} rows)" if n_rows is not None else ""
    return f"{text} %{rows}"


def train_rows(runs: pd.DataFrame | None, strategy: str, fraction: float) -> int | None:
    """The (mean) number of training rows of ``strategy``'s runs at ``fraction``, or None when not recorded."""
    if runs is None or "n_train" not in runs.columns:
        return None
    mine = runs[(runs["strategy"] == strategy) & np.isclose(runs["size_fraction"].astype(float), fraction)]
    values = pd.to_numeric(mine["n_train"], errors="coerce").dropna()
    return int(round(values.mean())) if len(values) else None


def readable_verdict_lines(verdicts: pd.DataFrame, runs: pd.DataFrame | None = None) -> list[str]:
    """The verdict lines of :func:`~euds_core.experiments.statistics.verdict_lines` (the CLI's wording) with each
    size as :func:`size_text` (rows from ``runs``) and without the multiple-comparisons line: the reader gets
    :data:`Q_EXPLANATION` beside them instead."""
    lines = verdict_lines(verdicts)[1:]  # the first line names the multiplicity correction
    readable = []
    for line, row in zip(lines, verdicts.itertuples(), strict=True):
        exact = f"size {row.size_fraction:g}: "
        shown = f"size {size_text(row.size_fraction, train_rows(runs, row.strategy, row.size_fraction))}: "
        readable.append(shown + line[len(exact) :] if line.startswith(exact) else line)
    return readable


SIZE_IN_MESSAGE = re.compile(r"@ (\d+(?:\.\d+)?)(?![\d.])")


def readable_message(message: str) -> str:
    """A job's progress message with each ``strategy @ 0.54007`` size as "@ 54 %" (the grid's and benchmark's
    messages name a run by its size fraction)."""
    return SIZE_IN_MESSAGE.sub(lambda m: "@ " + size_text(float(m.group(1))), message)
