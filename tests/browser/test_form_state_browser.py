"""Issue 25, item 7 in Chromium: values typed into the Fine-tune page's forms (the grid form once submitted,
Confirm's seeds, the study's seeds) are still there after a reload of the page."""

from __future__ import annotations

from urllib.parse import quote

import pandas as pd
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import open_app, wait_for_app

pytestmark = pytest.mark.browser


@pytest.fixture
def search_grid(browser_home) -> None:
    """A saved interval-search grid for bbc_news's information score, so the page draws Confirm's seeds."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EUDS_HOME", str(browser_home))
        from euds_core.experiments.interval_search import search_grid_path

        grid = pd.DataFrame(
            {"p_lo": [0.0, 0.2], "p_hi": [1.0, 0.7], "keep_fraction": [1.0, 0.5], "accuracy": [0.6, 0.9]}
        )
        grid.to_csv(search_grid_path(_bbc_news_id(), "information"), index=False)


def _bbc_news_id() -> str:
    from euds_core.data.datasets import load_dataset

    return load_dataset("bbc_news").id


def type_into(page, key: str, value: str) -> None:
    """Type ``value`` into the widget with that key (Streamlit gives its box the class ``st-key-KEY``) and leave it."""
    wait_for_app(page)  # a box redrawn by a run still going would drop the typed value
    box = page.locator(f".st-key-{key} input").first
    box.fill(value)
    box.press("Tab")  # leave the field: the value is sent (Enter would not, in a form: enter_to_submit=False)
    expect(box).to_have_value(value)


def url_has(page, params: dict[str, str]) -> None:
    """Wait until the page's URL carries every ``key=value`` (the server writes it at the end of the value's run)."""
    wanted = [f"{k}={quote(v, safe='')}" for k, v in params.items()]
    page.wait_for_function(
        "(wanted) => { const q = location.search.slice(1).split('&'); return wanted.every((w) => q.includes(w)); }",
        arg=wanted,
        timeout=60_000,
    )


def expect_values(page, wanted: dict[str, str]) -> None:
    """Every box shows its wanted value (waiting while the page's run draws them)."""
    for key, value in wanted.items():
        expect(page.locator(f".st-key-{key} input").first, key).to_have_value(value, timeout=30_000)


def test_form_values_survive_a_reload(page, search_grid, screenshot):
    open_app(page, "/Fine_tune", dataset="bbc_news", score="information", plo="0.25", phi="0.75")
    page.get_by_text("Best cell: plo").first.wait_for()
    # Values other than the form's defaults (3 seeds, 64 tokens with an interval in the URL): a default is left
    # out of the URL, so it could not show that the value survived.
    wanted = {"ft_model": "no/such/model", "ft_seeds": "2", "ft_epochs": "2", "ft_max_len": "96"}
    for key, value in wanted.items():
        type_into(page, key, value)
    page.get_by_role("button", name="Run grid in the background").click()
    wait_for_app(page)
    page.get_by_text("Cannot start the grid").first.wait_for()  # the bad model folder: submitted, no job
    url_has(page, wanted)
    for key, value in {"ft_confirm_seeds": "7", "ft_study_seeds": "4"}.items():
        type_into(page, key, value)
        url_has(page, {key: value})  # its run is over: a reload now keeps it
    wanted |= {"ft_confirm_seeds": "7", "ft_study_seeds": "4"}
    expect_values(page, wanted)

    page.reload()
    wait_for_app(page)
    page.get_by_text("Best cell: plo").first.wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
    expect_values(page, wanted)
    assert "plo=0.25" in page.url and "ft_seeds=2" in page.url  # the selection and the form, one URL
    screenshot(page, "finetune_forms_after_reload")
