"""Who is using the app, and whether they may: sign-in, the reviewer's identity, the bind-address guard.

With OpenID Connect configured (``[auth]`` in ``.streamlit/secrets.toml``, Streamlit's ``st.login``), no
page draws before sign-in and the reviewer is the signed-in e-mail. Without it the reviewer is the name
typed in the sidebar, or a per-session ``anonymous-…`` id, so unnamed reviewers never share an undo stack.
Every write checks the role of that identity in the library (``euds_core/curation/roles.py``).
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path

import streamlit as st

from euds_core.curation.roles import ANONYMOUS_PREFIX, load_team
from euds_core.curation.server_access import check_bind_address, sign_in_configured
from euds_core.errors import EudsInputError
from ui.shared.page_stop import end_page

ANONYMOUS_KEY = "_anonymous_reviewer"
BIND_REFUSED_EXIT = 2
APP_SCRIPT = Path(__file__).resolve().parents[2] / "app.py"


def auth_section() -> Mapping | None:
    from streamlit.runtime.secrets import secrets_singleton

    return secrets_singleton.get("auth") if secrets_singleton.load_if_toml_exists() else None


def sign_in_enabled() -> bool:
    return sign_in_configured(auth_section())


def current_identity() -> str:
    """The signed-in e-mail; else the sidebar's reviewer name; else this session's own anonymous id."""
    if sign_in_enabled():
        if not st.user.get("is_logged_in"):
            return ""
        return str(st.user.get("email") or st.user.get("sub") or "")
    name = str(st.session_state.get("reviewer") or "").strip()
    if name:
        return name
    if ANONYMOUS_KEY not in st.session_state:
        st.session_state[ANONYMOUS_KEY] = ANONYMOUS_PREFIX + uuid.uuid4().hex[:8]
    return st.session_state[ANONYMOUS_KEY]


def shown_identity(identity: str) -> str:
    return "anonymous" if identity.startswith(ANONYMOUS_PREFIX) else identity


def _refuse_open_bind(message: str) -> None:
    """Show only the refusal, say it on the server's stderr, and end a real server with a non-zero status."""
    st.error(message)
    print(f"error: {message}", file=sys.stderr, flush=True)
    # `streamlit run app.py` sets sys.argv[0] to the script: a real server (not a test's runner) must not stay up
    if sys.argv and sys.argv[0] and Path(sys.argv[0]).resolve() == APP_SCRIPT:
        threading.Timer(0.5, os._exit, args=(BIND_REFUSED_EXIT,)).start()
    end_page()


def gate_access() -> str:
    """Stop the run unless this person may see data; returns their identity. app.py calls it first of all."""
    try:
        check_bind_address(st.get_option("server.address"), auth_section())
    except EudsInputError as exc:
        _refuse_open_bind(str(exc))
    if sign_in_enabled() and not st.user.get("is_logged_in"):
        st.title("EUDS Studio")
        st.write("Sign in to see this workspace.")
        st.button("Sign in", key="sign_in", type="primary", on_click=st.login)
        end_page()
    identity = current_identity()
    team = load_team()
    if team is not None and sign_in_enabled() and team.role_of(identity) is None:
        st.error(f"{identity} is not in this workspace's team; ask a lead to add you to {team.path.name}.")
        st.button("Sign out", key="sign_out", on_click=st.logout)
        end_page()
    return identity


def sidebar_identity(restore_name, remember_name) -> None:
    """The signed-in identity and Sign out; without sign-in, the reviewer name box."""
    if sign_in_enabled():
        identity = current_identity()
        team = load_team()
        role = f" · {team.role_of(identity)}" if team is not None else ""
        st.caption("Signed in as")
        st.text(f"{identity}{role}")  # plain text: the provider's claim
        st.button("Sign out", key="sign_out", on_click=st.logout)
        return
    restore_name()
    st.text_input(
        "Reviewer name", key="reviewer", placeholder="your name (for review decisions)", on_change=remember_name
    )
