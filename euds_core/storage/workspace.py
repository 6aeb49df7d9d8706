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


def model_cache_dir() -> Path:
    """Derived model files shared by every workspace (the packaged LM's dequantised copy), created on first use.

    ``EUDS_MODEL_CACHE``, else ``$XDG_CACHE_HOME/euds/models``, else ``~/.cache/euds/models``. Outside the
    workspace because a copy is a pure function of its source file (named by its hash): a new workspace
    reuses it instead of spending ~20 s of its first minute rebuilding it (issue 17).
    """
    root = os.environ.get("EUDS_MODEL_CACHE")
    if root:
        path = Path(root).expanduser()
    else:
        path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "euds" / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path
