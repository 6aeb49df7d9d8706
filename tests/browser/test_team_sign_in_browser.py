"""Acceptance in Chromium with a real OpenID Connect provider on loopback (oidc-provider-mock) and the app's
sign-in configured: a signed-out page shows only the sign-in; two reviewers in two browser contexts each drop a
row, both attributed to the right identity after a reload; a viewer is refused keep / drop and export, on the
page and through the library; Sign out ends the session."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.browser.conftest import open_app, seed_scores, start_streamlit_server, stop_streamlit_server, wait_for_app

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect
ANN, BOB, VIC = "ann@example.org", "bob@example.org", "vic@example.org"
TEAM = f'[users]\n"{ANN}" = "reviewer"\n"{BOB}" = "reviewer"\n"{VIC}" = "viewer"\n'
DROPPED_MSG = re.compile(r"^(\S+): drop")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def identity_provider(tmp_path):
    """``python -m oidc_provider_mock`` on 127.0.0.1 and a free port, stopped by its own process id."""
    port = free_port()
    log = (tmp_path / "oidc.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/.well-known/openid-configuration", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise RuntimeError(f"the OpenID provider did not start; see {tmp_path / 'oidc.log'}")
        time.sleep(0.3)
    try:
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        log.close()


@pytest.fixture
def signed_in_app(tmp_path_factory, identity_provider):
    """The app with ``[auth]`` pointing at the provider (secrets file of its own) and a team file in its workspace."""
    home = tmp_path_factory.mktemp("euds_home_team")
    seed_scores(home, scores=("information",))
    (home / "team.toml").write_text(TEAM)
    secrets_file = home / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        'client_id = "euds-studio"\n'
        'client_secret = "test-secret"\n'
        f'server_metadata_url = "{identity_provider}/.well-known/openid-configuration"\n'
    )
    proc, url = start_streamlit_server(home, flags={"secrets.files": str(secrets_file)})
    try:
        yield home, url
    finally:
        stop_streamlit_server(proc)


def new_page(browser, url: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1200}, base_url=url, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    return context, page


def assert_only_sign_in(page) -> None:
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert sidebar.count() == 0, sidebar.first.inner_html()[:3000]
    assert page.locator('[data-testid="stDataFrame"]').count() == 0
    assert page.locator('[data-testid="stMetric"]').count() == 0


def sign_in(page, url: str, who: str) -> None:
    open_app(page, "/Review", dataset="bbc_news")
    assert_only_sign_in(page)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector('input[name="sub"]')  # the provider's own page
    page.fill('input[name="sub"]', who)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(re.compile(re.escape(url) + r"/(?!oauth2callback)"))
    wait_for_app(page)
    open_app(page, "/Review", dataset="bbc_news")
    expect(page.locator('[data-testid="stSidebar"]')).to_contain_text(who)
    assert page.get_by_label("Reviewer name").count() == 0  # the identity replaces the name box


def drop_first_kept(page) -> str:
    page.get_by_role("button", name="Drop", exact=True).click()
    wait_for_app(page)
    alert = page.locator('[data-testid="stAlertContentSuccess"]').first
    expect(alert).to_have_text(DROPPED_MSG, timeout=20_000)
    return DROPPED_MSG.search(alert.inner_text()).group(1)


def expect_attributed(page, sample_id: str, reviewer: str) -> None:
    """After a reload, find ``sample_id`` in the All view: its caption says who dropped it."""
    page.reload()
    wait_for_app(page)
    view = page.locator('[data-testid="stRadio"]').filter(has_text="Show").first
    view.get_by_text("All", exact=True).click()  # the view radio: dropped rows too
    wait_for_app(page)
    search = page.get_by_label("Search text or id")
    search.fill(sample_id)
    search.press("Enter")
    wait_for_app(page)
    caption = page.get_by_text(re.compile(r"^(kept|dropped) · interval")).first
    expect(caption).to_have_text(f"dropped · interval in · override drop by {reviewer}", timeout=30_000)


def test_sign_in_attribution_and_viewer_refusal(chromium_browser, signed_in_app, monkeypatch):
    home, url = signed_in_app
    (ctx_a, page_a), (ctx_b, page_b), (ctx_c, page_c) = (new_page(chromium_browser, url) for _ in range(3))
    try:
        open_app(page_c, "/Export", dataset="bbc_news")  # any page, signed out: only the sign-in
        assert_only_sign_in(page_c)
        sign_in(page_a, url, ANN)
        sign_in(page_b, url, BOB)
        dropped_a = drop_first_kept(page_a)
        page_b.reload()  # B's Kept table no longer holds A's row
        wait_for_app(page_b)
        dropped_b = drop_first_kept(page_b)
        assert dropped_a != dropped_b
        expect_attributed(page_a, dropped_b, BOB)
        expect_attributed(page_b, dropped_a, ANN)

        sign_in(page_c, url, VIC)
        expect(page_c.get_by_text("You are a viewer")).to_be_visible()
        page_c.get_by_role("button", name="Drop", exact=True).click()
        wait_for_app(page_c)
        expect(page_c.locator('[data-testid="stAlertContentError"]').first).to_have_text(
            f"'{VIC}' is a viewer: recording keep / drop decisions needs the reviewer role — ask a lead"
        )
        open_app(page_c, "/Export", dataset="bbc_news")
        expect(page_c.locator('[data-testid="stAlertContentError"]').first).to_contain_text(
            "exporting a subset needs the lead role"
        )
        assert page_c.locator('[data-testid="stDownloadButton"]').count() == 0
        assert page_c.locator('[data-testid="stException"]').count() == 0

        page_c.get_by_role("button", name="Sign out").click()
        page_c.wait_for_url(re.compile(r"/oauth2/end_session"))  # st.logout ends the provider's session too
        page_c.get_by_role("button", name="End session").click()
        page_c.wait_for_url(re.compile(re.escape(url)))
        open_app(page_c, "/Review", dataset="bbc_news")
        assert_only_sign_in(page_c)
    finally:
        for ctx in (ctx_a, ctx_b, ctx_c):
            ctx.close()

    monkeypatch.setenv("EUDS_HOME", str(home))
    from euds_core.curation import decision_log
    from euds_core.curation.export import export_bytes
    from euds_core.data.datasets import load_dataset
    from euds_core.errors import EudsPermissionError
    from euds_core.selection.intervals import SelectionSpec

    ds = load_dataset("bbc_news")
    decisions = decision_log.effective_decisions(ds.id).set_index("id")
    assert decisions.loc[[dropped_a, dropped_b], "reviewer"].tolist() == [ANN, BOB]
    assert len(decisions) == 2  # the viewer's click wrote nothing
    with pytest.raises(EudsPermissionError, match="is a viewer"):
        decision_log.set_decision(ds.id, dropped_a, "keep", reviewer=VIC)
    with pytest.raises(EudsPermissionError, match="exporting a subset needs the lead role"):
        export_bytes(ds, ds.table[[]], SelectionSpec(ds.id, []), "jsonl", "subset.jsonl", user=VIC)


def loopback_host_name() -> str | None:
    """This machine's host name when it resolves to loopback only (Debian maps it to 127.0.1.1), else None."""
    import ipaddress

    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, None)}
    except OSError:
        return None
    return name if addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses) else None


def test_a_real_server_on_an_unguarded_address_serves_only_the_refusal_and_exits(chromium_browser, tmp_path):
    """``streamlit run app.py --server.address NAME`` with a host name the guard cannot prove local: the first
    visitor sees only the refusal and the server exits with status 2. The name resolves to loopback, so the
    test still binds nothing reachable from the network."""
    name = loopback_host_name()
    if name is None:
        pytest.skip("this machine's host name does not resolve to loopback only")
    proc, url = start_streamlit_server(tmp_path, flags={"server.address": name})
    context, page = new_page(chromium_browser, url)
    try:
        page.goto("/Review?dataset=bbc_news")
        alert = page.locator('[data-testid="stAlertContentError"]').first
        expect(alert).to_contain_text(f"refusing to serve on {name} without sign-in")
        assert page.locator('[data-testid="stSidebar"]').count() == 0
        assert proc.wait(timeout=30) == 2
    finally:
        context.close()
        stop_streamlit_server(proc)
    log = next(tmp_path.glob("streamlit-*.log")).read_text()
    assert f"error: refusing to serve on {name} without sign-in" in log
