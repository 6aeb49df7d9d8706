"""The bind-address guard: loopback only, unless sign-in is configured or the documented override is set."""

from __future__ import annotations

import pytest

from euds_core.curation.server_access import (
    OVERRIDE_ENV,
    check_bind_address,
    configured_auth,
    configured_bind_address,
    is_loopback,
    sign_in_configured,
)
from euds_core.errors import EudsInputError

AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "x" * 32,
    "client_id": "euds",
    "client_secret": "s",
    "server_metadata_url": "http://127.0.0.1:9400/.well-known/openid-configuration",
}


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]", "unix://sock"])
def test_loopback_addresses(address):
    assert is_loopback(address)


@pytest.mark.parametrize("address", [None, "", "0.0.0.0", "::", "192.168.1.5", "example.org"])
def test_addresses_reachable_from_the_network(address):
    assert not is_loopback(address)
    with pytest.raises(EudsInputError, match="refusing to serve on .* without sign-in"):
        check_bind_address(address, None, env={})


def test_sign_in_or_the_override_allows_an_open_address():
    check_bind_address("0.0.0.0", AUTH, env={})
    check_bind_address("0.0.0.0", {"redirect_uri": "r", "cookie_secret": "c", "okta": dict(AUTH)}, env={})
    check_bind_address("0.0.0.0", None, env={OVERRIDE_ENV: "1"})
    for incomplete in ({**AUTH, "cookie_secret": ""}, {k: v for k, v in AUTH.items() if k != "client_secret"}):
        assert not sign_in_configured(incomplete)
        with pytest.raises(EudsInputError):
            check_bind_address("0.0.0.0", incomplete, env={OVERRIDE_ENV: "yes"})  # only "1" overrides


def test_the_address_and_auth_come_from_the_flag_env_and_files(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "config.toml").write_text('[server]\naddress = "localhost"\n')
    assert configured_bind_address(tmp_path, env={}) == "localhost"
    assert configured_bind_address(tmp_path, env={"STREAMLIT_SERVER_ADDRESS": "0.0.0.0"}) == "0.0.0.0"
    assert configured_bind_address(tmp_path, "10.0.0.1", env={}) == "10.0.0.1"
    assert configured_auth(tmp_path) is None
    (tmp_path / ".streamlit" / "secrets.toml").write_text(
        "[auth]\n" + "".join(f'{k} = "{v}"\n' for k, v in AUTH.items())
    )
    assert sign_in_configured(configured_auth(tmp_path))
