"""Half-hour sums of `energy.reading` per stream (commodity, direction, unit), read a UTC month
at a time and kept until a reading of that month changes.

A local half-hour is a UTC half-hour in every zone whose offset is a whole number of half
hours, so the sums are read once for any zone, straight from the (dataset, ts) index; they
are the sums `aggregate?fn=sum&field=quantity&bucket=halfhour&group=commodity,direction`
gives. Sums are exact: each decimal is summed as a whole number of 10^-9 (as the aggregates
do), or as Decimals in Python when a value has more decimals.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..vault import aggregate
from ..vault.db import Connection

SLOT_MS = 1_800_000
DAY_MS = 86_400_000
WH = Decimal(1000)
RESCAN = 20_000  # records written since the last look past which every month is read again
Series = dict["Stream", list[tuple[int, Decimal]]]


@dataclass(frozen=True, order=True)
class Stream:
    commodity: str
    direction: str
    unit: str

    @property
    def name(self) -> str:
        return f"{self.commodity} {self.direction} ({self.unit})"


def _field(name: str) -> str:
    return f"(data ->> '$.{name}')"


def read_slots(conn: Connection, lo: int, hi: int) -> Series:
    """The half-hour sums of every stream in [lo, hi) ms: from the `energy_slots` table the
    triggers keep, or from the records where that table cannot say them exactly."""
    kept = _kept_slots(conn, lo, hi)
    if kept is not None:
        return kept
    return _record_slots(conn, lo, hi)


def _kept_slots(conn: Connection, lo: int, hi: int) -> Series | None:
    """The same sums from `energy_slots` (one short row per stream and half-hour); None when
    the window is not whole half-hours, a value has more than 9 decimals or a sum overflowed."""
    if lo % SLOT_MS or hi % SLOT_MS or lo < 0:
        return None
    rows: list[Any] = conn.execute(
        "SELECT slot, commodity, direction, unit, total, scale FROM energy_slots"
        " WHERE slot >= ? AND slot < ? AND n > 0 ORDER BY slot, commodity, direction, unit",
        (lo // SLOT_MS, hi // SLOT_MS),
    ).fetchall()
    out: Series = {}
    streams: dict[tuple[str, str, str], tuple[Stream, list[tuple[int, Decimal]]]] = {}
    values: dict[tuple[int, int], Decimal] = {}  # a meter's quantities repeat: each converted once
    for slot, commodity, direction, unit, total, scale in rows:
        if scale > aggregate.SCALE or not isinstance(total, int):
            return None
        value = values.get((total, scale))
        if value is None:
            value = values[(total, scale)] = Decimal(total).scaleb(-aggregate.SCALE).quantize(Decimal(1).scaleb(-scale))
        found = streams.get((commodity, direction, unit))
        if found is None:
            stream = Stream(commodity, direction, unit)
            found = streams[(commodity, direction, unit)] = (stream, out.setdefault(stream, []))
        if unit == "Wh":
            _add(out, found[0], slot * SLOT_MS, value)
            continue
        series, ms = found[1], slot * SLOT_MS
        if series and series[-1][0] == ms:  # Wh and kWh in the same half-hour
            series[-1] = (ms, series[-1][1] + value)
        else:
            series.append((ms, value))
    return {k: v for k, v in out.items() if v}


def _record_slots(conn: Connection, lo: int, hi: int) -> Series:
    qty = _field("quantity")
    dot = f"instr({qty}, '.')"
    head = f"SELECT ts / {SLOT_MS}, {_field('commodity')}, {_field('direction')}, {_field('unit')}"
    where = "FROM records WHERE dataset='energy.reading' AND deleted=0 AND ts >= ? AND ts < ?"
    rows: list[Any] = conn.execute(
        f"{head}, sum({aggregate.scaled_sql(qty)}), max(CASE WHEN {dot} THEN length({qty}) - {dot} ELSE 0 END),"
        f" count({qty}) {where} GROUP BY 1, 2, 3, 4",
        (lo, hi),
    ).fetchall()
    out: Series = {}
    exps: dict[int, Decimal] = {}
    if any(r[5] is not None and r[5] > aggregate.SCALE for r in rows):
        return _in_python(conn, head, where, lo, hi)
    for slot, commodity, direction, unit, total, scale, n in rows:
        if not n:
            continue
        exp = exps.get(scale) or exps.setdefault(scale, Decimal(1).scaleb(-scale))
        value = Decimal(total).scaleb(-aggregate.SCALE).quantize(exp)
        _add(out, Stream(commodity, direction, unit), slot * SLOT_MS, value)
    return out


def _in_python(conn: Connection, head: str, where: str, lo: int, hi: int) -> Series:
    sums: dict[tuple[Stream, int], Decimal] = {}
    for slot, commodity, direction, unit, qty in conn.execute(f"{head}, {_field('quantity')} {where}", (lo, hi)):
        if qty is not None:
            key = (Stream(commodity, direction, unit), slot * SLOT_MS)
            sums[key] = sums.get(key, Decimal(0)) + Decimal(str(qty))
    out: Series = {}
    for (stream, ms), value in sorted(sums.items()):
        _add(out, stream, ms, value)
    return out


def _add(out: Series, stream: Stream, ms: int, value: Decimal) -> None:
    if stream.unit == "Wh":  # counted as kWh, exactly
        stream, value = Stream(stream.commodity, stream.direction, "kWh"), value / WH
    series = out.setdefault(stream, [])
    if series and series[-1][0] == ms:  # Wh and kWh in the same half-hour
        series[-1] = (ms, series[-1][1] + value)
    else:
        series.append((ms, value))


def month_starts(start: int, end: int) -> list[int]:
    """UTC month boundaries from the month holding `start` to the one after `end`."""
    at = datetime.fromtimestamp(start / 1000, UTC)
    y, m = at.year, at.month
    out = []
    while True:
        ms = int(datetime(y, m, 1, tzinfo=UTC).timestamp() * 1000)
        out.append(ms)
        if ms >= end:
            return out
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)


def last_seq(conn: Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE name='last_seq'").fetchone()
    return int(row[0]) if row else 0


class SlotCache:
    """Months of half-hour sums, and whole views, kept while the daemon runs: a month is read
    again only when one of its readings changes (the records with a newer `seq` say which)."""

    def __init__(self, months: int = 36, views: int = 16) -> None:
        self.seq = -1
        self.max_months, self.max_views = months, views
        self.months: OrderedDict[int, Series] = OrderedDict()
        self.views: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    def refresh(self, conn: Connection) -> int:
        seq = last_seq(conn)
        if seq == self.seq:
            return seq
        self.views.clear()
        if seq < self.seq or self.seq < 0 or seq - self.seq > RESCAN:
            self.months.clear()  # after a large import, reading the kept sums again is quicker
        elif self.months:
            days = conn.execute(  # NOT INDEXED: the seq (rowid) range written since, not every reading's entry
                "SELECT DISTINCT ts / ? FROM records NOT INDEXED WHERE seq > ? AND dataset='energy.reading'",
                (DAY_MS, self.seq),
            ).fetchall()
            for (day,) in days:
                self.months.pop(month_starts(day * DAY_MS, day * DAY_MS)[0], None)
        self.seq = seq
        return seq

    def slots(self, conn: Connection, start: int, end: int) -> Series:
        self.refresh(conn)
        bounds = month_starts(start, end)
        out: Series = {}
        for lo, hi in zip(bounds, bounds[1:], strict=False):
            month = self.months.get(lo)
            if month is None:
                month = self.months[lo] = read_slots(conn, lo, hi)
            self.months.move_to_end(lo)
            for stream, series in month.items():
                if lo >= start and hi <= end:
                    out.setdefault(stream, []).extend(series)
                else:
                    out.setdefault(stream, []).extend(s for s in series if start <= s[0] < end)
        while len(self.months) > max(self.max_months, len(bounds)):
            self.months.popitem(last=False)
        return out

    def view(self, key: tuple[Any, ...]) -> Any:
        return self.views.get(key)

    def keep(self, key: tuple[Any, ...], value: Any) -> None:
        self.views[key] = value
        while len(self.views) > self.max_views:
            self.views.popitem(last=False)
