"""Times: ISO 8601 with an offset in, UTC epoch milliseconds stored.

Every time stored lies within the years 0001-9999 in UTC (`to_ms` refuses others), so
Python, SQLite and every export can show it. A time stored outside them by an older
selfdata reads as the nearest bound (`MIN_MS`, `MAX_MS`) wherever it is shown.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from connectors.sdk.records import YEARS, outside_utc_years

from .errors import SelfdataError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_MS = -62_135_596_800_000  # 0001-01-01T00:00:00.000Z
MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


class TimeFormatError(SelfdataError, ValueError):
    pass


class TimeOutOfRange(TimeFormatError):
    """A time outside the years 0001-9999 in UTC, which selfdata cannot store or show."""


def parse_instant(text: str) -> int:
    """An ISO 8601 date-time with an offset, or a date (midnight UTC), as epoch ms."""
    text = text.strip()
    if len(text) == 10:
        try:
            d = date.fromisoformat(text)
        except ValueError as err:
            raise TimeFormatError(f"{text!r} is not a date (YYYY-MM-DD)") from err
        return to_ms(datetime(d.year, d.month, d.day, tzinfo=UTC))
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as err:
        raise TimeFormatError(f"{text!r} is not an ISO 8601 date-time (e.g. 2026-01-31T08:00:00+01:00)") from err
    if dt.tzinfo is None:
        raise TimeFormatError(f"{text!r} has no UTC offset; add one, e.g. {text}+00:00 or {text}Z")
    return to_ms(dt)


def to_ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise TimeFormatError(f"{dt.isoformat()} has no timezone")
    if outside_utc_years(dt):
        raise TimeOutOfRange(f"{dt.isoformat()} is outside the years {YEARS} in UTC, which selfdata can store")
    delta = dt - EPOCH
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def shown_ms(ms: int) -> int:
    """A stored time as it can be shown: one outside 0001-9999 (an older selfdata stored some) at the nearest bound."""
    return MIN_MS if ms < MIN_MS else MAX_MS if ms > MAX_MS else ms


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=shown_ms(ms))


_DAY_PREFIX: dict[int, str] = {}


def iso(ms: int) -> str:
    """UTC ISO 8601 with millisecond precision, e.g. 2026-01-31T07:00:00.000Z.

    Every API response formats two times per record: the date part is cached per day
    and the time of day is integer arithmetic (about 5x faster than datetime).
    """
    seconds, frac = divmod(shown_ms(ms), 1000)
    day, sec = divmod(seconds, 86400)
    prefix = _DAY_PREFIX.get(day)
    if prefix is None:
        if len(_DAY_PREFIX) > 20_000:
            _DAY_PREFIX.clear()
        d = EPOCH + timedelta(days=day)
        prefix = _DAY_PREFIX[day] = f"{d.year:04d}-{d.month:02d}-{d.day:02d}T"  # strftime drops zeros before 1000
    hour, rest = divmod(sec, 3600)
    minute, second = divmod(rest, 60)
    return f"{prefix}{hour:02d}:{minute:02d}:{second:02d}.{frac:03d}Z"


def now_ms() -> int:
    return to_ms(datetime.now(UTC))
