"""The woob bridge with the real woob from PyPI, running a woob module against a fake bank website.

woob's modules come from its own repositories, which the tests cannot reach: the module in
woob_modules/fakebank is written as woob's bank modules are (a LoginBrowser, CapBank), and
it is loaded by woob's own module loader (`modules_path`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from connectors.bridges.woob import WoobModule
from connectors.sdk.fields import parse_settings
from connectors.testing.contract import ConnectorContract
from connectors.testing.fakeserver import FakeServer
from daemon import sourcesetup
from daemon.plugins import Registry
from daemon.sources import SourceStore
from daemon.sync.runner import Runner, RunnerSettings
from daemon.vault import RecordIn, Vault
from daemon.vault import records as rec
from daemon.vault.files import FileStore

from ..conftest import ROOT, Daemon, threaded
from ..test_dashboard import csrf, signed_in

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


PDF = b"%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n"
SMS_CODES = ("482913", "105577", "730264")  # the codes the bank texts, in order


def documents(today: date) -> list[dict[str, Any]]:
    return [
        {
            "id": "F2026-11",
            "date": (today - timedelta(days=30)).isoformat(),
            "label": "Facture novembre",
            "type": "bill",
            "amount": "42.99",
            "currency": "EUR",
            "due": (today - timedelta(days=15)).isoformat(),
            "url": "/documents/F2026-11.pdf",
        },
        {
            "id": "N-77",
            "date": (today - timedelta(days=3)).isoformat(),
            "label": "Changement de tarif",
            "type": "notice",
        },
    ]


def bank_site(today: date) -> FakeServer:
    """A bank's website: a password login, an SMS code when the device is not trusted yet and
    `sca` is on (a new code per SMS, a device token once one is right), accounts with their
    history in pages, and a box of documents with a PDF bill."""
    state: dict[str, Any] = {
        "ops": operations(today),
        "docs": documents(today),
        "login": {},
        "sca": False,
        "sms": [],  # (transaction, code) as sent
        "trusted": set(),
        "pdf": PDF,
    }

    async def login(request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("password") != PASSWORD:
            return web.json_response({"message": "Identifiant ou mot de passe incorrect"}, status=401)
        if state["login"]:
            return web.json_response(state["login"])
        if state["sca"] and body.get("device") not in state["trusted"]:
            asked = {"app": {"app_validation": True}, "birthdate": {"otp_required": True, "birthdate": True}}
            return web.json_response(asked.get(state["sca"], {"otp_required": True}))
        resp = web.json_response({"ok": True})
        resp.set_cookie("session", "abc")
        return resp

    async def send_sms(request: web.Request) -> web.Response:
        transaction = f"tx-{len(state['sms']) + 1}"
        state["sms"].append((transaction, SMS_CODES[len(state["sms"]) % len(SMS_CODES)]))
        return web.json_response({"transaction": transaction, "phone": "06 ** ** ** 12"})

    async def check_sms(request: web.Request) -> web.Response:
        body = await request.json()
        if not state["sms"] or (body.get("transaction"), body.get("code")) != state["sms"][-1]:
            return web.json_response({"message": "Code SMS incorrect"}, status=401)
        if state["sca"] == "birthdate" and body.get("birthdate") != "01/02/1980":
            return web.json_response({"message": "Date de naissance incorrecte"}, status=401)
        device = f"device-{len(state['trusted']) + 1}"
        state["trusted"].add(device)
        resp = web.json_response({"device_token": device})
        resp.set_cookie("session", "abc")
        return resp

    async def app_start(request: web.Request) -> web.Response:
        state["app"] = {"transaction": f"app-{len(state['trusted']) + 1}", "validated": False}
        return web.json_response({"transaction": state["app"]["transaction"]})

    async def app_status(request: web.Request) -> web.Response:
        body = await request.json()
        app = state.get("app") or {}
        if body.get("transaction") != app.get("transaction") or not app.get("validated"):
            return web.json_response({"status": "pending"})
        device = f"device-{len(state['trusted']) + 1}"
        state["trusted"].add(device)
        resp = web.json_response({"status": "validated", "device_token": device})
        resp.set_cookie("session", "abc")
        return resp

    async def pdf(request: web.Request) -> web.Response:
        authorised(request)
        return web.Response(body=state["pdf"], content_type="application/pdf")

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

    async def subscriptions(request: web.Request) -> web.Response:
        authorised(request)
        return web.json_response([{"id": "CTR-1", "label": "Contrat Box Fibre", "subscriber": "M. DUPONT"}])

    async def box(request: web.Request) -> web.Response:
        authorised(request)
        return web.json_response(state["docs"])

    app = web.Application()
    app[BANK] = state
    app.router.add_post("/login", login)
    app.router.add_post("/login/otp/send", send_sms)
    app.router.add_post("/login/otp", check_sms)
    app.router.add_post("/login/app/start", app_start)
    app.router.add_post("/login/app/status", app_status)
    app.router.add_get("/accounts", accounts)
    app.router.add_get("/accounts/{id}/history", history)
    app.router.add_get("/subscriptions", subscriptions)
    app.router.add_get("/subscriptions/CTR-1/documents", box)
    app.router.add_get("/documents/F2026-11.pdf", pdf)
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


def logins(site: FakeServer) -> int:
    return sum(1 for r in site.requests if r.path == "/login")


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
        runner = Runner(vault, registry(), settings=RunnerSettings(attempts=3, backoff_base_s=0.01))
        result = await runner.sync("bank", on_event=lambda e: None)
    assert result.run.status == "failed"
    error = result.run.error or ""
    assert "refused the login" in error and "Identifiant ou mot de passe incorrect" in error
    assert "wrong-Pa55word-77" not in error + caplog.text
    source = SourceStore(vault).get("bank")
    assert source.health == "needs_login" and not source.runs_automatically
    # One login: no retry could lock the account
    assert result.attempts == 1 and logins(site) == 1


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ({"otp_required": True}, "asks for a second factor"),  # unattended: no SMS sent
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


async def test_bills_and_documents_with_the_pdf_kept_in_the_vault(vault: Vault, python: Path, tmp_path: Path) -> None:
    today = date.today()
    async with bank_site(today) as site:
        add(vault, python, site.url, capabilities="document")
        first = await Runner(vault, registry()).sync("bank")
        assert first.ok, first.run.error
        (sub,) = rec.iter_records(vault.conn, "bill.subscription", source="bank")
        assert sub.key == "fakebank:CTR-1"
        assert sub.data["label"] == "Contrat Box Fibre" and sub.data["subscriber"] == "M. DUPONT"
        docs = {d.data["document_id"]: d for d in rec.iter_records(vault.conn, "bill.document", source="bank")}
        bill, notice = docs["F2026-11"], docs["N-77"]
        assert bill.data["kind"] == "bill" and bill.data["amount"] == "42.99" and bill.data["currency"] == "EUR"
        assert bill.data["subscription_id"] == "CTR-1" and bill.data["issuer"] == "fakebank"
        assert bill.data["issued_on"] == (today - timedelta(days=30)).isoformat()
        assert bill.data["due_on"] == (today - timedelta(days=15)).isoformat()
        assert bill.data["file_sha256"] == hashlib.sha256(PDF).hexdigest()
        assert bill.data["file_name"] == f"{(today - timedelta(days=30)).isoformat()} Facture novembre.pdf"
        assert notice.data["kind"] == "notice" and notice.data.get("file_sha256") is None
        # The PDF is one of the source's original files, the same bytes back out
        (kept,) = FileStore(vault).list(source="bank")
        assert kept.sha256 == bill.data["file_sha256"] and kept.importer == "woob" and kept.run_id == first.run.id
        FileStore(vault).get(kept.id, tmp_path / "bill.pdf")
        assert (tmp_path / "bill.pdf").read_bytes() == PDF

        again = await Runner(vault, registry()).sync("bank")
        assert again.ok, again.run.error
    # Nothing new, and the PDF kept is not fetched again
    assert (again.run.new, again.run.changed) == (0, 0)
    assert site.count("/documents/") == 1 and len(FileStore(vault).list(source="bank")) == 1


async def test_documents_an_earlier_version_kept_as_woob_document_become_bill_documents(
    vault: Vault, python: Path
) -> None:
    async with bank_site(date.today()) as site:
        add(vault, python, site.url, capabilities="document")
        old = RecordIn("bank", "woob.document", "fakebank:CTR-1:F2026-11", 0, {"id": "F2026-11"}, None)
        with vault.writer.transaction() as conn:
            vault.writer.apply(conn, rec.prepare([old]), None)
        result = await Runner(vault, registry()).sync("bank")
    assert result.ok, result.run.error
    assert result.run.deleted == 1
    assert not list(rec.iter_records(vault.conn, "woob.document", source="bank"))
    assert {r.key for r in rec.iter_records(vault.conn, "bill.document", source="bank")} == {
        "fakebank:CTR-1:F2026-11",
        "fakebank:CTR-1:N-77",
    }
    assert SourceStore(vault).get("bank").state["bill_datasets"] is True


async def test_an_sms_code_asked_at_login_is_answered_once_and_the_device_stays_trusted(
    vault: Vault, python: Path
) -> None:
    reg = registry()
    async with bank_site(date.today()) as site:
        site.app[BANK]["sca"] = True
        add(vault, python, site.url)
        # Unattended: the module does not start the SMS (woob's NeedInteractiveFor2FA)
        unattended = await Runner(vault, reg).sync("bank")
        assert unattended.run.status == "failed" and unattended.health == "needs_action"
        assert unattended.attempts == 1  # not retried: no storm of logins
        assert "selfdata source authorize bank" in (unattended.run.error or "")
        assert site.app[BANK]["sms"] == []
        assert not SourceStore(vault).get("bank").runs_automatically

        # Authorize: a login with someone there; the bank texts a code and asks for it
        question = await sourcesetup.question(vault, reg, "bank")
        assert question is not None and question.id == "otp" and "06 ** ** ** 12" in question.text
        assert len(site.app[BANK]["sms"]) == 1
        await sourcesetup.answer(vault, reg, "bank", question.id, SMS_CODES[0])
        assert "woob_answer" in vault.secrets.names("bank")
        answered = await Runner(vault, reg).sync("bank")
        assert answered.ok, answered.run.error
        assert len(list(rec.iter_records(vault.conn, "bank.transaction", source="bank"))) == 23
        names = vault.secrets.names("bank")
        assert "woob_answer" not in names and "woob_question" not in names and "woob_storage" in names
        assert SMS_CODES[0] not in (vault.secrets.get("bank", "woob_storage") or "")

        # The next scheduled run logs in with the trusted device: no SMS, no question
        later = await Runner(vault, reg).sync("bank")
        assert later.ok, later.run.error
    assert len(site.app[BANK]["sms"]) == 1


async def test_authorize_stopped_before_its_answer_asks_the_same_question_without_a_new_sms(
    vault: Vault, python: Path
) -> None:
    reg = registry()
    async with bank_site(date.today()) as site:
        site.app[BANK]["sca"] = True
        add(vault, python, site.url)
        first = await sourcesetup.question(vault, reg, "bank")
        again = await sourcesetup.question(vault, reg, "bank")  # Ctrl-C at the prompt, then authorize again
        assert first == again and first is not None
        assert len(site.app[BANK]["sms"]) == 1
        await sourcesetup.answer(vault, reg, "bank", first.id, SMS_CODES[0])
        answered = await Runner(vault, reg).sync("bank")
    assert answered.ok, answered.run.error


async def test_a_validation_in_the_bank_app_is_confirmed_through_authorize(vault: Vault, python: Path) -> None:
    reg = registry()
    async with bank_site(date.today()) as site:
        site.app[BANK]["sca"] = "app"
        add(vault, python, site.url)
        question = await sourcesetup.question(vault, reg, "bank")
        assert question is not None and question.confirm_only and "l'application Fakebank" in question.text
        # Confirmed before validating in the app: said, and asked again
        await sourcesetup.answer(vault, reg, "bank", question.id, "")
        early = await Runner(vault, reg).sync("bank")
        assert early.health == "needs_action" and "La demande de validation a expiré" in (early.run.error or "")
        question = await sourcesetup.question(vault, reg, "bank")
        assert question is not None
        site.app[BANK]["app"]["validated"] = True  # the user taps Validate on their phone
        await sourcesetup.answer(vault, reg, "bank", question.id, "")
        done = await Runner(vault, reg).sync("bank")
    assert done.ok, done.run.error


async def test_a_question_of_two_values_is_asked_one_value_after_the_other(vault: Vault, python: Path) -> None:
    reg = registry()
    async with bank_site(date.today()) as site:
        site.app[BANK]["sca"] = "birthdate"
        add(vault, python, site.url)
        code = await sourcesetup.question(vault, reg, "bank")
        assert code is not None and code.id == "otp"
        birthdate = await sourcesetup.answer(vault, reg, "bank", code.id, SMS_CODES[0])
        assert birthdate is not None and birthdate.id == "birthdate" and "Date de naissance" in birthdate.text
        assert await sourcesetup.question(vault, reg, "bank") == birthdate  # the same, no new SMS
        assert await sourcesetup.answer(vault, reg, "bank", birthdate.id, "01/02/1980") is None
        result = await Runner(vault, reg).sync("bank")
    assert result.ok, result.run.error
    assert len(site.app[BANK]["sms"]) == 1


async def test_an_answer_of_the_wrong_form_is_refused_before_the_bank_sees_it(vault: Vault, python: Path) -> None:
    reg = registry()
    async with bank_site(date.today()) as site:
        site.app[BANK]["sca"] = True
        add(vault, python, site.url)
        question = await sourcesetup.question(vault, reg, "bank")
        assert question is not None
        await sourcesetup.answer(vault, reg, "bank", question.id, "12345")  # five digits
        result = await Runner(vault, reg).sync("bank")
    assert result.health == "needs_action" and "the answer does not fit" in (result.run.error or "")
    assert not any(r.path == "/login/otp" for r in site.requests)


async def test_a_file_over_32_mib_is_not_kept_and_the_document_still_is(
    vault: Vault, python: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with bank_site(date.today()) as site:
        site.app[BANK]["pdf"] = PDF + b"%" * (32 * 1024 * 1024)
        add(vault, python, site.url, capabilities="document")
        result = await Runner(vault, registry()).sync("bank")
    assert result.ok, result.run.error
    assert not FileStore(vault).list(source="bank")
    (bill,) = [r for r in rec.iter_records(vault.conn, "bill.document", source="bank") if r.key.endswith("F2026-11")]
    assert bill.data.get("file_sha256") is None
    assert "over the 32 MiB kept" in caplog.text


def cli(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daemon", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,  # no terminal: the hidden prompt reads the code from stdin
    )


@pytest.mark.timeout(240)
def test_selfdata_source_authorize_asks_the_sms_code_and_asks_again_after_a_wrong_one(
    daemon: Daemon, python: Path
) -> None:
    daemon.start()
    with threaded(bank_site(date.today())) as site:
        site.app[BANK]["sca"] = True
        values = {
            "python": str(python),
            "module": "fakebank",
            "config": json.dumps({"url": site.url, "login": "12345678"}),
            "secret_config": json.dumps({"password": PASSWORD}),
            "modules_path": str(MODULES),
            "capabilities": "bank,document",
        }
        sets = [a for k, v in values.items() for a in ("--set", f"{k}={v}")]
        # The password is taken, the bank wants a second factor: saved, and says what to do
        added = daemon.cli("source", "add", "bank", "woob", *sets, "--schedule", "manual")
        assert "Added bank." in added.stdout and "selfdata source authorize bank" in added.stdout
        assert daemon.json("source", "show", "bank")["health"] == "needs_action"
        unattended = cli(daemon.env, "sync", "bank")
        assert unattended.returncode == 1 and "selfdata source authorize bank" in unattended.stderr
        assert site.app[BANK]["sms"] == []

        # A wrong code: said plainly, a new SMS, asked again; the right one logs in and syncs
        out = cli(daemon.env, "source", "authorize", "bank", stdin=f"111111\n{SMS_CODES[1]}\n")
        assert out.returncode == 0, out.stdout + out.stderr
        assert "the website refused the answer (Code SMS incorrect)" in out.stderr
        assert "bank: logged in;" in out.stdout
        assert [code for _, code in site.app[BANK]["sms"]] == list(SMS_CODES[:2])
        shown = daemon.json("source", "show", "bank")
        assert shown["health"] == "ok" and "woob_answer" not in shown["secrets"]
        assert "111111" not in out.stdout + out.stderr and SMS_CODES[1] not in out.stdout + out.stderr
        assert daemon.json("files", "list", "--source", "bank")[0]["name"].endswith("Facture novembre.pdf")

        # Three wrong codes: three SMS, then it stops and says what to do
        site.app[BANK]["trusted"].clear()
        refused = cli(daemon.env, "source", "authorize", "bank", stdin="000000\n000000\n000000\n000000\n")
        assert refused.returncode == 1 and refused.stderr.count("refused the answer") == 3
        assert len(site.app[BANK]["sms"]) == 2 + 3
        assert "selfdata source authorize bank" in refused.stderr


def add_by_cli(daemon: Daemon, python: Path, url: str) -> None:
    values = {
        "python": str(python),
        "module": "fakebank",
        "config": json.dumps({"url": url, "login": "12345678"}),
        "secret_config": json.dumps({"password": PASSWORD}),
        "modules_path": str(MODULES),
    }
    sets = [a for k, v in values.items() for a in ("--set", f"{k}={v}")]
    daemon.cli("source", "add", "bank", "woob", *sets, "--schedule", "manual", "--no-check")


@pytest.mark.timeout(240)
def test_the_dashboard_asks_the_sms_code_and_runs_the_source_with_it(daemon: Daemon, python: Path) -> None:
    daemon.start()
    base = daemon.json("status")["daemon"]["api_url"]
    with threaded(bank_site(date.today())) as site:
        site.app[BANK]["sca"] = True
        add_by_cli(daemon, python, site.url)
        assert cli(daemon.env, "sync", "bank").returncode == 1
        browser = signed_in(daemon, base)
        _, _, page, _ = browser.request("GET", "/sources/bank")
        assert "Answer the website&#39;s question" in page or "Answer the website's question" in page
        status, _, asked, _ = browser.request("POST", "/sources/bank/question", {"csrf": csrf(page)}, browser.origin())
        assert status == 200 and "Code reçu par SMS au 06 ** ** ** 12" in asked, asked
        assert len(site.app[BANK]["sms"]) == 1
        form = {"csrf": csrf(asked), "question": "otp", "answer": SMS_CODES[0]}
        status, headers, _, _ = browser.request("POST", "/sources/bank/answer", form, browser.origin())
        assert status == 303 and headers["location"] == "/sources/bank"
        deadline = time.monotonic() + 60
        while daemon.json("source", "show", "bank")["health"] != "ok":
            assert time.monotonic() < deadline, daemon.json("source", "show", "bank")
            time.sleep(0.2)
    assert daemon.json("source", "show", "bank")["runs"][0]["status"] == "ok"


class TestWoobContract(ConnectorContract):
    connector = WoobModule
    now = datetime.combine(date.today(), datetime.min.time(), UTC).replace(hour=12)
    min_checkpoints = 2  # after the account's history, after the documents

    @pytest.fixture(autouse=True)
    def _python(self, python: Path) -> None:
        self.python = python

    def vendor(self) -> FakeServer:
        return bank_site(self.now.date())

    def settings(self, vendor: FakeServer) -> dict[str, Any]:
        return {
            "python": str(self.python),
            "module": "fakebank",
            "config": json.dumps({"url": vendor.url, "login": "12345678"}),
            "modules_path": str(MODULES),
            "capabilities": "bank,document",
            "history_days": "60",
        }

    def secrets(self, vendor: FakeServer) -> dict[str, str]:
        return {"secret_config": json.dumps({"password": PASSWORD})}
