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


def test_the_fine_tune_pages_default_grid_trains_explores_kept_ids_and_draws_its_ci(
    page, browser_home, short_texts, screenshot, tmp_path
):
    """The CI-sized version of the fine-tune verdict (the 10-minute bar with MiniLM is measured by
    ``bench/selection_finetune.py``, docs/experiments.md): Explore's interval, then the sidebar's Fine-tune link;
    the grid's default strategy is the selection vs label-stratified random; with a tiny model and 2 seeds its
    verdict prints and is drawn with CI numbers, and the selection's runs trained exactly Explore's kept ids."""
    from euds_core.experiments.run_store import load_runs
    from euds_core.experiments.selection_check import load_selection_ids
    from euds_core.runtime.jobs import list_jobs
    from tests.test_finetune import build_tiny_bert

    model = build_tiny_bert(tmp_path / "tiny-bert")
    open_app(page, "/Explore", dataset=short_texts, score="information", plo="0.25", phi="0.75")
    heading = page.locator('[data-testid="stMarkdownContainer"] h3').filter(has_text=re.compile(r"^Kept ")).first
    kept = int(re.search(r"Kept ([\d,]+) of", heading.inner_text()).group(1).replace(",", ""))
    page.locator('[data-testid="stSidebar"] a[href^="Fine_tune?"]').first.click()
    page.get_by_text("The grid's default strategy, selection").first.wait_for(timeout=60_000)
    form = page.get_by_test_id("stForm")
    form.get_by_role("textbox", name="Model folder").fill(str(model))
    form.get_by_role("spinbutton", name="Seeds").fill("2")
    form.get_by_role("spinbutton", name="Seeds").press("Tab")  # Enter would not submit (the form ignores it)
    form.get_by_role("button", name="Run grid in the background").click()
    line = page.get_by_text(re.compile(r"selection vs random:balanced: .*95 % CI")).first
    line.wait_for(timeout=180_000)
    curve = page.locator(".js-plotly-plot").first
    curve.get_by_text(re.compile(r"selection vs random:balanced: [+-]\d")).first.wait_for(timeout=30_000)
    assert re.search(r"95 % CI -?\d", curve.inner_text()), curve.inner_text()
    screenshot(page, "finetune_selection_grid")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EUDS_HOME", str(browser_home))
        deadline = time.monotonic() + 120  # the verdict shows once two runs pair up; wait for all four
        while (job := list_jobs(short_texts, "finetune", limit=1)[0]).active and time.monotonic() < deadline:
            time.sleep(1)
        ids = load_selection_ids(job.args["selection_key"])
        runs = load_runs(short_texts, job.args["grid_key"])  # the verdict shows once the runs are saved
        from euds_core.data.datasets import load_saved_dataset
        from euds_core.scoring.engine import score_dataset
        from euds_core.selection.intervals import Interval

        ds = load_saved_dataset(short_texts)
        values = score_dataset(ds, ["information"], options=MODEL_FREE_OPTIONS, cached_only=True)["information"]
    in_interval = Interval("information", "percentile", lo=0.25, hi=0.75).mask(values.to_numpy(), 0)
    assert len(runs) == 4 and len(ids) == kept  # the grid's rows: exactly the ids Explore's heading counts
    assert set(ids) == set(ds.table["id"][in_interval])
    selection = runs[runs["strategy"] == "selection"]
    assert sorted(selection["seed"]) == [0, 1] and (runs["n_train"] == selection["n_train"].iloc[0]).all()


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
