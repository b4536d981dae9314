"""Times: ISO 8601 with an offset in, UTC epoch milliseconds stored."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from .errors import SelfdataError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TimeFormatError(SelfdataError, ValueError):
    pass


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
    delta = dt - EPOCH
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


_DAY_PREFIX: dict[int, str] = {}


def iso(ms: int) -> str:
    """UTC ISO 8601 with millisecond precision, e.g. 2026-01-31T07:00:00.000Z.

    Every API response formats two times per record: the date part is cached per day
    and the time of day is integer arithmetic (about 5x faster than datetime).
    """
    seconds, frac = divmod(ms, 1000)
    day, sec = divmod(seconds, 86400)
    prefix = _DAY_PREFIX.get(day)
    if prefix is None:
        if len(_DAY_PREFIX) > 20_000:
            _DAY_PREFIX.clear()
        prefix = _DAY_PREFIX[day] = (EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")
    hour, rest = divmod(sec, 3600)
    minute, second = divmod(rest, 60)
    return f"{prefix}{hour:02d}:{minute:02d}:{second:02d}.{frac:03d}Z"


def now_ms() -> int:
    return to_ms(datetime.now(UTC))
