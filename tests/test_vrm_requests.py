"""Requests to organisations: the letters, the legal deadline across month ends and zones, one
reminder per passed deadline through the notification channels, and answers dropped in the
inbox under the request's folder landing as records and marking the request answered."""

from __future__ import annotations

import json
import os
import time
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.testing.generators.greenbutton import electricity_feed
from daemon import plugins
from daemon.config import Config
from daemon.inbox import Inbox
from daemon.services import Services
from daemon.vault import Vault, records
from daemon.vrm import deadlines, directory, letters, reminders
from daemon.vrm.requests import RequestError, RequestStore

from .conftest import Cli


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


@pytest.mark.parametrize(
    ("sent", "zone", "due"),
    [
        ("2026-01-31T10:00:00+01:00", "Europe/Paris", "2026-02-28"),  # no 31 February
        ("2028-01-31T10:00:00+01:00", "Europe/Paris", "2028-02-29"),  # a leap year
        ("2026-03-31T09:00:00+02:00", "Europe/Paris", "2026-04-30"),
        ("2026-01-15T12:00:00+00:00", "UTC", "2026-02-15"),
        ("2026-12-31T12:00:00+00:00", "UTC", "2027-01-31"),  # across a year end
        # 23:30 on 28 February in New York is 1 March in UTC: the user's day counts
        ("2026-02-28T23:30:00-05:00", "America/New_York", "2026-03-28"),
        ("2026-02-28T23:30:00-05:00", "UTC", "2026-04-01"),
        # 00:30 on 1 February in Paris is still 31 January in UTC
        ("2026-02-01T00:30:00+01:00", "Europe/Paris", "2026-03-01"),
        ("2026-02-01T00:30:00+01:00", "UTC", "2026-02-28"),
    ],
)
def test_the_deadline_is_one_month_in_the_users_days(sent: str, zone: str, due: str) -> None:
    assert deadlines.due_on(ms(sent), zone) == date.fromisoformat(due)


def test_the_extension_is_two_more_months_from_receipt_and_a_day_ends_at_local_midnight() -> None:
    sent = ms("2026-01-31T10:00:00+01:00")
    assert deadlines.due_on(sent, "Europe/Paris", extended=True) == date(2026, 4, 30)  # not 28 April
    end = deadlines.end_of(date(2026, 2, 28), "Europe/Paris")
    assert datetime.fromtimestamp(end / 1000, ZoneInfo("Europe/Paris")).isoformat() == "2026-03-01T00:00:00+01:00"
    assert not deadlines.passed(date(2026, 2, 28), "Europe/Paris", end - 1)
    assert deadlines.passed(date(2026, 2, 28), "Europe/Paris", end)


@pytest.mark.parametrize("lang", letters.LANGS)
@pytest.mark.parametrize("kind", letters.KINDS)
def test_every_letter_names_its_articles_and_the_deadline(kind: str, lang: str) -> None:
    details = {"name": "Camille Martin", "reference": "A-1234", "what": "my postal address is 3 rue Neuve"}
    contact = {"email": "dpo@example.org"}
    letter = letters.render(kind, lang, "Example Energy", contact, details, date(2026, 1, 31), date(2026, 2, 28))
    text = letter["text"]
    article = letters.ARTICLE[kind]
    if lang == "en":
        assert f"Article {article}" in letter["subject"] and f"Article {article} " in text
        assert "Article 12(3)" in text and "by 28 February 2026" in text and "two further months" in text
        assert "Date: 31 January 2026" in text
    else:
        assert f"article {article}" in letter["subject"] and f"article {article} " in text
        assert "article 12.3" in text and "jusqu'au 28 février 2026" in text and "deux mois" in text
        assert "Date : 31 janvier 2026" in text
    assert "Camille Martin" in text and "A-1234" in text and "dpo@example.org" in text
    assert "{{" not in text and "{%" not in text
    if kind in ("rectification", "erasure"):
        assert ("Article 19" if lang == "en" else "article 19") in text


def test_the_built_in_directory_cites_every_contact(tmp_path: Path) -> None:
    orgs = directory.load(None)
    assert orgs and all(o.cited.startswith("https://") and (o.email or o.postal or o.web) for o in orgs.values())
    mine = tmp_path / "organisations.toml"
    mine.write_text('[[organisation]]\nid = "edf"\nname = "EDF, my regional office"\nemail = "me@example.org"\n')
    assert directory.load(tmp_path / "config.toml")["edf"].email == "me@example.org"
    mine.write_text('[[organisation]]\nid = "Bad Name"\nname = "x"\n')
    with pytest.raises(directory.DirectoryError, match="organisations.toml, organisation 1: id"):
        directory.load(tmp_path / "config.toml")


def services_for(vault: Vault, tmp_path: Path, **config: Any) -> Services:
    unlocked: Any = SimpleNamespace(master=SimpleNamespace(secrets_key=os.urandom(32)))
    return Services(vault.paths, Config(paths=vault.paths, **config), vault, unlocked, plugins.load())


async def test_a_passed_deadline_is_told_once_through_the_channels(vault: Vault, tmp_path: Path) -> None:
    told = tmp_path / "told.jsonl"
    services = services_for(vault, tmp_path, notify_command=f"cat >> {told}; echo >> {told}")
    store = RequestStore(vault)
    org = directory.load(None)["octopus-energy"]
    req = store.create(org, "access", "en", "Europe/London", {"name": "Sam"})
    store.mark_sent(req.id, ms("2026-01-31T09:00:00+00:00"))
    assert store.get(req.id).deadline() == date(2026, 2, 28)

    before = await reminders.check(services, ms("2026-02-28T23:59:00+00:00"))  # the last day, not over
    assert before["reminded"] == [] and not told.exists()
    after = await reminders.check(services, ms("2026-03-01T00:00:00+00:00"))
    again = await reminders.check(services, ms("2026-03-05T00:00:00+00:00"))
    assert after["reminded"] == [req.id] and again["reminded"] == []
    lines = [json.loads(line) for line in told.read_text().splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0]["kind"] == "request_overdue" and "Octopus Energy" in lines[0]["message"]
    assert "2026-02-28" in lines[0]["message"] and lines[0]["source"] == "octopus-energy"
    noted = vault.conn.execute("SELECT kind, delivered FROM notifications").fetchall()
    assert noted == [("request_overdue", "command")]
    assert [e.kind for e in services.events.recent if e.type == "notification"] == ["request_overdue"]

    # notice of the extension: a new deadline, told once again when it passes
    store.extend(req.id)
    assert store.get(req.id).deadline() == date(2026, 4, 30)
    assert (await reminders.check(services, ms("2026-04-30T12:00:00+01:00")))["reminded"] == []
    assert (await reminders.check(services, ms("2026-05-01T00:00:00+01:00")))["reminded"] == [req.id]
    assert (await reminders.check(services, ms("2026-05-09T00:00:00+01:00")))["reminded"] == []


def test_a_request_refuses_what_it_cannot_be(vault: Vault) -> None:
    store = RequestStore(vault)
    org = directory.load(None)["geredis"]
    with pytest.raises(RequestError, match="kind of request"):
        store.create(org, "complaint", "en", "UTC", {})
    with pytest.raises(RequestError, match="what is wrong"):
        store.create(org, "rectification", "fr", "Europe/Paris", {})
    with pytest.raises(deadlines.ZoneUnknown):
        store.create(org, "access", "fr", "Europe/Pariss", {})
    req = store.create(org, "access", "fr", "Europe/Paris", {})
    with pytest.raises(RequestError, match="future"):
        store.mark_sent(req.id, int(time.time() * 1000) + 86_400_000)
    assert [r.id for r in store.all()] == [req.id] and store.get(req.id).status(0) == "draft"


def wait_for(condition: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError("not done in time")


async def test_an_answer_dropped_in_the_requests_folder_lands_and_answers_it(vault: Vault, tmp_path: Path) -> None:
    services = services_for(vault, tmp_path)
    store = RequestStore(vault)
    older = store.create(directory.load(None)["enedis"], "portability", "fr", "Europe/Paris", {"name": "Camille"})
    other = store.create(directory.load(None)["geredis"], "access", "fr", "Europe/Paris", {})
    store.mark_sent(older.id, int(time.time() * 1000) - 3_600_000)
    inbox = Inbox(vault, services.registry, tmp_path / "inbox", settle_s=0.2, unseen_settle_s=0.2)
    inbox.start()
    try:
        (tmp_path / "inbox" / "enedis").mkdir()
        feed = electricity_feed(tmp_path / "staging.xml", days=2)
        os.rename(feed, tmp_path / "inbox" / "enedis" / "export-enedis.xml")
        wait_for(lambda: any(e.type == "inbox.imported" for e in inbox.events.recent))
    finally:
        assert inbox.stop(10)
    landed = list(records.iter_records(vault.conn, "energy.reading", source="enedis"))
    assert len(landed) == 2 * 96
    result = await reminders.check(services)
    assert result["answered"] == [older.id]
    answered = store.get(older.id)
    assert answered.status(0) == "answered" and answered.answer is not None
    assert answered.answer["source"] == "enedis" and answered.answer["records"] == len(landed)
    assert answered.answer["files"] == ["export-enedis.xml"]
    assert store.get(other.id).status(0) == "draft"  # another folder's answer is not its own
    assert (await reminders.check(services))["answered"] == []  # linked once


def test_the_cli_drafts_sends_and_lists_a_request(initialised: Path, run: Cli) -> None:
    out = run(
        "requests",
        "new",
        "--org",
        "octopus-energy",
        "--kind",
        "access",
        "--name",
        "Sam Doe",
        "--reference",
        "A-77",
        "--zone",
        "Europe/London",
        "--json",
    ).output
    made = json.loads(out)
    assert "Article 15" in made["letter"]["text"] and made["folder"] == "octopus-energy"
    run("requests", "sent", str(made["id"]), "--at", "2026-01-31T18:00:00+00:00")
    shown = run("requests", "show", str(made["id"])).output
    assert "by 28 February 2026" in shown and "dpo@octoenergy.com" in shown
    listed = run("requests", "list").output
    assert "octopus-energy" in listed and "2026-02-28" in listed and "overdue" in listed
    french = json.loads(
        run(
            "requests",
            "new",
            "--to",
            "Ma Banque",
            "--email",
            "dpo@banque.example",
            "--kind",
            "erasure",
            "--lang",
            "fr",
            "--json",
        ).output
    )
    assert "article 17" in french["letter"]["text"] and french["folder"] == "ma-banque"
    assert "octopus-energy" in run("requests", "orgs").output
