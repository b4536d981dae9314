"""Enedis Linky meters through the MyElectricalData gateway (www.myelectricaldata.fr).

The gateway relays Enedis's customer data once the user has consented on its site; it
gives a token and the meter's PDL (usage point id). Daily energy comes as Wh per Paris
calendar day; the load curve as average watts per 30 minutes (10 or 60 on some meters),
stamped with the wall-clock END of each interval in Paris time. Enedis allows 7 days of
load curve per call, 2 years of load curve and 3 years of daily values back, and the
gateway a daily call quota: requests are windowed, progress is checkpointed after each
window, and a spent quota waits for the next day. Settled windows (older than the
lookback) are read from the gateway's `/cache` endpoints, which spare Enedis.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connectors.sdk import (
    AuthFailed,
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
    UserActionNeeded,
    datasets,
    parse_decimal,
    parse_retry_after,
)
from connectors.sdk.http import Response

from .units import kwh_from_average_watts, reading_key

PARIS = ZoneInfo("Europe/Paris")
SITE = "https://www.myelectricaldata.fr"
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
        Field("base_url", "The gateway's address", type="url", default=SITE),
    )

    async def check(self, ctx: Context) -> None:
        await self._access(ctx)

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        await self._access(ctx)
        pdl = str(ctx.settings["usage_point_id"])
        today = ctx.now().astimezone(PARIS).date()
        lookback = int(ctx.settings.get("lookback_days", 3))
        cursors: dict[str, str] = dict(state.get("series") or {})
        windows = 0
        for series in self._series(ctx):
            earliest = today - timedelta(days=min(int(ctx.settings.get("history_days", 365)), series.history))
            cursor = date.fromisoformat(cursors[series.service]) if series.service in cursors else earliest
            day = max(earliest, min(cursor, today - timedelta(days=lookback)))
            while day < today:
                end = min(day + timedelta(days=series.window), today)
                settled = end <= today - timedelta(days=lookback)
                body = await self._window(ctx, series, pdl, day, end, cache=settled)
                for raw in window_readings(series, pdl, body):
                    yield Fragment("energy.reading", raw)
                cursors[series.service] = max(cursor, end).isoformat()
                yield Checkpoint({"series": dict(cursors)})
                windows += 1
                ctx.progress(windows, None, f"{series.service} to {end}")
                day = end

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

    async def _access(self, ctx: Context) -> None:
        pdl = str(ctx.settings["usage_point_id"])
        resp = await self._get(ctx, f"/valid_access/{pdl}")
        access = _json(resp)
        if not isinstance(access, dict):
            raise Fatal("MyElectricalData answered an unexpected access check")
        if access.get("ban"):
            raise UserActionNeeded("MyElectricalData has suspended this token; see your account there", SITE)
        if access.get("valid") is False:
            raise AuthFailed(f"your consent for PDL {pdl} is no longer valid: renew it on {SITE}")
        expires = _naive_paris(access.get("consent_expiration_date"))
        if expires is not None and expires - ctx.now() < WARN_BEFORE:
            ctx.warn(f"your MyElectricalData consent for PDL {pdl} ends on {expires.date()}: renew it on {SITE}")
        if access.get("quota_reached"):
            raise Retryable("the MyElectricalData daily quota is spent", _until_quota_reset(ctx, access))

    async def _window(self, ctx: Context, series: Series, pdl: str, start: date, end: date, *, cache: bool) -> Any:
        path = f"/{series.service}/{pdl}/start/{start}/end/{end}"
        use_cache = bool(ctx.settings.get("use_cache", True))
        resp = await self._get(ctx, path + "/cache" if cache and use_cache else path, ok=(404, 409, 429))
        if resp.status == 429 and use_cache and not cache:
            # Throttled live: the gateway's cached copy will do until the next sync re-reads it.
            cached = await self._get(ctx, path + "/cache", ok=(404, 409, 429))
            if cached.status == 200:
                resp = cached
        if resp.status == 404:
            return None  # no data for that window (before the contract, collection off)
        if resp.status == 409:
            raise Retryable("the MyElectricalData daily quota is spent; the sync resumes tomorrow", _to_midnight(ctx))
        if resp.status == 429:
            raise Retryable("MyElectricalData is throttling requests", _retry_after(ctx, resp))
        return _json(resp)

    async def _get(self, ctx: Context, path: str, ok: tuple[int, ...] = ()) -> Response:
        base = str(ctx.settings.get("base_url", SITE)).rstrip("/")
        return await ctx.http.request("GET", base + path, headers={"Authorization": ctx.secret("token")}, ok=ok)


def window_readings(series: Series, pdl: str, body: Any) -> Iterator[dict[str, Any]]:
    """The raw readings of one answer, each with its interval resolved to instants.

    Load-curve times are Paris wall-clock ends: the autumn repeated hour is told apart by
    order (its second pass is the later instant; answers start at a Paris midnight, so the
    first time of one is never in that hour); a time in the spring gap is read with the
    offset before the change. Times that do not increase are refused.
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
                end = _instant(datetime.strptime(text, "%Y-%m-%d %H:%M:%S"), previous)
                start, resolution = end - step, str(row.get("interval_length") or "PT30M")
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


def _json(resp: Response) -> Any:
    try:
        return json.loads(resp.body)
    except ValueError as err:
        raise Fatal(f"MyElectricalData answered something that is not JSON: {resp.text[:80]!r}") from err


def _naive_paris(text: Any) -> datetime | None:
    try:
        t = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=PARIS)


def _to_midnight(ctx: Context) -> float:
    now = ctx.now().astimezone(UTC)
    return (datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC) - now).total_seconds()


def _until_quota_reset(ctx: Context, access: dict[str, Any]) -> float:
    reset = _naive_paris(access.get("quota_reset_at"))
    if reset is None:
        return _to_midnight(ctx)
    return max(60.0, (reset - ctx.now()).total_seconds())


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
