"""Issue 25, item 6 in Chromium: beside Explore's map (the cached HDBSCAN clusters of bbc_news), kept / dropped bars
per cluster and, for an interval that keeps only the lowest 5 % of information, a warning naming the clusters it
empties; the subset report shows each figure for the kept rows and for all rows with what it means.
Screenshot: ``test-artifacts/screenshots/explore_map_clusters.png``."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import open_app, wait_for_app

pytestmark = pytest.mark.browser


def test_cluster_bars_warning_and_the_subset_report_beside_all_rows(page, screenshot):
    open_app(page, "/Explore", dataset="bbc_news", score="information", plo="0.00", phi="0.05")
    assert page.locator('[data-testid="stException"]').count() == 0
    page.get_by_text("Kept / dropped per cluster").first.wait_for()
    bars = page.locator(".st-key-explore_cluster_bars .js-plotly-plot")
    bars.wait_for()
    assert bars.locator(".barlayer .bars").count() == 2  # kept and dropped, stacked
    warning = page.get_by_text(
        re.compile(r"^The interval keeps no row of [\d,]+ clusters?: cluster \d+ \([\d,]+ rows\)")
    )
    warning.first.wait_for()
    screenshot(page, "explore_map_clusters")

    page.get_by_role("button", name="Subset report: diversity, coverage, balance").click()
    wait_for_app(page)
    report = page.get_by_text(re.compile(r"^The [\d,]+ kept rows \(review overrides applied\) beside all 2,225 rows"))
    report.first.wait_for(timeout=120_000)
    assert page.locator('[data-testid="stException"]').count() == 0
