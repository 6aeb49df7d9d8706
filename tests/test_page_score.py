"""AppTest of the Score page: every registered scorer is listed; a started job caches its score."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from euds_core.runtime.jobs import get_job, list_jobs
from euds_core.scores import list_scorers
from euds_core.scoring.engine import score_job_groups
from tests.page_helpers import APP, seed_scores, tiny_dataset, use_model_free_options


@pytest.fixture
def score_page(monkeypatch, tmp_path):
    use_model_free_options(monkeypatch, tmp_path)
    ds = tiny_dataset()

    def open_() -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        at.query_params["dataset"] = ds.id
        at.switch_page("pages/2_Score.py").run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return ds, open_


def status_of(at, name: str) -> str:
    table = at.dataframe[0].value
    return table.loc[table["score"] == name, "status"].iloc[0]


def test_lists_every_registered_scorer_and_shows_cached_ones(score_page):
    ds, open_ = score_page
    seed_scores(ds, names=("information",))
    at = open_()
    table = at.dataframe[0].value
    assert set(table["score"]) == {cls.name for cls in list_scorers()}
    assert status_of(at, "information").endswith("cached")
    assert status_of(at, "semantic") == "not computed"


def test_model_free_scores_get_their_own_job_and_model_passes_share_one_cheapest_first():
    groups = score_job_groups(["generative", "information", "semantic"])
    assert groups == [["information"], ["semantic", "generative"]]
    assert score_job_groups(["is"]) == [["information"], ["semantic"]]  # a combination rides on its members
    (model_free,) = score_job_groups(["ttr", "information"])  # no model pass: one job
    assert sorted(model_free) == ["information", "ttr"]


def test_start_scoring_runs_a_background_job_that_caches_the_score(score_page):
    ds, open_ = score_page
    at = open_()
    at.multiselect(key="score_names").set_value(["information"])
    at.button(key="FormSubmitter:score_form-Start scoring").click().run()
    assert not at.exception
    jobs = list_jobs(ds.id, "score")
    assert [j.args["scores"] for j in jobs] == [["information"]]
    deadline = time.monotonic() + 90
    while get_job(jobs[0].id).active and time.monotonic() < deadline:
        time.sleep(0.5)
    assert get_job(jobs[0].id).status == "done", get_job(jobs[0].id).error
    at = open_()
    assert status_of(at, "information").endswith("cached")
