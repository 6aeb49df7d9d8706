"""Issue 28 in Chromium: inject defects on the Load page (a new dataset), then Explore counts kept and dropped rows
per defect kind. Screenshot: ``test-artifacts/screenshots/defects_explore.png``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.browser.conftest import MODEL_FREE_OPTIONS, open_app, wait_for_app

pytestmark = pytest.mark.browser
KINDS = ("near_duplicate", "boilerplate", "label_flip", "garbled", "off_topic")


def _main_text(page) -> str:
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, errors.first.inner_text()
    return page.locator('[data-testid="stMain"]').inner_text()


def _score_in(home, dataset_id: str):
    """The information score of the new dataset, cached as the server's pages read it (model-free options)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EUDS_HOME", str(home))
        from euds_core.data.datasets import load_saved_dataset
        from euds_core.scoring.engine import score_dataset

        dataset = load_saved_dataset(dataset_id)
        scores = score_dataset(dataset, ["information"], options=MODEL_FREE_OPTIONS)
        return dataset, scores["information"].to_numpy()


def test_injected_defects_are_counted_per_kind_on_explore(page, browser_home, screenshot):
    from euds_core.selection.defect_report import defect_report
    from euds_core.selection.intervals import select_percentile

    open_app(page, "/Load", dataset="bbc_news")
    page.get_by_text("Inject defects (a noisy copy for demos and benchmarks)").click()
    page.get_by_role("button", name="Inject and use the noisy copy").click()
    page.get_by_text("Saved the noisy copy as dataset").wait_for(timeout=240_000)  # reads another dataset too
    wait_for_app(page)
    dataset_id = re.search(r"as dataset ([0-9a-f]{16})", _main_text(page)).group(1)
    dataset, values = _score_in(browser_home, dataset_id)
    flags = dataset.table["defect"].to_numpy()
    assert set(flags) == {"", *KINDS} and abs((flags != "").mean() - 0.3) < 0.02  # the page's default rate

    open_app(page, "/Explore", dataset=dataset_id, score="information", plo="0.10", phi="0.90")
    page.get_by_text("Injected defects: kept and dropped per kind").first.wait_for(timeout=240_000)
    # The first table on the page is the defect counts (above the histograms); its cells as whitespace tokens.
    tokens = page.locator('[data-testid="stTable"]').first.inner_text().split()
    screenshot(page, "defects_explore")
    # The same numbers as the library's report for the rows inside the interval (the Explore default is not
    # label-balanced; a balanced view would keep other rows).
    kept = select_percentile(values, 0.10, 0.90)
    expected = defect_report(dataset.table, kept).set_index("kind")
    assert tokens[:3] == ["defect", "kind", "total"] or "total" in tokens, tokens
    for kind in (*KINDS, "clean"):
        assert kind in tokens, (kind, tokens)
        at = tokens.index(kind)
        numbers = [int(t.replace(",", "")) for t in tokens[at + 1 : at + 4]]
        assert numbers == [int(expected.loc[kind, c]) for c in ("total", "kept", "dropped")], (kind, tokens)
    assert np.isclose(kept.mean(), 0.8, atol=0.01)
