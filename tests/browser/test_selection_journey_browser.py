"""Issue 18 in Chromium: one selection everywhere. Explore → sidebar → Review → sidebar → Export keeps the same
dataset, interval and count; a reload of each page keeps them; the exported file holds that count (minus the
one review override, which Export shows). The dataset is a CSV loaded by path, shown by its own file name.
Screenshots: ``test-artifacts/screenshots/journey_*.png``.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest

from tests.browser.conftest import MODEL_FREE_OPTIONS, open_app, wait_for_app

pytestmark = pytest.mark.browser
FILE_NAME = "sms_messages.csv"
N_ROWS = 240
KEPT_HEADING = re.compile(r"^Kept ([\d,]+) of ([\d,]+)$")


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def metric(page, label: str) -> int:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return _int(box.locator('[data-testid="stMetricValue"]').inner_text())


def banner(page) -> str:
    return page.locator('[data-testid="stAlertContentInfo"]').filter(has_text="Selection:").first.inner_text()


def no_exception(page) -> None:
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, errors.first.inner_text()


def url_params(page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def sidebar_link(page, title: str) -> None:
    link = page.locator(f'[data-testid="stSidebar"] a[href^="{title}?"]').first
    link.click()
    page.wait_for_url(re.compile(rf"/{title}\?"))
    wait_for_app(page)


@pytest.fixture(scope="module")
def sms_dataset(browser_home, tmp_path_factory) -> tuple[str, pd.DataFrame]:
    """A labelled CSV under the user's file name, loaded by path, with model-free information scores cached."""
    folder = tmp_path_factory.mktemp("user_files")
    rng = np.random.default_rng(7)
    words = "win free call now prize txt reply stop hi ok see you later lunch home love".split()
    texts = [" ".join(rng.choice(words, size=4 + i % 13)) + f" msg{i}" for i in range(N_ROWS)]
    path = folder / FILE_NAME
    pd.DataFrame({"message": texts, "category": ["spam" if i % 4 == 0 else "ham" for i in range(N_ROWS)]}).to_csv(
        path, index=False
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EUDS_HOME", str(browser_home))
        from euds_core.data.datasets import load_dataset, save_dataset
        from euds_core.scoring.engine import score_dataset

        ds = load_dataset(path, text_col="message", label_col="category")
        save_dataset(ds)
        scores = score_dataset(ds, ["information"], options=MODEL_FREE_OPTIONS)
    return ds.id, pd.DataFrame({"id": ds.table["id"], "information": scores["information"].to_numpy()})


def test_one_selection_explore_review_export_and_reloads(
    chromium_browser, streamlit_server, browser_home, sms_dataset, tmp_path, screenshot
):
    dataset_id, scores = sms_dataset
    context = chromium_browser.new_context(
        viewport={"width": 1400, "height": 1100}, base_url=streamlit_server, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(60_000)
    want = {"dataset": dataset_id, "score": "information", "plo": "0.20", "phi": "0.70"}
    try:
        open_app(page, "/Explore", **want)
        page.wait_for_url(re.compile(r"plo=0\.20"))  # a fresh server's first run hops into app.py's navigation
        page.locator('[data-testid="stSidebar"] a[href^="Review?"]').wait_for()  # drawn when the page is done
        wait_for_app(page)
        no_exception(page)
        heading = page.get_by_text(KEPT_HEADING).first.inner_text()
        kept, total = (_int(x) for x in KEPT_HEADING.match(heading).groups())
        assert total == N_ROWS and 0 < kept < N_ROWS
        line = banner(page)
        assert f"kept {kept:,} of {N_ROWS:,}" in line and "information percentile 0.20–0.70" in line
        assert FILE_NAME in page.locator('[data-testid="stSidebar"]').inner_text()
        screenshot(page, "journey_1_explore")

        # Review by the sidebar: the same selection, in its URL too; then a reload.
        sidebar_link(page, "Review")
        for step in ("sidebar", "reload"):
            no_exception(page)
            assert {k: url_params(page).get(k) for k in want} == want, (step, page.url)
            assert metric(page, "Interval keeps") == kept, step
            assert banner(page) == line, step
            if step == "sidebar":
                screenshot(page, "journey_2_review")
                page.reload()
                wait_for_app(page)

        # One review override (drop a kept row), stored as the page would store it.
        from euds_core.curation.decision_log import set_decision
        from euds_core.selection.intervals import select_percentile

        in_interval = select_percentile(scores["information"].to_numpy(dtype=np.float64), 0.20, 0.70)
        assert int(in_interval.sum()) == kept  # the page's count is the library's
        dropped = str(scores["id"][in_interval].iloc[0])
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("EUDS_HOME", str(browser_home))
            set_decision(dataset_id, dropped, "drop", note="journey test", reviewer="journey")

        # Export by the sidebar, then a reload: same selection; the summary names what is exported, and the banner's
        # count is the exported one, the override named.
        named = f"kept {kept - 1:,} of {N_ROWS:,} ({kept:,} by the interval, −1 manual drop = {kept - 1:,})"
        sidebar_link(page, "Export")
        for step in ("sidebar", "reload"):
            no_exception(page)
            assert {k: url_params(page).get(k) for k in want} == want, (step, page.url)
            assert banner(page) == line.replace(f"kept {kept:,} of {N_ROWS:,}", named), step
            assert metric(page, "Interval keeps") == kept and metric(page, "Review overrides") == 1, step
            assert metric(page, "Rows exported") == kept - 1, step
            summary = page.get_by_text(re.compile(r"^Dataset: ")).first.inner_text()
            assert FILE_NAME in summary and "information percentile 0.20–0.70" in summary, summary
            assert "1 (0 keep, 1 drop)" in summary, summary
            if step == "sidebar":
                screenshot(page, "journey_3_export")
                page.reload()
                wait_for_app(page)

        with page.expect_download() as download:
            page.get_by_role("button", name=re.compile(r"^Download sms_messages-subset\.jsonl$")).click()
        subset = tmp_path / download.value.suggested_filename
        download.value.save_as(subset)
        ids = [json.loads(row)["id"] for row in subset.read_text().splitlines()]
        assert len(ids) == kept - 1 and dropped not in ids

        # Back to Explore by the sidebar: still the same interval, and Export's count with the override named.
        sidebar_link(page, "Explore")
        no_exception(page)
        assert page.get_by_text(KEPT_HEADING).first.inner_text() == f"Kept {kept - 1:,} of {N_ROWS:,}"
        assert banner(page) == line.replace(f"kept {kept:,} of {N_ROWS:,}", named)
        assert page.get_by_text(f"{kept:,} by the interval, −1 manual drop = {kept - 1:,} — the number").count() == 1
    finally:
        context.close()
