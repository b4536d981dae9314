"""The dashboard's Requests and Shared pages over real HTTP against a real daemon: drafting and
sending a request, and building, previewing, signing and downloading a disclosure."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from connectors.testing.generators.jsonl import energy_readings
from daemon.vrm import verify

from .conftest import Daemon
from .test_dashboard import csrf, signed_in, site  # noqa: F401  (site is a fixture)


def test_the_requests_page_drafts_and_tracks_a_request(site: tuple[Daemon, str]) -> None:  # noqa: F811
    daemon, base = site
    browser = signed_in(daemon, base)
    status, _, page, _ = browser.request("GET", "/requests")
    assert status == 200 and 'href="/requests" aria-current="page"' in page and "Octopus Energy Limited" in page
    token = csrf(page)
    form = {"csrf": token, "kind": "access", "org": "octopus-energy", "lang": "en", "my_name": "Sam Doe",
            "my_reference": "A-77", "zone": "Europe/London"}  # fmt: skip
    status, _, text, _ = browser.request("POST", "/requests/new", form)
    assert status == 403 and "did not come from" in text  # no Origin
    status, headers, _, _ = browser.request("POST", "/requests/new", {**form, "csrf": "forged"}, browser.origin())
    assert status == 403
    status, headers, _, _ = browser.request("POST", "/requests/new", form, browser.origin())
    assert status == 303 and headers["location"] == "/requests/1"
    _, _, page, _ = browser.request("GET", "/requests/1")
    assert "Article 15" in page and "Sam Doe" in page and "A-77" in page and "draft" in page
    status, headers, _, _ = browser.request("POST", "/requests/1/sent", {"csrf": token}, browser.origin())
    assert status == 303
    _, _, page, _ = browser.request("GET", "/requests/1")
    request = daemon.json("requests", "list")[0]
    assert request["status"] == "sent" and f"due by {request['deadline']}" in page
    _, _, listing, _ = browser.request("GET", "/requests")
    assert "octopus-energy/" in listing and request["deadline"] in listing
    assert browser.request("GET", "/requests/999")[0] == 404
    # past its deadline: told once, by the daemon
    daemon.cli("requests", "sent", "1", "--at", "2026-01-31T10:00:00+00:00")
    first = json.loads(daemon.cli("requests", "check", "--json").stdout)
    again = json.loads(daemon.cli("requests", "check", "--json").stdout)
    assert again["reminded"] == [] and first["reminded"] in ([1], [])
    overdue = daemon.json("requests", "list")[0]
    assert overdue["status"] == "overdue" and overdue["reminded_at"] and overdue["deadline"] == "2026-02-28"


def test_the_shared_page_signs_only_what_it_showed(site: tuple[Daemon, str], tmp_path: Path) -> None:  # noqa: F811
    daemon, base = site
    lines = tmp_path / "readings.jsonl"
    lines.write_text("".join(json.dumps(x) + "\n" for x in energy_readings(days=70, end=datetime.now(UTC))))
    daemon.cli("import-jsonl", str(lines), "--source", "octopus-home", "--dataset", "energy.reading")
    browser = signed_in(daemon, base)
    status, _, page, _ = browser.request("GET", "/share")
    assert status == 200 and 'href="/share" aria-current="page"' in page and "Nothing shared yet" in page
    form = {"csrf": csrf(page), "recipient": "Flat 3 landlord", "purpose": "tenancy", "preset": "electricity-monthly",
            "months": "2", "valid_days": "14"}  # fmt: skip
    status, _, preview, _ = browser.request("POST", "/share/preview", form, browser.origin())
    assert status == 200 and "Flat 3 landlord" in preview and "Electricity used per month" in preview
    shown = json.loads(html.unescape(re.search(r'<textarea id="document"[^>]*>(.*?)</textarea>', preview, re.S)[1]))
    issue = html.unescape(re.search(r'name="issue" value="([^"]*)"', preview)[1])
    status, headers, _, _ = browser.request("POST", "/share/issue", {"csrf": form["csrf"], "issue": issue},
                                            browser.origin())  # fmt: skip
    assert status == 303 and headers["location"] == "/share"
    _, _, page, _ = browser.request("GET", "/share")
    assert "Flat 3 landlord" in page and "Signed and logged" in page and "active" in page
    logged = daemon.json("share", "list")
    assert len(logged) == 1 and logged[0]["recipient"] == "Flat 3 landlord"
    status, headers, body, _ = browser.request("GET", f"/share/{logged[0]['id']}.json")
    assert status == 200 and headers["content-disposition"].startswith("attachment")
    package = json.loads(body)
    assert {k: v for k, v in package.items() if k != "proof"} == shown  # the page showed all of it
    assert verify.verify(package, int(datetime.now(UTC).timestamp() * 1000))["status"] == "valid"
    (tmp_path / "extract.json").write_text(body)
    checked = daemon.cli("verify", str(tmp_path / "extract.json"))  # through the daemon, which knows the key
    assert "VALID" in checked.stdout and "Signed by" in checked.stdout
    status, headers, svg, _ = browser.request("GET", f"/share/{logged[0]['id']}.svg")
    assert status == 200 and headers["content-type"].startswith("image/svg+xml") and "<svg" in svg
    # the same form again is refused: it was issued
    status, _, _, _ = browser.request("POST", "/share/issue", {"csrf": form["csrf"], "issue": issue}, browser.origin())
    _, _, page, _ = browser.request("GET", "/share")
    assert "issued already" in page and len(daemon.json("share", "list")) == 1
