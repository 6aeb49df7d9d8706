"""``app``: start the Streamlit app, refusing a network address without sign-in before anything binds."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from euds_core.curation.server_access import check_bind_address, configured_auth, configured_bind_address

APP_SCRIPT = Path(__file__).resolve().parents[2] / "app.py"


def add_parsers(sub) -> None:
    p = sub.add_parser("app", help="start the app; a non-loopback --address needs sign-in configured")
    p.add_argument("--address", help="address to listen on (default: .streamlit/config.toml's, localhost)")
    p.add_argument("--port", type=int, help="port to listen on (default 8501)")


def cmd_app(args) -> int:
    app_dir = APP_SCRIPT.parent
    check_bind_address(configured_bind_address(app_dir, args.address), configured_auth(app_dir))
    passed = [("--server.address", args.address), ("--server.port", args.port)]
    passed = [arg for name, value in passed if value is not None for arg in (name, str(value))]
    os.chdir(app_dir)  # Streamlit reads .streamlit/ from the working directory
    os.execv(sys.executable, [sys.executable, "-m", "streamlit", "run", str(APP_SCRIPT), *passed])
    return 0  # not reached: execv replaces this process


COMMANDS = {"app": cmd_app}
