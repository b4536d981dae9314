"""Tariffs as data (`energy.tariff` records) and pricing half-hours of readings with them.

A tariff is one version of a product: its prices and the period they were valid. Each
half-hour is priced with the version valid at its start, so a price change mid-year costs
each half-hour at the price then. Bands are read in the tariff's own zone: HP/HC in
Europe/Paris, Economy 7 often in UTC (the meter's clock does not change for summer time).
A Tempo day runs from 06:00 to 06:00 and takes its colour from `energy.day_colour`.

Money is Decimal, exact: a band's cost is its price times its exact kWh; totals are
shown rounded to the cent, half up, and kept exact beside.
"""

from __future__ import annotations

import csv
import io
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.sdk import datasets
from connectors.sdk.errors import InvalidRecord
from connectors.sdk.schema import decimal_text, parse_decimal

from ..errors import SelfdataError
from ..vault import timebuckets

SLOT_MS = 1_800_000
SLOTS_PER_DAY = 48
CENT = Decimal("0.01")
TEMPO_DAY_MS = 6 * 3_600_000  # a Tempo day starts at 06:00
DAY_MS = 86_400_000
_EPOCH = date(1970, 1, 1)
TEMPO = "tempo"
# UK bills: kWh = m3 x volume correction x calorific value (MJ/m3) / 3.6
UK_VOLUME_CORRECTION = Decimal("1.02264")
MJ_PER_KWH = Decimal("3.6")


class TariffError(SelfdataError, ValueError):
    """A tariff that cannot price anything as entered; the message names the field."""


@dataclass(frozen=True)
class Band:
    name: str
    price: Decimal
    start: int  # minutes after local midnight
    end: int
    days: str = "all"  # all | weekdays | weekends
    colour: str | None = None

    def covers(self, minute: int, weekend: bool, colour: str | None) -> bool:
        if self.colour is not None and self.colour != colour:
            return False
        if self.days == "weekdays" and weekend or self.days == "weekends" and not weekend:
            return False
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end  # past midnight, or all day


@dataclass(frozen=True)
class Tariff:
    tariff_id: str
    supplier: str
    product: str
    commodity: str
    direction: str
    valid_from: datetime
    valid_to: datetime | None
    currency: str
    kind: str
    standing_charge: Decimal = Decimal(0)
    unit_price: Decimal | None = None
    bands: tuple[Band, ...] = ()
    zone: str = "UTC"
    tax_percent: Decimal | None = None
    calorific_value: Decimal | None = None  # gas: MJ/m3 from the bill
    volume_correction: Decimal | None = None
    held: bool = False  # the user's own tariff over its validity
    # the band index of each half-hour of a day, per (weekend, colour): filled by `prepared`
    tables: dict[tuple[bool, str | None], tuple[int, ...]] = field(default_factory=dict, compare=False)

    @property
    def label(self) -> str:
        return f"{self.supplier} {self.product}"

    @property
    def from_ms(self) -> int:
        return int(self.valid_from.timestamp() * 1000)

    @property
    def to_ms(self) -> int | None:
        return None if self.valid_to is None else int(self.valid_to.timestamp() * 1000)

    def valid_at(self, ms: int) -> bool:
        return self.from_ms <= ms and (self.to_ms is None or ms < self.to_ms)

    def band_of(self, minute: int, weekend: bool, colour: str | None) -> int:
        table = self.tables.get((weekend, colour))
        return -1 if table is None else table[minute // 30]


def _minutes(text: Any, where: str) -> int:
    try:
        hours, minutes = str(text).split(":")
        h, m = int(hours), int(minutes)
    except ValueError:
        raise TariffError(f"{where}: {text!r} is not a time HH:MM") from None
    if not (0 <= h < 24 and m in (0, 30)):
        raise TariffError(f"{where}: {text!r} must be on the hour or the half hour, 00:00 to 23:30")
    return h * 60 + m


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TariffError(f"timezone: unknown time zone {name!r} (use a name such as Europe/Paris)") from None
    return name


def _decimal(data: Mapping[str, Any], name: str, where: str) -> Decimal | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    try:
        return parse_decimal(str(value))
    except ValueError:
        raise TariffError(f"{where}: {name} {value!r} is not a number") from None


def from_data(data: Mapping[str, Any]) -> Tariff:
    """A tariff from an `energy.tariff` record's data, checked: every half-hour of every day
    (and every Tempo colour) falls in exactly one band."""
    try:
        datasets.EnergyTariff.validate(dict(data))
    except InvalidRecord as err:
        raise TariffError(f"tariff {data.get('tariff_id', '?')}: {err}") from None
    tid = str(data["tariff_id"])
    bands = tuple(
        Band(
            str(b["name"]),
            parse_decimal(b["price"]),
            _minutes(b["start"], f"tariff {tid}, band {b['name']}: start"),
            _minutes(b["end"], f"tariff {tid}, band {b['name']}: end"),
            b.get("days") or "all",
            b.get("colour"),
        )
        for b in data.get("bands") or []
    )
    valid_from = datetime.fromisoformat(data["valid_from"])
    valid_to = datetime.fromisoformat(data["valid_to"]) if data.get("valid_to") else None
    if valid_to is not None and valid_to <= valid_from:
        raise TariffError(f"tariff {tid}: valid_to {data['valid_to']} is not after valid_from {data['valid_from']}")
    tariff = Tariff(
        tariff_id=tid,
        supplier=str(data["supplier"]),
        product=str(data["product"]),
        commodity=str(data["commodity"]),
        direction=str(data.get("direction") or "consumption"),
        valid_from=valid_from,
        valid_to=valid_to,
        currency=str(data["currency"]),
        kind=str(data["kind"]),
        standing_charge=_decimal(data, "standing_charge", f"tariff {tid}") or Decimal(0),
        unit_price=_decimal(data, "unit_price", f"tariff {tid}"),
        bands=bands,
        zone=_zone(str(data.get("timezone") or "UTC")),
        tax_percent=_decimal(data, "tax_percent", f"tariff {tid}"),
        calorific_value=_decimal(data, "calorific_value", f"tariff {tid}"),
        volume_correction=_decimal(data, "volume_correction", f"tariff {tid}"),
        held=data.get("held") == "yes",
    )
    _check_kind(tariff)
    return tariff


def _check_kind(t: Tariff) -> None:
    where = f"tariff {t.tariff_id}"
    if t.kind == "fixed":
        if t.unit_price is None:
            raise TariffError(f"{where}: a fixed tariff needs unit_price")
        return
    if t.kind == "half_hourly":
        return
    if not t.bands:
        raise TariffError(f"{where}: a {t.kind} tariff needs bands")
    colours: tuple[str | None, ...] = ("blue", "white", "red") if t.kind == "tempo" else (None,)
    if t.kind == "tempo" and any(b.colour is None for b in t.bands):
        raise TariffError(f"{where}: every band of a Tempo tariff names its colour (blue, white, red)")
    for colour in colours:
        for weekend in (False, True):
            table = []
            for slot in range(SLOTS_PER_DAY):
                hits = [i for i, b in enumerate(t.bands) if b.covers(slot * 30, weekend, colour)]
                day = ("weekends" if weekend else "weekdays") + (f", {colour} days" if colour else "")
                shown = f"{slot // 2:02d}:{slot % 2 * 30:02d}"
                if not hits:
                    raise TariffError(f"{where}: no band covers {shown} on {day}")
                if len(hits) > 1:
                    names = " and ".join(t.bands[i].name for i in hits)
                    raise TariffError(f"{where}: bands {names} both cover {shown} on {day}")
                table.append(hits[0])
            t.tables[(weekend, colour)] = tuple(table)


def to_data(t: Tariff) -> dict[str, Any]:
    """The `energy.tariff` record of a tariff (the inverse of `from_data`)."""

    def hm(minutes: int) -> str:
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    data: dict[str, Any] = {
        "tariff_id": t.tariff_id,
        "supplier": t.supplier,
        "product": t.product,
        "commodity": t.commodity,
        "direction": t.direction,
        "valid_from": t.valid_from.isoformat(),
        "valid_to": t.valid_to.isoformat() if t.valid_to else None,
        "currency": t.currency,
        "kind": t.kind,
        "standing_charge": decimal_text(t.standing_charge),
        "unit_price": decimal_text(t.unit_price) if t.unit_price is not None else None,
        "bands": [
            {
                "name": b.name,
                "price": decimal_text(b.price),
                "start": hm(b.start),
                "end": hm(b.end),
                "days": b.days,
                **({"colour": b.colour} if b.colour else {}),
            }
            for b in t.bands
        ]
        or None,
        "timezone": t.zone,
        "tax_percent": decimal_text(t.tax_percent) if t.tax_percent is not None else None,
        "held": "yes" if t.held else "no",
    }
    if t.calorific_value is not None:
        data["calorific_value"] = decimal_text(t.calorific_value)
    if t.volume_correction is not None:
        data["volume_correction"] = decimal_text(t.volume_correction)
    return {k: v for k, v in data.items() if v is not None}


def parse_bands(text: str) -> list[dict[str, str]]:
    """`name=price@HH:MM-HH:MM[/weekdays|weekends][/blue|white|red]`, comma-separated, as the CLI takes them:
    `HC=0.1828@22:00-06:00,HP=0.2460@06:00-22:00`."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            name, rest = part.split("=", 1)
            price, times = rest.split("@", 1)
            span, *extra = times.split("/")
            start, end = span.split("-")
        except ValueError:
            raise TariffError(f"band {part!r}: write name=price@HH:MM-HH:MM (e.g. HC=0.1828@22:00-06:00)") from None
        band = {"name": name.strip(), "price": price.strip(), "start": start.strip(), "end": end.strip()}
        for word in extra:
            key = "days" if word in ("all", "weekdays", "weekends") else "colour"
            if key == "colour" and word not in ("blue", "white", "red"):
                raise TariffError(f"band {part!r}: {word!r} is neither weekdays/weekends nor blue/white/red")
            band[key] = word
        out.append(band)
    return out


def read_price_csv(text: str, where: str) -> list[tuple[datetime, datetime, Decimal]]:
    """Half-hour prices from a CSV with a header: `start,end,price` (end optional: start + 30 min).
    Times are ISO 8601 with an offset; prices per kWh. A bad line is named, nothing is kept."""
    rows = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(rows, [])]
    if "start" not in header or "price" not in header:
        raise TariffError(f"{where}: the first line must name the columns start,price (and optionally end)")
    i_start, i_price = header.index("start"), header.index("price")
    i_end = header.index("end") if "end" in header else None
    out = []
    for n, row in enumerate(rows, start=2):
        if not any(c.strip() for c in row):
            continue
        try:
            start = datetime.fromisoformat(row[i_start].strip().replace("Z", "+00:00"))
            end = (
                datetime.fromisoformat(row[i_end].strip().replace("Z", "+00:00"))
                if i_end is not None and row[i_end].strip()
                else start + timedelta(minutes=30)
            )
            price = parse_decimal(row[i_price].strip())
        except (IndexError, ValueError) as err:
            raise TariffError(f"{where}, line {n}: {err}") from None
        if start.tzinfo is None or end.tzinfo is None:
            raise TariffError(f"{where}, line {n}: {row[i_start]!r} has no UTC offset")
        if end <= start or (end - start) % timedelta(minutes=30) or start.minute % 30 or start.second:
            raise TariffError(f"{where}, line {n}: a price covers whole half-hours from a half hour")
        out.append((start, end, price))
    if not out:
        raise TariffError(f"{where}: no prices")
    return out


def read_colour_csv(text: str, where: str) -> list[tuple[date, str]]:
    """Tempo day colours from a CSV `day,colour` (2026-01-15,red); a bad line is named."""
    rows = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(rows, [])]
    if header[:2] != ["day", "colour"]:
        raise TariffError(f"{where}: the first line must be day,colour")
    out = []
    words = {"blue": "blue", "bleu": "blue", "white": "white", "blanc": "white", "red": "red", "rouge": "red"}
    for n, row in enumerate(rows, start=2):
        if not any(c.strip() for c in row):
            continue
        try:
            day = date.fromisoformat(row[0].strip())
            colour = words[row[1].strip().lower()]
        except (IndexError, ValueError, KeyError):
            raise TariffError(f"{where}, line {n}: expected YYYY-MM-DD,blue|white|red, got {','.join(row)!r}") from None
        out.append((day, colour))
    return out


# ---- pricing -------------------------------------------------------------------------


@dataclass
class Costing:
    """What a period of half-hours costs under one product (its versions in time)."""

    label: str
    currency: str
    kind: str
    kwh: Decimal = Decimal(0)
    energy: Decimal = Decimal(0)
    standing_days: int = 0
    standing: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    by_band: dict[str, list[Decimal]] = field(default_factory=dict)  # band -> [kWh, cost]
    slots: int = 0
    unpriced_slots: int = 0
    unpriced_kwh: Decimal = Decimal(0)
    borrowed_slots: int = 0  # priced with the nearest version: outside every version's validity
    by_version: dict[str, int] = field(default_factory=dict)
    method: list[str] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return self.energy + self.standing + self.tax

    @property
    def total_rounded(self) -> Decimal:
        return self.total.quantize(CENT, rounding=ROUND_HALF_UP)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "currency": self.currency,
            "kind": self.kind,
            "kwh": decimal_text(self.kwh),
            "energy": decimal_text(self.energy),
            "standing_days": self.standing_days,
            "standing": decimal_text(self.standing),
            "tax": decimal_text(self.tax),
            "total": decimal_text(self.total),
            "total_rounded": decimal_text(self.total_rounded),
            "bands": [
                {"band": name, "kwh": decimal_text(k), "cost": decimal_text(c)} for name, (k, c) in self.by_band.items()
            ],
            "slots": self.slots,
            "unpriced_slots": self.unpriced_slots,
            "unpriced_kwh": decimal_text(self.unpriced_kwh),
            "borrowed_slots": self.borrowed_slots,
            "method": self.method,
        }


def products(tariffs: Sequence[Tariff]) -> dict[tuple[str, str, str, str], list[Tariff]]:
    """Versions of each product (supplier, product, commodity, direction), oldest first."""
    out: dict[tuple[str, str, str, str], list[Tariff]] = {}
    for t in sorted(tariffs, key=lambda t: t.valid_from):
        out.setdefault((t.supplier, t.product, t.commodity, t.direction), []).append(t)
    return out


class _Versions:
    """The version valid at a time, found by bisection (slots come by the thousand)."""

    def __init__(self, versions: Sequence[Tariff], borrow: bool) -> None:
        self.versions = list(versions)
        self.froms = [v.from_ms for v in versions]
        self.tos = [v.to_ms for v in versions]
        self.borrow = borrow
        # the answer changes only where a version starts or ends: kept between those times
        self.edges = sorted({*self.froms, *(t for t in self.tos if t is not None)})
        self.lo, self.hi = 1, 0
        self.found: tuple[Tariff | None, bool] = (None, False)

    def at(self, ms: int) -> tuple[Tariff | None, bool]:
        if self.lo <= ms < self.hi:
            return self.found
        k = bisect_right(self.edges, ms)
        self.lo = self.edges[k - 1] if k else -(2**63)
        self.hi = self.edges[k] if k < len(self.edges) else 2**63
        self.found = self._at(ms)
        return self.found

    def _at(self, ms: int) -> tuple[Tariff | None, bool]:
        i = bisect_right(self.froms, ms) - 1
        # versions may overlap: the latest started wins, else an earlier one still valid
        for j in range(i, -1, -1):
            to = self.tos[j]
            if to is None or ms < to:
                return self.versions[j], False
        if not self.borrow:
            return None, False
        return self.versions[max(i, 0)], True


class Clock:
    """Local wall-clock ms of UTC ms in a zone, from its offsets over the period."""

    def __init__(self, zone: str, start: int, end: int) -> None:
        spans = timebuckets.offset_spans(zone, start, end)
        self.froms = [f for f, _ in spans]
        self.offsets = [o for _, o in spans]
        self.lo, self.hi, self.offset = 1, 0, 0  # the span last asked: half-hours come in order

    def local(self, ms: int) -> int:
        if self.lo <= ms < self.hi:
            return ms + self.offset
        i = bisect_right(self.froms, ms) - 1
        self.lo = self.froms[i] if i > 0 else -(2**63)
        self.hi = self.froms[i + 1] if i + 1 < len(self.froms) else 2**63
        self.offset = self.offsets[max(i, 0)]
        return ms + self.offset

    def whole_half_hours(self) -> bool:
        return all(o % SLOT_MS == 0 for o in self.offsets)


def gas_factor(t: Tariff) -> Decimal:
    """kWh per m3 from the bill's calorific value (MJ/m3) and volume correction."""
    if t.calorific_value is None:
        raise TariffError(
            f"tariff {t.tariff_id}: gas read in m3 needs the calorific value your bill states (MJ/m3, e.g. 39.5)"
        )
    return (t.volume_correction or UK_VOLUME_CORRECTION) * t.calorific_value / MJ_PER_KWH


def price(
    slots: Sequence[tuple[int, Decimal]],
    versions: Sequence[Tariff],
    *,
    period: tuple[int, int],
    colours: Mapping[date, str] | None = None,
    prices: Mapping[str, Mapping[int, Decimal]] | None = None,
    borrow: bool = True,
    unit: str = "kWh",
) -> Costing:
    """The cost of `slots` (UTC half-hour start ms, quantity) over `period` [start, end) ms.

    Each half-hour takes the version valid at its start; with `borrow` (a comparison), a
    half-hour outside every version takes the nearest one, and the method says how many.
    Half-hours without a price (a Tempo day without a colour, an Agile half-hour without a
    published rate) are counted apart, never guessed."""
    first = versions[0]
    cost = Costing(first.label, first.currency, first.kind)
    if any(v.currency != first.currency for v in versions):
        raise TariffError(f"{first.label}: its versions are in several currencies; they are never added up")
    colours = colours or {}
    prices = prices or {}
    # per version: [quantity per band], and the half-hourly cost
    sums: dict[str, list[Decimal]] = {v.tariff_id: [Decimal(0)] * max(1, len(v.bands)) for v in versions}
    hh_cost: dict[str, Decimal] = {v.tariff_id: Decimal(0) for v in versions}
    hh_qty: dict[str, Decimal] = {v.tariff_id: Decimal(0) for v in versions}
    clocks = {v.zone: Clock(v.zone, period[0], period[1]) for v in versions}
    found = _Versions(versions, borrow)
    missing_colours: set[date] = set()
    with localcontext() as ctx:
        ctx.prec = 60  # products of prices and quantities stay exact
        for ms, qty in slots:
            if not period[0] <= ms < period[1]:
                continue
            cost.slots += 1
            v, borrowed = found.at(ms)
            if v is None:
                cost.unpriced_slots += 1
                cost.unpriced_kwh += qty
                continue
            cost.borrowed_slots += borrowed
            cost.by_version[v.tariff_id] = cost.by_version.get(v.tariff_id, 0) + 1
            if v.kind == "fixed":
                sums[v.tariff_id][0] += qty
                continue
            if v.kind == "half_hourly":
                p = prices.get(v.tariff_id, {}).get(ms)
                if p is None:
                    cost.unpriced_slots += 1
                    cost.unpriced_kwh += qty
                    continue
                hh_cost[v.tariff_id] += qty * p
                hh_qty[v.tariff_id] += qty
                continue
            local = clocks[v.zone].local(ms)
            colour = None
            if v.kind == "tempo":
                tempo_day = _EPOCH + timedelta(days=(local - TEMPO_DAY_MS) // DAY_MS)
                colour = colours.get(tempo_day)
                if colour is None:
                    missing_colours.add(tempo_day)
                    cost.unpriced_slots += 1
                    cost.unpriced_kwh += qty
                    continue
            minute = (local % DAY_MS) // 60_000
            weekend = (local // DAY_MS + 3) % 7 >= 5  # 1 January 1970 was a Thursday
            band = v.band_of(minute, weekend, colour)
            sums[v.tariff_id][band] += qty
        for v in versions:
            factor = gas_factor(v) if unit == "m3" else None
            tax = (v.tax_percent or Decimal(0)) / 100
            energy = Decimal(0)
            if v.kind == "half_hourly":
                qty, energy = hh_qty[v.tariff_id], hh_cost[v.tariff_id]
                if factor is not None:
                    qty, energy = _kwh(qty, factor), energy * factor
                _add_band(cost, "half-hourly price", qty, energy)
            else:
                for i, qty in enumerate(sums[v.tariff_id]):
                    if not qty and v.tariff_id not in cost.by_version:
                        continue
                    kwh = _kwh(qty, factor) if factor is not None else qty
                    p = v.unit_price if v.kind == "fixed" else v.bands[i].price
                    assert p is not None
                    name = "all hours" if v.kind == "fixed" else v.bands[i].name
                    if v.kind == "tempo":
                        name = f"{v.bands[i].colour} {v.bands[i].name}"
                    _add_band(cost, name, kwh, kwh * p)
                    energy += kwh * p
            cost.energy += energy
            cost.tax += energy * tax
        _standing(cost, versions, period, found)
    cost.method = _method(cost, versions, period, missing_colours, unit)
    return cost


def _kwh(m3: Decimal, factor: Decimal) -> Decimal:
    return (m3 * factor).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)


def _add_band(cost: Costing, name: str, kwh: Decimal, money: Decimal) -> None:
    entry = cost.by_band.setdefault(name, [Decimal(0), Decimal(0)])
    entry[0] += kwh
    entry[1] += money
    cost.kwh += kwh


def _standing(cost: Costing, versions: Sequence[Tariff], period: tuple[int, int], found: _Versions) -> None:
    """One standing charge per local day of the period, of the version valid at its midnight."""
    tz = ZoneInfo(versions[0].zone)
    day = datetime.fromtimestamp(period[0] / 1000, tz).date()
    while True:
        midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
        ms = int(midnight.timestamp() * 1000)
        if ms >= period[1]:
            break
        if ms >= period[0]:
            v, _ = found.at(ms)
            if v is not None:
                cost.standing_days += 1
                cost.standing += v.standing_charge
                cost.tax += v.standing_charge * (v.tax_percent or Decimal(0)) / 100
        day += timedelta(days=1)


def _method(
    cost: Costing, versions: Sequence[Tariff], period: tuple[int, int], missing: set[date], unit: str
) -> list[str]:
    def shown(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZoneInfo(versions[0].zone)).date().isoformat()

    lines = [
        f"{cost.slots:,} half-hours of readings from {shown(period[0])} to {shown(period[1])}, each priced with"
        " the version of the tariff valid at its start; half-hours without readings are not priced, never estimated"
    ]
    for v in versions:
        n = cost.by_version.get(v.tariff_id, 0)
        until = v.valid_to.date().isoformat() if v.valid_to else "open"
        lines.append(f"{v.tariff_id} (valid {v.valid_from.date()} to {until}): {n:,} half-hours")
    if cost.borrowed_slots:
        lines.append(
            f"{cost.borrowed_slots:,} half-hours fall outside every version's validity and are priced with the"
            " nearest version, as if it had applied then"
        )
    kind = versions[0].kind
    if kind == "time_of_use":
        lines.append(f"bands read in local time of {versions[0].zone}")
    elif kind == "tempo":
        lines.append("Tempo: a day's colour (from energy.day_colour) applies from 06:00 to 06:00 the next day")
    elif kind == "half_hourly":
        lines.append("each half-hour's quantity times that half-hour's price (energy.price)")
    if missing:
        lines.append(f"{len(missing)} Tempo days have no colour: their half-hours are not priced")
    if cost.unpriced_slots:
        lines.append(f"{cost.unpriced_slots:,} half-hours ({decimal_text(cost.unpriced_kwh)} {unit}) are not priced")
    lines.append(f"standing charge: {cost.standing_days} days at the price of the version valid at local midnight")
    if unit == "m3":
        lines.append("gas: kWh = m3 x volume correction x calorific value / 3.6, rounded to 0.001 kWh per band")
    if any(v.tax_percent for v in versions):
        lines.append("tax added on energy and standing charge at each version's rate")
    lines.append("total exact; shown rounded to the cent, half up")
    return lines
