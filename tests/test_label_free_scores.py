"""Issue 25: one file is one dataset. The CLI resolves a file's columns as the app does, and a label-free score
is keyed by the texts alone, so scores written by either are found by the other without rescoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from euds_core.cli import main
from euds_core.data.datasets import load_dataset
from euds_core.runtime.jobs import list_jobs
from euds_core.scoring.engine import score_dataset
from tests.page_helpers import APP, use_model_free_options


@pytest.fixture
def labelled_csv(monkeypatch, tmp_path):
    use_model_free_options(monkeypatch, tmp_path)
    rng = np.random.default_rng(3)
    words = "win free call now prize reply stop hi ok see you later lunch home".split()
    texts = [" ".join(rng.choice(words, size=3 + i % 11)) + f" m{i}" for i in range(60)]
    path = tmp_path / "messages.csv"
    pd.DataFrame({"message": texts, "label": ["spam" if i % 5 == 0 else "ham" for i in range(60)]}).to_csv(
        path, index=False
    )
    return path


def test_a_score_without_the_label_column_is_found_with_it(labelled_csv):
    unlabelled = load_dataset(labelled_csv, text_col="message")
    labelled = load_dataset(labelled_csv, text_col="message", label_col="label")
    assert unlabelled.id != labelled.id
    options = {"tokenizer": "whitespace"}
    written = score_dataset(unlabelled, ["information"], options=options)["information"]
    found = score_dataset(labelled, ["information"], options=options, cached_only=True)
    np.testing.assert_array_equal(found["information"], written)
    # and the other way round: what the labelled dataset scores, the unlabelled one finds
    both = score_dataset(labelled, ["ttr"], options=options)
    back = score_dataset(unlabelled, ["ttr"], options=options, cached_only=True)
    np.testing.assert_array_equal(back["ttr"], both["ttr"])


@pytest.mark.slow  # the CLI's default tokenizer is the packaged encoder's
def test_cli_scores_with_default_options_show_on_explore_without_rescoring(labelled_csv, tmp_path, capsys):
    assert main(["score", str(labelled_csv), "--scores", "information", "--out", str(tmp_path / "s.parquet")]) == 0
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["dataset"] = str(labelled_csv)
    at.switch_page("pages/3_Explore.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not any("no cached scores" in i.value for i in at.info)
    assert any("information" in s.options for s in at.selectbox), [s.options for s in at.selectbox]
    assert any(m.value == "### Kept 60 of 60" for m in at.markdown)
    assert list_jobs(None, "score", limit=5) == []  # nothing was (re)scored
