"""The server idles: no file watching, no full GC after every run, a job panel that polls every 2-3 s (issue 14)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_config_turns_off_file_watching_and_the_post_run_gc():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["fileWatcherType"] == "none"
    assert config["server"]["runOnSave"] is False
    assert config["runner"]["postScriptGC"] is False


def test_streamlit_still_has_the_options_we_set():
    """A Streamlit upgrade that renames an option would make config.toml silently do nothing."""
    from streamlit import config

    options = config.get_config_options()
    assert {"server.fileWatcherType", "server.runOnSave", "runner.postScriptGC"} <= set(options)


@pytest.mark.parametrize(
    ("value", "expected"), [(None, 2.5), ("1", 1.0), ("3", 3.0), ("fast", 2.5), ("0", 2.5), ("600", 2.5)]
)
def test_job_panel_poll_interval(monkeypatch, value, expected):
    from ui.shared.jobs_view import poll_seconds

    if value is None:
        monkeypatch.delenv("EUDS_JOB_POLL_SECONDS", raising=False)
    else:
        monkeypatch.setenv("EUDS_JOB_POLL_SECONDS", value)
    assert poll_seconds() == expected
