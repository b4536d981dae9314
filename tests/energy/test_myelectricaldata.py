"""The Enedis Linky connector (MyElectricalData gateway) against the fake gateway on loopback."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from croniter import croniter
from hypothesis import given
from hypothesis import strategies as st

from connectors.energy.myelectricaldata import SERIES, MyElectricalData, window_readings
from connectors.energy.units import kwh_from_average_watts
from connectors.sdk import (
    AuthFailed,
    Checkpoint,
    Context,
    Fatal,
    Fragment,
    Http,
    InvalidRecord,
    Record,
    Retryable,
    parse_settings,
)
from connectors.sdk.pipeline import to_records
from connectors.testing.contract import ConnectorContract
from connectors.testing.fakeserver import FakeServer
from connectors.testing.harness import Outcome, run_connector
from connectors.testing.vendors.myelectricaldata import DEMO_PDL, DEMO_TOKEN, GATEWAY, make_server

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TODAY = date(2026, 6, 1)
CURVE = SERIES[1]


def context(server: FakeServer, now: datetime = NOW, **given: Any) -> Context:
    values = {"usage_point_id": DEMO_PDL, "token": DEMO_TOKEN, "base_url": server.url, "history_days": 10}
    values.update(given)
    settings, secrets = parse_settings(MyElectricalData.fields, values)
    return Context(source="linky", settings=settings, secrets=secrets, http=Http(), now=lambda: now)


async def run(server: FakeServer, now: datetime = NOW, state: Any = None, store: Any = None, **given: Any) -> Outcome:
    ctx = context(server, now, **given)
    try:
        return await run_connector(MyElectricalData(), ctx, state=state, store=store)
    finally:
        await ctx.http.close()


async def drive(ctx: Context, state: dict[str, Any]) -> tuple[list[Record], dict[str, Any], Exception | None]:
    """Run until the end or an error, keeping what the last checkpoint covered, as the runner does."""
    connector = MyElectricalData()
    committed: list[Record] = []
    pending: list[Record] = []
    try:
        async for item in connector.fetch(ctx, state):
            if isinstance(item, Checkpoint):
                committed += pending
                pending, state = [], item.state
            else:
                assert isinstance(item, Fragment)
                pending += to_records(connector, item)
    except Exception as err:  # the error the runner would see
        return committed, state, err
    return committed + pending, state, None


def curve_paths(server: FakeServer) -> list[str]:
    return [r.path for r in server.requests if "load_curve" in r.path]


class TestMyElectricalDataContract(ConnectorContract):
    connector = MyElectricalData
    now = NOW

    def vendor(self) -> FakeServer:
        return make_server(today=TODAY, days=60, production=True)

    def settings(self, vendor: FakeServer) -> dict[str, Any]:
        return {"usage_point_id": DEMO_PDL, "base_url": vendor.url, "history_days": 16, "production": True}

    def secrets(self, vendor: FakeServer) -> dict[str, str]:
        return {"token": DEMO_TOKEN}


# --- what is stored -----------------------------------------------------------------------


async def test_daily_energy_and_load_curve_agree() -> None:
    async with make_server(today=TODAY, days=30) as server:
        out = await run(server, history_days=5)
    daily = {r.data["start"][:10]: Decimal(r.data["quantity"]) for r in out.yielded if r.data["resolution"] == "P1D"}
    curve: Counter[str] = Counter()
    for r in out.yielded:
        if r.data["resolution"] == "PT30M":
            curve[r.data["start"][:10]] += Decimal(r.data["quantity"])  # type: ignore[assignment]
    assert sorted(daily) == ["2026-05-27", "2026-05-28", "2026-05-29", "2026-05-30", "2026-05-31"]
    for day, kwh in daily.items():
        assert abs(Decimal(curve[day]) - kwh) <= Decimal("0.001"), day
    assert {r.data["unit"] for r in out.yielded} == {"kWh"}
    assert all(r.data["meter_id"] == DEMO_PDL for r in out.yielded)


def test_average_watts_become_kwh_over_the_interval() -> None:
    body = {
        "meter_reading": {
            "reading_type": {"measurement_kind": "power", "unit": "W", "aggregate": "average"},
            "interval_reading": [
                {"value": "1344", "date": "2023-03-01 00:30:00", "interval_length": "PT30M", "measure_type": "B"},
                {"value": "1000", "date": "2023-03-01 00:40:00", "interval_length": "PT10M", "measure_type": "C"},
                {"value": "600", "date": "2023-03-01 01:40:00", "interval_length": "PT60M", "measure_type": "E"},
            ],
        }
    }
    recs = [MyElectricalData().normalize(Fragment("energy.reading", raw)) for raw in window_readings(CURVE, "1", body)]
    assert [r.data["quantity"] for r in recs] == ["0.672", "0.166666667", "0.6"]
    assert [r.data["quality"] for r in recs] == ["actual", "revised", "estimated"]
    assert recs[0].data["start"] == "2023-03-01T00:00:00+01:00"
    assert recs[0].data["end"] == "2023-03-01T00:30:00+01:00"
    assert recs[0].key == "1:electricity:consumption:2023-02-28T23:00:00Z"


async def test_daily_and_curve_keys_do_not_collide() -> None:
    async with make_server(today=TODAY, days=30) as server:
        out = await run(server, history_days=2)
    keys = [r.key for r in out.yielded]
    assert len(keys) == len(set(keys)) == 2 + 2 * 48
    assert f"{DEMO_PDL}:electricity:consumption:2026-05-29T22:00:00Z/P1D" in keys
    assert f"{DEMO_PDL}:electricity:consumption:2026-05-29T22:00:00Z" in keys


async def test_production_where_the_meter_has_it() -> None:
    async with make_server(today=TODAY, days=30, production=True) as server:
        out = await run(server, history_days=3, production=True)
        before = server.count("/daily_production") + server.count("/production_load_curve")
        without = await run(server, history_days=3)
        assert server.count("/daily_production") + server.count("/production_load_curve") == before
    made = [r for r in out.yielded if r.data["direction"] == "production"]
    assert len(made) == 3 + 3 * 48
    assert any(Decimal(r.data["quantity"]) > 0 for r in made)
    assert {r.data["direction"] for r in without.yielded} == {"consumption"}


async def test_a_meter_without_production_yields_none() -> None:
    async with make_server(today=TODAY, days=30, production=False) as server:
        out = await run(server, history_days=3, production=True)
    assert {r.data["direction"] for r in out.yielded} == {"consumption"}


async def test_no_load_curve_when_turned_off() -> None:
    async with make_server(today=TODAY, days=30) as server:
        out = await run(server, history_days=3, load_curve=False)
        assert not curve_paths(server)
    assert {r.data["resolution"] for r in out.yielded} == {"P1D"}


# --- windows, history, cache, quota ----------------------------------------------------------


async def test_load_curve_is_windowed_seven_days_at_most() -> None:
    async with make_server(today=TODAY, days=60) as server:
        out = await run(server, history_days=30)
        paths = curve_paths(server)
    spans = [(date.fromisoformat(p.split("/")[6]) - date.fromisoformat(p.split("/")[4])).days for p in paths]
    assert spans == [7, 7, 7, 7, 2]
    assert len([r for r in out.yielded if r.data["resolution"] == "PT30M"]) == 30 * 48
    assert out.checkpoints == 1 + 5


async def test_history_is_clamped_to_what_enedis_keeps() -> None:
    async with make_server(today=TODAY, days=1200) as server:
        ctx = context(server, history_days=1095)
        cut = await run_connector(MyElectricalData(), ctx, stop_after_checkpoints=2)
        await ctx.http.close()
        first_daily, first_curve = [p for p in (r.path for r in server.requests) if "/start/" in p][:2]
    assert "/start/2023-06-02/" in first_daily  # 1095 days back
    assert "/start/2024-06-01/" in first_curve  # 730 days back
    assert not cut.completed


async def test_settled_windows_come_from_the_cache_recent_ones_live() -> None:
    async with make_server(today=TODAY, days=60) as server:
        data = server.app[GATEWAY]
        await run(server, history_days=14, lookback_days=3)
        cache = [r.path for r in server.requests if r.path.endswith("/cache")]
        live = [r.path for r in server.requests if "/start/" in r.path and not r.path.endswith("/cache")]
    assert data.cache_calls == len(cache) == 1  # the first load-curve week
    assert live and all(p.split("/")[6] > "2026-05-28" for p in live)


async def test_corrections_inside_the_lookback_update_the_record() -> None:
    async with make_server(today=TODAY, days=60) as server:
        data = server.app[GATEWAY]
        first = await run(server, history_days=10)
        end = datetime(2026, 5, 31, 18, 30, tzinfo=PARIS).astimezone(UTC)
        data.revise("consumption", end, 4000)
        data.today = TODAY + timedelta(days=1)
        later = NOW + timedelta(days=1)
        second = await run(server, later, state=first.state, store=first.store, history_days=10)
    # The corrected half hour and its day's total; one new day of each.
    assert (second.counts.changed, second.counts.new) == (2, 1 + 48)
    key = f"{DEMO_PDL}:electricity:consumption:2026-05-31T16:00:00Z"
    assert json.loads(second.store.records[("energy.reading", key)][1])["quantity"] == "2"  # 4000 W for 30 min


async def test_throttled_live_window_falls_back_to_the_cache_once() -> None:
    async with make_server(today=TODAY, days=30) as server:
        server.fail(429, times=1, headers={"Retry-After": "30"}, path_prefix="/daily_consumption")
        out = await run(server, history_days=2, load_curve=False)
        assert server.app[GATEWAY].cache_calls == 1
    assert len(out.yielded) == 2


async def test_throttled_everywhere_is_retryable_with_next_access_time() -> None:
    body = json.dumps({"detail": '{"code":"900804","nextAccessTime":"2026-Jun-01 12:10:00+0000 UTC"}'})
    async with make_server(today=TODAY, days=30) as server:
        server.fail(429, times=2, body=body, path_prefix="/daily_consumption")
        with pytest.raises(Retryable) as err:
            await run(server, history_days=2)
    assert err.value.retry_after == 600


async def test_a_quota_spent_mid_sync_waits_for_the_reset_and_resumes_where_it_stopped() -> None:
    """Another tool spent the quota meanwhile: the gateway answers 409 to a data call."""
    async with make_server(today=TODAY, days=60) as server:
        ctx = context(server, history_days=30, use_cache=False)
        server.fail(409, times=1, body='{"detail": "quota"}', path_prefix="/consumption_load_curve/")
        done, state, err = await drive(ctx, {})
        assert isinstance(err, Retryable)
        reset = datetime.combine(TODAY, datetime.max.time(), PARIS)  # the gateway's quota_reset_at
        assert err.retry_after == pytest.approx((reset - NOW).total_seconds(), abs=1)
        assert len(done) == 30  # the daily values; the refused week is not marked read
        rest, state, err = await drive(ctx, state)
        await ctx.http.close()
    assert err is None
    assert len({r.key for r in done + rest}) == 30 + 30 * 48
    assert [p.split("/")[4] for p in curve_paths(server)] == [
        "2026-05-02",
        "2026-05-02",
        "2026-05-09",
        "2026-05-16",
        "2026-05-23",
        "2026-05-30",
    ]


def spent(server: FakeServer, calls: int = 50) -> None:
    data = server.app[GATEWAY]
    data.counted[(data.today, False)] = calls


async def test_a_spent_quota_is_retryable_at_the_reset_not_an_expired_consent() -> None:
    """The gateway's answer for a spent quota says `valid: false` (myelectricaldatapy's recorded
    answer): it is not a consent to renew, and the source is not parked as needing a login."""
    async with make_server(today=TODAY, days=30) as server:
        spent(server)
        with pytest.raises(Retryable, match="dépassé votre quota journalier") as err:
            await run(server)
        assert len(server.requests) == 1, "no data call once the gateway says the quota is spent"
    reset = datetime.combine(TODAY, datetime.max.time(), PARIS)
    assert err.value.retry_after == pytest.approx((reset - NOW).total_seconds(), abs=1)


async def test_a_first_sync_with_default_settings_is_spread_over_days_and_said_in_status() -> None:
    async with make_server(today=TODAY, days=800) as server:
        data = server.app[GATEWAY]
        given = {"usage_point_id": DEMO_PDL, "token": DEMO_TOKEN, "base_url": server.url}
        settings, secrets = parse_settings(MyElectricalData.fields, given)
        said: list[str] = []
        state: dict[str, Any] = {}
        stored: list[Record] = []
        for n in range(4):  # one sync a day, as the schedule runs it
            data.today = TODAY + timedelta(days=n)
            now = NOW + timedelta(days=n)
            ctx = Context(
                "linky", dict(settings), dict(secrets), Http(), now=lambda now=now: now, on_warning=said.append
            )
            done, state, err = await drive(ctx, state)
            await ctx.http.close()
            assert err is None, err
            stored += done
            assert data.calls_today() <= 45 and data.calls_today(cached=True) == 0
            if "backfill" not in state:
                break
    assert n == 1, "365 days of daily values and load curve: 54 calls, two days"
    assert said[0].startswith("MyElectricalData allows 50 calls a day, so the history of PDL")
    assert "45 of 54 windows read, about 1 more day" in said[0]
    assert said[-1] == "", "the warning is cleared once the backfill is done"
    curve = {r.key for r in stored if r.data["resolution"] == "PT30M"}
    assert len(curve) == 366 * 48 and len({r.key for r in stored if r.data["resolution"] == "P1D"}) == 366


# --- the v2 gateway ------------------------------------------------------------------------


async def test_the_v2_gateway_gives_the_same_records_as_v1() -> None:
    async with make_server(today=TODAY, days=60, production=True) as v1:
        one = await run(v1, history_days=20, production=True)
    async with make_server(today=TODAY, days=60, production=True, gateway="v2") as v2:
        two = await run(v2, history_days=20, production=True, gateway="v2", base_url=f"{v2.url}/api")
        auth = {r.headers["Authorization"] for r in v2.requests}
    assert auth == {f"Bearer {DEMO_TOKEN}"}
    assert same_readings(two) == same_readings(one)
    assert len(two.yielded) == 2 * (20 + 20 * 48)


def same_readings(out: Outcome) -> dict[str, tuple[str, str, str]]:
    """Key -> (start, end, kWh): v2 answers daily values without their quality."""
    return {r.key: (r.data["start"], r.data["end"], r.data["quantity"]) for r in out.yielded}


@pytest.mark.parametrize(("day", "points"), [(date(2026, 3, 29), 46), (date(2026, 10, 25), 50)])
async def test_v2_interval_starts_on_dst_days(day: date, points: int) -> None:
    today = day + timedelta(days=2)
    now = datetime.combine(today, datetime.min.time(), UTC) + timedelta(hours=12)
    async with make_server(today=today, days=20) as v1:
        one = await run(v1, now, history_days=4)
    async with make_server(today=today, days=20, gateway="v2") as v2:
        two = await run(v2, now, history_days=4, gateway="v2", base_url=f"{v2.url}/api")
    curve = [r for r in two.yielded if r.data["resolution"] == "PT30M" and r.ts.astimezone(PARIS).date() == day]
    assert len(curve) == points
    assert same_readings(two) == same_readings(one)


async def test_v2_daily_limit_is_retryable_until_utc_midnight() -> None:
    async with make_server(today=TODAY, days=30, gateway="v2") as server:
        server.app[GATEWAY].counted[(TODAY, False)] = 50
        with pytest.raises(Retryable, match="v2 daily limit is spent") as err:
            await run(server, history_days=2, gateway="v2", base_url=f"{server.url}/api")
    assert err.value.retry_after == 12 * 3600


async def test_v2_a_pdl_not_linked_or_a_wrong_token_is_auth_failed() -> None:
    async with make_server(today=TODAY, days=30, gateway="v2", pdl="99999999999999") as server:
        with pytest.raises(AuthFailed, match="not linked"):
            await run(server, gateway="v2", base_url=f"{server.url}/api")
        with pytest.raises(AuthFailed):
            await run(server, gateway="v2", token="wrong", base_url=f"{server.url}/api")


# --- access, consent, errors ------------------------------------------------------------------


def _access_app(**access: Any) -> FakeServer:
    async def valid(request: web.Request) -> web.Response:
        return web.json_response({"valid": True, "ban": False, "quota_reached": False, **access})

    app = web.Application()
    app.router.add_get("/valid_access/{pdl}", valid)
    return FakeServer(app)


async def test_consent_ending_soon_is_a_warning() -> None:
    async with _access_app(consent_expiration_date="2026-06-20T10:00:00") as server:
        ctx = context(server)
        await MyElectricalData().check(ctx)
        await ctx.http.close()
    assert ctx.warnings and "2026-06-20" in ctx.warnings[0]


async def test_the_recorded_spent_quota_answer_is_not_an_expired_consent() -> None:
    recorded = {
        "valid": False,
        "information": "Vous avez dépassé votre quota journalier (50)",
        "call_number": 65,
        "quota_reached": True,
        "quota_limit": 50,
        "quota_reset_at": "2026-06-01T23:59:59.999999",
    }
    async with _access_app(**recorded) as server:
        ctx = context(server)
        with pytest.raises(Retryable, match="quota"):
            await MyElectricalData().check(ctx)
        await ctx.http.close()


async def test_expired_consent_is_auth_failed() -> None:
    async with _access_app(valid=False) as server:
        ctx = context(server)
        with pytest.raises(AuthFailed, match="renew"):
            await MyElectricalData().check(ctx)
        await ctx.http.close()


async def test_quota_reached_at_access_is_retryable() -> None:
    async with _access_app(quota_reached=True, quota_reset_at="2026-06-01T23:59:59") as server:
        ctx = context(server)
        with pytest.raises(Retryable):
            await MyElectricalData().check(ctx)
        await ctx.http.close()


async def test_a_wrong_token_is_auth_failed_after_one_request() -> None:
    async with make_server(today=TODAY, days=30) as server:
        with pytest.raises(AuthFailed):
            await run(server, token="not-the-token")
        assert len(server.requests) == 1


async def test_server_errors_are_retryable() -> None:
    async with make_server(today=TODAY, days=30) as server:
        server.fail(502, path_prefix="/consumption_load_curve")
        with pytest.raises(Retryable):
            await run(server, history_days=2)


# --- times and DST -------------------------------------------------------------------------


@pytest.mark.parametrize(("day", "points", "hours"), [(date(2026, 3, 29), 46, 23), (date(2026, 10, 25), 50, 25)])
async def test_dst_days_in_paris(day: date, points: int, hours: int) -> None:
    today = day + timedelta(days=2)
    now = datetime.combine(today, datetime.min.time(), UTC) + timedelta(hours=12)
    async with make_server(today=today, days=20) as server:
        out = await run(server, now, history_days=4)
    curve = [r for r in out.yielded if r.data["resolution"] == "PT30M" and r.ts.astimezone(PARIS).date() == day]
    assert len(curve) == points == len({r.key for r in curve})
    starts = [datetime.fromisoformat(r.data["start"]) for r in curve]
    assert all(b - a == timedelta(minutes=30) for a, b in zip(starts, starts[1:], strict=False))
    (daily,) = [r for r in out.yielded if r.data["resolution"] == "P1D" and r.data["start"].startswith(str(day))]
    span = datetime.fromisoformat(daily.data["end"]) - datetime.fromisoformat(daily.data["start"])
    assert span == timedelta(hours=hours)


def test_the_repeated_autumn_hour_is_told_apart_by_order() -> None:
    walls = ["2026-10-25 02:00:00", "2026-10-25 02:30:00", "2026-10-25 02:00:00", "2026-10-25 02:30:00"]
    rows = [{"value": "100", "date": w, "interval_length": "PT30M"} for w in walls]
    raws = list(window_readings(CURVE, "1", {"meter_reading": {"interval_reading": rows}}))
    assert [r["end"] for r in raws] == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T02:30:00+01:00",
    ]


def test_a_time_in_the_spring_gap_takes_the_offset_before_the_change() -> None:
    rows = [{"value": "100", "date": d} for d in ("2026-03-29 01:30:00", "2026-03-29 02:00:00", "2026-03-29 03:30:00")]
    raws = list(window_readings(CURVE, "1", {"meter_reading": {"interval_reading": rows}}))
    assert [r["end"] for r in raws] == [
        "2026-03-29T01:30:00+01:00",
        "2026-03-29T03:00:00+02:00",  # 02:00 CET, the instant clocks jumped to 03:00 CEST
        "2026-03-29T03:30:00+02:00",
    ]


@pytest.mark.parametrize(
    "walls",
    [
        ["2026-05-10 10:00:00", "2026-05-10 10:00:00"],  # repeated outside the autumn hour
        ["2026-05-10 10:30:00", "2026-05-10 10:00:00"],  # out of order
        ["2026-10-25 02:00:00", "2026-10-25 02:00:00", "2026-10-25 02:00:00"],  # thrice
    ],
)
def test_times_that_do_not_increase_are_refused(walls: list[str]) -> None:
    rows = [{"value": "100", "date": w} for w in walls]
    with pytest.raises(Fatal, match="repeated or out of order"):
        list(window_readings(CURVE, "1", {"meter_reading": {"interval_reading": rows}}))


# --- bad answers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "error"),
    [
        ({"value": "100", "date": "2026-05-10 10:00:00", "interval_length": "P1W"}, Fatal),
        ({"value": "100", "date": "10/05/2026 10:00"}, Fatal),
    ],
)
def test_malformed_curve_rows(row: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        list(window_readings(CURVE, "1", {"meter_reading": {"interval_reading": [row]}}))


def test_negative_or_unknown_unit_values_are_refused() -> None:
    raw = next(
        window_readings(
            CURVE, "1", {"meter_reading": {"interval_reading": [{"value": "-5", "date": "2026-05-10 10:00:00"}]}}
        )
    )
    with pytest.raises(InvalidRecord, match="negative"):
        MyElectricalData().normalize(Fragment("energy.reading", raw))
    with pytest.raises(InvalidRecord, match="unknown unit 'VA'"):
        MyElectricalData().normalize(Fragment("energy.reading", {**raw, "value": "5", "unit": "VA"}))


def test_an_answer_without_readings_is_refused() -> None:
    with pytest.raises(Fatal, match="interval_reading"):
        list(window_readings(CURVE, "1", {"error": "maintenance"}))


def test_gaps_are_skipped_not_zeroed() -> None:
    rows = [{"value": None, "date": "2026-05-10 10:00:00"}, {"value": "200", "date": "2026-05-10 10:30:00"}]
    raws = list(window_readings(CURVE, "1", {"meter_reading": {"interval_reading": rows}}))
    assert [r["date"] for r in raws] == ["2026-05-10 10:30:00"]


def test_schedule_avoids_the_hour_and_the_half_hour() -> None:
    runs = croniter(MyElectricalData.schedule, datetime(2026, 1, 1, tzinfo=UTC))
    assert not {runs.get_next(datetime).minute for _ in range(20)} & {0, 30}


@given(
    watts=st.integers(min_value=0, max_value=36_000_000),
    minutes=st.sampled_from([5, 10, 15, 30, 60]),
)
def test_kwh_from_average_watts_is_exact_or_rounded_to_a_microwatt_hour(watts: int, minutes: int) -> None:
    kwh = kwh_from_average_watts(Decimal(watts), minutes)
    exact = Decimal(watts * minutes) / Decimal(60000)
    assert abs(kwh - exact) <= Decimal("0.0000000005")
    if minutes in (15, 30, 60):
        assert kwh * 60000 == watts * minutes


@given(
    first=st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)),
    count=st.integers(min_value=1, max_value=400),
)
def test_paris_wall_clock_ends_map_back_to_their_instants(first: date, count: int) -> None:
    # Answers start at a Paris midnight, as the gateway's windows are whole days.
    start = datetime(first.year, first.month, first.day, tzinfo=PARIS).astimezone(UTC)
    ends = [start + timedelta(minutes=30 * (n + 1)) for n in range(count)]
    rows = [{"value": "1", "date": e.astimezone(PARIS).strftime("%Y-%m-%d %H:%M:%S")} for e in ends]
    raws = list(window_readings(CURVE, "1", {"meter_reading": {"interval_reading": rows}}))
    assert [datetime.fromisoformat(r["end"]) for r in raws] == ends
