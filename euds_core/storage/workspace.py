"""The workspace folder (``EUDS_HOME``, default ``~/.euds``) shared by the CLI, the app and jobs."""

from __future__ import annotations

import os
from pathlib import Path


def euds_home() -> Path:
    """Return the workspace folder, creating it on first use."""
    home = Path(os.environ.get("EUDS_HOME") or Path.home() / ".euds").expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


def workspace_dir(*parts: str) -> Path:
    """A sub-folder of the workspace (``datasets``, ``cache``, ``models``, ...), created on first use."""
    path = euds_home().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
