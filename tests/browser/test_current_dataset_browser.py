"""Issue 25 in Chromium: an uploaded file becomes the current dataset at once. After "Use these columns" every
sidebar link opens its page on the uploaded file (not the built-in the session started on), and a reload of
each page keeps it. Screenshot: ``test-artifacts/screenshots/current_dataset_*.png``.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest

from tests.browser.conftest import open_app, wait_for_app

pytestmark = pytest.mark.browser
FILE_NAME = "uploaded_reviews.csv"
PAGES = ("Score", "Explore", "Fine_tune", "Review", "Export", "Load")


def _dataset_param(page) -> str:
    return parse_qs(urlparse(page.url).query).get("dataset", [""])[0]


def _main_text(page) -> str:
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, errors.first.inner_text()
    return page.locator('[data-testid="stMain"]').inner_text()


def test_an_uploaded_file_is_the_dataset_of_every_page_and_reload(page, tmp_path, screenshot):
    path = tmp_path / FILE_NAME
    texts = [f"review {i}: {'great fun film' if i % 3 else 'dull and far too long'} number {i}" for i in range(60)]
    pd.DataFrame({"review": texts, "verdict": ["pos" if i % 3 else "neg" for i in range(60)]}).to_csv(path, index=False)

    open_app(page, "/Explore", dataset="bbc_news", score="information", plo="0.20", phi="0.70")
    page.get_by_text("Selection: information percentile 0.20–0.70").first.wait_for()  # the session's selection
    page.locator('[data-testid="stSidebar"] a[href^="Load?"]').first.click()
    wait_for_app(page)
    page.get_by_role("tab", name="Upload a file").click()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(path))
    page.get_by_role("button", name="Use these columns").click()
    page.get_by_text(f"of {FILE_NAME} as dataset").wait_for()
    wait_for_app(page)
    dataset_id = re.search(r"as dataset ([0-9a-f]{16})", _main_text(page)).group(1)
    assert _dataset_param(page) == dataset_id

    hrefs = page.locator('[data-testid="stSidebar"] a').evaluate_all("links => links.map(a => a.href)")
    assert hrefs and all(parse_qs(urlparse(h).query).get("dataset") == [dataset_id] for h in hrefs), hrefs
    for title in PAGES:
        page.locator(f'[data-testid="stSidebar"] a[href^="{title}?"]').first.click()
        page.wait_for_url(re.compile(rf"/{title}\?"))
        wait_for_app(page)
        assert _dataset_param(page) == dataset_id, (title, page.url)
        assert FILE_NAME in _main_text(page), title
        page.reload()
        wait_for_app(page)
        assert _dataset_param(page) == dataset_id, (title, "after reload", page.url)
        assert FILE_NAME in _main_text(page), (title, "after reload")
        assert "bbc_news" not in page.locator('[data-testid="stSidebar"]').inner_text()
    screenshot(page, "current_dataset_load")
