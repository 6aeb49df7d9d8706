"""Issue 25 in Chromium: jobs you can see and stop. Enter in the number fields of the Score and Fine-tune forms
starts no job; while an LM scoring pass runs on a fresh dataset the sidebar's job text changes at least every
10 s; the sidebar's Cancel stops it within 5 s."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from tests.browser.conftest import open_app, wait_for_app

pytestmark = pytest.mark.browser
ROWS = 60_000


def _jobs(home, dataset_id):
    from euds_core.runtime.jobs import list_jobs

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EUDS_HOME", str(home))
        return list_jobs(dataset_id, None, limit=50)


@pytest.fixture
def fresh_dataset(browser_home) -> str:
    # Enough rows that the tiny LM is still running when Cancel is clicked on a fast CI machine too
    # (12,000 one-line rows finished in ~10 s there; 30,000 once finished 0.4 s after the click here).
    texts = [
        f"message {i} about {'lunch' if i % 3 else 'prize'} and {'home' if i % 5 else 'cash'} today. " * 6
        for i in range(ROWS)
    ]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EUDS_HOME", str(browser_home))
        from euds_core.data.datasets import save_dataset
        from euds_core.data.table import Dataset

        table = pd.DataFrame(
            {"id": [f"j{i}" for i in range(ROWS)], "text": texts, "label": ["a", "b", "c"] * (ROWS // 3)}
        )
        return save_dataset(Dataset("fresh.csv", "classification", table))


def test_enter_starts_no_job(page, browser_home, fresh_dataset):
    open_app(page, "/Score", dataset=fresh_dataset)
    field = page.get_by_label("Batch size (0 = automatic)")
    field.fill("8")
    field.press("Enter")
    wait_for_app(page)
    open_app(page, "/Fine_tune", dataset=fresh_dataset)
    for label in ("Seeds", "Epochs", "Max length (tokens)"):
        box = page.get_by_label(label, exact=True).first
        if box.count():
            box.fill("2" if label != "Max length (tokens)" else "32")
            box.press("Enter")
            wait_for_app(page)
    page.wait_for_timeout(2000)
    assert _jobs(browser_home, fresh_dataset) == []


def test_progress_moves_and_the_sidebar_cancels_within_5_s(page, browser_home, fresh_dataset, tiny_causal_lm_dir):
    from euds_core.runtime.jobs import start_job

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EUDS_HOME", str(browser_home))
        args = {"dataset_id": fresh_dataset, "scores": ["generative"], "options": {"lm": str(tiny_causal_lm_dir)}}
        start_job("score", {**args, "batch_size": 4, "device": "cpu"}, dataset_id=fresh_dataset)
    open_app(page, "/Explore", dataset=fresh_dataset)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("fresh.csv —").first.wait_for(timeout=60_000)
    seen, last_change, gaps = sidebar.get_by_text("fresh.csv —").first.inner_text(), time.monotonic(), []
    history = [seen]
    # Watch until the text has changed four times (or 40 s), then cancel at once: the job must still be running.
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and len(history) < 5:
        page.wait_for_timeout(1000)
        texts = sidebar.get_by_text("fresh.csv —")
        now = texts.first.inner_text() if texts.count() else ""
        if now != seen:
            history.append(now)
            gaps.append(time.monotonic() - last_change)
            seen, last_change = now, time.monotonic()
    gaps.append(time.monotonic() - last_change)
    print(f"progress text changes: {len(gaps) - 1}, longest gap {max(gaps):.1f} s; texts: {history}")
    assert len(gaps) > 3 and max(gaps) <= 10, gaps
    assert history[-1], "the job ended before Cancel could be tried; give it more rows"
    clicked = time.monotonic()
    sidebar.get_by_role("button", name="Cancel").first.click()
    while time.monotonic() - clicked < 30 and any(j.active for j in _jobs(browser_home, fresh_dataset)):
        time.sleep(0.2)
    stopped = time.monotonic() - clicked
    print(f"cancelled after {stopped:.1f} s")
    # (status, cancel asked): ("done", False) means the click never reached the server
    assert [(j.status, j.cancel_requested) for j in _jobs(browser_home, fresh_dataset)] == [("cancelled", True)]
    assert stopped <= 5
