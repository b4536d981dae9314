"""Energy views from the half-hour aggregates of `energy.reading`: totals per day, week and
month, a half-hour x day heatmap, the average day (weekday, weekend), gaps, and costs under
each tariff side by side.

Everything starts from one aggregate: the sum of `quantity` per local half hour, grouped by
commodity and direction (and unit), over a window. A half-hour without a reading is a gap:
shown, counted, never filled. A local day has 46, 48 or 50 half-hours; each is expected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from connectors.sdk.schema import decimal_text

from ..vault import aggregate, filters
from ..vault.db import Connection
from . import tariffs as tariff_mod
from .energy_slots import WH, SlotCache, Stream, read_slots

SLOT_MS = tariff_mod.SLOT_MS
DAY_MS = 86_400_000
_EPOCH = date(1970, 1, 1)
MAX_MONTHS = 120
MAX_GAPS = 50


@dataclass
class Readings:
    """Half-hours of readings per stream over [start, end) ms in a zone: (UTC start ms, quantity)."""

    zone: str
    start: int
    end: int
    slots: dict[Stream, list[tuple[int, Decimal]]] = field(default_factory=dict)

    def local(self, stream: Stream) -> list[tuple[int, int, Decimal]]:
        """(UTC ms, local wall-clock ms, quantity) of each half-hour of a stream."""
        clock = tariff_mod.Clock(self.zone, self.start, self.end)
        return [(ms, clock.local(ms), q) for ms, q in self.slots.get(stream, [])]


def window(conn: Connection, zone: str, months: int, until: date | None = None) -> tuple[int, int] | None:
    """The last `months` months up to the local midnight after the last reading (or `until`)."""
    if not 1 <= months <= MAX_MONTHS:
        raise tariff_mod.TariffError(f"months: between 1 and {MAX_MONTHS}")
    tz = ZoneInfo(zone)
    if until is None:
        last = conn.execute(
            "SELECT max(last_ts) FROM record_counts WHERE dataset='energy.reading' AND live > 0"
        ).fetchone()[0]
        if last is None:
            return None
        until = datetime.fromtimestamp(last / 1000, tz).date() + timedelta(days=1)
    y, m = divmod(until.year * 12 + until.month - 1 - months, 12)
    first = date(y, m + 1, min(until.day, 28))
    return _midnight(first, tz), _midnight(until, tz)


def _midnight(day: date, tz: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp() * 1000)


def load(conn: Connection, zone: str, start: int, end: int, cache: SlotCache | None = None) -> Readings:
    """The half-hour sums of every stream in [start, end) (through `cache` when given)."""
    if not tariff_mod.Clock(zone, start, end).whole_half_hours():
        raise tariff_mod.TariffError(f"{zone}: the energy views need a zone whose offset is whole half-hours")
    slots = cache.slots(conn, start, end) if cache is not None else read_slots(conn, start, end)
    return Readings(zone, start, end, slots)


def _midnights(start: int, end: int, tz: ZoneInfo) -> list[tuple[date, int]]:
    day = datetime.fromtimestamp(start / 1000, tz).date()
    out = []
    while True:
        ms = _midnight(day, tz)
        out.append((day, ms))
        if ms >= end:
            return out
        day += timedelta(days=1)


def days(readings: Readings, stream: Stream) -> list[dict[str, Any]]:
    """Each local day of the window: total, half-hours read and half-hours it has (46, 48, 50)."""
    tz = ZoneInfo(readings.zone)
    series = readings.slots.get(stream, [])
    bounds = _midnights(readings.start, readings.end, tz)
    out = []
    i = 0
    for (day, lo), (_, hi) in zip(bounds, bounds[1:], strict=False):
        total, n = Decimal(0), 0
        while i < len(series) and series[i][0] < hi:
            if series[i][0] >= lo:
                total += series[i][1]
                n += 1
            i += 1
        lo, hi = max(lo, readings.start), min(hi, readings.end)
        expected = max(0, (hi - lo) // SLOT_MS)
        if expected:
            out.append({"day": day.isoformat(), "total": total, "slots": n, "expected": expected})
    return out


def rollup(day_rows: Sequence[dict[str, Any]], bucket: str) -> list[dict[str, Any]]:
    """Days gathered into ISO weeks (from Monday) or months."""
    out: dict[str, dict[str, Any]] = {}
    for d in day_rows:
        day = date.fromisoformat(d["day"])
        first = day - timedelta(days=day.weekday()) if bucket == "week" else day.replace(day=1)
        row = out.setdefault(
            first.isoformat(), {bucket: first.isoformat(), "total": Decimal(0), "slots": 0, "expected": 0}
        )
        row["total"] += d["total"]
        row["slots"] += d["slots"]
        row["expected"] += d["expected"]
    return list(out.values())


def gaps(readings: Readings, stream: Stream) -> tuple[list[dict[str, Any]], int]:
    """Runs of half-hours without a reading between the first and the last of the window; and
    how many half-hours are missing in all."""
    series = readings.slots.get(stream, [])
    if not series:
        return [], 0
    tz = ZoneInfo(readings.zone)
    out: list[dict[str, Any]] = []
    missing = 0
    for (a, _), (b, _) in zip(series, series[1:], strict=False):
        if b - a > SLOT_MS:
            n = (b - a) // SLOT_MS - 1
            missing += n
            if len(out) < MAX_GAPS:
                out.append(
                    {
                        "start": datetime.fromtimestamp((a + SLOT_MS) / 1000, tz).isoformat(),
                        "end": datetime.fromtimestamp(b / 1000, tz).isoformat(),
                        "slots": n,
                    }
                )
    return out, missing


def _slot_of(local: int) -> int:
    return (local % DAY_MS) // SLOT_MS


def profile(readings: Readings, stream: Stream) -> dict[str, list[Decimal | None]]:
    """The average half-hour at each local time of day, weekdays and weekends apart: the sum
    over the days read divided by the half-hours read (a clock set back reads 01:00 twice)."""
    sums = {k: [Decimal(0)] * 48 for k in ("weekday", "weekend")}
    counts = {k: [0] * 48 for k in ("weekday", "weekend")}
    for _, local, qty in readings.local(stream):
        kind = "weekend" if (local // DAY_MS + 3) % 7 >= 5 else "weekday"  # 1 January 1970 was a Thursday
        slot = _slot_of(local)
        sums[kind][slot] += qty
        counts[kind][slot] += 1
    return {
        k: [(sums[k][i] / counts[k][i]).quantize(Decimal("0.001")) if counts[k][i] else None for i in range(48)]
        for k in sums
    }


def heatmap(readings: Readings, stream: Stream, month: str | None = None) -> dict[str, Any]:
    """A month's half-hours: one column a local day, one row a local half-hour of the day.
    A cell is a number, "gap" (no reading) or "none" (no such time: the clocks went forward);
    `twice` marks cells summing two half-hours (the clocks went back)."""
    tz = ZoneInfo(readings.zone)
    series = readings.slots.get(stream, [])
    if month is None:
        if not series:
            return {"month": None, "days": [], "cells": [], "twice": []}
        month = datetime.fromtimestamp(series[-1][0] / 1000, tz).strftime("%Y-%m")
    first = date.fromisoformat(month + "-01")
    nxt = (first + timedelta(days=32)).replace(day=1)
    lo, hi = max(_midnight(first, tz), readings.start), min(_midnight(nxt, tz), readings.end)
    day_list = [d for d, ms in _midnights(lo, hi, tz)[:-1]]
    cells: dict[tuple[date, int], tuple[Decimal, int]] = {}
    clock = tariff_mod.Clock(readings.zone, lo, hi)
    for ms, qty in series:
        if lo <= ms < hi:
            local = clock.local(ms)
            key = (_EPOCH + timedelta(days=local // DAY_MS), _slot_of(local))
            total, n = cells.get(key, (Decimal(0), 0))
            cells[key] = (total + qty, n + 1)
    exists: set[tuple[date, int]] = set()
    for day in day_list:
        at, stop = max(_midnight(day, tz), lo), min(_midnight(day + timedelta(days=1), tz), hi)
        for ms in range(at, stop, SLOT_MS):
            exists.add((day, _slot_of(clock.local(ms))))
    grid: list[list[Any]] = []
    twice = []
    for slot in range(48):
        row: list[Any] = []
        for day in day_list:
            if (day, slot) in cells:
                total, n = cells[(day, slot)]
                row.append(total)
                if n > 1:
                    twice.append([day.isoformat(), slot])
            else:
                row.append("gap" if (day, slot) in exists else "none")
        grid.append(row)
    return {"month": month, "days": [d.isoformat() for d in day_list], "cells": grid, "twice": twice}


# ---- costs -----------------------------------------------------------------------------


def stored_tariffs(conn: Connection) -> list[tariff_mod.Tariff]:
    out = []
    rows = conn.execute(
        "SELECT data FROM records WHERE dataset='energy.tariff' AND deleted=0 ORDER BY ts, key"
    ).fetchall()
    for (data,) in rows:
        out.append(tariff_mod.from_data(orjson.loads(data)))
    return out


def stored_colours(conn: Connection, start: int, end: int, calendar: str = tariff_mod.TEMPO) -> dict[date, str]:
    rows = conn.execute(
        f"SELECT {filters.extract('day')}, {filters.extract('colour')} FROM records"
        f" WHERE dataset='energy.day_colour' AND deleted=0 AND {filters.extract('calendar')}=?"
        " AND ts >= ? AND ts < ?",
        (calendar, start - 2 * 86_400_000, end + 86_400_000),
    ).fetchall()
    return {date.fromisoformat(d): c for d, c in rows}


def stored_prices(conn: Connection, ids: Sequence[str], start: int, end: int) -> dict[str, dict[int, Decimal]]:
    out: dict[str, dict[int, Decimal]] = {i: {} for i in ids}
    if not ids:
        return out
    rows = conn.execute(
        f"SELECT ts, {filters.extract('tariff_id')}, {filters.extract('price')}, {filters.extract('end')}"
        " FROM records WHERE dataset='energy.price' AND deleted=0 AND ts >= ? AND ts < ?",
        (start - 86_400_000, end),
    ).fetchall()
    for ts, tid, price, until in rows:
        if tid in out:
            stop = int(datetime.fromisoformat(until).timestamp() * 1000)
            for ms in range(ts, max(stop, ts + SLOT_MS), SLOT_MS):  # a price may cover several half-hours
                out[tid][ms] = Decimal(price)
    return out


def costs(
    conn: Connection, readings: Readings, tariffs: Sequence[tariff_mod.Tariff] | None = None
) -> list[dict[str, Any]]:
    """For each stream with tariffs: what its half-hours cost under the tariffs you held (each
    half-hour at the price then valid), and under each product, side by side."""
    tariffs = stored_tariffs(conn) if tariffs is None else tariffs
    half_hourly = [t.tariff_id for t in tariffs if t.kind == "half_hourly"]
    prices = stored_prices(conn, half_hourly, readings.start, readings.end)
    colours = stored_colours(conn, readings.start, readings.end) if any(t.kind == "tempo" for t in tariffs) else {}
    period = (readings.start, readings.end)
    out = []
    for stream in sorted(readings.slots):
        mine = [t for t in tariffs if (t.commodity, t.direction) == (stream.commodity, stream.direction)]
        if not mine:
            continue
        series = readings.slots[stream]
        rows: list[dict[str, Any]] = []
        held = [t for t in mine if t.held]
        errors: list[str] = []
        if held:
            try:
                actual = tariff_mod.price(
                    series, held, period=period, colours=colours, prices=prices, borrow=False, unit=stream.unit
                )
                actual.label, actual.kind = "Your tariffs", "held"
                rows.append(actual.to_json())
            except tariff_mod.TariffError as err:
                errors.append(str(err))
        for versions in tariff_mod.products(mine).values():
            try:
                rows.append(
                    tariff_mod.price(
                        series, versions, period=period, colours=colours, prices=prices, unit=stream.unit
                    ).to_json()
                )
            except tariff_mod.TariffError as err:
                errors.append(str(err))
        out.append(
            {"stream": stream.name, "commodity": stream.commodity, "unit": stream.unit, "rows": rows, "errors": errors}
        )
    return out


def _text(value: Any) -> Any:
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, dict):
        return {k: _text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_text(v) for v in value]
    return value


def view(
    conn: Connection,
    zone: str,
    months: int = 12,
    month: str | None = None,
    with_costs: bool = True,
    cache: SlotCache | None = None,
) -> dict[str, Any]:
    """Everything the energy page shows, as JSON (decimals as text); kept in `cache` until the
    vault changes."""
    key = (zone, months, month, with_costs)
    if cache is not None:
        cache.refresh(conn)
        kept: dict[str, Any] | None = cache.view(key)
        if kept is not None:
            return kept
    span = window(conn, zone, months)
    if span is None:
        return {"zone": zone, "months": months, "start": None, "end": None, "streams": [], "costs": []}
    readings = load(conn, zone, *span, cache=cache)
    tz = ZoneInfo(zone)
    streams = []
    for stream in sorted(readings.slots):
        day_rows = days(readings, stream)
        gap_rows, missing = gaps(readings, stream)
        streams.append(
            {
                "name": stream.name,
                "commodity": stream.commodity,
                "direction": stream.direction,
                "unit": stream.unit,
                "total": sum((d["total"] for d in day_rows), Decimal(0)),
                "days": day_rows,
                "weeks": rollup(day_rows, "week"),
                "months": rollup(day_rows, "month"),
                "gaps": gap_rows,
                "missing": missing,
                "profile": profile(readings, stream),
                "heatmap": heatmap(readings, stream, month),
            }
        )
    shown: dict[str, Any] = _text(
        {
            "zone": zone,
            "months": months,
            "start": datetime.fromtimestamp(span[0] / 1000, tz).isoformat(),
            "end": datetime.fromtimestamp(span[1] / 1000, tz).isoformat(),
            "streams": streams,
            "costs": costs(conn, readings) if with_costs else [],
        }
    )
    if cache is not None:
        cache.keep(key, shown)
    return shown


# ---- a month, for `selfdata report` ---------------------------------------------------------


@dataclass(frozen=True)
class StreamMonth:
    stream: str
    unit: str
    total: Decimal
    slots: int
    expected: int
    usual: Decimal | None  # the same month a year before, else the average of the (up to 12) months before
    change_percent: Decimal | None


@dataclass(frozen=True)
class CostMonth:
    stream: str
    label: str
    currency: str
    total: Decimal  # exact
    total_rounded: Decimal


@dataclass(frozen=True)
class EnergyMonthSummary:
    month: str  # YYYY-MM
    zone: str
    streams: tuple[StreamMonth, ...]
    costs: tuple[CostMonth, ...]  # under the tariffs you held


def energy_month_summary(
    conn: Connection, month: str, zone: str = "UTC", cache: SlotCache | None = None
) -> EnergyMonthSummary:
    """A month's consumption and production per stream against the usual month, and its cost
    under the tariffs you held (each half-hour at the price then valid)."""
    readings, streams = _month_streams(conn, month, zone, cache)
    cost_rows = []
    for group in costs(conn, readings):
        for row in group["rows"]:
            if row["kind"] == "held":
                cost_rows.append(
                    CostMonth(
                        group["stream"],
                        row["label"],
                        row["currency"],
                        Decimal(row["total"]),
                        Decimal(row["total_rounded"]),
                    )
                )
    return EnergyMonthSummary(month, zone, tuple(streams), tuple(cost_rows))


def month_streams(conn: Connection, month: str, zone: str = "UTC", cache: SlotCache | None = None) -> list[StreamMonth]:
    """A month's totals per stream against the usual month, without pricing them (the alerts')."""
    return _month_streams(conn, month, zone, cache)[1]


def _month_streams(
    conn: Connection, month: str, zone: str, cache: SlotCache | None
) -> tuple[Readings, list[StreamMonth]]:
    tz = ZoneInfo(zone)
    first = date.fromisoformat(month + "-01")
    nxt = (first + timedelta(days=32)).replace(day=1)
    readings = load(conn, zone, _midnight(first, tz), _midnight(nxt, tz), cache=cache)
    y, m = divmod(first.year * 12 + first.month - 1 - 12, 12)
    before = aggregate.run(
        conn,
        aggregate.Aggregate(
            "energy.reading",
            "sum",
            "quantity",
            "month",
            zone,
            ("commodity", "direction"),
            _midnight(date(y, m + 1, 1), tz),
            _midnight(first, tz),
        ),
    )["rows"]
    streams = []
    for stream in sorted(readings.slots):
        day_rows = days(readings, stream)
        total = sum((d["total"] for d in day_rows), Decimal(0))
        past = {
            str(r["start"])[:7]: Decimal(r["value"]) / (WH if r["unit"] == "Wh" else 1)
            for r in before
            if (r["commodity"], r["direction"]) == (stream.commodity, stream.direction)
            and r.get("value") is not None
            and (r["unit"] == stream.unit or (r["unit"] == "Wh" and stream.unit == "kWh"))
        }
        # Energy follows the seasons: the same month a year before is the usual one, when there is one.
        year_before = past.get(f"{y:04d}-{m + 1:02d}")
        usual = (
            year_before.quantize(Decimal("0.001"))
            if year_before is not None
            else (sum(past.values(), Decimal(0)) / len(past)).quantize(Decimal("0.001"))
            if past
            else None
        )
        change = ((total - usual) * 100 / usual).quantize(Decimal("0.1")) if usual else None
        streams.append(
            StreamMonth(
                stream.name,
                stream.unit,
                total,
                sum(d["slots"] for d in day_rows),
                sum(d["expected"] for d in day_rows),
                usual,
                change,
            )
        )
    return readings, streams
