"""The woob bridge with the real woob from PyPI, running a woob module against a fake bank website.

woob's modules come from its own repositories, which the tests cannot reach: the module in
woob_modules/fakebank is written as woob's bank modules are (a LoginBrowser, CapBank), and
it is loaded by woob's own module loader (`modules_path`).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from connectors.bridges.woob import WoobModule
from connectors.sdk.fields import parse_settings
from connectors.testing.fakeserver import FakeServer
from daemon.plugins import Registry
from daemon.sources import SourceStore
from daemon.sync.runner import Runner
from daemon.vault import Vault
from daemon.vault import records as rec

MODULES = Path(__file__).with_name("woob_modules")
PASSWORD = "s3cret-Pa55word-42"
PAGE = 5
BANK = web.AppKey("bank", dict)


def operations(today: date) -> list[dict[str, Any]]:
    """Newest first, as bank websites list them: 40 days, two identical coffees on one day, one pending."""
    ops = [
        {
            "date": today.isoformat(),
            "amount": "-54.20",
            "raw": "CB SUPERMARCHE 06/12",
            "label": "Supermarché",
            "coming": True,
        }
    ]
    for i in range(1, 41):
        day = (today - timedelta(days=i * 3)).isoformat()
        ops.append(
            {
                "date": day,
                "amount": f"-{i}.50",
                "raw": f"CB BOULANGERIE {i:02d}",
                "label": "Boulangerie",
                "coming": False,
            }
        )
    twins = (today - timedelta(days=4)).isoformat()
    ops[2:2] = [{"date": twins, "amount": "-2.10", "raw": "CB CAFE DU COIN", "label": "Café", "coming": False}] * 2
    return ops


def bank_site(today: date) -> FakeServer:
    state: dict[str, Any] = {"ops": operations(today), "login": {}, "sessions": set()}

    async def login(request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("password") != PASSWORD:
            return web.json_response({"message": "Identifiant ou mot de passe incorrect"}, status=401)
        if state["login"]:
            return web.json_response(state["login"])
        resp = web.json_response({"ok": True})
        resp.set_cookie("session", "abc")
        return resp

    def authorised(request: web.Request) -> None:
        if request.cookies.get("session") != "abc":
            raise web.HTTPForbidden()

    async def accounts(request: web.Request) -> web.Response:
        authorised(request)
        return web.json_response(
            [
                {
                    "id": "00012345601",
                    "label": "Compte courant",
                    "currency": "EUR",
                    "balance": "1204.56",
                    "iban": "FR7630004000031234567890143",
                    "kind": "checking",
                },
            ]
        )

    async def history(request: web.Request) -> web.Response:
        authorised(request)
        page = int(request.query.get("page", "1"))
        rows = state["ops"][(page - 1) * PAGE : page * PAGE]
        more = page * PAGE < len(state["ops"])
        return web.json_response({"operations": rows, "next": page + 1 if more else None})

    app = web.Application()
    app[BANK] = state
    app.router.add_post("/login", login)
    app.router.add_get("/accounts", accounts)
    app.router.add_get("/accounts/{id}/history", history)
    return FakeServer(app)


@pytest.fixture
def python(woob_venv: Path) -> Path:
    return woob_venv / "bin" / "python"


def add(vault: Vault, python: Path, url: str, password: str = PASSWORD, **extra: Any) -> None:
    values = {
        "python": str(python),
        "module": "fakebank",
        "config": json.dumps({"url": url, "login": "12345678"}),
        "secret_config": json.dumps({"password": password}),
        "modules_path": str(MODULES),
        "history_days": "60",
        **extra,
    }
    settings, secrets = parse_settings(WoobModule.fields, values)
    SourceStore(vault).add("bank", "woob", "connector", settings, secrets)


def registry() -> Registry:
    reg = Registry()
    reg.add(WoobModule, "test")
    return reg


async def test_a_woob_module_fills_accounts_and_history_then_books_the_pending(vault: Vault, python: Path) -> None:
    today = date.today()
    async with bank_site(today) as site:
        add(vault, python, site.url)
        first = await Runner(vault, registry()).sync("bank")
        assert first.ok, first.run.error
        (account,) = rec.iter_records(vault.conn, "bank.account", source="bank")
        assert account.data["balance"] == "1204.56" and account.data["iban"] == "FR7630004000031234567890143"
        txns = list(rec.iter_records(vault.conn, "bank.transaction", source="bank"))
        # 60 days back: the 20 bakery days, two coffees (both kept), and the pending supermarket
        assert len(txns) == 20 + 2 + 1
        coffees = [t for t in txns if t.data["description"] == "CB CAFE DU COIN"]
        assert len(coffees) == 2 and coffees[0].key != coffees[1].key
        (pending,) = [t for t in txns if t.data["status"] == "pending"]
        assert pending.data["amount"] == "-54.20" and pending.data["currency"] == "EUR"
        assert pending.data["counterparty"] == "Supermarché"
        assert "booked_on" not in pending.data or pending.data["booked_on"] is None
        # Most of the 41 pages were not read: the module stopped once past the window
        assert site.count("/accounts/00012345601/history") < 9 + 11

        # The supermarket is booked the next day, with the same text
        site.app[BANK]["ops"][0] = {**site.app[BANK]["ops"][0], "coming": False}
        again = await Runner(vault, registry()).sync("bank")
        assert again.ok, again.run.error
    txns = list(rec.iter_records(vault.conn, "bank.transaction", source="bank"))
    assert len(txns) == 23  # the pending one replaced by the booked one, nothing doubled
    (booked,) = [t for t in txns if t.data["description"] == "CB SUPERMARCHE 06/12"]
    assert booked.data["status"] == "booked" and booked.data["booked_on"] == today.isoformat()
    assert SourceStore(vault).get("bank").state["newest"]["00012345601"] == today.isoformat()


async def test_a_refused_password_stops_automatic_runs_and_is_never_logged(
    vault: Vault, python: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with bank_site(date.today()) as site:
        add(vault, python, site.url, password="wrong-Pa55word-77")
        result = await Runner(vault, registry()).sync("bank", on_event=lambda e: None)
    assert result.run.status == "failed"
    error = result.run.error or ""
    assert "refused the login" in error and "Identifiant ou mot de passe incorrect" in error
    assert "wrong-Pa55word-77" not in error + caplog.text
    assert SourceStore(vault).get("bank").health == "needs_login"


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ({"otp_required": True}, "asks for a second factor"),
        ({"action": "Veuillez accepter les nouvelles conditions"}, "Veuillez accepter les nouvelles conditions"),
    ],
)
async def test_a_bank_asking_for_the_user_says_so(
    vault: Vault, python: Path, answer: dict[str, Any], said: str
) -> None:
    async with bank_site(date.today()) as site:
        site.app[BANK]["login"] = answer
        add(vault, python, site.url)
        result = await Runner(vault, registry()).sync("bank", on_event=lambda e: None)
    assert result.run.status == "failed" and said in (result.run.error or "")
    assert not list(rec.iter_records(vault.conn, "bank.transaction", source="bank"))


async def test_no_woob_or_no_module_is_said_plainly(vault: Vault, python: Path, tmp_path: Path) -> None:
    async with bank_site(date.today()) as site:
        add(vault, python, site.url, module="nosuchbank")
        missing = await Runner(vault, registry()).sync("bank", on_event=lambda e: None)
        assert "nosuchbank could not be loaded" in (missing.run.error or "")
        SourceStore(vault).remove("bank")
        add(vault, Path(sys.executable), site.url)  # selfdata's own Python has no woob
        bare = await Runner(vault, registry()).sync("bank", on_event=lambda e: None)
    assert "woob is not installed in this Python" in (bare.run.error or "")
