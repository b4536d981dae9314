"""From `energy.reading` records to Home Assistant's hourly long-term statistics.

One statistic per meter, commodity, direction and unit (never two units in one), with an
external id `selfdata:<commodity>_<direction>_<meter>` (gas and water add their unit). An
hour's `state` is the energy measured in that UTC hour, `sum` the running total from the
first hour: what HA's Energy dashboard reads (it subtracts sums).

Which readings count: a meter may hold several resolutions of the same energy (Enedis's
daily totals beside its half-hour curve). A reading of an hour or less counts in the hour it
starts; a longer one (a day, 23 or 25 hours over a clock change) counts, in the hour it
starts, only when no shorter reading starts inside it; one longer than 25 hours (a monthly
bill) would pile a month onto one hour and is left out. The same interval stored twice (two
sources for one meter) counts once: the copy written last.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from hashlib import sha256

HOUR_MS = 3_600_000
COARSE_MAX_MS = 25 * HOUR_MS  # a day, with a clock change
DOMAIN = "selfdata"

# energy.reading's unit -> (HA's unit, factor to it, HA's unit class, id suffix)
_UNITS: dict[str, tuple[str, Decimal, str, str]] = {
    "kWh": ("kWh", Decimal(1), "energy", "kwh"),
    "Wh": ("kWh", Decimal("0.001"), "energy", "kwh"),
    "m3": ("m³", Decimal(1), "volume", "m3"),
    "ft3": ("ft³", Decimal(1), "volume", "ft3"),
    "L": ("L", Decimal(1), "volume", "l"),
    # The international therm (100,000 BTU_IT, used in the UK and the EU): exactly 105.505585262 MJ.
    "therm": ("MJ", Decimal("105.505585262"), "energy", "mj"),
}


class UnknownUnit(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Stream:
    """What one statistic holds: a meter's commodity and direction, in one of HA's units."""

    meter_id: str
    commodity: str
    direction: str
    unit: str  # HA's unit: kWh, m³, ft³, L, MJ

    @property
    def unit_class(self) -> str:
        return "energy" if self.unit in ("kWh", "MJ") else "volume"

    @property
    def name(self) -> str:
        what = f"{self.commodity} {self.direction}".capitalize()
        return f"{what} {self.meter_id} (selfdata)"


def stream_of(meter_id: str, commodity: str, direction: str, unit: str) -> tuple[Stream, Decimal]:
    """The stream a reading belongs to, and the factor turning its quantity into the stream's unit."""
    try:
        ha_unit, factor, _cls, _suffix = _UNITS[unit]
    except KeyError:
        raise UnknownUnit(f"unit {unit!r} has no Home Assistant equivalent") from None
    return Stream(meter_id, commodity, direction, ha_unit), factor


def _slug(text: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]", "_", text.lower())).strip("_")


def statistic_ids(streams: Iterable[Stream]) -> dict[Stream, str]:
    """Each stream's external statistic id, valid for HA (`domain:object_id`, lowercase slugs).

    Two meters whose ids make the same slug (`A-1`, `a_1`) each get a short hash of their id.
    """
    base: dict[Stream, str] = {}
    for s in streams:
        suffix = "" if s.commodity == "electricity" else "_" + next(v[3] for v in _UNITS.values() if v[0] == s.unit)
        meter = _slug(s.meter_id) or "meter"
        base[s] = f"{DOMAIN}:{_slug(s.commodity)}_{_slug(s.direction)}_{meter}{suffix}"
    seen: dict[str, set[str]] = {}
    for s, sid in base.items():
        seen.setdefault(sid, set()).add(s.meter_id)
    out = {}
    for s, sid in base.items():
        if len(seen[sid]) > 1:
            sid = f"{sid}_{sha256(s.meter_id.encode()).hexdigest()[:6]}"
        out[s] = sid
    return out


@dataclass(frozen=True, slots=True)
class Reading:
    start: int  # epoch ms
    end: int
    quantity: Decimal  # in the stream's unit
    seq: int


@dataclass(frozen=True)
class Hours:
    """A stream's hourly values (hour start ms -> energy), and what was left out."""

    values: dict[int, Decimal]
    too_long: int  # readings over 25 hours, not counted
    replaced: int  # longer readings not counted because shorter ones cover them


def hourly(readings: Iterable[Reading]) -> Hours:
    latest: dict[tuple[int, int], Reading] = {}
    for r in readings:
        kept = latest.get((r.start, r.end))
        if kept is None or r.seq > kept.seq:
            latest[(r.start, r.end)] = r
    fine = sorted(r.start for r in latest.values() if r.end - r.start <= HOUR_MS)
    values: dict[int, Decimal] = {}
    too_long = replaced = 0
    for r in latest.values():
        length = r.end - r.start
        if length > COARSE_MAX_MS:
            too_long += 1
            continue
        if length > HOUR_MS:
            i = bisect.bisect_left(fine, r.start)
            if i < len(fine) and fine[i] < r.end:
                replaced += 1
                continue
        hour = r.start - r.start % HOUR_MS
        values[hour] = values.get(hour, Decimal(0)) + r.quantity
    return Hours(values, too_long, replaced)


@dataclass(frozen=True, slots=True)
class Row:
    start: int  # the hour, epoch ms
    state: Decimal  # energy in the hour
    sum: Decimal  # running total up to the end of the hour


def rows(values: dict[int, Decimal], since: int | None, through: int | None) -> list[Row]:
    """The rows to send from hour `since` (None: the first) on, each with its running sum.

    Every hour with readings is a row; so is every hour up to `through` (the last one HA may
    already hold) that has none any more, at 0: HA then holds no stale sum there.
    """
    ordered = sorted(values)
    total = Decimal(0)
    out: list[Row] = []
    if not ordered and through is None:
        return out
    first = ordered[0] if since is None else since
    for hour in ordered:
        if hour >= first:
            break
        total += values[hour]
    last = max(ordered[-1] if ordered else first, through if through is not None else first)
    hour = first - first % HOUR_MS
    i = bisect.bisect_left(ordered, hour)
    while hour <= last:
        if i < len(ordered) and ordered[i] == hour:
            total += values[hour]
            out.append(Row(hour, values[hour], total))
            i += 1
        elif through is not None and hour <= through:
            out.append(Row(hour, Decimal(0), total))
        elif i < len(ordered):
            hour = ordered[i]
            continue
        else:
            break
        hour += HOUR_MS
    return out


def number(value: Decimal) -> float | int:
    """A decimal as the JSON number HA stores (a double: exact to 15 significant digits)."""
    return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else float(value)


def chunks(items: Sequence[Row], size: int) -> Iterable[Sequence[Row]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
