"""The legal deadlines of a request: one month from receipt, extendable by two (GDPR art. 12(3)).

A month runs from the day the request is received to the same date in the next month; when
that month has no such date (31 January, 29 February in a common year...), it ends on that
month's last day: sent on 31 January, due on 28 (or 29) February. This is how the EDPB's
guidelines 01/2022 on the right of access count it. Days are the user's: a request sent at
23:30 in New York on 28 February is received on 28 February there, whatever UTC says.
The deadline ends with that day, in that zone. A deadline on a weekend or a public holiday
is not moved: selfdata reminds on the calendar date and says so.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import SelfdataError

MONTHS = 1
EXTENSION_MONTHS = 2


class ZoneUnknown(SelfdataError, ValueError):
    pass


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ZoneUnknown(f"{name!r} is not a time zone name (e.g. Europe/Paris, America/New_York, UTC)") from None


def add_months(day: date, months: int) -> date:
    """The same date `months` later, or the last day of that month when it has no such date."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def local_day(ms: int, zone_name: str) -> date:
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone(zone_name)).date()


def due_on(received_ms: int, zone_name: str, extended: bool = False) -> date:
    """The last day to answer: one month after receipt, three when extended."""
    return add_months(local_day(received_ms, zone_name), MONTHS + (EXTENSION_MONTHS if extended else 0))


def end_of(day: date, zone_name: str) -> int:
    """The first millisecond after `day` in the zone: the deadline has passed from then on."""
    after = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone(zone_name))
    return int(after.timestamp() * 1000)


def passed(day: date, zone_name: str, now_ms: int) -> bool:
    return now_ms >= end_of(day, zone_name)
