"""The health and telecom views in a real Chromium against `selfdata demo`: each renders its
charts and tables from the demo's data, reads without script on a phone, names its controls."""

from __future__ import annotations

import re

import pytest

from .test_dashboard_browser import FLAGS, Demo, chromium, demo  # noqa: F401  (demo: the fixture)

playwright = pytest.importorskip("playwright.sync_api")


@pytest.mark.timeout(240)
def test_the_health_and_telecom_views_show_the_demo_data(demo: Demo) -> None:  # noqa: F811
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=FLAGS)
        page = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="Europe/Paris").new_page()
        page.set_default_timeout(20_000)
        page.goto(demo.link)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Health", exact=True).click()
        assert page.locator("main h1").inner_text() == "Health"
        # the demo's hospital sends heart rate, weight and blood pressure at each visit
        charts = page.locator("main figure svg.chart")
        assert charts.count() >= 3
        labels = [charts.nth(i).get_attribute("aria-label") or "" for i in range(charts.count())]
        assert any(label.startswith("Heart rate:") for label in labels), labels
        bp = next(label for label in labels if label.startswith("Blood pressure"))
        assert " / " in bp  # both components
        assert page.locator("svg.chart circle").count() > 10 and page.locator("svg.chart polyline").count() >= 3
        summary = page.locator("table.health-summary tbody tr")
        assert summary.count() == 6
        heart = summary.filter(has=page.locator("th", has_text=re.compile("^Heart rate$"))).inner_text()
        assert "demo-health" in heart and "No data" not in heart
        assert "No data" in summary.filter(has_text="Sleep").inner_text()
        clinical = page.locator("table.clinical tbody tr")
        assert clinical.count() > 3
        kinds = set(clinical.locator("td:first-child").all_inner_texts())
        assert {"Condition", "MedicationRequest", "Immunization"} <= kinds
        assert all(t for t in clinical.locator("td:nth-child(3)").all_inner_texts())  # each has its date
        page.select_option("#h-days", "365")
        page.get_by_role("button", name="Show").click()
        assert "days=365" in page.url and page.locator("main figure svg.chart").count() >= 3

        page.get_by_role("navigation", name="Main").get_by_role("link", name="Telecom", exact=True).click()
        assert page.locator("main h1").inner_text() == "Telecom"
        calls = page.locator("main figure svg.chart").first
        assert (calls.get_attribute("aria-label") or "").startswith("Calls per day:")
        assert calls.locator("rect").count() > 10
        contacts = page.locator("table.contacts tbody tr")
        assert contacts.count() > 1 and "No calls" not in contacts.first.inner_text()
        numbers = contacts.locator("td:nth-child(2)").all_inner_texts()
        assert len(numbers) == len(set(numbers))  # one row per normalised number
        assert page.locator("table.usage tbody tr").count() >= 1
        assert "no cap set" in page.locator("table.usage").inner_text()
        demo.cli("telecom", "plan", "--cap", "50GB")
        page.reload()
        assert "%" in page.locator("table.usage tbody tr").first.inner_text()
        assert page.locator("main figure svg.chart line[stroke-dasharray]").count() == 1  # the cap
        browser.close()


@pytest.mark.timeout(180)
def test_the_views_read_without_script_on_a_phone(demo: Demo) -> None:  # noqa: F811
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=FLAGS)
        context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844}, is_mobile=True)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(demo.link)
        for path in ("/health", "/telecom", "/health?days=30", "/telecom?days=bogus"):
            page.goto(demo.base + path)
            assert page.locator("main h1").count() == 1 and page.locator("main figure svg.chart").count() >= 1, path
            unnamed = page.evaluate(
                """() => [...document.querySelectorAll('input:not([type=hidden]), select, button, a[href]')]
                    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                                 && !(e.textContent || '').trim() && !e.getAttribute('title'))
                    .map(e => e.outerHTML.slice(0, 80))"""
            )
            assert not unnamed, (path, unnamed)
            wide = page.evaluate(
                """() => [...document.querySelectorAll('main > *')]
                    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && e.tagName !== 'TABLE')
                    .map(e => e.tagName + '.' + e.className)"""
            )
            assert not wide, (path, wide)
        browser.close()
