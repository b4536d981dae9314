"""The Freebox connector against a fake Freebox OS API on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.sdk import AuthFailed, Context, Fatal, Http, InvalidRecord, UserActionNeeded
from connectors.telecom.freebox import Freebox, call_record
from connectors.testing.contract import ConnectorContract
from connectors.testing.fakeserver import FakeServer
from connectors.testing.harness import Outcome, run_connector
from connectors.testing.memory import MemoryStore
from connectors.testing.vendors.freebox import BOX, DEMO_APP_TOKEN, FreeboxState, make_server

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class TestFreeboxContract(ConnectorContract):
    connector = Freebox
    now = NOW

    def vendor(self) -> FakeServer:
        return make_server()

    def settings(self, vendor: FakeServer) -> dict[str, Any]:
        return {"url": vendor.url}

    def secrets(self, vendor: FakeServer) -> dict[str, str]:
        return {"app_token": DEMO_APP_TOKEN}


class FastFreebox(Freebox):
    poll_interval = 0.01
    poll_attempts = 3


def context(
    server: FakeServer, *, token: str | None = DEMO_APP_TOKEN, now: datetime = NOW, saved: dict[str, str] | None = None
) -> Context:
    async def save(name: str, value: str) -> None:
        if saved is not None:
            saved[name] = value

    return Context(
        source="box",
        settings={"url": server.url, "region": "FR", "device_name": "pi"},
        secrets={"app_token": token} if token else {},
        http=Http(),
        now=lambda: now,
        save_secret=save,
    )


async def run(server: FakeServer, state: dict[str, Any] | None = None, **kw: Any) -> Outcome:
    ctx = context(server, **kw)
    try:
        return await run_connector(Freebox(), ctx, state=state)
    finally:
        await ctx.http.close()


def box(server: FakeServer) -> FreeboxState:
    return server.app[BOX]


# Authorisation: the button on the box


async def test_authorization_waits_for_the_button_then_syncs() -> None:
    async with make_server(days=5) as server:
        box(server).auto_grant = False
        saved: dict[str, str] = {}
        ctx = context(server, token=None, saved=saved)
        connector = FastFreebox()
        url = await connector.authorization_url(ctx, "unused")
        track_id = int(url.rsplit("/", 1)[1])
        assert url == f"{server.url}/api/v8/login/authorize/{track_id}"
        # persisted at once: the second step may run in another process
        assert saved == {"track_id": str(track_id), "app_token": ctx.secrets["app_token"]}
        with pytest.raises(UserActionNeeded, match="press the right arrow"):
            await connector.complete_authorization(ctx, "unused", "")
        assert server.count(f"/api/v8/login/authorize/{track_id}") == 3  # bounded polling
        box(server).press(track_id)
        await connector.complete_authorization(ctx, "unused", "")
        out = await run_connector(connector, ctx)
        await ctx.http.close()
    assert any(r.dataset == "telecom.call" for r in out.yielded)


@pytest.mark.parametrize(("accept", "message"), [(False, "refused on the Freebox's screen")])
async def test_refused_on_the_screen_is_auth_failed(accept: bool, message: str) -> None:
    async with make_server(days=1) as server:
        box(server).auto_grant = False
        ctx = context(server, token=None)
        url = await FastFreebox().authorization_url(ctx, "unused")
        box(server).press(int(url.rsplit("/", 1)[1]), accept=accept)
        with pytest.raises(AuthFailed, match=message):
            await FastFreebox().complete_authorization(ctx, "unused", "")
        await ctx.http.close()


async def test_token_not_yet_allowed_asks_for_the_button() -> None:
    async with make_server(days=1) as server:
        box(server).auto_grant = False
        ctx = context(server, token=None)
        await Freebox().authorization_url(ctx, "unused")
        with pytest.raises(UserActionNeeded, match="allow selfdata"):
            await run_connector(Freebox(), ctx)
        await ctx.http.close()


async def test_without_a_token_the_user_is_sent_to_authorize() -> None:
    async with make_server(days=1) as server:
        with pytest.raises(AuthFailed, match="authorise the source first"):
            await run(server, token=None)
        assert server.count("/api/v8/login") == 0


async def test_revoked_token_is_auth_failed_after_one_login() -> None:
    async with make_server(days=1) as server:
        with pytest.raises(AuthFailed, match="revoked"):
            await run(server, token="not-the-token")
        assert box(server).logins == 1


# Sessions


async def test_expired_session_logs_in_again_once() -> None:
    async with make_server(days=10) as server:
        box(server).session_requests = 1  # every session dies after one request
        out = await run(server)
        assert {r.dataset for r in out.yielded} == {"telecom.call", "telecom.usage"}
        assert box(server).logins == 3  # call log, system, connection: each needed a new session


async def test_session_refused_twice_in_a_row_is_auth_failed() -> None:
    async with make_server(days=1) as server:
        box(server).session_requests = 0  # sessions are dead on arrival
        with pytest.raises(AuthFailed, match="just opened"):
            await run(server)
        assert box(server).logins == 2


async def test_a_session_the_box_drops_mid_run_is_replaced_once() -> None:
    async with make_server(days=10) as server:
        box(server).drop_sessions_after(1)  # the call log is read, then the box drops the session
        out = await run(server)
        assert {r.dataset for r in out.yielded} == {"telecom.call", "telecom.usage"}
        assert box(server).logins == 2 and box(server).dropped


async def test_a_fresh_session_refused_as_invalid_is_auth_failed() -> None:
    async with make_server(days=1) as server:
        box(server).drop_sessions_after(0)
        box(server).session_requests = 0  # and the next session is dead on arrival
        with pytest.raises(AuthFailed, match="just opened"):
            await run(server)
        assert box(server).logins == 2, "one new session, not a storm"


async def test_missing_calls_permission_tells_where_to_grant_it() -> None:
    async with make_server(days=1) as server:
        box(server).apps[DEMO_APP_TOKEN].permissions["calls"] = False
        with pytest.raises(UserActionNeeded, match="Gestion des accès"):
            await run(server)


async def test_not_a_freebox() -> None:
    async with make_server(days=1) as server:
        server.fail(200, times=1, path_prefix="/api_version", body='{"api_version": "2.0"}')
        with pytest.raises(Fatal, match="API version 4 or later"):
            await run(server)


# Calls and counters


async def test_calls_map_types_numbers_and_withheld() -> None:
    server = make_server(days=1)
    box(server).calls = [
        {"number": "0612345678", "type": "accepted", "id": 1, "duration": 65, "datetime": 1780300000,
         "contact_id": 1, "line_id": 0, "name": "Marie Martin", "new": True},
        {"number": "01 42 68 53 00", "type": "outgoing", "id": 2, "duration": 3, "datetime": 1780300100,
         "contact_id": 0, "line_id": 0, "name": "01 42 68 53 00", "new": False},
        {"number": "", "type": "missed", "id": 3, "duration": 0, "datetime": 1780300200, "contact_id": 0,
         "line_id": 0, "name": "", "new": True},
        # As Home Assistant's recorded call log: a missed call's duration is how long it rang.
        {"number": "0988290475", "type": "missed", "id": 4, "duration": 15, "datetime": 1780300300,
         "contact_id": 0, "line_id": 0, "name": "0988290475", "new": True},
    ]  # fmt: skip
    async with server:
        out = await run(server)
    calls = {r.key: r.data for r in out.yielded if r.dataset == "telecom.call"}
    assert calls["1-1780300000"] == {
        "direction": "in",
        "number": "+33612345678",
        "name": "Marie Martin",
        "started_at": "2026-06-01T07:46:40+00:00",
        "duration_s": 65,
    }
    assert calls["2-1780300100"]["direction"] == "out" and calls["2-1780300100"]["name"] is None
    assert calls["3-1780300200"]["direction"] == "missed" and calls["3-1780300200"]["number"] is None
    assert (calls["4-1780300300"]["duration_s"], calls["4-1780300300"]["ringing_s"]) == (0, 15)
    assert "ringing_s" not in calls["3-1780300200"] and "ringing_s" not in calls["1-1780300000"]
    assert "new" not in next(r.raw for r in out.yielded if r.key == "1-1780300000")


async def test_next_sync_adds_only_new_calls_and_the_traffic_between() -> None:
    async with make_server(days=10) as server:
        b = box(server)
        b.frozen = True
        first = await run(server)
        last = max(b.calls, key=lambda c: c["id"])
        b.calls.append({**last, "id": last["id"] + 1, "datetime": last["datetime"] + 600, "type": "missed"})
        b.advance(1800)
        ctx = context(server, now=NOW + timedelta(minutes=30))
        second = await run_connector(Freebox(), ctx, state=first.state, store=first.store)
        await ctx.http.close()
    assert [r.key for r in second.yielded if r.dataset == "telecom.call"] == [
        f"{last['id'] + 1}-{last['datetime'] + 600}"
    ]
    [usage] = [r for r in second.yielded if r.dataset == "telecom.usage"]
    assert (usage.data["bytes_up"], usage.data["bytes_down"]) == (b.rate_up * 1800, b.rate_down * 1800)
    assert usage.data["start"] == NOW.isoformat()


async def test_reconnection_resets_counters_without_negative_usage() -> None:
    async with make_server(days=2) as server:
        b = box(server)
        b.frozen = True
        first = await run(server)
        b.advance(600)
        b.reconnect()
        b.advance(60)
        second = await run(server, state=first.state, now=NOW + timedelta(minutes=11))
    [usage] = [r for r in second.yielded if r.dataset == "telecom.usage"]
    assert (usage.data["bytes_up"], usage.data["bytes_down"]) == (b.rate_up * 60, b.rate_down * 60)


async def test_malformed_call_log_stores_nothing() -> None:
    server = make_server(days=1)
    box(server).calls = [{"id": 1, "type": "accepted", "datetime": 1780300000}, {"id": "x", "type": "missed"}]
    async with server:
        ctx = context(server)
        store = MemoryStore()
        with pytest.raises(Fatal, match="entry 1 has no numeric id"):  # newest first: the bad entry is first
            await run_connector(Freebox(), ctx, store=store)
        await ctx.http.close()
    assert store.records == {}


def test_unknown_call_type_is_a_clear_error() -> None:
    with pytest.raises(InvalidRecord, match="type 'forwarded'"):
        call_record({"id": 4, "type": "forwarded", "datetime": 1780300000, "number": "", "region": "FR"})
