"""Who can reach the app: the address the server binds to, and whether sign-in guards it.

Without sign-in the reviewer is a name anyone can type, so the app may only listen on a loopback address
(this machine). A network address needs OpenID Connect sign-in configured in ``.streamlit/secrets.toml``
(an ``[auth]`` section, see docs/team-review.md), or the explicit override ``EUDS_ALLOW_OPEN_BIND=1`` for a
network you trust. ``python -m euds_core app`` checks before the server binds; app.py checks again on every
run, so ``streamlit run app.py --server.address ...`` cannot serve a page either.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from euds_core.errors import EudsInputError

OVERRIDE_ENV = "EUDS_ALLOW_OPEN_BIND"
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")


def is_loopback(address: str | None) -> bool:
    """Whether a bind address only accepts connections from this machine (Streamlit binds all for none)."""
    address = str(address or "").strip().strip("[]")
    if address.startswith("unix://") or address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # a host name other than localhost (or none: every interface)


def sign_in_configured(auth: Mapping | None) -> bool:
    """Whether an ``[auth]`` secrets section is complete enough for ``st.login`` (default or a named provider)."""
    if not auth or not auth.get("redirect_uri") or not auth.get("cookie_secret"):
        return False
    if all(auth.get(k) for k in PROVIDER_KEYS):
        return True
    return any(isinstance(v, Mapping) and all(v.get(k) for k in PROVIDER_KEYS) for v in auth.values())


def check_bind_address(address: str | None, auth: Mapping | None, env: Mapping[str, str] = os.environ) -> None:
    """Raise a clear :class:`EudsInputError` when the server would be reachable from the network unguarded."""
    if is_loopback(address) or sign_in_configured(auth) or env.get(OVERRIDE_ENV, "") == "1":
        return
    shown = address or "every interface"
    raise EudsInputError(
        f"refusing to serve on {shown} without sign-in: anyone who reaches the port could write decisions under "
        "any name. Configure OpenID Connect sign-in ([auth] in .streamlit/secrets.toml, see docs/team-review.md), "
        f"bind 127.0.0.1, or set {OVERRIDE_ENV}=1 for a network you trust"
    )


def _toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise EudsInputError(f"could not read {path}: {exc}") from None


def _streamlit_files(app_dir: Path, name: str) -> list[Path]:
    """Where Streamlit reads a settings file from, the later one winning: the user's, then the app's."""
    return [Path.home() / ".streamlit" / name, app_dir / ".streamlit" / name]


def configured_bind_address(
    app_dir: Path, address: str | None = None, env: Mapping[str, str] = os.environ
) -> str | None:
    """The address ``streamlit run`` would bind: the option given, else the environment, else config.toml."""
    if address is not None:
        return address
    if "STREAMLIT_SERVER_ADDRESS" in env:
        return env["STREAMLIT_SERVER_ADDRESS"]
    found = None
    for path in _streamlit_files(app_dir, "config.toml"):
        found = _toml(path).get("server", {}).get("address", found)
    return found


def configured_auth(app_dir: Path) -> dict | None:
    """The ``[auth]`` section of the secrets files Streamlit reads (merged, the app's winning)."""
    merged: dict = {}
    for path in _streamlit_files(app_dir, "secrets.toml"):
        merged.update(_toml(path).get("auth", {}))
    return merged or None
