"""The SimpleFIN Bridge connector against a fake bridge on loopback."""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.bank.simplefin import SimpleFIN, claim_url, parse_access_url
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
from connectors.testing.vendors.simplefin import FakeSimpleFIN, make_server

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ACCOUNTS = "/simplefin/accounts"
SAMPLE = Path("/work/shared/samples/bank/simplefin_account_set.json")


class TestSimpleFINContract(ConnectorContract):
    connector = SimpleFIN
    now = NOW

    def vendor(self) -> FakeServer:
        return make_server(seed=3, end=NOW, days=240)

    def secrets(self, vendor: FakeServer) -> dict[str, str]:
        assert isinstance(vendor, FakeSimpleFIN)
        return {"access_url": vendor.access_url()}


def context(secrets: dict[str, str], now: datetime = NOW, **settings: Any) -> Context:
    saved: dict[str, str] = {}

    async def save(name: str, value: str) -> None:
        saved[name] = value

    ctx = Context(source="my-bank", settings=settings, secrets=dict(secrets), http=Http(), now=lambda: now)
    ctx.save_secret = save
    ctx.saved = saved  # type: ignore[attr-defined]
    return ctx


async def run(ctx: Context, state: dict[str, Any] | None = None, store: MemoryStore | None = None) -> Outcome:
    try:
        return await run_connector(SimpleFIN(), ctx, state=state, store=store)
    finally:
        await ctx.http.close()


class Recording(SimpleFIN):
    """Remembers the state of the last checkpoint, which a failed run leaves committed."""

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
    """Run to the error; returns it with the state the last checkpoint committed."""
    connector = Recording()
    try:
        await run_connector(connector, ctx, state=state, store=store)
    except ConnectorError as err:
        return err, connector.last
    finally:
        await ctx.http.close()
    raise AssertionError("the run did not fail")


def window_params(server: FakeServer) -> list[tuple[int, int, dict[str, str]]]:
    out = []
    for r in server.requests:
        if r.path == ACCOUNTS and "start-date" in r.query:
            out.append((int(r.query["start-date"]), int(r.query["end-date"]), dict(r.query)))
    return out


async def test_setup_token_is_claimed_once_and_kept_as_a_secret() -> None:
    async with make_server(end=NOW) as server:
        token = server.issue_setup_token()
        ctx = context({"setup_token": token})
        first = await run(ctx)
        assert ctx.saved["access_url"] == server.access_url()  # type: ignore[attr-defined]
        assert ctx.saved["setup_token"] == ""  # type: ignore[attr-defined]
        again = context(ctx.secrets)
        await run(again, first.state, first.store)
        assert server.count("/simplefin/claim") == 1
        assert first.store.records
        # The used token written back by mistake is not claimed again; a new token replaces the access.
        await run(context({**ctx.secrets, "setup_token": token}), first.state, first.store)
        assert server.count("/simplefin/claim") == 1
        renewed = context({**ctx.secrets, "setup_token": server.issue_setup_token()})
        await run(renewed, first.state, first.store)
        assert server.count("/simplefin/claim") == 2 and renewed.secrets["setup_token"] == ""


async def test_a_setup_token_claimed_twice_is_refused_clearly() -> None:
    async with make_server(end=NOW) as server:
        token = server.issue_setup_token()
        await run(context({"setup_token": token}))
        store = MemoryStore()
        with pytest.raises(AuthFailed, match="already claimed or is wrong.*someone else"):
            await run(context({"setup_token": token}), store=store)
        assert server.count("/simplefin/claim") == 2
        assert store.records == {}


async def test_windows_of_44_days_with_pending_cover_the_history() -> None:
    async with make_server(end=NOW, days=400) as server:
        out = await run(context({"access_url": server.access_url()}, history_days=365))
        windows = window_params(server)
        assert server.bank.notices == [], "every window is one the Bridge accepts without a notice"
    assert len(windows) == 9
    assert all(0 < stop - start <= 44 * 86400 for start, stop, _ in windows)
    assert all(windows[i][1] == windows[i + 1][0] for i in range(len(windows) - 1)), "windows leave no gap"
    first_day = datetime.combine(NOW.date() - timedelta(days=364), time(), UTC)
    assert windows[0][0] == first_day.timestamp(), "today and the 364 days before"
    assert windows[-1][1] > NOW.timestamp()
    assert all(q["pending"] == "1" and q["version"] == "2" for _, _, q in windows)
    assert out.checkpoints == 10
    assert len(out.state["requests"]) == 9


async def test_the_first_sync_with_default_settings_stores_the_whole_history() -> None:
    """The live Bridge adds a notice to every answer for 45 days or more: it must not stop a sync."""
    async with make_server(end=NOW, days=240) as server:
        out = await run(context({"access_url": server.access_url()}))
        assert server.bank.notices == []
    assert out.completed and "next" not in out.state and out.state["synced_to"] == NOW.date().isoformat()
    first = datetime.combine(NOW.date() - timedelta(days=179), time(), UTC)
    booked = [ts for (dataset, _), (ts, _, _) in out.store.records.items() if dataset == "bank.transaction"]
    assert min(datetime.fromisoformat(ts) for ts in booked) < first + timedelta(days=3)


async def test_range_notices_keep_the_data_and_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    """A Bridge that measures from now (history over 90 days is capped): every old window gets a
    notice; the data of each answer is kept, each notice logged once, and the sync completes."""
    caplog.set_level(logging.INFO, logger="selfdata.source.my-bank")
    async with make_server(end=NOW, days=240) as server:
        server.bank.measure = "reach"
        secrets = {"access_url": server.access_url()}
        out = await run(context(secrets))
        notices = list(server.bank.notices)
        again = await run(context(secrets, NOW + timedelta(hours=6)), out.state, out.store)
    assert len(notices) >= 3 and {n.split(" exceeds ")[1][:5] for n in notices} == {"limit", "recom"}
    assert out.completed and "next" not in out.state
    logged = [r.getMessage() for r in caplog.records if "SimpleFIN Bridge notes" in r.getMessage()]
    assert len(logged) == 2, logged
    assert any("was capped" in m for m in logged) and any("recommended range of 45 days" in m for m in logged)
    ninety = NOW - timedelta(days=90)
    txns = [datetime.fromisoformat(ts) for (d, _), (ts, _, _) in out.store.records.items() if d == "bank.transaction"]
    assert txns and min(txns) >= ninety - timedelta(days=1), "the Bridge served the last 90 days, all kept"
    assert again.completed and again.counts.new == 0


@pytest.mark.parametrize(
    "body",
    [
        {"errlist": [{"code": "gen.api", "msg": "Requested date range exceeds recommended range of 45 days."}]},
        {"errlist": [{"code": "gen.api", "message": "A note for the developer"}]},
        {"errors": ["gen.api: Requested date range exceeds limit of 90 days and was capped."]},
        {"errors": ["Requested date range exceeds recommended range of 45 days. In the future, this may be capped."]},
    ],
)
async def test_notes_for_the_developer_in_any_form_keep_the_answer(body: dict[str, Any]) -> None:
    async with make_server(end=NOW) as server:
        answer = json.dumps({**body, "accounts": whole_accounts(server)})
        server.fail(200, times=10, body=answer, path_prefix=ACCOUNTS)
        out = await run(context({"access_url": server.access_url()}))
    assert out.completed and out.store.records


def whole_accounts(server: FakeSimpleFIN) -> list[dict[str, Any]]:
    return [{**server._account_json(a, v2=False), "transactions": []} for a in server.bank.accounts]


async def test_a_transaction_posted_0_without_pending_is_pending() -> None:
    """The protocol lets a pending transaction leave `pending` out and say `posted: 0`."""
    async with make_server(end=NOW) as server:
        silent = [t for t in server.bank.transactions if t.pending and not t.flagged]
        assert silent and all("pending" not in t.to_json() and t.to_json()["posted"] == 0 for t in silent)
        secrets = {"access_url": server.access_url()}
        first = await run(context(secrets))
        for t in silent:
            _, data, _ = first.store.records[("bank.transaction", f"{t.account}/{t.id}")]
            record = json.loads(data)
            assert record["status"] == "pending" and record.get("booked_on") is None
        server.bank.book_pending()
        later = await run(context(secrets, NOW + timedelta(hours=6)), first.state, first.store)
    assert not {f"{t.account}/{t.id}" for t in silent} & {k for _, k in later.store.records}


async def test_the_daily_request_budget_is_respected_across_syncs() -> None:
    async with make_server(end=NOW, days=400) as server:
        whole = await run(context({"access_url": server.access_url()}, history_days=365))
        server.requests.clear()
        secrets = {"access_url": server.access_url()}
        first = await run(context(secrets, daily_requests=2, history_days=365))
        assert server.count(ACCOUNTS) == 2
        assert "next" in first.state, "the sync stopped where the budget ran out"
        later = await run(context(secrets, NOW + timedelta(hours=3), daily_requests=2), first.state, first.store)
        assert server.count(ACCOUNTS) == 2, "no request while the last 24 hours used the budget"
        assert later.state["next"] == first.state["next"]
        state, store, day = later.state, later.store, 0
        while "next" in state and day < 10:  # 9 windows at 2 a day
            day += 1
            before = server.count(ACCOUNTS)
            out = await run(context(secrets, NOW + timedelta(days=day, hours=1), daily_requests=2), state, store)
            assert server.count(ACCOUNTS) - before <= 2
            state, store = out.state, out.store
        assert day == 4 and server.count(ACCOUNTS) == 2 + 7
        assert state["synced_to"] == (NOW + timedelta(days=4)).date().isoformat()
    assert store.view() == whole.store.view()


async def test_a_revoked_access_url_is_auth_failed_after_one_request() -> None:
    async with make_server(end=NOW) as server:
        server.bank.revoked = True
        store = MemoryStore()
        with pytest.raises(AuthFailed, match="revoked.*selfdata source edit my-bank") as err:
            await run(context({"access_url": server.access_url()}), store=store)
        assert server.count(ACCOUNTS) == 1
    assert store.records == {}
    assert "demo:demo" not in str(err.value)


async def test_the_access_url_never_reaches_a_log_or_an_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    password = "s3cr3t-Pa55w0rd-zq81"
    async with make_server(end=NOW) as server:
        server.bank.credentials["jamie"] = password
        access = server.access_url("jamie", password)
        ctx = context({"access_url": access})
        ctx.log = logging.getLogger("selfdata.source.my-bank")
        out = await run(ctx)
        errors: list[str] = []
        for fault in (403, 500, 429):
            server.fail(fault, headers={"Retry-After": "60"})
            with pytest.raises(ConnectorError) as err:
                await run(context({"access_url": access}))
            errors.append(f"{err.value!r} {err.value.__cause__!r}")
        server.fail(200, body="<html>oops</html>")
        with pytest.raises(Fatal) as bad:
            await run(context({"access_url": access}))
        errors.append(str(bad.value))
    everything = caplog.text + " ".join(errors) + json.dumps(out.state) + repr(ctx)
    assert password not in everything
    assert "jamie:" not in everything


async def test_a_malformed_json_page_stores_nothing_of_it_and_the_sync_resumes() -> None:
    async with make_server(end=NOW, days=400) as server:
        secrets = {"access_url": server.access_url()}
        whole = await run(context(secrets, history_days=365))
        first = await run(context(secrets, daily_requests=1, history_days=365))
        committed = dict(first.store.records)
        server.requests.clear()
        server.fail(200, body='{"errlist": [], "accounts": [{"id": "ACT-1", "transac', path_prefix=ACCOUNTS)
        with pytest.raises(Fatal, match="not JSON"):
            await run(context(secrets, NOW + timedelta(days=1), history_days=365), first.state, first.store)
        assert server.count(ACCOUNTS) == 1, "no retry storm"
        assert first.store.records == committed, "nothing of the bad page was stored"
        done = await run(context(secrets, NOW + timedelta(days=1), history_days=365), first.state, first.store)
    assert done.store.view() == whole.store.view()


async def test_a_transaction_without_an_id_is_a_clear_error_and_nothing_of_its_page_is_stored() -> None:
    async with make_server(end=NOW) as server:
        checking = server.bank.accounts[0]
        fourth = datetime.combine(NOW.date() - timedelta(days=179 - 3 * 44), time(), UTC)  # the 4th window
        victim = next(
            t
            for t in server.bank.transactions
            if t.account == checking.id and fourth.timestamp() + 86400 < t.when() < NOW.timestamp() - 10 * 86400
        )
        victim.id = ""
        store = MemoryStore()
        err, state = await failing_run(context({"access_url": server.access_url()}), store=store)
        assert server.count(ACCOUNTS) == 4, "three windows were read, the fourth refused, no retry"
    assert isinstance(err, Fatal)
    assert re.search(r"without an id \(account 'Everyday Checking', transaction \d+ of \d+\)", str(err))
    txns = [ts for (dataset, _), (ts, _, _) in store.records.items() if dataset == "bank.transaction"]
    assert txns, "the first windows were committed"
    assert all(datetime.fromisoformat(ts) < fourth for ts in txns)
    assert state["next"] == int(fourth.timestamp()), "the next sync starts again at the refused window"


async def test_an_account_whose_currency_changes_is_refused_without_storing() -> None:
    async with make_server(end=NOW) as server:
        secrets = {"access_url": server.access_url()}
        first = await run(context(secrets))
        before = dict(first.store.records)
        server.bank.accounts[0].currency = "EUR"
        with pytest.raises(Fatal, match="now reports account 'Everyday Checking' in EUR, earlier in USD"):
            await run(context(secrets, NOW + timedelta(days=1)), first.state, first.store)
        assert server.count(ACCOUNTS) == 5 + 1
    assert first.store.records == before


@pytest.mark.parametrize(
    ("error", "raised", "stored"),
    [
        ({"code": "gen.auth", "msg": "No credentials provided"}, AuthFailed, False),
        ({"code": "gen.", "msg": "The server is confused"}, Fatal, False),
        (
            {"code": "con.auth", "msg": "Authentication failed for My Bank - Jim", "conn_id": "CON-1"},
            UserActionNeeded,
            True,
        ),
        ({"code": "act.missingdata", "msg": "Incomplete transaction listing", "account_id": "A"}, Retryable, True),
        ({"code": "con.weird", "msg": "Something else"}, Retryable, True),
    ],
)
async def test_errors_reported_in_the_body_map_to_sdk_errors(
    error: dict[str, str], raised: type[ConnectorError], stored: bool
) -> None:
    async with make_server(end=NOW) as server:
        server.bank.errlist.append(error)
        store = MemoryStore()
        with pytest.raises(raised) as err:
            await run(context({"access_url": server.access_url()}), store=store)
        assert server.count(ACCOUNTS) == 1, "no retry storm"
    assert error["msg"] in str(err.value)
    assert bool(store.records) == stored
    if raised is UserActionNeeded:
        assert isinstance(err.value, UserActionNeeded) and err.value.url == server.url


async def test_a_partial_answer_keeps_its_window_for_the_next_sync() -> None:
    async with make_server(end=NOW) as server:
        secrets = {"access_url": server.access_url()}
        whole = await run(context(secrets))
        conn = server.bank.connections[1].conn_id
        server.bank.errlist.append({"code": "con.auth", "msg": "Reconnect Summit", "conn_id": conn})
        store = MemoryStore()
        err, state = await failing_run(context(secrets), store=store)
        assert isinstance(err, UserActionNeeded) and "Reconnect Summit" in str(err)
        assert state["next"] < NOW.timestamp() - 90 * 86400, "the refused window is read again next time"
        server.bank.errlist.clear()
        fixed = await run(context(secrets, NOW + timedelta(hours=6)), state, store)
    assert fixed.store.view() == whole.store.view()


async def test_429_and_5xx_are_retryable_with_the_vendor_delay_and_no_storm() -> None:
    async with make_server(end=NOW) as server:
        server.fail(429, headers={"Retry-After": "120"}, path_prefix=ACCOUNTS)
        with pytest.raises(Retryable) as err:
            await run(context({"access_url": server.access_url()}))
        assert err.value.retry_after == 120
        server.fail(503, path_prefix=ACCOUNTS)
        with pytest.raises(Retryable):
            await run(context({"access_url": server.access_url()}))
        assert server.count(ACCOUNTS) == 2
        server.bank.block_after = 0
        with pytest.raises(Retryable):
            await run(context({"access_url": server.access_url()}))
        assert server.count(ACCOUNTS) == 3


async def test_failed_requests_count_against_the_budget() -> None:
    async with make_server(end=NOW) as server:
        server.fail(500, path_prefix=ACCOUNTS)
        err, state = await failing_run(context({"access_url": server.access_url()}))
    assert isinstance(err, Retryable)
    assert state["requests"] == [int(NOW.timestamp())]


async def test_pending_transactions_are_deleted_once_booked_under_other_ids() -> None:
    async with make_server(end=NOW) as server:
        secrets = {"access_url": server.access_url()}
        first = await run(context(secrets))
        pending = {k for (d, k), (_, data, _) in first.store.records.items() if '"status": "pending"' in data}
        assert len(pending) >= 2
        assert set(first.state["pending"]) == pending
        booked = server.bank.book_pending()
        later = await run(context(secrets, NOW + timedelta(hours=6)), first.state, first.store)
    keys = {k for _, k in later.store.records}
    assert not pending & keys, "every pending record was replaced"
    assert {f"{t.account}/{t.id}" for t in booked} <= keys
    assert later.state["pending"] == {}


async def test_a_pending_transaction_still_listed_is_kept_and_a_vanished_one_expires() -> None:
    async with make_server(end=NOW) as server:
        secrets = {"access_url": server.access_url()}
        first = await run(context(secrets))
        still, gone = [t for t in server.bank.transactions if t.pending][:2]
        server.bank.transactions.remove(gone)  # the authorisation was released
        soon = await run(context(secrets, NOW + timedelta(days=2)), first.state, first.store)
        assert f"{gone.account}/{gone.id}" in soon.state["pending"], "kept until it is old enough"
        late = await run(context(secrets, NOW + timedelta(days=12)), soon.state, soon.store)
    assert ("bank.transaction", f"{still.account}/{still.id}") in late.store.records
    assert ("bank.transaction", f"{gone.account}/{gone.id}") not in late.store.records
    assert f"{still.account}/{still.id}" in late.state["pending"]
    assert f"{gone.account}/{gone.id}" not in late.state["pending"]


def test_access_urls_are_checked_without_repeating_them() -> None:
    access = parse_access_url("https://user123:pass456@bridge.simplefin.org/simplefin")
    assert access.base == "https://bridge.simplefin.org/simplefin"
    assert access.authorization == "Basic " + base64.b64encode(b"user123:pass456").decode()
    assert "pass456" not in repr(access) and "dXNlcjEyMzpwYXNzNDU2" not in repr(access)
    for bad in ("https://bridge.simplefin.org/simplefin", "http://u:p@bridge.simplefin.org/x", "ftp://u:p@h/x"):
        with pytest.raises(Fatal) as err:
            parse_access_url(bad)
        assert "bridge.simplefin.org" not in str(err.value)
    token = "aHR0cHM6Ly9icmlkZ2Uuc2ltcGxlZmluLm9yZy9zaW1wbGVmaW4vY2xhaW0vZGVtbw=="
    assert claim_url(token) == "https://bridge.simplefin.org/simplefin/claim/demo"
    assert claim_url(token.rstrip("=") + "\n") == "https://bridge.simplefin.org/simplefin/claim/demo"
    with pytest.raises(Fatal, match="not a SimpleFIN setup token"):
        claim_url("not a token")


@pytest.mark.skipif(not SAMPLE.exists(), reason="the shared samples are not on this machine")
def test_the_real_account_set_sample_parses() -> None:
    body = json.loads(SAMPLE.read_text())
    page = SimpleFIN().parse(body, {})
    account, txn = page.records
    assert account.data["balance"] == "100.23" and account.data["available_balance"] == "75.23"
    assert account.data["institution"] == "mybank.com"
    assert txn.key == "2930002/12394832938403"
    assert txn.data["amount"] == "-33293.43" and txn.data["counterparty"] == "Uncle Frank"
    assert txn.data["booked_on"] == "1995-02-18" and txn.data["status"] == "booked"


money = st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=2, allow_nan=False)


@given(amount=money)
def test_amounts_are_stored_exactly(amount: Decimal) -> None:
    raw = {"account": {"id": "A", "currency": "USD"}, "transaction": {"id": "T", "posted": 1, "amount": str(amount)}}
    record = SimpleFIN().normalize(Fragment("bank.transaction", raw))
    assert Decimal(record.data["amount"]) == amount


@given(amount=st.one_of(st.text(max_size=12), st.floats(), st.none(), st.lists(st.integers(), max_size=2)))
def test_a_bad_amount_is_a_clear_error(amount: Any) -> None:
    raw = {"account": {"id": "A", "currency": "USD"}, "transaction": {"id": "T", "posted": 1, "amount": amount}}
    try:
        record = SimpleFIN().normalize(Fragment("bank.transaction", raw))
    except Fatal as err:
        assert "amount" in str(err) or "number" in str(err)
    else:
        assert Decimal(record.data["amount"]) == Decimal(str(amount).strip())


async def test_stored_vendor_data_renormalizes_to_the_same_records() -> None:
    async with make_server(end=NOW) as server:
        out = await run(context({"access_url": server.access_url()}))
    assert out.yielded and all(r.raw is not None for r in out.yielded)
    for r in out.yielded:
        again = SimpleFIN().normalize(Fragment(r.dataset, r.raw))
        assert (again.dataset, again.key, again.ts, again.data) == (r.dataset, r.key, r.ts, r.data)


@given(posted=st.one_of(st.integers(), st.floats(), st.text(max_size=12), st.none(), st.booleans()))
def test_a_bad_posted_time_is_a_clear_error(posted: Any) -> None:
    raw = {"account": {"id": "A", "currency": "USD"}, "transaction": {"id": "T", "posted": posted, "amount": "1.00"}}
    try:
        record = SimpleFIN().normalize(Fragment("bank.transaction", raw))
    except Fatal as err:
        assert "posted" in str(err) or "Unix time" in str(err)
    else:
        assert record.ts.timestamp() == int(posted) and record.data["booked_on"] == record.ts.date().isoformat()
