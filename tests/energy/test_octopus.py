"""The Octopus Energy connector against the fake Octopus API on loopback."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from croniter import croniter
from hypothesis import given
from hypothesis import strategies as st

from connectors.energy.octopus import OctopusEnergy, meters_from_account, parse_meters
from connectors.sdk import AuthFailed, Context, Fragment, Http, InvalidRecord, Retryable, SettingsError, parse_settings
from connectors.testing.contract import ConnectorContract
from connectors.testing.fakeserver import FakeServer
from connectors.testing.harness import Outcome, run_connector
from connectors.testing.memory import MemoryStore
from connectors.testing.vendors.octopus import (
    DEMO_ACCOUNT,
    DEMO_API_KEY,
    EXPORT_MPAN,
    GAS_MPRN,
    IMPORT_MPAN,
    OCTOPUS,
    make_server,
)

SAMPLES = Path("/work/shared/samples/energy")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")


def context(server: FakeServer, now: datetime = NOW, **given: Any) -> Context:
    values = {"api_key": DEMO_API_KEY, "account_number": DEMO_ACCOUNT, "base_url": server.url, "history_days": 10}
    values.update(given)
    settings, secrets = parse_settings(OctopusEnergy.fields, values)
    return Context(source="octopus", settings=settings, secrets=secrets, http=Http(), now=lambda: now)


async def run(server: FakeServer, now: datetime = NOW, state: Any = None, store: Any = None, **given: Any) -> Outcome:
    ctx = context(server, now, **given)
    try:
        return await run_connector(OctopusEnergy(), ctx, state=state, store=store)
    finally:
        await ctx.http.close()


def readings(out: Outcome, point: str) -> list[Any]:
    return sorted((r for r in out.yielded if r.data["meter_id"] == point), key=lambda r: r.ts)


class TestOctopusContract(ConnectorContract):
    connector = OctopusEnergy
    now = NOW

    def vendor(self) -> FakeServer:
        return make_server(end=NOW, days=40)

    def settings(self, vendor: FakeServer) -> dict[str, Any]:
        return {"base_url": vendor.url, "account_number": DEMO_ACCOUNT, "history_days": 20}

    def secrets(self, vendor: FakeServer) -> dict[str, str]:
        return {"api_key": DEMO_API_KEY}


# --- the shapes of the real API -------------------------------------------------------------

real = pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared samples not present")


@real
def test_meters_come_from_the_account_sample() -> None:
    body = json.loads((SAMPLES / "octopus_account.json").read_text())
    meters = meters_from_account(body)
    assert [(m.kind, m.point, m.serial, m.export) for m in meters] == [
        ("electricity", "1100009640372", "22L4344979", False),
        ("electricity", "1170001806920", "22L4344979", True),
        ("gas", "2112316000", "E6E07422582221", False),
    ]


@real
def test_sample_consumption_pages_normalise_exactly() -> None:
    connector = OctopusEnergy()
    base = {"meter_point": "1100009640372", "serial": "22L4344979", "commodity": "electricity"}
    base |= {"direction": "consumption", "unit": "kWh", "timezone": "Europe/London"}
    out = []
    for page in ("octopus_consumption_paginated_page1.json", "octopus_consumption_paginated_page2.json"):
        body = json.loads((SAMPLES / page).read_text(), parse_float=str)
        out += [connector.normalize(Fragment("energy.reading", {**base, **row})) for row in body["results"]]
    assert [r.data["quantity"] for r in out] == ["0.234", "0.456", "0.789", "0.123"]
    assert out[0].key == "1100009640372:electricity:consumption:2026-03-05T23:30:00Z"
    assert out[0].data["start"] == "2026-03-05T23:30:00+00:00"
    assert out[0].data["end"] == "2026-03-06T00:00:00+00:00"
    assert len({r.key for r in out}) == 4


# --- syncing ----------------------------------------------------------------------------------


async def test_discovers_import_export_and_gas_from_the_account() -> None:
    async with make_server(end=NOW, days=5) as server:
        out = await run(server, history_days=2)
    kinds = Counter((r.data["meter_id"], r.data["commodity"], r.data["direction"], r.data["unit"]) for r in out.yielded)
    assert kinds == {
        (IMPORT_MPAN, "electricity", "consumption", "kWh"): 96,
        (EXPORT_MPAN, "electricity", "production", "kWh"): 96,
        (GAS_MPRN, "gas", "consumption", "m3"): 96,
    }
    assert all(r.ts.tzinfo is not None and r.data["start"] < r.data["end"] for r in out.yielded)


async def test_configured_meters_need_no_account() -> None:
    async with make_server(end=NOW, days=3) as server:
        out = await run(server, account_number=None, meters=f"gas:{GAS_MPRN}:E6E07422582221", gas_unit="kWh")
        assert server.count("/v1/accounts") == 0
    assert {(r.data["meter_id"], r.data["unit"]) for r in out.yielded} == {(GAS_MPRN, "kWh")}


async def test_backfill_then_daily_incremental_from_the_last_interval() -> None:
    async with make_server(end=NOW + timedelta(days=1), days=20) as server:
        data = server.app[OCTOPUS]
        data.available_until = NOW
        first = await run(server, history_days=10)
        assert first.counts.new == 3 * 10 * 48
        assert first.state["meters"][f"electricity:{IMPORT_MPAN}:22L4344979"] == NOW.isoformat()
        data.available_until = NOW + timedelta(days=1)
        before = server.count("/v1/electricity-meter-points")
        second = await run(server, NOW + timedelta(days=1), state=first.state, store=first.store, history_days=10)
        asked = {r.query.get("period_from") for r in server.requests[-4:]}
    assert (second.counts.new, second.counts.changed) == (3 * 48, 0)
    assert second.counts.unchanged == 3 * 7 * 48  # the lookback window, re-read
    assert server.count("/v1/electricity-meter-points") - before == 3  # import, its old serial, export
    # From the last stored interval minus the 7-day lookback; the old serial, with none, from history.
    assert asked == {"2026-05-25T12:00:00Z", "2026-05-23T12:00:00Z"}


async def test_late_and_revised_readings_update_without_duplicates() -> None:
    async with make_server(end=NOW + timedelta(days=1), days=20) as server:
        data = server.app[OCTOPUS]
        data.available_until = NOW
        late = NOW - timedelta(days=2)
        data.hide(IMPORT_MPAN, late, late + timedelta(hours=3))  # six half hours not yet sent
        first = await run(server, history_days=10)
        revised_at = NOW - timedelta(days=3, hours=5)
        old = data.value(data.meters[1], revised_at)
        data.release()
        data.revise(IMPORT_MPAN, revised_at, 9.876)
        data.available_until = NOW + timedelta(days=1)
        second = await run(server, NOW + timedelta(days=1), state=first.state, store=first.store, history_days=10)
    assert (second.counts.new, second.counts.changed) == (6 + 3 * 48, 1)
    key = f"{IMPORT_MPAN}:electricity:consumption:{revised_at.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    stored = json.loads(second.store.records[("energy.reading", key)][1])
    assert old != 9.876
    assert stored["quantity"] == "9.876"
    assert len(second.store.records) == 3 * 11 * 48


async def test_one_malformed_reading_is_skipped_counted_and_warned_the_rest_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with make_server(end=NOW, days=5) as server:
        data = server.app[OCTOPUS]
        bad = [NOW - timedelta(days=2, hours=h) for h in (3, 5)]
        for at in bad:
            data.malform(IMPORT_MPAN, at)
        ctx = context(server, history_days=3, page_size=40)
        with caplog.at_level("WARNING", logger="selfdata.source.octopus"):
            out = await run_connector(OctopusEnergy(), ctx)
        await ctx.http.close()
    assert out.completed
    imports = [r for r in out.yielded if r.data["meter_id"] == IMPORT_MPAN]
    assert len(imports) == 3 * 48 - 2 and not {r.ts for r in imports} & set(bad)
    assert len([r for r in out.yielded if r.data["meter_id"] == EXPORT_MPAN]) == 3 * 48
    assert len(ctx.warnings) == 1 and "2 readings" in ctx.warnings[0] and "ends before it starts" in ctx.warnings[0]
    logged = [r for r in caplog.records if "ends before it starts" in r.getMessage()]
    assert len(logged) == 1, "logged once, not once per reading"
    assert out.state["meters"][f"electricity:{IMPORT_MPAN}:22L4344979"] == "2026-06-01T12:00:00+00:00"


async def test_a_revision_older_than_the_lookback_is_not_seen() -> None:
    async with make_server(end=NOW + timedelta(days=1), days=20) as server:
        data = server.app[OCTOPUS]
        data.available_until = NOW
        first = await run(server, history_days=10)
        data.revise(IMPORT_MPAN, NOW - timedelta(days=9), 5.0)
        data.available_until = NOW + timedelta(days=1)
        second = await run(server, NOW + timedelta(days=1), state=first.state, store=first.store, lookback_days=2)
    assert second.counts.changed == 0


async def test_paging_follows_next_and_checkpoints_each_page() -> None:
    async with make_server(end=NOW, days=10) as server:
        out = await run(server, history_days=5, page_size=100, meters=f"electricity:{IMPORT_MPAN}:22L4344979")
        pages = server.count(f"/v1/electricity-meter-points/{IMPORT_MPAN}")
    assert len(out.yielded) == 5 * 48
    assert pages == out.checkpoints == 3
    assert len({r.key for r in out.yielded}) == 240


async def test_next_is_followed_on_the_configured_host_only() -> None:
    async def page(request: web.Request) -> web.Response:
        n = int(request.query.get("page", "1"))
        row = {
            "consumption": 0.5,
            "interval_start": f"2026-05-31T0{n}:00:00Z",
            "interval_end": f"2026-05-31T0{n}:30:00Z",
        }
        nxt = f"https://evil.example{request.path}?page=2" if n == 1 else None
        return web.json_response({"count": 2, "next": nxt, "previous": None, "results": [row]})

    app = web.Application()
    app.router.add_get("/v1/electricity-meter-points/{p}/meters/{s}/consumption/", page)
    async with FakeServer(app) as server:
        out = await run(server, account_number=None, meters=f"electricity:{IMPORT_MPAN}:X1")
        assert server.count("/v1/") == 2
    assert [r.data["quantity"] for r in out.yielded] == ["0.5", "0.5"]


async def test_429_is_retryable_with_its_retry_after_and_5xx_too() -> None:
    async with make_server(end=NOW, days=3) as server:
        server.fail(429, headers={"Retry-After": "120"}, path_prefix="/v1/electricity")
        with pytest.raises(Retryable) as err:
            await run(server, history_days=1)
        assert err.value.retry_after == 120
        server.fail(503, path_prefix="/v1/accounts")
        with pytest.raises(Retryable):
            await run(server, history_days=1)


async def test_a_wrong_key_is_auth_failed_after_one_request() -> None:
    async with make_server(end=NOW, days=3) as server:
        with pytest.raises(AuthFailed):
            await run(server, api_key="sk_live_wrong")
        assert len(server.requests) == 1


async def test_a_resumed_backfill_restarts_from_its_checkpoint() -> None:
    async with make_server(end=NOW, days=10) as server:
        ctx = context(server, history_days=5, page_size=60)
        cut = await run_connector(OctopusEnergy(), ctx, stop_after_checkpoints=3)
        await ctx.http.close()
        resumed = await run(server, state=cut.state, store=cut.store, history_days=5, page_size=60)
    assert not cut.completed and resumed.completed
    assert len(resumed.store.records) == 3 * 5 * 48


# --- times, units, settings -----------------------------------------------------------------


@pytest.mark.parametrize(("day", "count"), [(date(2026, 3, 29), 46), (date(2025, 10, 26), 50)])
async def test_dst_days_in_london(day: date, count: int) -> None:
    now = datetime.combine(day + timedelta(days=2), datetime.min.time(), UTC)
    async with make_server(end=now, days=5) as server:
        out = await run(server, now, history_days=4, meters=f"electricity:{IMPORT_MPAN}:22L4344979")
    local = [r for r in out.yielded if r.ts.astimezone(LONDON).date() == day]
    assert len(local) == count
    offsets = Counter(r.data["start"][-6:] for r in local)
    assert set(offsets) == {"+00:00", "+01:00"}
    starts = [datetime.fromisoformat(r.data["start"]) for r in local]
    assert all(b - a == timedelta(minutes=30) for a, b in zip(starts, starts[1:], strict=False))


async def test_utc_setting_changes_offsets_not_keys() -> None:
    async with make_server(end=NOW, days=3) as server:
        london = await run(server, history_days=1, meters=f"electricity:{IMPORT_MPAN}:22L4344979")
        utc = await run(server, history_days=1, meters=f"electricity:{IMPORT_MPAN}:22L4344979", timezone="UTC")
    assert [r.key for r in london.yielded] == [r.key for r in utc.yielded]
    assert london.yielded[0].data["start"].endswith("+01:00")
    assert utc.yielded[0].data["start"].endswith("+00:00")


def test_settings_are_checked() -> None:
    with pytest.raises(SettingsError, match="page_size"):
        parse_settings(OctopusEnergy.fields, {"api_key": "k", "page_size": 30000})
    with pytest.raises(SettingsError, match="meters"):
        parse_settings(OctopusEnergy.fields, {"api_key": "k", "meters": "gas:123"})
    with pytest.raises(SettingsError, match="timezone"):
        parse_settings(OctopusEnergy.fields, {"api_key": "k", "timezone": "London"})
    assert parse_meters("electricity-export:1170001806920:22L4344979")[0].export


def test_schedule_avoids_the_hour_and_the_half_hour() -> None:
    runs = croniter(OctopusEnergy.schedule, datetime(2026, 1, 1, tzinfo=UTC))
    minutes = {runs.get_next(datetime).minute for _ in range(50)}
    assert minutes and not minutes & {0, 30}


def test_an_absurd_interval_is_refused() -> None:
    raw = {"meter_point": "1", "serial": "s", "commodity": "electricity", "direction": "consumption"}
    raw |= {"unit": "kWh", "timezone": "UTC", "consumption": "0.2"}
    raw |= {"interval_start": "2026-05-01T10:00:00Z", "interval_end": "2026-05-01T10:00:00Z"}
    with pytest.raises(InvalidRecord, match="absurd interval"):
        OctopusEnergy().normalize(Fragment("energy.reading", raw))


@given(number=st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=0, max_value=10**6))
def test_consumption_is_never_a_float_on_the_way(number: Decimal) -> None:
    body = json.dumps({"consumption": float(number)}).encode()
    text = json.loads(body, parse_float=str)["consumption"]
    raw = {"meter_point": "1", "serial": "s", "commodity": "electricity", "direction": "consumption"}
    raw |= {"unit": "kWh", "timezone": "UTC", "consumption": str(text)}
    raw |= {"interval_start": "2026-05-01T10:00:00Z", "interval_end": "2026-05-01T10:30:00Z"}
    rec = OctopusEnergy().normalize(Fragment("energy.reading", raw))
    assert Decimal(rec.data["quantity"]) == number


async def test_store_holds_each_interval_once_after_many_syncs() -> None:
    store = MemoryStore()
    state: dict[str, Any] = {}
    async with make_server(end=NOW, days=6) as server:
        for day in range(3):
            now = NOW - timedelta(days=2 - day)
            server.app[OCTOPUS].available_until = now
            out = await run(server, now, state=state, store=store, history_days=3, lookback_days=2)
            state = out.state
    assert len(store.records) == 3 * 5 * 48
