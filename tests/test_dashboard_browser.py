"""A home user's whole visit to the dashboard, in a real Chromium, against `selfdata demo`.

Signs in with the printed link, sees the demo's sources, approves an app's request by its code,
sees what the app read in the access log, revokes it, adds a source through the form against
the demo's fake energy supplier, runs it and watches it finish, drops a file, exports and
erases. Every request the browser makes goes to the daemon itself, or, for consent, to the vendor.

With SELFDATA_SCREENSHOTS=DIR the pages are also saved there (`make screenshots` fills
docs/screenshots/ for docs/dashboard.md).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    message = "no Chromium: `make test` installs the distribution's chromium package (tests/install-tools.sh)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class Demo:
    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = env
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daemon", "demo", "--home", str(home), "--port", "0"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        deadline = time.monotonic() + 120
        assert self.proc.stdout is not None
        while not any("Ctrl-C stops the demo" in line for line in self.lines):
            assert time.monotonic() < deadline, "the demo did not get ready:\n" + "".join(self.lines)
            line = self.proc.stdout.readline()
            assert line or self.proc.poll() is None, "the demo exited:\n" + "".join(self.lines)
            self.lines.append(line)
        text = "".join(self.lines)
        self.link = re.search(r"(http://\S+/signin\?code=sdl_\S+)", text).group(1)  # type: ignore[union-attr]
        self.base = self.link.split("/signin")[0]
        self.vendors = dict(re.findall(r"(\w+) (http://127\.0\.0\.1:\d+)", text.split("fake vendors on loopback:")[1]))

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "daemon", "--home", str(self.home), *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TZ": "Europe/Paris"}
    env.pop("SELFDATA_HOME", None)
    d = Demo(tmp_path / "demo", env)
    yield d
    d.stop()


def api(base: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


@pytest.mark.timeout(300)
def test_a_home_user_does_everything_from_the_page(demo: Demo, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = Path(os.environ["SELFDATA_SCREENSHOTS"]) if os.environ.get("SELFDATA_SCREENSHOTS") else None
    outside: list[str] = []
    failures: list[str] = []

    from connectors.testing.vendors import withings

    from .conftest import threaded

    with sync_playwright() as p, threaded(withings.make_server(days=30)) as scale:
        browser = p.chromium.launch(executable_path=chromium(), args=FLAGS)
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, accept_downloads=True, timezone_id="America/New_York"
        )
        context.on(
            "request",
            lambda r: (
                outside.append(r.url)
                if not (r.url.startswith((demo.base + "/", scale.url + "/", "data:", "https://selfdata.invalid/")))
                else None
            ),
        )
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("response", lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 500 else None)
        # Script errors; a refused form's 400 is the page telling the user, not a failure.
        page.on(
            "console",
            lambda m: (
                failures.append(m.text)
                if m.type == "error" and not m.text.startswith("Failed to load resource")
                else None
            ),
        )

        def shot(name: str, full_page: bool = True) -> None:
            if shots is not None:
                shots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shots / f"{name}.png"), full_page=full_page)

        # Signing in with the printed link; the link works once.
        page.goto(demo.link)
        expect(page.get_by_role("heading", name="Your data at a glance")).to_be_visible()
        sources = page.get_by_role("table").first
        for name in ("demo-bank", "demo-energy", "demo-health", "demo-phone"):
            expect(sources.get_by_role("link", name=name, exact=True)).to_be_visible()
        expect(page.locator(".cards")).to_contain_text("health")
        # Times in the browser's zone, not the machine's (Europe/Paris) nor UTC.
        expect(page.locator("footer")).to_contain_text("America/New_York")
        expect(sources).to_contain_text(re.compile(r" -0[45]00"))
        shot("home")

        # An app asks for access; the user approves it by the code it shows.
        status, asked = api(
            demo.base,
            "/api/v1/grants",
            {"app": "heart-notes", "purpose": "chart my heart rate", "scopes": ["read:health.*"]},
        )
        assert status in (200, 201, 202), asked
        page.get_by_role("link", name="Apps", exact=True).click()
        page.get_by_label("The code the app shows").fill(asked["user_code"])
        page.get_by_role("button", name="Look it up").click()
        expect(page.locator(".request")).to_contain_text("chart my heart rate")
        expect(page.locator(".request")).to_contain_text("read health.*")
        shot("consent-request")
        page.get_by_role("button", name="Approve").click()
        expect(page.locator(".flash.ok")).to_contain_text("heart-notes: approved for 90 days")
        status, polled = api(demo.base, f"/api/v1/grants/{asked['id']}")
        token = polled["token"]
        status, read = api(demo.base, "/api/v1/datasets/health.observation/records?limit=5", token=token)
        assert status == 200 and read["records"], read
        shot("consent")

        # Who read my health data: two clicks.
        page.get_by_role("link", name="Who read what").click()
        page.get_by_role("navigation", name="Filter by data").get_by_role("link", name="health").click()
        table = page.locator("table.access")
        expect(table).to_contain_text("heart-notes")
        expect(table).to_contain_text("health.observation")
        shot("access")

        # Revoke: the token stops working at once.
        page.get_by_role("link", name="Apps", exact=True).click()
        page.get_by_role("button", name="Revoke heart-notes").click()
        expect(page.locator(".flash.ok")).to_contain_text("revoked")
        assert api(demo.base, "/api/v1/datasets", token=token)[0] == 401

        # Add a source through the form, against the demo's fake energy supplier.
        page.get_by_role("link", name="Sources", exact=True).click()
        page.get_by_label("Connector or importer").select_option("octopus-energy")
        page.get_by_role("button", name="Next").click()
        page.get_by_label("Name of this source").fill("my-meter")
        page.get_by_label("api_key").fill("sk_live_wrong")
        page.get_by_label("account_number").fill("A-5E1FDA7A")
        page.get_by_label("base_url").fill(demo.vendors["energy"])
        page.get_by_label("history_days").fill("30")
        page.get_by_role("button", name="Add and check").click()
        expect(page.get_by_role("alert")).to_be_visible()  # the vendor refused the key: said on the form
        shot("source-form-error")
        page.get_by_label("api_key").fill("sk_live_selfdataDemoKey0000000000")
        page.get_by_role("button", name="Add and check").click()
        expect(page.get_by_role("heading", name=re.compile("my-meter"))).to_be_visible()

        # Run it now and watch it finish.
        page.get_by_role("button", name="Run now").click()
        expect(page.locator("table").last).to_contain_text("ok", timeout=60_000)
        expect(page.locator("table").last).not_to_contain_text("running", timeout=60_000)
        shot("source")

        # A source that needs the vendor's consent: authorised in the browser, and back on the page.
        page.get_by_role("link", name="Sources", exact=True).click()
        page.get_by_label("Connector or importer").select_option("withings")
        page.get_by_role("button", name="Next").click()
        page.get_by_label("Name of this source").fill("my-scale")
        page.get_by_label("client_id").fill(withings.CLIENT_ID)
        page.get_by_label("client_secret").fill(withings.CLIENT_SECRET)
        page.get_by_label("api_url").fill(scale.url)
        page.get_by_label("authorize_url").fill(f"{scale.url}/oauth2_user/authorize2")
        page.get_by_label("Schedule").fill("manual")
        page.get_by_role("button", name="Add and check").click()
        expect(page.locator(".health")).to_contain_text("authorise access")
        # Withings refuses this dashboard's address (plain http, an IP) as a redirect: the consent
        # ends on the placeholder address, which the user pastes back on the page.
        context.route(
            "https://selfdata.invalid/**",
            lambda route: route.fulfill(status=404, content_type="text/html", body="<title>not found</title>"),
        )
        page.get_by_role("button", name="Authorise access").click()
        with context.expect_page() as opened:
            page.get_by_role("link", name=re.compile("Continue to")).click()
        landed = opened.value
        landed.wait_for_url(re.compile(r"^https://selfdata\.invalid/withings\?code="))
        page.get_by_label(re.compile("paste it here")).fill(landed.url)
        landed.close()
        page.get_by_role("button", name="Finish").click()
        expect(page.locator(".flash.ok")).to_contain_text("my-scale is authorised")
        assert page.url.startswith(demo.base + "/sources/my-scale")
        expect(page.locator(".health")).to_contain_text("ok")

        # Drop a file: it goes through the inbox.
        from connectors.testing.generators.ofx import write_ofx

        statement = tmp_path / "relevé novembre.ofx"
        write_ofx(statement, per_account=5)
        page.get_by_role("link", name="Home").click()
        page.get_by_label(re.compile("Import a file")).set_input_files(str(statement))
        page.get_by_role("button", name="Import", exact=True).click()
        expect(page.locator(".flash")).to_contain_text("In the inbox")
        deadline = time.monotonic() + 60
        while "relev" not in demo.cli("files", "list"):
            assert time.monotonic() < deadline, "the dropped file was not imported"
            time.sleep(0.3)

        # Data: a dataset's chart and table.
        page.get_by_role("link", name="Data", exact=True).click()
        page.get_by_role("link", name="energy.reading").click()
        expect(page.locator("svg.chart")).to_be_visible()
        expect(page.locator("table.records tbody tr")).to_have_count(50)
        page.get_by_role("link", name="Next page").click()
        expect(page.locator("table.records tbody tr").first).to_be_visible()
        shot("data", full_page=False)
        page.goto(demo.base + "/data/energy.reading?from=yesterday")
        expect(page.get_by_role("alert")).to_contain_text("is not a date")

        # Export everything, then erase the source added above.
        page.get_by_role("link", name="Export and erase").click()
        shot("rights")
        with page.expect_download() as download_info:
            page.get_by_role("button", name="Download").click()
        exported = tmp_path / "export.tar"
        download_info.value.save_as(exported)
        with tarfile.open(exported) as tar:
            names = tar.getnames()
        assert any(n.endswith("manifest.json") for n in names), names
        page.get_by_label("What to erase").select_option("source:my-meter")
        page.get_by_label("Type its name to confirm").fill("my-meter")
        page.get_by_role("button", name="Erase", exact=True).click()
        expect(page.locator(".flash.ok")).to_contain_text("Erased")
        expect(page.locator("table").last).to_contain_text("my-meter")

        # The session ends on signing out.
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("heading", name="Sign in to selfdata")).to_be_visible()
        page.goto(demo.base + "/")
        expect(page.get_by_role("heading", name="Sign in to selfdata")).to_be_visible()
        browser.close()

    assert not outside, f"the dashboard loaded resources from outside the daemon: {outside}"
    assert not failures, failures


@pytest.mark.timeout(180)
def test_every_page_reads_without_script_on_a_phone_and_names_its_controls(demo: Demo) -> None:
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ["SELFDATA_SCREENSHOTS"]) if os.environ.get("SELFDATA_SCREENSHOTS") else None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=FLAGS)
        context = browser.new_context(
            java_script_enabled=False, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
        )
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(demo.link)
        for path in (
            "/",
            "/sources",
            "/sources/demo-energy",
            "/data",
            "/data/energy.reading",
            "/consent",
            "/access",
            "/rights",
            "/requests",
            "/share",
            "/money",
            "/sources/new?connector=octopus-energy",
        ):
            page.goto(demo.base + path)
            assert page.locator("main h1").count() == 1, path
            # Landmarks, and a name for every control a screen reader lands on.
            assert page.locator("header").count() and page.locator("nav").count() and page.locator("main").count()
            unnamed = page.evaluate(
                """() => [...document.querySelectorAll('input:not([type=hidden]), select, button, a[href]')]
                    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                                 && !(e.textContent || '').trim() && !e.getAttribute('title'))
                    .map(e => e.outerHTML.slice(0, 80))"""
            )
            assert not unnamed, (path, unnamed)
            # Nothing wider than the phone but the tables, which scroll inside themselves.
            wide = page.evaluate(
                """() => [...document.querySelectorAll('main > *')]
                    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && e.tagName !== 'TABLE')
                    .map(e => e.tagName + '.' + e.className)"""
            )
            assert not wide, (path, wide)
            assert page.evaluate("document.documentElement.scrollWidth") <= 391, path
        page.goto(demo.base + "/")
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "phone-home.png"), full_page=False)
        # Forms work without script: turning a source's runs off and on.
        page.goto(demo.base + "/sources/demo-phone")
        page.get_by_role("button", name="Turn scheduled runs off").click()
        assert "scheduled runs off" in page.locator(".flash").inner_text()
        page.get_by_role("button", name="Turn scheduled runs on").click()
        assert "scheduled runs on" in page.locator(".flash").inner_text()
        browser.close()


@pytest.mark.timeout(180)
def test_the_money_view_shows_the_demo_month_its_charts_and_subscriptions(demo: Demo) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = Path(os.environ["SELFDATA_SCREENSHOTS"]) if os.environ.get("SELFDATA_SCREENSHOTS") else None
    failures: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="America/New_York")
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("response", lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 500 else None)
        page.on("console", lambda m: failures.append(m.text) if m.type == "error" else None)
        page.goto(demo.link)
        page.get_by_role("link", name="Money").click()
        expect(page.locator("main h1")).to_contain_text("Money")
        # The month's figures in dollars, a chart of in and out per month, a balance line per account
        summary = page.locator("table.money-summary tbody tr")
        expect(summary.first).to_contain_text("USD")
        chart = page.locator("svg.chart.money")
        expect(chart).to_have_count(1)
        assert chart.locator("rect.in").count() == 12 and chart.locator("rect.out").count() == 12
        assert "Money in and out per month in USD" in (chart.get_attribute("aria-label") or "")
        assert page.locator("svg.chart.balance polyline").count() >= 3
        # The demo's subscriptions: Netflix's price rise, Amazon Prime yearly, the gym that stopped
        recurring = page.locator("table.money-recurring")
        netflix = recurring.locator("tr", has_text="Netflix")
        expect(netflix).to_contain_text("monthly")
        expect(netflix).to_contain_text("17.99 USD")
        expect(netflix).to_contain_text("+16% since")
        expect(recurring.locator("tr", has_text="Amazon Prime")).to_contain_text("yearly")
        expect(recurring.locator("tr", has_text="Planet Fitness")).to_contain_text("stopped")
        expect(page.locator("table.money-categories").first).to_contain_text("groceries")
        # A rule, then its effect, then its removal
        page.get_by_label("Contains").fill("starbucks")
        page.get_by_label("Category", exact=True).fill("coffee")
        page.get_by_role("button", name="Add rule").click()
        expect(page.locator(".flash.ok")).to_contain_text("past months included")
        rule = page.locator("table.money-rules tbody tr", has_text="starbucks")
        expect(rule).to_contain_text("coffee")
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "money.png"), full_page=True)
        rule.get_by_role("button", name="Remove").click()
        expect(page.locator(".flash.ok")).to_contain_text("Rule removed")
        # An alert switched on through the form
        page.locator("#a-low_balance").check()
        page.locator("#a-threshold").fill("100")
        page.locator("form", has=page.locator("#a-low_balance")).get_by_role("button", name="Save").click()
        expect(page.locator(".flash.ok")).to_contain_text("low_balance: on")
        expect(page.locator("#a-low_balance")).to_be_checked()
        browser.close()
    assert not failures, failures
    assert "selfdata report for" in demo.cli("report")


def test_the_energy_view_shows_its_heatmap_and_the_cost_under_two_tariffs(demo: Demo) -> None:
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ["SELFDATA_SCREENSHOTS"]) if os.environ.get("SELFDATA_SCREENSHOTS") else None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="Europe/London")
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(demo.link)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Energy", exact=True).click()
        assert page.locator("main h1").inner_text() == "Energy"
        # the demo's electricity under the tariff held and the Economy 7 offer, side by side
        costs = page.locator("table.costs").first
        labels = costs.locator("tbody th").all_inner_texts()
        assert labels[0] == "Your tariffs", labels
        assert sorted(labels[1:]) == ["Octopus Energy Economy 7", "Octopus Energy Flexible Octopus"], labels
        totals = dict(zip(labels, costs.locator("td.total").all_inner_texts(), strict=True))
        assert all(re.fullmatch(r"\d+\.\d\d GBP", t) for t in totals.values()), totals
        assert totals["Your tariffs"] == totals["Octopus Energy Flexible Octopus"]
        assert totals["Octopus Energy Economy 7"] != totals["Your tariffs"]
        page.get_by_text("How these were computed").first.click()
        assert (
            "priced with the version of the tariff valid at its start"
            in page.locator("details.method").first.inner_text()
        )
        # a heatmap of half-hours with a number for each cell, and the average day
        heat = page.locator("svg.heatmap").first
        assert "half-hours of" in (heat.get_attribute("aria-label") or "")
        assert heat.locator("rect.cell").count() >= 20  # the month so far of the demo's readings
        assert re.search(
            r"\d{4}-\d\d-\d\d \d\d:\d\d: \d+(\.\d+)? kWh", heat.locator("rect.cell title").first.text_content() or ""
        )
        assert page.locator("svg.profile polyline.weekday").count() >= 1
        # the form adds a tariff, which then shows in the comparison
        page.get_by_text("Add a tariff").click()
        page.get_by_label("Id", exact=True).fill("offer-fixed")
        page.get_by_label("Supplier", exact=True).fill("Other Energy")
        page.get_by_label("Product", exact=True).fill("Fixed 12M")
        page.get_by_label("Valid from").fill("2020-01-01")
        page.get_by_label("Currency", exact=True).fill("GBP")
        page.get_by_label("Price per kWh (fixed)").fill("0.2000")
        page.get_by_label("Standing charge per day").fill("0.60")
        page.get_by_role("button", name="Save the tariff").click()
        assert "Tariff offer-fixed saved" in page.locator(".flash").inner_text()
        assert "Other Energy Fixed 12M" in page.locator("table.costs").first.inner_text()
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "energy.png"), full_page=True)
        browser.close()
