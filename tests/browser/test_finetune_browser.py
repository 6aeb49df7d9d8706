"""The Fine-tune page in Chromium: the accuracy-vs-size curve from saved runs, and a heat-map click to Explore."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.browser.conftest import open_app, wait_for_app

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def seeded_runs(browser_home):
    """Runs of a small grid and an interval-search grid for bbc_news, written into the server's workspace."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EUDS_HOME", str(browser_home))
        from euds_core.data.datasets import load_dataset
        from euds_core.experiments.interval_search import interval_cells, search_grid_path
        from euds_core.experiments.run_store import RunResult, save_run

        dataset_id = load_dataset("bbc_news").id
        rng = np.random.default_rng(0)
        for seed in range(3):
            for size in (0.1, 0.16, 0.25, 0.5, 1.0):
                for strategy, lift in (("interval", 0.03), ("random", 0.0)):
                    acc = min(0.97, 0.55 + 0.4 * size**0.4 + lift * (1 - size) + 0.02 * rng.standard_normal())
                    save_run(
                        dataset_id,
                        "browser",
                        strategy,
                        size,
                        seed,
                        RunResult(acc, acc - 0.01, int(1780 * size), 140 * size),
                    )
        cells = interval_cells(0.1, 0.3)
        grid = pd.DataFrame(cells, columns=["p_lo", "p_hi"])
        grid["keep_fraction"] = grid.p_hi - grid.p_lo
        grid["n_train"] = (grid.keep_fraction * 1780).astype(int)
        grid["accuracy"] = 0.9 - 0.1 * (grid.p_lo - 0.3).abs() - 0.05 * (1 - grid.keep_fraction)
        grid["macro_f1"] = grid.accuracy
        grid["seconds"] = 0.2
        grid.to_csv(search_grid_path(dataset_id, "information"), index=False)
        return dataset_id


def test_finetune_curve_and_heat_map_click_opens_explore(page, screenshot, seeded_runs):
    open_app(page, "/Fine_tune", dataset="bbc_news")
    assert page.locator('[data-testid="stException"]').count() == 0
    page.get_by_text("Optimal-interval search").first.wait_for()
    plots = page.locator(".js-plotly-plot")
    plots.first.wait_for()
    assert plots.count() >= 3  # the curve, accuracy vs time, the heat map
    assert page.locator(".js-plotly-plot .legendtext", has_text="interval").count() >= 1
    page.get_by_text("Best cell: plo 0.30").first.wait_for()
    screenshot(page, "finetune_curve_bbc_news")

    heat_map = plots.nth(plots.count() - 1)
    heat_map.scroll_into_view_if_needed()
    box = heat_map.locator(".scatterlayer .point").first.bounding_box()  # cell (0.0, 0.3)
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)  # plotly picks the clicked point from the hover state
    page.wait_for_timeout(300)
    page.mouse.click(x, y)
    for _ in range(120):
        if "/Explore" in page.url:
            break
        page.wait_for_timeout(250)
    wait_for_app(page)
    assert (
        "/Explore" in page.url and "plo=0.00" in page.url and "phi=0.30" in page.url and "score=information" in page.url
    )
    screenshot(page, "finetune_heat_map_click_explore")
