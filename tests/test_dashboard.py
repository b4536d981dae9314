"""The dashboard's defences, over real HTTP against a real daemon: who may open a page, and what
a change needs. The user's own journey through the pages is in test_dashboard_browser."""

from __future__ import annotations

import http.client
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import pytest

from .conftest import Daemon


class Browser:
    """Just enough of a browser: a cookie jar for one host, no redirects followed."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "", parts.port or 80
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        cookies: bool = True,
    ) -> tuple[int, dict[str, str], str, list[str]]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        sent = {"Host": f"{self.host}:{self.port}", **(headers or {})}
        if cookies and self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urlencode(body)
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        set_cookies = response.headers.get_all("Set-Cookie") or []
        for line in set_cookies:
            name, _, rest = line.partition("=")
            value = rest.split(";", 1)[0]
            if value in ('""', ""):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        text = response.read().decode()
        conn.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, text, set_cookies

    def origin(self) -> dict[str, str]:
        return {"Origin": f"http://{self.host}:{self.port}"}


@pytest.fixture
def site(daemon: Daemon) -> tuple[Daemon, str]:
    daemon.start()
    return daemon, daemon.json("status")["daemon"]["api_url"]


def signed_in(daemon: Daemon, base: str) -> Browser:
    browser = Browser(base)
    link = daemon.json("dashboard")["url"]
    status, headers, _, _ = browser.request("GET", link.removeprefix(base))
    assert status == 303 and headers["location"] == "/"
    return browser


def csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


def test_no_session_redirects_to_sign_in(site: tuple[Daemon, str]) -> None:
    _, base = site
    browser = Browser(base)
    status, headers, _, _ = browser.request("GET", "/")
    assert status == 303 and headers["location"] == "/signin"
    status, headers, _, _ = browser.request("GET", "/sources/my-bank?x=1")
    assert status == 303 and unquote(headers["location"]) == "/signin?next=/sources/my-bank?x=1"
    status, headers, page, _ = browser.request("GET", "/signin")
    assert status == 200 and "selfdata dashboard" in page
    # A change without a session changes nothing and says why.
    erase = {"what": "source:x", "confirm": "x"}
    status, _, text, _ = browser.request("POST", "/rights/erase", erase, browser.origin())
    assert status == 403 and "not signed in" in text


def test_a_link_signs_in_once_with_a_strict_cookie(site: tuple[Daemon, str]) -> None:
    daemon, base = site
    link = daemon.json("dashboard")["url"]
    browser = Browser(base)
    status, headers, _, set_cookies = browser.request("GET", link.removeprefix(base))
    assert status == 303
    cookie = next(c for c in set_cookies if c.startswith("sd_session="))
    flags = {f.strip().lower() for f in cookie.split(";")[1:]}
    assert "httponly" in flags and "samesite=strict" in flags and "path=/" in flags
    assert "secure" not in flags  # plain http on loopback: a Secure cookie would never come back
    assert any(f.startswith("max-age=") for f in flags)
    status, _, page, _ = browser.request("GET", "/")
    assert status == 200 and "Your data at a glance" in page
    # The same link again: refused, and it opens no session.
    other = Browser(base)
    status, _, page, _ = other.request("GET", link.removeprefix(base))
    assert status == 403 and "already used or has expired" in page
    assert "sd_session" not in other.cookies
    status, _, page, _ = other.request("GET", "/signin?code=sdl_forged")
    assert status == 403


def test_secure_cookie_behind_a_tls_proxy(site: tuple[Daemon, str]) -> None:
    daemon, base = site
    link = daemon.json("dashboard")["url"]
    _, _, _, set_cookies = Browser(base).request("GET", link.removeprefix(base), headers={"X-Forwarded-Proto": "https"})
    assert "secure" in {f.strip().lower() for f in set_cookies[0].split(";")}


def _approved_grant(daemon: Daemon) -> dict[str, Any]:
    token = daemon.cli("token", "create", "--app", "notebook", "--purpose", "test", "--scope", "read:*").stdout.strip()
    grant = next(g for g in daemon.json("grants", "list") if g["app"] == "notebook")
    return {**grant, "token": token}


def test_changes_need_the_csrf_token_and_the_own_origin(site: tuple[Daemon, str]) -> None:
    daemon, base = site
    grant = _approved_grant(daemon)
    browser = signed_in(daemon, base)
    _, _, page, _ = browser.request("GET", "/consent")
    token = csrf(page)
    path = f"/grants/{grant['id']}/revoke"
    for body, headers, why in (
        ({}, browser.origin(), "security token"),
        ({"csrf": "forged"}, browser.origin(), "security token"),
        ({"csrf": token}, {"Origin": "http://evil.example"}, "did not come from"),
        ({"csrf": token}, {}, "did not come from"),  # neither Origin nor Referer
    ):
        status, _, text, _ = browser.request("POST", path, body, headers)
        assert status == 403 and why in text, (status, text)
    assert next(g for g in daemon.json("grants", "list") if g["id"] == grant["id"])["status"] == "approved"
    status, headers, _, _ = browser.request("POST", path, {"csrf": token}, browser.origin())
    assert status == 303 and headers["location"] == "/consent"
    assert next(g for g in daemon.json("grants", "list") if g["id"] == grant["id"])["status"] == "revoked"


def test_app_tokens_and_sessions_never_cross(site: tuple[Daemon, str]) -> None:
    daemon, base = site
    token = _approved_grant(daemon)["token"]
    browser = signed_in(daemon, base)
    status, _, text, _ = browser.request("GET", "/", headers={"Authorization": f"Bearer {token}"}, cookies=False)
    assert status == 401 and "app tokens do not open the dashboard" in text
    status, _, _, _ = browser.request("GET", "/signin", headers={"Authorization": f"Bearer {token}"})
    assert status == 401
    status, _, text, _ = browser.request("GET", "/api/v1/datasets")  # the session cookie alone
    assert status == 401 and "no_token" in text


def test_foreign_host_refused(site: tuple[Daemon, str]) -> None:
    daemon, base = site
    browser = signed_in(daemon, base)
    for host in ("evil.example", f"evil.example:{browser.port}"):
        status, _, _, _ = browser.request("GET", "/", headers={"Host": host})
        assert status == 403


def test_every_answer_forbids_framing_and_outside_resources(site: tuple[Daemon, str]) -> None:
    daemon, base = site
    browser = signed_in(daemon, base)
    for path in ("/", "/sources", "/data", "/consent", "/access", "/rights", "/signin", "/static/app.css"):
        status, headers, page, _ = browser.request("GET", path)
        assert status == 200, path
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        if path.startswith("/static"):
            continue
        # Nothing on a page names another origin, and no script is inline.
        assert not re.search(r'(src|href|action)="(https?:)?//', page), path
        assert not re.search(r"<script(?![^>]*\bsrc=)", page), path
        assert not re.search(r"<[^>]*\son[a-z]+\s*=", page), path  # no inline event handlers


def test_sign_out_all_ends_every_session(site: tuple[Daemon, str]) -> None:
    daemon, base = site
    browser = signed_in(daemon, base)
    unused = daemon.json("dashboard")["url"]
    assert browser.request("GET", "/")[0] == 200
    assert daemon.json("dashboard", "--sign-out-all")["ended"] >= 2
    assert browser.request("GET", "/")[0] == 303
    assert Browser(base).request("GET", unused.removeprefix(base))[0] == 403


def test_dashboard_command_without_daemon_says_to_start_it(site: tuple[Daemon, str]) -> None:
    daemon, _ = site
    daemon.stop()
    out = daemon.cli("dashboard").stdout
    assert "/signin?code=sdl_" in out and "The daemon is not running" in out


def test_passphrase_signs_in_and_wrong_ones_are_limited(site: tuple[Daemon, str], tmp_path: Path) -> None:
    daemon, base = site
    browser = Browser(base)
    assert 'name="passphrase"' not in browser.request("GET", "/signin")[2]  # no passphrase slot yet
    secret = tmp_path / "pass.txt"
    secret.write_text("correct horse battery staple\n")
    daemon.cli("keys", "add-passphrase", "--new-passphrase-file", str(secret))
    assert 'name="passphrase"' in browser.request("GET", "/signin")[2]
    form = {"passphrase": "correct horse battery staple", "next": "/consent"}
    status, _, _, _ = browser.request("POST", "/signin", form)  # no Origin: a forged sign-in
    assert status == 403 and "sd_session" not in browser.cookies
    status, headers, _, _ = browser.request("POST", "/signin", form, browser.origin())
    assert status == 303 and headers["location"] == "/consent" and "sd_session" in browser.cookies
    assert browser.request("GET", "/consent")[0] == 200
    # An outside `next` is not followed.
    other = Browser(base)
    status, headers, _, _ = other.request("POST", "/signin", {**form, "next": "//evil.example/"}, other.origin())
    assert status == 303 and headers["location"] == "/"
    # Wrong passphrases: refused, then held off for everyone trying.
    stranger = Browser(base)
    for _ in range(5):
        status, _, page, _ = stranger.request("POST", "/signin", {"passphrase": "guess"}, stranger.origin())
        assert status == 403 and "does not open this vault" in page
    status, _, page, _ = stranger.request("POST", "/signin", form, stranger.origin())
    assert status == 429 and "Too many wrong passphrases" in page
    assert "sd_session" not in stranger.cookies


def test_an_unknown_source_or_dataset_is_a_page_saying_so(site: tuple[Daemon, str]) -> None:
    daemon, base = site
    browser = signed_in(daemon, base)
    for path, says in (("/sources/nobody", "nobody"), ("/data/bank.nothing", "bank.nothing")):
        status, headers, page, _ = browser.request("GET", path)
        assert status == 404 and headers["content-type"].startswith("text/html") and says in page, path


def test_a_dropped_file_of_any_size_streams_into_the_inbox(site: tuple[Daemon, str], home: Path) -> None:
    daemon, base = site
    browser = signed_in(daemon, base)
    _, _, page, _ = browser.request("GET", "/")
    token = csrf(page)
    boundary = "----selfdata"
    content = b"x" * (3 * 1024 * 1024)  # three times what an API body may be
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="../relevé 2026.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    conn = http.client.HTTPConnection(browser.host, browser.port, timeout=60)
    conn.request(
        "POST",
        f"/import?csrf={token}",
        body=body,
        headers={
            "Host": f"{browser.host}:{browser.port}",
            "Cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items()),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            **browser.origin(),
        },
    )
    response = conn.getresponse()
    response.read()
    assert response.status == 303
    inbox = home / "inbox"
    landed = [p for p in inbox.rglob("*") if p.is_file() and p.stat().st_size == len(content)]
    failed = [p for p in inbox.rglob("*.error.txt")]
    # The importer may already have taken it (and failed it: it is not a statement): either
    # way it arrived whole, under its own name, inside the inbox.
    assert landed or failed, list(inbox.rglob("*"))
    assert all(inbox in p.parents for p in inbox.rglob("*"))
    assert any("relevé 2026" in p.name for p in inbox.rglob("*")), list(inbox.rglob("*"))
    # Without the token nothing is written.
    status, _, text, _ = browser.request("POST", "/import", {}, browser.origin())
    assert status == 403
