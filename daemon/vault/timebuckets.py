"""Local-time buckets in SQL: hours, days, weeks, months and years in a named time zone.

A zone's UTC offset is constant between its transitions, so the local wall-clock time of
a stored `ts` is `ts + offset`, the offset chosen by a CASE over the few transitions of the
window (two a year where clocks change). SQLite then groups by local hour or day number
straight from the ts index; days become weeks, months and years in Python, a few hundred
a year. DST days so have 23 or 25 hours, and a month in Europe/Paris starts at local
midnight. The dashboard's records per day and the aggregates share this.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import SelfdataError

HOUR_MS = 3_600_000
HALF_HOUR_MS = 1_800_000
DAY_MS = 86_400_000
BUCKETS = ("halfhour", "hour", "day", "week", "month", "year")
# Buckets shorter than a day: numbered from the local time, told apart by offset when clocks go back.
CLOCK_MS = {"halfhour": HALF_HOUR_MS, "hour": HOUR_MS}
# Offsets are looked for a day apart: no zone has changed its clocks twice within a day.
_STEP_MS = DAY_MS
# Before 1900 and after 2200 a zone's offset is taken as it is at those years.
_FIRST_MS = -2_208_988_800_000
_LAST_MS = 7_258_118_400_000

Spans = tuple[tuple[int, int], ...]  # (from ms, offset ms), the first from the window's start


class ZoneError(SelfdataError, ValueError):
    """An unknown time zone or bucket."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ZoneError(f"unknown time zone {name!r}: use a name such as Europe/Paris or UTC") from None


def check_bucket(bucket: str) -> str:
    if bucket not in BUCKETS:
        raise ZoneError(f"{bucket!r} is not a bucket: use one of {', '.join(BUCKETS)}")
    return bucket


def _offset(tz: ZoneInfo, ms: int) -> int:
    delta = datetime.fromtimestamp(ms / 1000, UTC).astimezone(tz).utcoffset() or timedelta()
    return int(delta.total_seconds() * 1000)


@functools.lru_cache(maxsize=256)
def offset_spans(name: str, start_ms: int, end_ms: int) -> Spans:
    """The zone's offsets over [start, end]: each change, found to the millisecond."""
    tz = zone(name)
    lo, hi = max(start_ms, _FIRST_MS), min(max(end_ms, start_ms), _LAST_MS)
    spans = [(start_ms, _offset(tz, lo))]
    at = lo
    while at < hi:
        nxt = min(at + _STEP_MS, hi)
        off = _offset(tz, nxt)
        if off != spans[-1][1]:
            a, b = at, nxt  # the offset changes in (a, b]
            while b - a > 1:
                mid = (a + b) // 2
                a, b = (mid, b) if _offset(tz, mid) == spans[-1][1] else (a, mid)
            spans.append((b, off))
        at = nxt
    return tuple(spans)


def offset_sql(column: str, spans: Spans) -> tuple[str, list[int]]:
    """SQL of the zone's offset (ms) at the time in `column`, and its parameters."""
    if len(spans) == 1:
        return "?", [spans[0][1]]
    cases = " ".join(f"WHEN {column} < ? THEN ?" for _ in spans[1:])
    args: list[int] = []
    for (_, off), (until, _) in zip(spans, spans[1:], strict=False):
        args += [until, off]
    return f"CASE {cases} ELSE ? END", [*args, spans[-1][1]]


# SQLite's integer division truncates toward zero: shifted by a whole number of weeks past
# the earliest time storable, every local time divides as floor division does.
_SHIFT_MS = 720_000 * DAY_MS


def number_sql(column: str, spans: Spans, unit_ms: int) -> tuple[str, list[int]]:
    """SQL of the local hour or day number (local ms // unit) of the time in `column`."""
    offset, args = offset_sql(column, spans)
    return f"(({column} + {offset} + {_SHIFT_MS}) / {unit_ms} - {_SHIFT_MS // unit_ms})", args


def day_of(number: int) -> date:
    """The local date of a local day number (local ms // DAY_MS)."""
    return date(1970, 1, 1) + timedelta(days=number)


def start_of(day: date, bucket: str) -> date:
    """The first day of the bucket holding `day` (ISO weeks start on Monday)."""
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    if bucket == "year":
        return day.replace(month=1, day=1)
    return day


def midnight(day: date, tz: ZoneInfo) -> str:
    """Local midnight of `day`, ISO 8601 with the offset it has there."""
    return datetime(day.year, day.month, day.day, tzinfo=tz).isoformat()


def hour_start(local_hour: int, offset_ms: int, tz: ZoneInfo, unit_ms: int = HOUR_MS) -> str:
    """The start of a local hour (or half hour), told apart by its offset (a clock set back shows 02:00 twice)."""
    utc_ms = local_hour * unit_ms - offset_ms
    return datetime.fromtimestamp(utc_ms / 1000, UTC).astimezone(tz).isoformat()
