"""Units, codes and keys shared by the energy sources.

Every energy source files a reading under the interval it measures and keys it by
`meter:commodity:direction:start`, the start in UTC, so a reading fetched twice (or
revised) lands on the same record whatever offset the vendor wrote it with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def utc_text(when: datetime) -> str:
    """An instant as `2026-03-29T01:00:00Z`: the form used inside keys."""
    return when.astimezone(UTC).isoformat(timespec="seconds")[:19] + "Z"


def reading_key(meter: str, commodity: str, direction: str, start: datetime) -> str:
    return f"{meter}:{commodity}:{direction}:{utc_text(start)}"


_HOURS_MINUTES = tuple(f"{h:02d}:{m:02d}" for h in range(24) for m in range(60))


class IsoClock:
    """ISO 8601 text of epoch seconds in one time zone, as `datetime.isoformat()` writes it.

    A million readings make two million such texts, and `isoformat` is the costliest step
    of a reading: dates and UTC offsets are cached per day instead. A day with an offset
    change (DST) takes the plain `datetime` path. `zulu` writes UTC as `Z`, for keys.
    """

    def __init__(self, tz: tzinfo, *, zulu: bool = False) -> None:
        self.tz = tz
        self.zulu = zulu
        self._offsets: dict[int, tuple[int, str] | None] = {}
        self._dates: dict[int, str] = {}

    def text(self, epoch: int) -> str:
        day = epoch // 86400
        try:
            offset = self._offsets[day]
        except KeyError:
            offset = self._offsets[day] = self._day_offset(day)
        if offset is None:
            text = datetime.fromtimestamp(epoch, self.tz).isoformat()
            return text[:19] + "Z" if self.zulu else text
        seconds, suffix = offset
        local_day, second = divmod(epoch + seconds, 86400)
        date = self._dates.get(local_day)
        if date is None:
            date = self._dates[local_day] = datetime.fromtimestamp(local_day * 86400, UTC).strftime("%Y-%m-%dT")
        minute, second = divmod(second, 60)
        return date + _HOURS_MINUTES[minute] + (f":{second:02d}" if second else ":00") + suffix

    def _day_offset(self, day: int) -> tuple[int, str] | None:
        first = datetime.fromtimestamp(day * 86400, self.tz).utcoffset()
        last = datetime.fromtimestamp(day * 86400 + 86399, self.tz).utcoffset()
        if first is None or first != last or first.total_seconds() % 60:
            return None
        seconds = int(first.total_seconds())
        if self.zulu and seconds == 0:
            return 0, "Z"
        sign, minutes = ("-" if seconds < 0 else "+"), abs(seconds) // 60
        return seconds, f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; ValueError naming it when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (expected an IANA name like Europe/London)") from None


def check_zone(name: str) -> str | None:
    """A settings `check`: None when `name` is a known time zone, else the problem."""
    try:
        zone(name)
    except ValueError as err:
        return str(err)
    return None


def kwh_from_average_watts(watts: Decimal, minutes: int) -> Decimal:
    """Energy of an interval from its average power: W x minutes / 60 / 1000.

    Exact for 15, 30 and 60 minutes; other steps (10 minutes) give a repeating decimal,
    rounded to 1e-9 kWh (a millionth of a watt-hour), far below what a meter resolves.
    """
    watt_minutes = watts * minutes
    kwh = watt_minutes / Decimal(60000)
    rounded = kwh.quantize(Decimal("1e-9"))
    # An exact quotient has at most 5 decimals (60000 = 2^5 x 3 x 5^4, less the 3): rounding keeps it.
    return kwh if rounded * 60000 == watt_minutes else rounded


# --- ESPI (Green Button) code tables: NAESB REQ.21 / IEC 61968-9 enumerations ---------


@dataclass(frozen=True, slots=True)
class UnitRule:
    """How to turn an ESPI `uom` value into a quantity of `unit`: multiply by `factor`
    and shift by `shift` powers of ten (on top of the ReadingType's powerOfTenMultiplier)."""

    unit: str
    shift: int = 0
    factor: Decimal | None = None


# Energy and volume units that energy.reading can hold.
ESPI_UOM: dict[int, UnitRule] = {
    72: UnitRule("kWh", shift=-3),  # Wh
    42: UnitRule("m3"),  # cubic metres
    119: UnitRule("ft3"),  # cubic feet
    169: UnitRule("therm"),  # therms
    132: UnitRule("therm", shift=-5),  # BTU: 100,000 BTU make one (US) therm
    134: UnitRule("L"),  # litres
    128: UnitRule("L", factor=Decimal("3.785411784")),  # US gallons, exactly
    130: UnitRule("L", factor=Decimal("4.54609")),  # imperial gallons, exactly
}

# Known units that are not an energy or volume delivered over an interval (power,
# voltage, reactive energy...): series in them are left out, never stored as energy.
ESPI_UOM_NOT_ENERGY: dict[int, str] = {
    0: "no unit",
    5: "amperes",
    29: "volts",
    31: "joules",
    33: "hertz",
    38: "watts",
    61: "volt-amperes",
    63: "volt-amperes reactive",
    65: "cosine (power factor)",
    67: "volts squared",
    69: "amperes squared",
    71: "volt-ampere hours",
    73: "volt-ampere reactive hours",
    106: "ampere hours",
    122: "cubic feet per hour",
    125: "cubic metres per hour",
    129: "US gallons per hour",
    131: "imperial gallons per hour",
    133: "BTU per hour",
    137: "litres per hour",
    140: "gauge pascals",
    155: "absolute pascals",
}

# ReadingType.commodity (CommodityKind).
ESPI_COMMODITY: dict[int, str] = {
    1: "electricity",  # electricity, secondary metered
    2: "electricity",  # electricity, primary metered
    7: "gas",  # natural gas
    8: "gas",  # propane
    9: "water",  # potable water
    14: "water",  # non-potable water
    18: "gas",  # biogas
}

# UsagePoint.ServiceCategory.kind (ServiceKind), used when ReadingType has no commodity.
ESPI_SERVICE_KIND: dict[int, str] = {0: "electricity", 1: "gas", 2: "water"}

# ReadingType.flowDirection (FlowDirectionKind). 4 (net) is handled apart.
ESPI_FLOW: dict[int, str] = {1: "consumption", 19: "production"}
FLOW_NET = 4

# ReadingType.accumulationBehaviour: only interval (delta) values are consumption.
ACCUMULATION_DELTA = {0, 4}
ESPI_ACCUMULATION: dict[int, str] = {
    1: "bulk quantity (a register reading)",
    3: "cumulative (a register reading)",
    6: "indicating (an instant value)",
    9: "summation (a register reading)",
    12: "instantaneous (an instant value)",
}

# IntervalReading.ReadingQuality.quality (QualityOfReading).
ESPI_QUALITY: dict[int, str] = {
    0: "actual",  # valid
    7: "revised",  # manually edited
    8: "estimated",  # estimated using a reference day
    9: "estimated",  # estimated by linear interpolation
    10: "unknown",  # questionable
    11: "estimated",  # derived
    12: "estimated",  # projected
    13: "unknown",  # mixed
    14: "actual",  # raw
    15: "estimated",  # normalised for weather
    16: "unknown",  # other
    17: "actual",  # validated
    18: "actual",  # verified
    19: "actual",  # valid (ESPI 3.3)
}
# When one reading carries several qualities, the least trustworthy wins.
QUALITY_RANK = {"actual": 0, "unknown": 1, "revised": 2, "estimated": 3, "missing": 4}

# ISO 4217 numeric codes ESPI uses for `currency`.
ESPI_CURRENCY: dict[int, str] = {36: "AUD", 124: "CAD", 826: "GBP", 840: "USD", 978: "EUR"}
# ESPI costs are in hundred-thousandths of the currency unit.
ESPI_COST_SHIFT = -5


# A reading lasts at most a year.
MAX_DURATION = 366 * 86400


@dataclass(frozen=True, slots=True)
class Series:
    """What one ESPI MeterReading's values are, resolved from its ReadingType."""

    meter_id: str
    key_prefix: str  # "<channel>:<commodity>:<direction>:"
    commodity: str
    direction: str
    unit: str
    shift: int  # powers of ten from the raw value to `unit`
    factor: Decimal | None
    interval_length: int | None
    net: bool
    currency: str | None


@dataclass(frozen=True, slots=True)
class Skip:
    """A MeterReading whose values are not energy or volume over an interval."""

    reason: str


def reading_series(rt: dict[str, str], service_kind: int | None, *, meter_id: str, channel: str) -> Series | Skip:
    """Interpret an ESPI ReadingType (its leaf values as text). ValueError says what is wrong."""
    uom = _code(rt, "uom")
    if uom is None:
        raise ValueError("no uom: cannot tell what its values are")
    if uom in ESPI_UOM_NOT_ENERGY:
        return Skip(f"uom {uom} ({ESPI_UOM_NOT_ENERGY[uom]}) is not an energy or volume")
    rule = ESPI_UOM.get(uom)
    if rule is None:
        raise ValueError(f"unknown uom code {uom}")
    accumulation = _code(rt, "accumulationBehaviour") or 0
    if accumulation not in ACCUMULATION_DELTA:
        label = ESPI_ACCUMULATION.get(accumulation, f"code {accumulation}")
        return Skip(f"accumulationBehaviour {label} is not consumption per interval")
    commodity = _commodity(rt, service_kind, rule.unit)
    flow = _code(rt, "flowDirection") or 1
    if flow != FLOW_NET and flow not in ESPI_FLOW:
        raise ValueError(f"flowDirection {flow} is neither delivered (1), received (19) nor net (4)")
    power = _code(rt, "powerOfTenMultiplier") or 0
    if not -12 <= power <= 12:
        raise ValueError(f"absurd powerOfTenMultiplier {power}")
    length = _code(rt, "intervalLength")
    if length is not None and not 0 < length <= MAX_DURATION:
        raise ValueError(f"absurd intervalLength {length} s")
    direction = "consumption" if flow == FLOW_NET else ESPI_FLOW[flow]
    return Series(
        meter_id=meter_id,
        key_prefix=f"{channel}:{commodity}:{direction}:",
        commodity=commodity,
        direction=direction,
        unit=rule.unit,
        shift=power + rule.shift,
        factor=rule.factor,
        interval_length=length,
        net=flow == FLOW_NET,
        currency=ESPI_CURRENCY.get(_code(rt, "currency") or 0),
    )


def _commodity(rt: dict[str, str], service_kind: int | None, unit: str) -> str:
    code = _code(rt, "commodity") or 0
    if code:
        commodity = ESPI_COMMODITY.get(code)
        if commodity is None:
            raise ValueError(f"commodity {code} is not electricity, gas or water")
    else:
        commodity = ESPI_SERVICE_KIND.get(service_kind) if service_kind is not None else None
        if service_kind is not None and commodity is None:
            raise ValueError(f"the usage point's service kind {service_kind} is not electricity, gas or water")
        if commodity is None:
            # Nothing says: energy in Wh is electricity, therms are gas; a volume could be either.
            commodity = {"kWh": "electricity", "therm": "gas"}.get(unit)
        if commodity is None:
            raise ValueError(f"no commodity and no usage point service kind for a volume in {unit}")
    if commodity == "electricity" and unit != "kWh":
        raise ValueError(f"electricity measured in {unit}")
    return commodity


def _code(rt: dict[str, str], name: str) -> int | None:
    text = (rt.get(name) or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number") from None
