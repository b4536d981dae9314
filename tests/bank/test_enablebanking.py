"""The Enable Banking connector against a fake Enable Banking API on loopback."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from connectors.bank.enablebanking import EnableBanking, redirect_parts
from connectors.sdk import (
    AuthFailed,
    Checkpoint,
    ConnectorError,
    Context,
    Fatal,
    Fragment,
    Http,
    Item,
    Retryable,
    UserActionNeeded,
)
from connectors.testing.contract import ConnectorContract
from connectors.testing.fakeserver import FakeServer
from connectors.testing.harness import Outcome, run_connector
from connectors.testing.memory import MemoryStore
from connectors.testing.vendors.enablebanking import FakeEnableBanking, make_key, make_server

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
REDIRECT = "http://127.0.0.1:7350/callback"


@functools.cache
def demo_key() -> bytes:
    return make_key()


def server(**kwargs: Any) -> FakeEnableBanking:
    return make_server(end=NOW, private_key_pem=demo_key(), **kwargs)


class TestEnableBankingContract(ConnectorContract):
    connector = EnableBanking
    now = NOW

    def vendor(self) -> FakeServer:
        return make_server(seed=5, end=NOW, private_key_pem=demo_key())

    def settings(self, vendor: FakeServer) -> dict[str, Any]:
        assert isinstance(vendor, FakeEnableBanking)
        return {
            "application_id": vendor.application_id,
            "aspsp_name": "Demo Bank",
            "aspsp_country": "FI",
            "base_url": vendor.url,
        }

    def secrets(self, vendor: FakeServer) -> dict[str, str]:
        assert isinstance(vendor, FakeEnableBanking)
        return {"private_key": vendor.private_key_pem.decode(), "session_id": vendor.demo_session_id}


def context(fake: FakeEnableBanking, now: datetime = NOW, *, session: bool = True, **settings: Any) -> Context:
    secrets = {"private_key": fake.private_key_pem.decode()}
    if session:
        secrets["session_id"] = fake.demo_session_id
    base = {
        "application_id": fake.application_id,
        "aspsp_name": "Demo Bank",
        "aspsp_country": "FI",
        "base_url": fake.url,
    }
    return Context(source="my-bank", settings={**base, **settings}, secrets=secrets, http=Http(), now=lambda: now)


async def run(
    ctx: Context, state: dict[str, Any] | None = None, store: MemoryStore | None = None, **kw: Any
) -> Outcome:
    try:
        return await run_connector(EnableBanking(), ctx, state=state, store=store, **kw)
    finally:
        await ctx.http.close()


class Recording(EnableBanking):
    def __init__(self) -> None:
        self.last: dict[str, Any] = {}

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        async for item in super().fetch(ctx, state):
            if isinstance(item, Checkpoint):
                self.last = item.state
            yield item


async def failing_run(
    ctx: Context, state: dict[str, Any] | None = None, store: MemoryStore | None = None
) -> tuple[ConnectorError, dict[str, Any]]:
    connector = Recording()
    try:
        await run_connector(connector, ctx, state=state, store=store)
    except ConnectorError as err:
        return err, connector.last
    finally:
        await ctx.http.close()
    raise AssertionError("the run did not fail")


def first_uid(fake: FakeEnableBanking) -> str:
    return next(iter(fake.bank.sessions[fake.demo_session_id].uids))


async def bank_redirect(url: str, **query: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(url, params=query, allow_redirects=False) as resp:
        assert resp.status == 302
        return resp.headers["Location"]


async def test_the_user_consents_in_the_bank_and_the_code_becomes_a_session() -> None:
    async with server() as fake:
        saved: dict[str, str] = {}

        async def save(name: str, value: str) -> None:
            saved[name] = value

        ctx = context(fake, session=False, aspsp_name="nordea", consent_days=365)
        ctx.save_secret = save
        url = await EnableBanking().authorization_url(ctx, REDIRECT)
        await ctx.http.close()
        assert url.startswith(fake.url + "/demo-bank/authorize")
        auth = next(iter(fake.bank.authorizations.values()))
        assert auth["valid_until"] == NOW + timedelta(days=90), "capped by the bank's maximum consent"
        assert auth["redirect_url"] == REDIRECT and auth["state"] == saved["auth_state"]
        redirected = await bank_redirect(url)
        # The second step may run in another process: only the saved secrets carry over.
        later = context(fake, session=False)
        later.secrets["auth_state"] = saved["auth_state"]
        later.save_secret = save
        await EnableBanking().complete_authorization(later, REDIRECT, redirected)
        sid = saved["session_id"]
        assert sid in fake.bank.sessions and sid != fake.demo_session_id
        assert saved["auth_state"] == ""
        out = await run(later)
    assert {r.dataset for r in out.yielded} == {"bank.account", "bank.transaction"}


async def test_a_refused_or_foreign_redirect_creates_no_session() -> None:
    async with server() as fake:
        ctx = context(fake, session=False)
        url = await EnableBanking().authorization_url(ctx, REDIRECT)
        denied = await bank_redirect(url, decision="deny")
        with pytest.raises(UserActionNeeded, match="did not grant access.*selfdata source authorize my-bank"):
            await EnableBanking().complete_authorization(ctx, REDIRECT, denied)
        foreign = (await bank_redirect(url)).replace("state=", "state=x")
        with pytest.raises(Fatal, match="does not belong"):
            await EnableBanking().complete_authorization(ctx, REDIRECT, foreign)
        assert fake.count("/sessions") == 0
        code, _, _ = redirect_parts(await bank_redirect(url))
        assert code is not None
        await EnableBanking().complete_authorization(ctx, REDIRECT, code)  # a bare code works too
        with pytest.raises(UserActionNeeded, match="code was refused"):
            await EnableBanking().complete_authorization(ctx, REDIRECT, code)
        await ctx.http.close()
        assert fake.count("/sessions") == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
            "not an unencrypted PEM private key",
        ),
        (b"just some text\n", "not an unencrypted PEM private key"),
        ("ec", "app.pem holds an EC key, not an RSA key"),
        ("public", "not an unencrypted PEM private key"),
        (None, "cannot read the Enable Banking key file app.pem"),
    ],
)
async def test_a_key_file_that_is_not_an_rsa_key_is_a_clear_error_before_any_request(
    tmp_path: Path, content: bytes | str | None, message: str
) -> None:
    path = tmp_path / "app.pem"
    if content == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
        content = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    elif content == "public":
        rsa_key = serialization.load_pem_private_key(demo_key(), password=None)
        content = rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    if isinstance(content, bytes):
        path.write_bytes(content)
    async with server() as fake:
        for step in ("check", "fetch", "authorize"):
            ctx = context(fake, private_key_file=str(path))
            del ctx.secrets["private_key"]
            with pytest.raises(Fatal, match=message) as err:
                if step == "check":
                    await EnableBanking().check(ctx)
                elif step == "fetch":
                    await run(ctx)
                else:
                    await EnableBanking().authorization_url(ctx, REDIRECT)
            await ctx.http.close()
            assert "BEGIN" not in str(err.value) and str(tmp_path) not in str(err.value)
        assert fake.requests == [], "no request without a usable key"


async def test_a_valid_key_file_works() -> None:
    async with server() as fake:
        ctx = context(fake)
        await EnableBanking().check(ctx)
        await ctx.http.close()


async def test_the_wrong_application_is_auth_failed_after_one_request() -> None:
    async with server() as fake:
        store = MemoryStore()
        with pytest.raises(AuthFailed, match="UNAUTHORIZED_ACCESS.*application_id"):
            await run(context(fake, application_id="someone-else"), store=store)
        assert fake.count() == 1
    assert store.records == {}


async def test_an_expired_consent_asks_the_user_to_renew_it() -> None:
    async with server() as fake:
        until = fake.bank.sessions[fake.demo_session_id].valid_until
        fake.bank.clock = until + timedelta(hours=1)
        store = MemoryStore()
        with pytest.raises(UserActionNeeded) as err:
            await run(context(fake, until + timedelta(hours=1)), store=store)
        assert fake.count() == 1
    assert f"ended on {until.date()}" in str(err.value)
    assert "renew it with: selfdata source authorize my-bank" in str(err.value)
    assert store.records == {}


async def test_a_consent_ending_during_a_sync_asks_the_user_to_renew_it() -> None:
    async with server() as fake:
        body = json.dumps({"code": 401, "message": "Session is expired", "error": "EXPIRED_SESSION"})
        fake.fail(401, body=body, path_prefix="/accounts/")
        with pytest.raises(UserActionNeeded, match="has ended.*EXPIRED_SESSION.*selfdata source authorize my-bank"):
            await run(context(fake))
        assert fake.count("/accounts/") == 1


async def test_the_user_is_warned_before_the_consent_ends() -> None:
    async with server() as fake:
        until = fake.bank.sessions[fake.demo_session_id].valid_until
        soon = until - timedelta(days=10)
        fake.bank.clock = soon
        ctx = context(fake, soon)
        out = await run(ctx)
        assert out.completed
        fake.bank.clock = until - timedelta(days=20)
        quiet = context(fake, until - timedelta(days=20))
        await run(quiet)
    assert ctx.warnings == [
        f"the consent you gave Demo Bank for 'my-bank' ends on {until.date()}; renew it before then with: "
        "selfdata source authorize my-bank"
    ]
    assert quiet.warnings == []


async def test_transactions_are_paged_by_continuation_key_from_date_from() -> None:
    async with server() as fake:
        fake.bank.page_size = 20
        out = await run(context(fake, history_days=200))
        uid = first_uid(fake)
        pages = [r for r in fake.requests if r.path == f"/accounts/{uid}/transactions"]
    expected = sum(
        1 for t in fake.bank.transactions if t.account == "current" and t.day >= NOW.date() - timedelta(days=199)
    )
    assert len(pages) == -(-expected // 20)
    assert {r.query["date_from"] for r in pages} == {(NOW.date() - timedelta(days=199)).isoformat()}
    assert "continuation_key" not in pages[0].query and all("continuation_key" in r.query for r in pages[1:])
    assert out.checkpoints >= len(pages)


async def test_keys_do_not_depend_on_page_boundaries_and_equal_id_less_payments_stay_two() -> None:
    async with server() as fake:
        fake.bank.page_size = 7
        small = await run(context(fake))
        fake.bank.page_size = 500
        large = await run(context(fake))
    assert small.store.view() == large.store.view()
    coffees = [
        k
        for (d, k), (_, data, _) in small.store.records.items()
        if '"amount": "-4.20"' in data and "/h" in k and '"status": "booked"' in data
    ]
    assert len(coffees) == 2 and {c[-2:] for c in coffees} == {"-0", "-1"}


async def test_a_stale_continuation_key_restarts_the_account_once() -> None:
    async with server() as fake:
        fake.bank.page_size = 20
        cut = await run(context(fake), stop_after_checkpoints=2)
        state = json.loads(json.dumps(cut.state))
        state["run"]["cursor"]["continuation_key"] = "c3RhbGU="
        fake.requests.clear()
        done = await run(context(fake), state, cut.store)
        uid = first_uid(fake)
        refused = [r for r in fake.requests if r.path == f"/accounts/{uid}/transactions"][:2]
        whole = await run(context(fake))
    assert done.store.view() == whole.store.view()
    assert refused[0].query["continuation_key"] == "c3RhbGU=" and "continuation_key" not in refused[1].query


async def test_a_bank_that_keeps_less_history_is_read_from_what_it_allows() -> None:
    async with server() as fake:
        fake.bank.history_limit_days = 90
        out = await run(context(fake, history_days=365))
        uid = first_uid(fake)
        pages = [r.query["date_from"] for r in fake.requests if r.path == f"/accounts/{uid}/transactions"]
    assert pages[0] == (NOW.date() - timedelta(days=364)).isoformat()
    assert set(pages[1:]) == {(NOW.date() - timedelta(days=89)).isoformat()}
    assert out.completed


async def test_429_and_5xx_are_retryable_without_a_storm() -> None:
    async with server() as fake:
        fake.fail(429, headers={"Retry-After": "30"}, path_prefix="/accounts/")
        with pytest.raises(Retryable) as err:
            await run(context(fake))
        assert err.value.retry_after == 30
        body = json.dumps({"code": 429, "message": "ASPSP rate limit exceeded", "error": "ASPSP_RATE_LIMIT_EXCEEDED"})
        fake.fail(429, body=body, path_prefix="/accounts/")
        with pytest.raises(Retryable) as daily:
            await run(context(fake))
        assert daily.value.retry_after == 12 * 3600, "PSD2 limits reset at midnight"
        fake.fail(500, path_prefix="/sessions/")
        with pytest.raises(Retryable):
            await run(context(fake))
        assert fake.count("/accounts/") == 2 and fake.count("/sessions/") == 3


async def test_a_malformed_json_page_stores_nothing_of_it_and_the_sync_resumes() -> None:
    async with server() as fake:
        fake.bank.page_size = 20
        whole = await run(context(fake))
        cut = await run(context(fake), stop_after_checkpoints=1)
        committed = dict(cut.store.records)
        fake.requests.clear()
        fake.fail(200, body='{"transactions": [{"entry_reference": "x", "transac', path_prefix="/accounts/")
        err, state = await failing_run(context(fake), cut.state, cut.store)
        assert isinstance(err, Fatal) and "not JSON" in str(err)
        assert fake.count("/accounts/") == 1, "no retry storm"
        assert cut.store.records == committed, "nothing of the bad page was stored"
        done = await run(context(fake), cut.state, cut.store)
    assert done.store.view() == whole.store.view()


async def test_a_transaction_in_another_currency_is_refused_with_nothing_of_its_page_stored() -> None:
    async with server() as fake:
        fake.bank.page_size = 20
        recent = sorted((t for t in fake.bank.transactions if t.account == "current"), key=lambda t: t.day)[-30]
        recent.currency = "USD"
        store = MemoryStore()
        err, state = await failing_run(context(fake), store=store)
        pages = fake.count(f"/accounts/{first_uid(fake)}/transactions")
    assert isinstance(err, Fatal)
    assert "a transaction in USD for account FI" in str(err) and "kept in EUR" in str(err)
    assert "nothing of this page was stored" in str(err)
    assert pages == 2, "the first page was stored, the second refused, no retry"
    stored = [k for (d, k) in store.records if d == "bank.transaction"]
    assert len(stored) == 20 and state["run"]["cursor"]["continuation_key"]


async def test_transactions_without_status_are_counted_logged_once_and_warned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with server() as fake:
        whole = await run(context(fake))
        booked = [t for t in fake.bank.transactions if t.account == "current" and t.status == "BOOK" and t.ref]
        for t in booked[-3:]:
            t.status = None  # the API reference makes `status` required; a bank's answer may lack it
        ctx = context(fake)
        with caplog.at_level("WARNING", logger="selfdata.source.my-bank"):
            out = await run(ctx)
    missing = {k for _, k in whole.store.records} - {k for _, k in out.store.records}
    assert missing == {k for _, k in whole.store.records if k.rsplit("/", 1)[-1] in {t.ref for t in booked[-3:]}}
    assert len(missing) == 3
    warned = [w for w in ctx.warnings if "without a status" in w]
    assert len(warned) == 1 and "3 transactions" in warned[0]
    assert len([r for r in caplog.records if "without a status" in r.getMessage()]) == 1


async def test_pending_transactions_without_ids_are_deleted_once_booked() -> None:
    async with server() as fake:
        first = await run(context(fake))
        pending = {k for (d, k), (_, data, _) in first.store.records.items() if '"status": "pending"' in data}
        assert pending and set(first.state["pending"]) == pending
        booked = fake.bank.book_pending()
        later = await run(context(fake, NOW + timedelta(hours=12)), first.state, first.store)
    keys = {k for _, k in later.store.records}
    assert not pending & keys
    assert len([k for k in keys if any(k.endswith("/" + str(t.ref)) for t in booked)]) == len(booked)
    assert later.state["pending"] == {} and "run" not in later.state


money = st.decimals(min_value=Decimal("0"), max_value=Decimal("1e9"), places=2, allow_nan=False)


@given(amount=money, indicator=st.sampled_from(["DBIT", "CRDT"]))
def test_amounts_take_their_sign_from_the_indicator(amount: Decimal, indicator: str) -> None:
    txn = {
        "transaction_amount": {"amount": str(amount), "currency": "EUR"},
        "credit_debit_indicator": indicator,
        "status": "BOOK",
        "booking_date": "2026-05-02",
    }
    raw = {"account": {"id": "FI00", "currency": "EUR"}, "key": "FI00/x", "transaction": txn}
    record = EnableBanking().normalize(Fragment("bank.transaction", raw))
    assert Decimal(record.data["amount"]) == (-amount if indicator == "DBIT" else amount)
    assert record.data["booked_on"] == "2026-05-02" and record.ts.date() == date(2026, 5, 2)


@given(amount=st.one_of(st.text(max_size=12), st.floats(), st.none(), st.booleans()))
def test_a_bad_amount_is_a_clear_error(amount: Any) -> None:
    txn = {
        "transaction_amount": {"amount": amount, "currency": "EUR"},
        "credit_debit_indicator": "DBIT",
        "status": "BOOK",
        "booking_date": "2026-05-02",
    }
    raw = {"account": {"id": "FI00", "currency": "EUR"}, "key": "FI00/x", "transaction": txn}
    try:
        record = EnableBanking().normalize(Fragment("bank.transaction", raw))
    except Fatal as err:
        assert "amount" in str(err) or "number" in str(err) or "range" in str(err)
    else:
        assert Decimal(record.data["amount"]) == -abs(Decimal(str(amount).strip()))


async def test_stored_vendor_data_renormalizes_to_the_same_records() -> None:
    async with server() as fake:
        out = await run(context(fake))
    assert out.yielded and all(r.raw is not None for r in out.yielded)
    for r in out.yielded:
        again = EnableBanking().normalize(Fragment(r.dataset, r.raw))
        assert (again.dataset, again.key, again.ts, again.data) == (r.dataset, r.key, r.ts, r.data)


async def test_a_revoked_consent_asks_the_user_to_renew_it() -> None:
    async with server() as fake:
        fake.revoke()
        with pytest.raises(UserActionNeeded, match="is revoked; renew it with: selfdata source authorize my-bank"):
            await run(context(fake))
        assert fake.count() == 1


@given(day=st.one_of(st.text(max_size=12), st.integers(), st.none(), st.dates().map(str)))
def test_a_bad_date_is_a_clear_error(day: Any) -> None:
    txn = {
        "transaction_amount": {"amount": "1.00", "currency": "EUR"},
        "credit_debit_indicator": "CRDT",
        "status": "BOOK",
        "booking_date": day,
    }
    raw = {"account": {"id": "FI00", "currency": "EUR"}, "key": "FI00/x", "transaction": txn}
    try:
        record = EnableBanking().normalize(Fragment("bank.transaction", raw))
    except Fatal as err:
        assert "date" in str(err)
    else:
        assert record.data["booked_on"] == str(day)[:10] and record.ts.date().isoformat() == str(day)[:10]
