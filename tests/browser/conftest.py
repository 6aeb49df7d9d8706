"""Browser-test fixtures: a real ``streamlit run app.py`` server and a Playwright page on Debian's Chromium.

Reuse them from any test in ``tests/browser/`` (mark the test ``@pytest.mark.browser``):

* ``browser_home`` — the tmp ``EUDS_HOME`` the server uses, already holding ``bbc_news`` with model-free
  ``information`` and ``semantic`` scores (and their free combination ``is``); write more into it before or
  during a test (pages read the workspace on every run).
* ``streamlit_server`` — the base URL (``http://127.0.0.1:PORT``) of one server per test session, started with
  ``server.headless``, ``fileWatcherType none`` and ``EUDS_SCORE_OPTIONS`` set to the model-free options, so
  the pages find the seeded scores and any score started from a page needs no model.
* ``page`` — a fresh Playwright page (1400x1000) per test; ``open_app(page, "/Explore", dataset="bbc_news")``
  navigates and waits until Streamlit has finished running the script.
* ``screenshot(page, "name")`` — saves ``test-artifacts/screenshots/<name>.png`` (full page).

Tests skip with a clear reason when ``chromium`` is not installed (``make test`` installs it with apt-get).
Playwright never downloads a browser here: we launch the system ``chromium`` by path.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = REPO_ROOT / "test-artifacts" / "screenshots"
MODEL_FREE_OPTIONS = {"tokenizer": "whitespace", "encoder": "hashing"}  # = ui.shared.scores.MODEL_FREE_OPTIONS
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_START_TIMEOUT_S = 90
APP_RUN_TIMEOUT_MS = 60_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed_scores(
    home: Path,
    dataset: str = "bbc_news",
    scores: tuple[str, ...] = ("information", "semantic"),
    options: dict | None = None,
) -> str:
    """Load ``dataset`` into ``home`` and cache ``scores`` with model-free options; returns the dataset id."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EUDS_HOME", str(home))
        from euds_core.data.datasets import load_dataset, save_dataset
        from euds_core.scoring.engine import score_dataset

        ds = load_dataset(dataset)
        save_dataset(ds)
        options = options or MODEL_FREE_OPTIONS
        score_dataset(ds, list(scores), options=options)
        if "semantic" in scores:  # the Explore map, cached on disk, so no test waits for UMAP's first compile
            from euds_core.models.embeddings import compute_embeddings
            from euds_core.selection.embed_map import compute_embedding_map
            from euds_core.storage.cache import DatasetCache

            cache = DatasetCache(ds.id)
            embeddings = compute_embeddings(ds.table, encoder=options.get("encoder", "hashing"), cache=cache)
            compute_embedding_map(embeddings, seed=0, cache=cache)
        return ds.id


def short_messages_csv(path: Path, n_rows: int = 5000, seed: int = 11) -> Path:
    """A CSV of ``n_rows`` short labelled messages (columns ``message``, ``label``; about 15 % spam), like an SMS
    spam corpus: the size the issue's first-minute timings were taken on."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    spam, ham = "win free prize cash call now txt claim".split(), "see you lunch home later ok thanks love".split()
    labels = np.where(rng.random(n_rows) < 0.15, "spam", "ham")
    texts = [
        " ".join(rng.choice(spam if lab == "spam" else ham, size=3 + i % 9)) + f" n{i}" for i, lab in enumerate(labels)
    ]
    pd.DataFrame({"message": texts, "label": labels}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def browser_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("euds_home_browser")
    seed_scores(home)
    return home


def start_streamlit_server(
    home: Path, options: dict | None = None, flags: dict[str, str] | None = None, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, str]:
    """Start ``streamlit run app.py`` on a free port in its own process session with ``EUDS_HOME=home`` and the
    pages' score ``options`` (default: model-free); returns (process, base URL) once the health endpoint
    answers. Log: ``home/streamlit-PORT.log``.

    ``flags`` override the default command-line options (``{"server.fileWatcherType": "auto"}``), ``env``
    adds environment variables (``bench/run.py`` starts the server with the old settings this way)."""
    port = _free_port()
    env = {
        **os.environ,
        "EUDS_HOME": str(home),
        "EUDS_SCORE_OPTIONS": json.dumps(options or MODEL_FREE_OPTIONS),
        "HF_HUB_OFFLINE": "1",
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        **(env or {}),
    }
    log_path = home / f"streamlit-{port}.log"
    options = {
        "server.port": str(port),
        "server.address": "127.0.0.1",
        "server.headless": "true",
        "server.fileWatcherType": "none",
        "browser.gatherUsageStats": "false",
        **(flags or {}),
    }
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", *(a for k, v in options.items() for a in (f"--{k}", v))]
    with log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://{options['server.address']}:{port}"
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, url
        except OSError:
            pass
        if time.monotonic() > deadline:
            os.killpg(proc.pid, 9)
            raise RuntimeError(f"streamlit did not answer within {SERVER_START_TIMEOUT_S} s; see {log_path}")
        time.sleep(0.5)


def stop_streamlit_server(proc: subprocess.Popen) -> None:
    """Stop the server's own process session (it and any job children it started) by its process id."""
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)


@pytest.fixture(scope="session")
def streamlit_server(browser_home: Path):
    """Base URL of a ``streamlit run app.py`` server on a free port, killed (its process group) at the end."""
    proc, url = start_streamlit_server(browser_home)
    try:
        yield url
    finally:
        stop_streamlit_server(proc)


@pytest.fixture(scope="session")
def chromium_browser():
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium; `make test` installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium_browser, streamlit_server):
    context = chromium_browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=streamlit_server)
    pg = context.new_page()
    pg.set_default_timeout(APP_RUN_TIMEOUT_MS)
    yield pg
    context.close()


def wait_for_app(page, timeout_ms: int = APP_RUN_TIMEOUT_MS) -> None:
    """Wait until the Streamlit script run is over: the app is mounted and the 'Running…' widget is gone."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_timeout(300)  # let a rerun triggered by the last interaction begin
    page.wait_for_function(
        """() => {
            const s = document.querySelector('[data-testid="stStatusWidget"]');
            return !s || !/running/i.test(s.innerText);
        }""",
        timeout=timeout_ms,
    )
    page.wait_for_timeout(300)


def open_app(page, path: str = "/", **params) -> None:
    """Navigate to ``path`` with URL query ``params`` and wait for the run to finish."""
    query = f"?{urlencode(params)}" if params else ""
    page.goto(f"{path}{query}")
    wait_for_app(page)


@pytest.fixture
def screenshot():
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)

    def take(page, name: str, *, max_height: int = 4000) -> Path:
        # Streamlit scrolls inside stMain, so full_page sees one viewport: grow the viewport to the content.
        path = SCREENSHOT_DIR / f"{name}.png"
        size = page.viewport_size
        height = page.evaluate("() => (document.querySelector('[data-testid=stMain]') || document.body).scrollHeight")
        page.set_viewport_size({"width": size["width"], "height": min(max(int(height), size["height"]), max_height)})
        page.wait_for_timeout(500)  # charts re-layout
        page.screenshot(path=str(path), full_page=True)
        page.set_viewport_size(size)
        return path

    return take


@pytest.fixture
def app(page):
    """``app.open("/Explore", dataset="bbc_news")`` and ``app.wait()`` on the test's page."""

    class _App:
        def open(self, path: str = "/", **params):
            open_app(page, path, **params)
            return page

        def wait(self):
            wait_for_app(page)
            return page

    return _App()
