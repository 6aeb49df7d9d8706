"""AppTest of Explore while a pass is part-way: a labelled partial sample with estimated counts, then exact counts
at the same URL once scoring finishes (issue 17)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from euds_core.data.datasets import save_dataset
from euds_core.data.table import Dataset, normalise_table
from euds_core.errors import ScoringCancelled
from euds_core.models.embeddings import FIRST_STAGE_ROWS
from euds_core.scoring.engine import score_dataset
from euds_core.selection.intervals import select_percentile
from tests.page_helpers import APP, open_app_test, use_model_free_options
from ui.shared.scores import MODEL_FREE_OPTIONS

N = 700
ESTIMATE = re.compile(r"≈ ([\d,]+) of ([\d,]+) kept")
EXACT = re.compile(r"Kept ([\d,]+) of ([\d,]+)")


def _dataset() -> Dataset:
    rng = np.random.default_rng(3)
    words = "cat dog sun moon red blue fast slow big small the a on in".split()
    texts = [" ".join(rng.choice(words[: 4 + i % 10], size=3 + i % 17)) + f" row{i}" for i in range(N)]
    raw = pd.DataFrame({"text": texts, "label": ["pos" if i % 3 else "neg" for i in range(N)]})
    table, _ = normalise_table(raw, text_col="text", label_col="label")
    ds = Dataset(name="partial.csv", task="classification", table=table, source="test")
    save_dataset(ds)
    return ds


def _open(ds: Dataset) -> AppTest:
    return open_app_test(ds.id, score="semantic", plo="0.25", phi="0.75")


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def test_partial_view_says_so_and_the_same_url_gives_exact_counts_when_done(monkeypatch, tmp_path):
    use_model_free_options(monkeypatch, tmp_path)
    ds = _dataset()
    names = ["information", "semantic"]
    # The semantic pass is stopped once its first stage is saved, as if still running (a chunk is computed in
    # steps with a cancel check before each, so the stop waits for the stage's own progress report).
    semantic_done = [0]

    def progress(name: str, done: int, total: int, message: str) -> None:
        if name == "semantic":
            semantic_done[0] = done

    with pytest.raises(ScoringCancelled):
        score_dataset(
            ds,
            names,
            options=MODEL_FREE_OPTIONS,
            progress=progress,
            cancel=lambda: semantic_done[0] >= FIRST_STAGE_ROWS,
        )

    at = _open(ds)
    banner = " ".join(i.value for i in at.info)
    assert f"semantic: {FIRST_STAGE_ROWS} of {N} rows scored (random sample)" in banner
    assert "counts are estimates" in banner and "information:" not in banner  # information is complete
    estimate = [ESTIMATE.search(m.value) for m in at.markdown if ESTIMATE.search(m.value)]
    assert estimate and _number(estimate[0].group(2)) == N
    # The estimate scales the sample's kept fraction (middle half of the ranks) to the whole dataset.
    assert abs(_number(estimate[0].group(1)) - N / 2) <= 0.02 * N
    selection_line = [
        i.value for i in at.info if i.value.startswith("Selection:")
    ]  # the same estimate, not the sample's
    assert selection_line and f"kept ≈ {estimate[0].group(1)} of {N:,}" in selection_line[0], selection_line
    assert not [m for m in at.markdown if EXACT.search(m.value)]
    at.slider(key="iv_pct_semantic").set_range(0.1, 0.6).run()  # an interval set on the partial view
    assert not at.exception

    final = score_dataset(ds, names, options=MODEL_FREE_OPTIONS)  # the pass finishes
    at.run()  # the same session and URL
    assert not at.exception
    assert not [i for i in at.info if "Partial view" in i.value]
    exact = [EXACT.search(m.value) for m in at.markdown if EXACT.search(m.value)]
    assert exact and _number(exact[0].group(2)) == N
    assert tuple(at.slider(key="iv_pct_semantic").value) == (0.1, 0.6)  # carried over unchanged
    assert _number(exact[0].group(1)) == int(select_percentile(final["semantic"].to_numpy(), 0.1, 0.6).sum())


@pytest.mark.parametrize("page", ["4_Fine_tune.py", "5_Review.py", "6_Export.py"])
def test_pages_that_act_on_scores_say_they_wait_for_complete_ones(monkeypatch, tmp_path, page):
    import ui.shared.scores

    use_model_free_options(monkeypatch, tmp_path)
    ds = _dataset()
    score_dataset(ds, ["information"], options=MODEL_FREE_OPTIONS)
    monkeypatch.setattr(ui.shared.scores, "running_scores", lambda dataset_id: {"generative", "semantic"})
    at = AppTest.from_file(str(Path(APP).parent / "pages" / page), default_timeout=60)
    at.session_state["dataset_spec"] = ds.id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    notes = [c.value for c in at.caption if "Still scoring" in c.value]
    assert notes and "generative, semantic" in notes[0] and "complete scores only" in notes[0]


@pytest.mark.parametrize("running", [set(), {"semantic"}])
def test_a_partial_view_with_no_pass_running_says_to_start_scoring_again(monkeypatch, tmp_path, running):
    """A cancelled pass leaves a partial view that will never fill in by itself: the banner must say so."""
    import ui.shared.scores

    use_model_free_options(monkeypatch, tmp_path)
    ds = _dataset()
    done = [0]
    with pytest.raises(ScoringCancelled):  # stopped once the first stage is saved, as in the test above
        score_dataset(
            ds,
            ["information", "semantic"],
            options=MODEL_FREE_OPTIONS,
            progress=lambda name, d, total, message: done.__setitem__(0, d if name == "semantic" else done[0]),
            cancel=lambda: done[0] >= FIRST_STAGE_ROWS,
        )
    monkeypatch.setattr(ui.shared.scores, "running_scores", lambda dataset_id: set(running))
    at = _open(ds)
    assert not at.exception, [e.value for e in at.exception]
    banner = " ".join(i.value for i in at.info if "Partial view" in i.value)
    assert banner
    if running:
        assert "fills in as scoring goes on" in banner and "stopped part-way" not in banner
    else:
        assert "stopped part-way" in banner and "Start it again on the Score page" in banner
        assert "fills in as scoring goes on" not in banner
