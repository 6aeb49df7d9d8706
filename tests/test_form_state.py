"""Form values survive a reload (issue 25, item 7): the Fine-tune grid form, Confirm's seeds, the search and the
study ride in the page's URL like the selection (``ui/shared/form_state.py``); a bad URL value falls back to the
default without an exception; a value equal to its default leaves the URL."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from euds_core.data.datasets import save_dataset
from euds_core.data.table import Dataset
from euds_core.experiments.interval_search import search_grid_path
from euds_core.runtime.jobs import list_jobs
from euds_core.scoring.engine import score_dataset
from tests.test_finetune import tiny_table
from ui.shared.form_state import MEMORY_KEY

REPO_ROOT = Path(__file__).resolve().parents[1]
OPTIONS = {"tokenizer": "whitespace"}
GRID_VALUES = {
    "ft_model": "no/such/model",  # the grid refuses to start: the values are submitted, no job runs
    "ft_sizes": [0.05, 0.5],
    "ft_band": "low",
    "ft_seeds": 3,
    "ft_epochs": 2,
    "ft_max_len": 64,
    "ft_balanced": False,
}


@pytest.fixture
def dataset() -> Dataset:
    ds = Dataset(name="tiny", task="classification", table=tiny_table(40))
    save_dataset(ds)
    score_dataset(ds, ["information"], options=OPTIONS)
    grid = pd.DataFrame({"p_lo": [0.0, 0.2], "p_hi": [1.0, 0.7], "keep_fraction": [1.0, 0.5], "accuracy": [0.6, 0.9]})
    grid.to_csv(search_grid_path(ds.id, "information"), index=False)  # so Confirm's seeds are drawn
    return ds


def load(ds: Dataset, params: dict | None = None, memory: dict | None = None) -> AppTest:
    """The Fine-tune page as a reload opens it: a new session, only the URL (and, when given, a session memory)."""
    at = AppTest.from_file(str(REPO_ROOT / "pages" / "4_Fine_tune.py"), default_timeout=60)
    at.session_state["dataset_spec"] = ds.id
    at.session_state["score_options"] = OPTIONS
    if memory is not None:
        at.session_state[MEMORY_KEY] = memory
    at.query_params.update(params or {})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def widget_values(at: AppTest, keys) -> dict:
    return {k: at.session_state[k] for k in keys}


def test_submitted_grid_values_and_the_other_fields_survive_a_reload(dataset):
    at = load(dataset)
    at.text_input(key="ft_model").input(GRID_VALUES["ft_model"])
    at.multiselect(key="ft_sizes").set_value(GRID_VALUES["ft_sizes"])
    at.selectbox(key="ft_band").set_value("low")
    for key in ("ft_seeds", "ft_epochs", "ft_max_len"):
        at.number_input(key=key).set_value(GRID_VALUES[key])
    at.checkbox(key="ft_balanced").uncheck()
    at.button(key="FormSubmitter:ft_form-Run grid in the background").click().run()
    assert any("Cannot start the grid" in e.value for e in at.error) and not list_jobs(dataset.id, "finetune")
    at.number_input(key="ft_confirm_seeds").set_value(7).run()
    at.number_input(key="ft_study_seeds").set_value(4).run()
    at.slider(key="ft_min_keep").set_value(0.5).run()
    url = dict(at.query_params)
    assert url["ft_seeds"] == "3" and url["ft_sizes"] == ["0.05", "0.5"] and url["ft_balanced"] == "0"
    assert url["ft_confirm_seeds"] == "7" and url["ft_study_seeds"] == "4" and url["ft_min_keep"] == "0.5"
    assert "ft_study_size" not in url and "ft_strategies" not in url  # defaults leave the URL

    again = load(dataset, url)  # a reload: a new session with the same URL
    assert widget_values(again, GRID_VALUES) == GRID_VALUES
    assert again.number_input(key="ft_confirm_seeds").value == 7
    assert again.number_input(key="ft_study_seeds").value == 4
    assert again.slider(key="ft_min_keep").value == 0.5
    assert dict(again.query_params) == url


def test_bad_url_values_fall_back_to_the_defaults_and_leave_the_url(dataset):
    bad = {"ft_seeds": "three", "ft_max_len": "9999", "ft_sizes": ["0.33"], "ft_band": "sideways", "ft_balanced": "x"}
    at = load(dataset, {**bad, "ft_confirm_seeds": "1", "ft_epochs": "2"})
    assert at.number_input(key="ft_seeds").value == 1 and at.number_input(key="ft_max_len").value == 128
    assert at.multiselect(key="ft_sizes").value == [0.1, 0.25, 1.0] and at.selectbox(key="ft_band").value == "middle"
    assert at.checkbox(key="ft_balanced").value is True  # a classification dataset's default
    assert at.number_input(key="ft_confirm_seeds").value == 5  # below its minimum of 2
    assert at.number_input(key="ft_epochs").value == 2  # the one good value is kept
    assert set(at.query_params) & {*bad, "ft_confirm_seeds"} == set()


def test_values_come_back_from_the_session_after_a_visit_elsewhere(dataset):
    """Sidebar links carry the selection only: back on the page, the session remembers the values."""
    at = load(dataset, memory={"ft_seeds": 4, "ft_study_size": 0.25})
    assert at.number_input(key="ft_seeds").value == 4 and at.selectbox(key="ft_study_size").value == 0.25
    assert at.query_params["ft_seeds"] == "4"  # and the URL has them again, for a reload
