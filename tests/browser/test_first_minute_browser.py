"""The first minute (issue 17), in Chromium on a fresh workspace: press "Score it" on Explore; within 60 s the
page shows all three entropy histograms (and IGSE) from a labelled partial sample with estimated counts; after
the pass ends the same URL shows exact counts.

A full bbc_news pass with the packaged LM takes many minutes on 2 shared cores, so this test scores an
800-row dataset with a tiny LM (tests/helpers.py) and a 32-row first stage. To photograph the partial view
deterministically, the test stops the generative job (the jobs' own cancel flag) as soon as its first stage is
on disk, then resumes it from the Score page, as a user would after a cancel.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.browser.conftest import (
    MODEL_FREE_OPTIONS,
    SCREENSHOT_DIR,
    open_app,
    start_streamlit_server,
    stop_streamlit_server,
    wait_for_app,
)
from tests.helpers import TINY_VOCAB

pytestmark = pytest.mark.browser

N_ROWS = 800
ENTROPY_CHARTS = ("information", "generative", "semantic", "igse")
ESTIMATE = re.compile(r"≈ ([\d,]+) of ([\d,]+) kept")
EXACT = re.compile(r"Kept ([\d,]+) of ([\d,]+)")


def _write_dataset(path: Path) -> Path:
    rng = np.random.default_rng(0)
    words = TINY_VOCAB[4:]
    texts = [
        " ".join(rng.choice(words[: rng.integers(3, len(words))], size=rng.integers(8, 60))) for _ in range(N_ROWS)
    ]
    pd.DataFrame({"text": texts, "label": [("a", "b", "c")[i % 3] for i in range(N_ROWS)]}).to_csv(path, index=False)
    return path


def _entropy_charts_drawn(page) -> bool:
    """A histogram of each entropy and IGSE is on the page (the active score's title starts with its name)."""
    titles = [(t or "").strip() for t in page.locator(".js-plotly-plot .gtitle").all_text_contents()]
    return all(any(t == name or t.startswith(f"{name}:") for t in titles) for name in ENTROPY_CHARTS)


def _poll(condition, timeout_s: float, what: str, page=None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = condition()
        if got:
            return got
        time.sleep(0.1)
    if page is not None:
        page.screenshot(path=str(SCREENSHOT_DIR / "failure_first_minute.png"))
    raise AssertionError(f"{what} within {timeout_s:.0f} s (screenshot: failure_first_minute.png)")


def test_score_shows_a_labelled_partial_sample_within_a_minute_then_exact_counts(
    chromium_browser, tmp_path, tiny_causal_lm_dir, screenshot, monkeypatch
):
    home = tmp_path / "fresh-home"
    home.mkdir()
    monkeypatch.setenv("EUDS_HOME", str(home))  # this process reads the server's jobs and cache
    from euds_core.data.datasets import load_dataset
    from euds_core.runtime.jobs import cancel_job, list_jobs

    data = _write_dataset(tmp_path / "first_minute.csv")
    dataset_id = load_dataset(str(data), guess_label=True).id  # as the app loads a file named in the URL
    options = {**MODEL_FREE_OPTIONS, "lm": str(tiny_causal_lm_dir), "first_stage_tokens": 1}  # 32-row first stage
    proc, url = start_streamlit_server(home, options)
    context = chromium_browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=url)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        view = {"dataset": str(data), "score": "information", "plo": "0.25", "phi": "0.75"}
        open_app(page, "/Explore", **view)
        page.get_by_role("button", name=re.compile("Score it")).click()
        pressed = time.monotonic()

        lm_folder = home / "cache" / dataset_id / "features"

        def generative_job():
            jobs = [j for j in list_jobs(dataset_id, "score") if "generative" in j.args.get("scores", [])]
            return jobs[0] if jobs else None

        _poll(lambda: list(lm_folder.glob("lm_stats-*/chunk-*.npy")), 60, "the generative first stage on disk", page)
        cancel_job(generative_job().id)  # freeze the partial state for the photograph
        _poll(lambda: generative_job().status == "cancelled", 60, "the generative job stopped", page)

        open_app(page, "/Explore", **view)  # the same URL
        _poll(lambda: ESTIMATE.search(page.locator("body").inner_text()), 30, "an estimated count", page)
        seconds_to_partial_view = time.monotonic() - pressed
        body = page.locator("body").inner_text()
        assert re.search(rf"generative: [\d,]+ of {N_ROWS:,} rows scored \(random sample\)", body), body[:2000]
        assert "counts are estimates" in body
        assert int(ESTIMATE.search(body).group(2).replace(",", "")) == N_ROWS
        _poll(lambda: _entropy_charts_drawn(page), 30, "the entropy and IGSE histograms", page)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert seconds_to_partial_view <= 60, seconds_to_partial_view
        screenshot(page, "first_minute_partial_view")

        open_app(page, "/Score", dataset=str(data))  # resume: the rest of the pass
        page.get_by_role("button", name="Start scoring").click()
        wait_for_app(page)
        _poll(lambda: generative_job().status == "done", 120, "the resumed generative pass done", page)

        open_app(page, "/Explore", **view)  # the same URL, now complete
        _poll(lambda: EXACT.search(page.locator("body").inner_text()), 30, "an exact count", page)
        body = page.locator("body").inner_text()
        assert "Partial view" not in body and not ESTIMATE.search(body)
        k, n = (int(x.replace(",", "")) for x in EXACT.search(body).groups())
        assert n == N_ROWS and abs(k - N_ROWS / 2) <= 2
        _poll(lambda: _entropy_charts_drawn(page), 30, "the entropy and IGSE histograms", page)
        screenshot(page, "first_minute_exact_counts")
        print(f"seconds from Score it to the partial view (job frozen on first stage): {seconds_to_partial_view:.1f}")
    finally:
        context.close()
        stop_streamlit_server(proc)
