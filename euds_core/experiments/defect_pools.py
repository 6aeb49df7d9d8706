"""Noisy pools for curation experiments: inject defects into a dataset's pool, keep its test split clean.

:func:`noisy_pool_and_test` splits a labelled dataset with the experiments' stratified split, injects defects
(:mod:`euds_core.data.defects`) into the pool rows only, and returns the noisy pool and the clean test rows as
two datasets: the pool for ``benchmark``/``finetune``, the test rows as their ``--test-file``. No test row is
modified or copied into the pool.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from euds_core.data.defects import defect_flags, inject_defects, off_topic_texts_for
from euds_core.data.table import Dataset
from euds_core.errors import EudsInputError
from euds_core.experiments.splits import stratified_split


@dataclass
class NoisyPool:
    pool: Dataset  # the pool rows with defects injected (a ``defect`` column)
    test: Dataset | None  # the untouched test rows (None when nothing was held out)


def inject_dataset(
    dataset: Dataset,
    rates: dict[str, float],
    *,
    seed: int = 0,
    hold_out: float | None = None,
    split_seed: int = 0,
) -> NoisyPool:
    """Defects at ``rates`` in ``dataset`` (seeded). ``hold_out``: a stratified fraction of the rows that is
    kept out of the injection and returned as a clean test set (None: inject into every row; experiments on
    the result then draw their test split from untouched rows only, see ``experiments.splits.table_split``)."""
    if dataset.task == "qa":
        raise EudsInputError("defect injection works on text (classification or unlabelled) data, not Q&A pairs")
    table = dataset.table.reset_index(drop=True)
    off_topic = off_topic_texts_for(dataset.name) if rates.get("off_topic", 0) > 0 else None
    name = f"{dataset.name}+defects"
    if hold_out is None:
        noisy = inject_defects(table, rates, seed=seed, off_topic_texts=off_topic)
        return NoisyPool(Dataset(name=name, task=dataset.task, table=noisy, source=dataset.source), None)
    labels = table["label"].astype(str).to_numpy() if "label" in table.columns else None
    pool_rows, test_rows = stratified_split(labels, len(table), hold_out, split_seed)
    noisy = inject_defects(table.iloc[pool_rows].reset_index(drop=True), rates, seed=seed, off_topic_texts=off_topic)
    test = table.iloc[test_rows].reset_index(drop=True)
    return NoisyPool(
        Dataset(name=name, task=dataset.task, table=noisy, source=dataset.source),
        Dataset(name=f"{dataset.name}-test", task=dataset.task, table=test, source=dataset.source),
    )


def defect_counts(table: pd.DataFrame) -> dict[str, int]:
    """{kind: rows} of the injected defects, plus ``clean``."""
    flags = defect_flags(table)
    kinds, counts = np.unique(np.where(flags == "", "clean", flags), return_counts=True)
    return {str(k): int(c) for k, c in zip(kinds, counts, strict=True)}
