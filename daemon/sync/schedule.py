"""Schedules: "every 6h", "every 30m", "hourly", "daily", "weekly", or a cron expression.

Runs fall on fixed slots with a deterministic jitter seeded by the source's name, so
sources spread over the period, a restart finds the same slots, and vendors never see
every selfdata install at the top of the hour.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import croniter

from ..errors import SelfdataError
from ..times import from_ms, to_ms

NAMED = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400}
_EVERY = re.compile(r"^every\s+(\d+)\s*(m|min|h|d)$")
_UNIT = {"m": 60, "min": 60, "h": 3600, "d": 86400}
CRON_JITTER_S = 300
MIN_INTERVAL_S = 300


class ScheduleError(SelfdataError, ValueError):
    pass


@dataclass(frozen=True)
class Schedule:
    text: str
    period_s: int | None  # interval schedules
    cron: str | None

    def next_after(self, after: datetime, seed: str) -> datetime:
        """The first slot strictly after `after` for the source named `seed`."""
        if after.tzinfo is None:
            raise ValueError("after must be timezone-aware")
        jitter = _fraction(seed)
        if self.period_s is not None:
            # Integer milliseconds, as next runs are stored: a slot is never "after" itself.
            period = self.period_s * 1000
            phase = int(jitter * period)
            k = (to_ms(after) - phase) // period + 1
            return from_ms(phase + k * period)
        assert self.cron is not None
        offset = timedelta(seconds=int(jitter * CRON_JITTER_S))
        base: datetime = croniter(self.cron, (after - offset).astimezone(UTC)).get_next(datetime)
        return base.astimezone(UTC) + offset

    def slots_between(self, start: datetime, end: datetime, seed: str) -> int:
        """How many slots fall in (start, end]: several missed slots still make one catch-up run."""
        n, t = 0, start
        while True:
            t = self.next_after(t, seed)
            if t > end:
                return n
            n += 1


def _fraction(seed: str) -> float:
    digest = hashlib.blake2b(seed.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def parse_schedule(text: str) -> Schedule:
    value = text.strip().lower()
    if value in NAMED:
        return Schedule(text, NAMED[value], None)
    m = _EVERY.match(value)
    if m:
        seconds = int(m.group(1)) * _UNIT[m.group(2)]
        if seconds < MIN_INTERVAL_S:
            raise ScheduleError(f"schedule {text!r}: at most every 5 minutes, vendors rate-limit")
        return Schedule(text, seconds, None)
    if croniter.is_valid(text.strip()) and len(text.split()) == 5:
        return Schedule(text, None, text.strip())
    raise ScheduleError(
        f"schedule {text!r} is not understood: use 'every 6h', 'every 30m', 'hourly', 'daily', 'weekly' "
        "or a cron expression such as '17 */6 * * *'"
    )
