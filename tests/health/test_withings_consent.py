"""Authorising Withings the ways a user does, against a fake Withings that refuses what Withings
refuses (a redirect to localhost or an IP, plain http, a code older than 30 s): `selfdata source
authorize` and the dashboard, both by pasting the address the browser landed on."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request
from html import unescape
from typing import Any

import pytest

from connectors.health.withings import PLACEHOLDER_REDIRECT
from connectors.testing.vendors import withings

from ..conftest import ROOT, Daemon, threaded
from ..test_dashboard import csrf, signed_in


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def consent(url: str) -> str:
    """The user consents at Withings: the address the browser is sent to."""
    try:
        urllib.request.build_opener(NoRedirect).open(url, timeout=10)
    except urllib.error.HTTPError as err:
        assert err.code == 302, err.read()
        return str(err.headers["Location"])
    raise AssertionError("Withings did not send the browser back")


def add_scale(daemon: Daemon, scale: Any, name: str) -> None:
    settings = {
        "client_id": withings.CLIENT_ID,
        "client_secret": withings.CLIENT_SECRET,
        "api_url": scale.url,
        "authorize_url": f"{scale.url}/oauth2_user/authorize2",
    }
    args = [a for k, v in settings.items() for a in ("--set", f"{k}={v}")]
    daemon.cli("source", "add", name, "withings", *args, "--schedule", "manual", "--no-check")


@pytest.mark.timeout(120)
def test_source_authorize_and_the_dashboard_work_with_a_redirect_withings_accepts(daemon: Daemon) -> None:
    daemon.start()
    base = daemon.json("status")["daemon"]["api_url"]
    with threaded(withings.make_server(days=5)) as scale:
        withings.withings_state(scale).registered = [PLACEHOLDER_REDIRECT]
        add_scale(daemon, scale, "scale")
        add_scale(daemon, scale, "other-scale")

        # The CLI: it prints Withings' address, the user consents and pastes where they landed.
        cli = subprocess.Popen(
            [sys.executable, "-m", "daemon", "source", "authorize", "scale"],
            cwd=ROOT,
            env=daemon.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert cli.stdout is not None and cli.stdin is not None
        url = ""
        for _ in range(20):
            line = cli.stdout.readline()
            if line.strip().startswith("http"):
                url = line.strip()
                break
        assert f"redirect_uri={PLACEHOLDER_REDIRECT.replace(':', '%3A').replace('/', '%2F')}" in url
        out, err = cli.communicate(consent(url) + "\n", timeout=60)
        assert cli.returncode == 0, out + err
        assert "Authorised scale" in out

        # The dashboard on http://127.0.0.1: the page says where Withings will send the browser
        # and takes the pasted address.
        browser = signed_in(daemon, base)
        _, _, page, _ = browser.request("GET", "/sources/other-scale")
        status, _, page, _ = browser.request(
            "POST", "/sources/other-scale/authorize", {"csrf": csrf(page)}, browser.origin()
        )
        assert status == 200 and PLACEHOLDER_REDIRECT in page and "data-follow" not in page
        vendor = unescape(re.search(r'href="(http[^"]+authorize2[^"]+)"', page).group(1))  # type: ignore[union-attr]
        landed = consent(vendor)
        status, headers, _, _ = browser.request(
            "POST", "/sources/other-scale/authorized", {"csrf": csrf(page), "url": landed}, browser.origin()
        )
        assert status == 303
        _, _, shown, _ = browser.request("GET", headers["location"])
        assert "other-scale is authorised" in shown
        healths = {s["name"]: s["health"] for s in daemon.json("source", "list")}
        assert healths == {"scale": "ok", "other-scale": "ok"}
        assert "new" in daemon.cli("sync", "scale").stdout
