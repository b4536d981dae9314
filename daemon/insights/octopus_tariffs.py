"""Octopus tariffs from its public product rates: one `energy.tariff` version per period in
which the unit rate and the standing charge stay the same, and for a half-hourly product
(Agile) each half-hour's price as `energy.price`. Prices include VAT, in pounds (Octopus
publishes pence)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from connectors.energy import octopus
from connectors.sdk.http import Http

from . import tariffs

PENCE = Decimal(100)
HALF_HOUR_S = 1800


@dataclass
class Found:
    versions: list[tariffs.Tariff] = field(default_factory=list)
    prices: dict[str, list[tuple[datetime, datetime, Decimal]]] = field(default_factory=dict)


def _valid(rates: list[octopus.Rate], at: datetime) -> octopus.Rate | None:
    for r in rates:
        if r.valid_from <= at and (r.valid_to is None or at < r.valid_to):
            return r
    return None


def _pounds(rate: octopus.Rate | None) -> Decimal:
    return Decimal(0) if rate is None else Decimal(rate.value_inc_vat) / PENCE


async def read(
    base_url: str,
    code: str,
    start: datetime,
    end: datetime,
    held: bool = False,
    night: str = "00:30-07:30",
    payment_method: str = "DIRECT_DEBIT",
) -> Found:
    try:
        product = octopus.product_of(code)
    except ValueError as err:
        raise tariffs.TariffError(str(err)) from None
    two_rate = "-2R-" in code

    def paid(rates: list[octopus.Rate]) -> list[octopus.Rate]:
        return [r for r in rates if r.payment_method in (None, payment_method)]

    async with Http() as http:
        standing = paid(await octopus.fetch_rates(http, base_url, code, "standing-charges", start, end))
        if two_rate:
            day = paid(await octopus.fetch_rates(http, base_url, code, "day-unit-rates", start, end))
            nights = paid(await octopus.fetch_rates(http, base_url, code, "night-unit-rates", start, end))
            units = day + nights
        else:
            units = paid(await octopus.fetch_rates(http, base_url, code, "standard-unit-rates", start, end))
    if not units:
        raise tariffs.TariffError(f"Octopus has no unit rates for {code} between {start:%Y-%m-%d} and {end:%Y-%m-%d}")
    half_hourly = not two_rate and any(
        r.valid_to is not None and (r.valid_to - r.valid_from).total_seconds() <= HALF_HOUR_S for r in units
    )
    # Versions change where the standing charge does, and (unless half-hourly) the unit rate.
    lo = max(start, min(r.valid_from for r in units))
    edges = {lo, end}
    for r in standing + ([] if half_hourly else units):
        for t in (r.valid_from, r.valid_to):
            if t is not None and lo < t < end:
                edges.add(t)
    cuts = sorted(edges)
    found = Found()
    night_start, _, night_end = night.partition("-")
    commodity = "electricity" if code.startswith("E-") else "gas"
    direction = "production" if "OUTGOING" in product or "EXPORT" in product else "consumption"
    for a, b in zip(cuts, cuts[1:], strict=False):
        tid = f"octopus:{code}:{a.astimezone(UTC):%Y-%m-%dT%H%MZ}"
        data: dict[str, object] = {
            "tariff_id": tid,
            "supplier": "Octopus Energy",
            "product": product,
            "commodity": commodity,
            "direction": direction,
            "valid_from": a.astimezone(UTC).isoformat(),
            "valid_to": None if b == end else b.astimezone(UTC).isoformat(),
            "currency": "GBP",
            "standing_charge": str(_pounds(_valid(standing, a))),
            "timezone": "Europe/London",
            "held": "yes" if held else "no",
        }
        if half_hourly:
            data["kind"] = "half_hourly"
            found.prices[tid] = [
                (r.valid_from, r.valid_to, _pounds(r))
                for r in units
                if r.valid_to is not None and a <= r.valid_from < b
            ]
        elif two_rate:
            data.update(
                kind="time_of_use",
                timezone="UTC",  # Economy 7 meters keep GMT all year
                bands=[
                    {"name": "night", "price": str(_pounds(_valid(nights, a))), "start": night_start, "end": night_end},
                    {"name": "day", "price": str(_pounds(_valid(day, a))), "start": night_end, "end": night_start},
                ],
            )
        else:
            data.update(kind="fixed", unit_price=str(_pounds(_valid(units, a))))
        found.versions.append(tariffs.from_data({k: v for k, v in data.items() if v is not None}))
    return found
