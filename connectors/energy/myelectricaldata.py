"""Enedis Linky meters through the MyElectricalData gateway (v1 www.myelectricaldata.fr, or v2).

The gateway relays Enedis's customer data once the user has consented on its site; it
gives a token and the meter's PDL (usage point id). Daily energy comes as Wh per Paris
calendar day; the load curve as average watts per 30 minutes (10 or 60 on some meters),
stamped with the wall-clock end (v1) or start (v2) of each interval in Paris time. Enedis
allows 7 days of load curve per call, 2 years of load curve and 3 years of daily values
back; the gateway 50 calls a day. Requests are windowed and checkpointed after each window;
the calls of the quota day are counted in the state, and a sync stops cleanly at
`daily_calls`, so a long first backfill is spread over days (said in `status` until it is
done). A spent quota (`quota_reached`, 409, `RATE_LIMIT_EXCEEDED`) is Retryable after the
gateway's reset. Settled windows (older than the lookback) are read from the gateway's
cache, which spares Enedis. How each gateway is asked is in `med_gateways`.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connectors.sdk import (
    Checkpoint,
    Connector,
    Context,
    Fatal,
    Field,
    Fragment,
    InvalidRecord,
    Item,
    Record,
    Retryable,
    Secret,
    datasets,
    parse_decimal,
    parse_retry_after,
)
from connectors.sdk.http import Response

from .med_gateways import V1_SITE, V2_CACHED_QUOTA, Gateway, Quota, QuotaSpent, gateway
from .units import kwh_from_average_watts, reading_key

PARIS = ZoneInfo("Europe/Paris")
SITE = V1_SITE
DAILY_CALLS = 45  # of the gateway's 50: some left for a manual sync or another tool
QUALITY = {"B": "actual", "R": "actual", "BRUT": "actual", "C": "revised", "CORRIGE": "revised", "E": "estimated"}
STEP_RE = re.compile(r"^PT(\d+)([MH])$")
NEXT_ACCESS_RE = re.compile(r"nextAccessTime\W+(\d{4}-[A-Za-z]{3}-\d{2} \d{2}:\d{2}:\d{2})")
WARN_BEFORE = timedelta(days=30)
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@dataclass(frozen=True)
class Series:
    service: str
    direction: str
    curve: bool

    @property
    def window(self) -> int:  # days per call
        return 7 if self.curve else 365

    @property
    def history(self) -> int:  # days back Enedis keeps
        return 730 if self.curve else 1095


SERIES = (
    Series("daily_consumption", "consumption", curve=False),
    Series("consumption_load_curve", "consumption", curve=True),
    Series("daily_production", "production", curve=False),
    Series("production_load_curve", "production", curve=True),
)


def _check_days(limit: int) -> Any:
    def check(value: int) -> str | None:
        return None if 0 <= value <= limit else f"must be between 0 and {limit}"

    return check


class MyElectricalData(Connector):
    name = "myelectricaldata"
    title = "Enedis Linky (MyElectricalData)"
    category = "energy"
    datasets = ("energy.reading",)
    description = "Daily energy and the 30-minute load curve of a French Linky meter, consumption and production."
    # Enedis publishes yesterday's data in the morning; once a day, off the hour and half hour.
    schedule = "17 11 * * *"
    fields = (
        Field("usage_point_id", "Your PDL: the 14-digit number shown on the Linky and your bill", pattern=r"\d{14}"),
        Secret("token", "The token MyElectricalData shows once you have consented on its site"),
        Field(
            "load_curve",
            "Fetch the 30-minute load curve (needs hourly collection on at Enedis)",
            type="bool",
            default=True,
        ),
        Field("production", "The meter also records production (solar panels)", type="bool", default=False),
        Field(
            "history_days",
            "How far back the first sync reaches (at most 1095)",
            type="int",
            default=365,
            check=_check_days(1095),
        ),
        Field(
            "lookback_days",
            "Days re-read each sync for late and corrected data",
            type="int",
            default=3,
            check=_check_days(60),
        ),
        Field("use_cache", "Read settled windows from the gateway's cache endpoints", type="bool", default=True),
        Field(
            "daily_calls",
            "At most this many gateway calls a day (the gateway allows 50); a longer backfill goes on the next day",
            type="int",
            default=DAILY_CALLS,
            check=lambda v: None if 1 <= int(v) <= 1000 else "must be between 1 and 1000",
        ),
        Field(
            "gateway",
            "v1 (www.myelectricaldata.fr) or v2 (v2.myelectricaldata.fr)",
            type="choice",
            choices=("v1", "v2"),
            default="v1",
        ),
        Field("base_url", "The gateway's address (default: the chosen gateway's)", type="url", required=False),
    )

    async def check(self, ctx: Context) -> None:
        await self._access(ctx, gateway(str(ctx.settings.get("gateway") or "v1")))

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        gw = gateway(str(ctx.settings.get("gateway") or "v1"))
        quota = await self._access(ctx, gw)
        pdl = str(ctx.settings["usage_point_id"])
        today = ctx.now().astimezone(PARIS).date()
        lookback = int(ctx.settings.get("lookback_days", 3))
        cursors: dict[str, str] = dict(state.get("series") or {})
        calls = _Calls.load(state.get("calls"), quota.day)
        backfill = dict(state.get("backfill") or {})
        windows = self._windows(ctx, today, cursors)
        daily = int(ctx.settings.get("daily_calls") or DAILY_CALLS)
        live_left = min(daily - calls.live, quota.limit - (quota.used or 0)) if gw.cache_counts else daily - calls.live
        use_cache = bool(ctx.settings.get("use_cache", True))

        def checkpoint() -> Checkpoint:
            extra = {"backfill": backfill} if backfill else {}
            return Checkpoint({"series": dict(cursors), "calls": calls.dump(), **extra})

        for i, (series, day, end) in enumerate(windows):
            cache = use_cache and end <= today - timedelta(days=lookback)
            counted = not cache or gw.cache_counts
            if (live_left <= 0) if counted else (calls.cached >= V2_CACHED_QUOTA):
                left, per_day = len(windows) - i, min(daily, quota.limit)
                self._spread(ctx, quota, pdl, backfill, total=len(windows), left=left, per_day=per_day)
                yield checkpoint()
                return
            try:
                body = await self._window(ctx, gw, series, pdl, day, end, cache=cache, quota=quota)
            except QuotaSpent:
                yield checkpoint()
                raise
            finally:
                calls.spend(cached=not counted)  # a failed call counts too
                live_left -= 1 if counted else 0
            for raw in window_readings(series, pdl, body, stamps=gw.stamps):
                yield Fragment("energy.reading", raw)
            cursors[series.service] = max(date.fromisoformat(cursors.get(series.service, str(end))), end).isoformat()
            ctx.progress(i + 1, len(windows), f"{series.service} to {end}")
            yield checkpoint()
        if backfill:
            ctx.log.info("the MyElectricalData backfill of PDL %s is complete", pdl)
            backfill.clear()
            if not ctx.warnings:
                ctx.clear_warning()
            yield checkpoint()

    def _windows(self, ctx: Context, today: date, cursors: dict[str, str]) -> list[tuple[Series, date, date]]:
        """Every window this sync reads, oldest first per series: the history not read yet and the lookback."""
        lookback = int(ctx.settings.get("lookback_days", 3))
        out = []
        for series in self._series(ctx):
            earliest = today - timedelta(days=min(int(ctx.settings.get("history_days", 365)), series.history))
            cursor = date.fromisoformat(cursors[series.service]) if series.service in cursors else earliest
            day = max(earliest, min(cursor, today - timedelta(days=lookback)))
            while day < today:
                end = min(day + timedelta(days=series.window), today)
                out.append((series, day, end))
                day = end
        return out

    def _spread(
        self, ctx: Context, quota: Quota, pdl: str, backfill: dict[str, Any], *, total: int, left: int, per_day: int
    ) -> None:
        """The day's calls are used: say in `status` how far the backfill is and how long it takes."""
        total = max(int(backfill.get("windows") or 0), total)
        backfill["windows"] = total
        days = math.ceil(left / max(1, per_day))
        ctx.warn(
            f"MyElectricalData allows {quota.limit} calls a day, so the history of PDL {pdl} is read over several "
            f"days: {total - left} of {total} windows read, about {days} more day{'s' * (days != 1)}; "
            "each daily sync goes on"
        )

    def normalize(self, fragment: Fragment) -> Record:
        raw = fragment.raw
        try:
            start, end = datetime.fromisoformat(raw["start"]), datetime.fromisoformat(raw["end"])
            value = parse_decimal(str(raw["value"]))
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidRecord(f"MyElectricalData reading {raw!r:.160}: {err}") from None
        if not start < end or start.tzinfo is None:
            raise InvalidRecord(f"MyElectricalData reading {raw['date']}: absurd interval {raw['start']}..{raw['end']}")
        if value < 0:
            raise InvalidRecord(f"MyElectricalData reading {raw['date']}: negative {raw['unit']} {value}")
        unit = raw["unit"]
        if unit in ("W", "kW"):  # average power over the interval
            minutes = int((end - start).total_seconds()) // 60
            kwh = kwh_from_average_watts(value * (1000 if unit == "kW" else 1), minutes)
        elif unit in ("Wh", "kWh"):
            kwh = value / 1000 if unit == "Wh" else value
        else:
            raise InvalidRecord(f"MyElectricalData reading {raw['date']}: unknown unit {unit!r}")
        data = datasets.EnergyReading.make(
            meter_id=raw["usage_point_id"],
            commodity="electricity",
            direction=raw["direction"],
            start=start,
            end=end,
            quantity=kwh,
            unit="kWh",
            quality=QUALITY.get(str(raw.get("quality") or ""), "unknown"),
        )
        data["resolution"] = raw["resolution"]
        key = reading_key(raw["usage_point_id"], "electricity", raw["direction"], start)
        # Daily totals would share their start with the day's first half hour: they carry their period.
        if raw["resolution"] == "P1D":
            key += "/P1D"
        return Record("energy.reading", key, start, data)

    # --- requests ---

    def _series(self, ctx: Context) -> list[Series]:
        curve, production = bool(ctx.settings.get("load_curve", True)), bool(ctx.settings.get("production", False))
        return [s for s in SERIES if (curve or not s.curve) and (production or s.direction == "consumption")]

    async def _access(self, ctx: Context, gw: Gateway) -> Quota:
        pdl = str(ctx.settings["usage_point_id"])
        quota, expires = await gw.access(ctx, lambda path: self._get(ctx, gw, path), pdl)
        if expires is not None and expires - ctx.now() < WARN_BEFORE:
            ctx.warn(f"your MyElectricalData consent for PDL {pdl} ends on {expires.date()}: renew it on {SITE}")
        return quota

    async def _window(
        self, ctx: Context, gw: Gateway, series: Series, pdl: str, start: date, end: date, *, cache: bool, quota: Quota
    ) -> Any:
        last = end - timedelta(days=1) if gw.end_included else end
        url = gw.url(series.service, series.direction, series.curve, pdl, start, last, cache)
        resp = await self._get(ctx, gw, url, ok=(404, 409, 429))
        if resp.status == 429 and gw.name == "v1" and not cache and bool(ctx.settings.get("use_cache", True)):
            # Throttled live: the gateway's cached copy will do until the next sync re-reads it.
            cached = await self._get(ctx, gw, url + "/cache", ok=(404, 409, 429))
            if cached.status == 200:
                resp = cached
        if resp.status == 429:
            raise Retryable("MyElectricalData is throttling requests", _retry_after(ctx, resp))
        return gw.body(ctx, resp, quota.reset)

    async def _get(self, ctx: Context, gw: Gateway, path: str, ok: tuple[int, ...] = ()) -> Response:
        base = str(ctx.settings.get("base_url") or gw.base).rstrip("/")
        return await ctx.http.request("GET", base + path, headers=gw.headers(ctx.secret("token")), ok=ok)


class _Calls:
    """The calls of one quota day, as this source counted them (failed ones included)."""

    def __init__(self, day: str, live: int = 0, cached: int = 0) -> None:
        self.day, self.live, self.cached = day, live, cached

    @classmethod
    def load(cls, saved: Any, day: str) -> _Calls:
        if isinstance(saved, dict) and saved.get("day") == day:
            return cls(day, int(saved.get("live") or 0), int(saved.get("cached") or 0))
        return cls(day)  # a new quota day

    def spend(self, *, cached: bool) -> None:
        if cached:
            self.cached += 1
        else:
            self.live += 1

    def dump(self) -> dict[str, Any]:
        return {"day": self.day, "live": self.live, "cached": self.cached}


def window_readings(series: Series, pdl: str, body: Any, stamps: str = "end") -> Iterator[dict[str, Any]]:
    """The raw readings of one answer, each with its interval resolved to instants.

    Load-curve times are Paris wall-clock ends (v1) or those ends less the step (v2,
    `stamps="start"`, shifted on the wall clock by the gateway): the autumn repeated hour is
    told apart by order (its second pass is the later instant;
    answers start at a Paris midnight, so the first time of one is never in that hour); a
    time in the spring gap is read with the offset before the change. Times that do not
    increase are refused.
    """
    if body is None:
        return
    reading = body.get("meter_reading") if isinstance(body, dict) else None
    if not isinstance(reading, dict) or not isinstance(reading.get("interval_reading"), list):
        raise Fatal(f"MyElectricalData answered {series.service} without meter_reading.interval_reading")
    rows = reading["interval_reading"]
    kind = reading.get("reading_type") or {}
    unit = str(kind.get("unit") or ("W" if series.curve else "Wh"))
    quality = reading.get("quality")
    previous: datetime | None = None
    for row in rows:
        if not isinstance(row, dict) or row.get("value") in (None, ""):
            continue  # a gap: nothing measured
        text = str(row.get("date", ""))
        try:
            if series.curve:
                step = _step(str(row.get("interval_length") or "PT30M"))
                wall = datetime.strptime(text.replace("T", " ")[:19], "%Y-%m-%d %H:%M:%S")
                # v2 moved Enedis's end stamps back by the step on the wall clock: moving them on again
                # gives Enedis's stamps, whose autumn hour order tells apart (v2's starts repeat 01:30).
                end = _instant(wall + step if stamps == "start" else wall, previous)
                start = end - step
                resolution = str(row.get("interval_length") or "PT30M")
            else:
                day = date.fromisoformat(text)
                start = datetime(day.year, day.month, day.day, tzinfo=PARIS)
                nxt = day + timedelta(days=1)
                end, resolution = datetime(nxt.year, nxt.month, nxt.day, tzinfo=PARIS), "P1D"
        except ValueError as err:
            raise Fatal(f"MyElectricalData {series.service} reading {text!r}: {err}") from None
        previous = end
        yield {
            "usage_point_id": pdl,
            "service": series.service,
            "direction": series.direction,
            "date": text,
            "value": str(row["value"]),
            "unit": unit,
            "quality": row.get("measure_type") or quality,
            "resolution": resolution,
            "start": start.astimezone(PARIS).isoformat(),
            "end": end.astimezone(PARIS).isoformat(),
        }


def _instant(wall: datetime, previous: datetime | None) -> datetime:
    first = wall.replace(tzinfo=PARIS, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=PARIS, fold=1).astimezone(UTC)
    for candidate in sorted({first, second}):
        if previous is None or candidate > previous:
            return candidate
    raise ValueError(
        f"does not follow {previous.astimezone(PARIS).isoformat() if previous else ''}: repeated or out of order"
    )


def _step(text: str) -> timedelta:
    m = STEP_RE.match(text)
    if m is None or int(m.group(1)) == 0:
        raise ValueError(f"unknown interval_length {text!r}")
    return timedelta(minutes=int(m.group(1)) * (60 if m.group(2) == "H" else 1))


def _retry_after(ctx: Context, resp: Response) -> float | None:
    header = parse_retry_after(resp.headers.get("Retry-After"), ctx.now())
    if header is not None:
        return header
    m = NEXT_ACCESS_RE.search(resp.text.replace('\\"', '"'))
    if m is None:
        return None
    year, month, rest = m.group(1).split("-", 2)
    if month.title() not in MONTHS:
        return None
    # Month names are English whatever the locale, so no strptime %b.
    when = datetime.strptime(f"{year}-{MONTHS.index(month.title()) + 1:02d}-{rest}", "%Y-%m-%d %H:%M:%S")
    when = when.replace(tzinfo=UTC)
    return max(0.0, (when - ctx.now()).total_seconds())
