"""Issue 25: the Fine-tune chart draws the majority-class baseline and the full pool's accuracy."""

from __future__ import annotations

import pandas as pd

from euds_core.experiments.selection_check import majority_accuracy
from tests.test_selection_check import _dataset
from ui.finetune.charts import accuracy_vs_size_figure


def test_the_chart_draws_the_majority_class_and_the_full_pool():
    runs = pd.DataFrame(
        {
            "strategy": ["interval", "random", "full", "interval", "random", "full"],
            "size_fraction": [0.1, 0.1, 1.0, 0.1, 0.1, 1.0],
            "seed": [0, 0, 0, 1, 1, 1],
            "accuracy": [0.8, 0.78, 0.9, 0.82, 0.76, 0.92],
            "macro_f1": [0.7] * 6,
            "n_train": [40, 40, 400, 40, 40, 400],
            "train_seconds": [1.0] * 6,
        }
    )
    ds = _dataset(500)
    majority = majority_accuracy(ds.table)
    assert 0.6 < majority < 0.8  # ~70 % ham in the test split
    fig = accuracy_vs_size_figure(runs, majority=majority)
    lines = {round(shape.y0, 3) for shape in fig.layout.shapes}
    assert lines == {0.91, round(majority, 3)}
    texts = " ".join(a.text for a in fig.layout.annotations)
    assert "full pool 0.910" in texts and f"majority class {majority:.3f}" in texts
