"""Issue 25 in Chromium: set an interval on Explore, press "Train this selection": the proxy verdict (linear model on
the cached embeddings, this selection vs a label-stratified random subset of the same size) appears with its 95 % CI
within 30 s for a 5,000-row dataset of short texts, and it trained exactly Explore's kept rows (those in the pool).
Screenshot: ``test-artifacts/screenshots/train_selection.png``.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.browser.conftest import MODEL_FREE_OPTIONS, open_app, short_messages_csv

pytestmark = pytest.mark.browser
N_ROWS = 5000
PROXY_VERDICT_S = 30


@pytest.fixture(scope="module")
def short_texts(browser_home, tmp_path_factory) -> str:
    """5,000 short labelled messages with model-free information and semantic scores (and embeddings) cached."""
    path = short_messages_csv(tmp_path_factory.mktemp("train_data") / "short_messages.csv", N_ROWS)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EUDS_HOME", str(browser_home))
        from euds_core.data.datasets import load_dataset, save_dataset
        from euds_core.scoring.engine import score_dataset

        ds = load_dataset(path, text_col="message", label_col="label")
        save_dataset(ds)
        score_dataset(ds, ["information", "semantic"], options=MODEL_FREE_OPTIONS)
    return ds.id


def test_train_this_selection_gives_the_proxy_verdict_within_30_s(page, browser_home, short_texts, screenshot):
    open_app(page, "/Explore", dataset=short_texts, score="information", plo="0.25", phi="0.75")
    heading = page.locator('[data-testid="stMarkdownContainer"] h3').filter(has_text=re.compile(r"^Kept ")).first
    kept = int(re.search(r"Kept ([\d,]+) of", heading.inner_text()).group(1).replace(",", ""))
    started = time.monotonic()
    page.get_by_role("button", name="Train this selection").click()
    verdict = page.get_by_text(re.compile(r"linear proxy on the embeddings, 5 seeds")).first
    verdict.wait_for(timeout=PROXY_VERDICT_S * 1000)
    elapsed = time.monotonic() - started
    text = verdict.inner_text()
    assert "95 % CI" in text and "majority class" in text and "full pool" in text, text
    print(f"proxy verdict after {elapsed:.1f} s: {text}")
    screenshot(page, "train_selection")

    from euds_core.runtime.jobs import list_jobs

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EUDS_HOME", str(browser_home))
        job = list_jobs(short_texts, "train_selection", limit=1)[0]
    assert job.status == "done" and job.result["kept"] == kept  # Explore's kept rows, the heading's count
    assert job.result["trained_rows"] + job.result["kept_in_test"] == kept
    assert page.get_by_role("button", name=re.compile(r"^Fine-tune it \(≈")).count() == 1  # estimate before start


def _zombies_under_streamlit() -> list[str]:
    """Zombie processes whose parent is a ``streamlit run app.py`` of this repository."""
    from pathlib import Path

    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parent = Path(f"/proc/{fields[1]}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
        if fields[0] == "Z" and "streamlit run app.py" in parent:
            found.append(f"{stat.parent.name} (parent {fields[1]})")
    return found


def test_the_server_log_has_no_openmp_warning_and_no_job_is_a_zombie(browser_home):
    """Runs after the tests above in this session's server: every job it started has ended and been reaped."""
    from euds_core.runtime.jobs import list_jobs

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EUDS_HOME", str(browser_home))
        deadline = time.monotonic() + 60
        while any(j.active for j in list_jobs(None, None, limit=100)) and time.monotonic() < deadline:
            time.sleep(0.5)
    time.sleep(2)
    logs = "".join(p.read_text(errors="replace") for p in browser_home.glob("streamlit-*.log"))
    assert "OpenMP" not in logs and "OpenBLAS Warning" not in logs
    assert _zombies_under_streamlit() == []
