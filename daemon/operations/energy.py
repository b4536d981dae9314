"""Energy views and tariffs: `selfdata energy ...` and `selfdata tariffs ...`, and the dashboard's
energy page. Tariffs, their half-hour prices and Tempo day colours are records of the source
`tariffs` (datasets energy.tariff, energy.price, energy.day_colour), so they are exported,
erased and read by apps like any other data.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from connectors.sdk.schema import decimal_text

from ..events import RecordsChanged
from ..insights import energy, tariffs
from ..insights.energy_slots import SlotCache
from ..services import Services
from ..times import parse_instant
from ..vault import RecordIn
from ..vault.timebuckets import zone as check_zone
from .registry import Emit, NoParams, OperationError, Result, operation

SOURCE = "tariffs"
MAX_FILE = 64 * 1024 * 1024
OCTOPUS_URL = "https://api.octopus.energy"


@dataclass(frozen=True)
class EnergyView:
    zone: str = "UTC"
    months: int = 12
    month: str | None = None  # the heatmap's month, YYYY-MM
    costs: bool = True


@dataclass(frozen=True)
class TariffAdd:
    tariff: dict[str, Any]  # an energy.tariff record's data


@dataclass(frozen=True)
class TariffRemove:
    tariff_id: str


@dataclass(frozen=True)
class TariffImport:
    path: str
    what: str = "prices"  # prices (CSV start,price of a half_hourly tariff) | colours (CSV day,colour)
    tariff_id: str | None = None
    calendar: str = tariffs.TEMPO
    filename: str | None = None


@dataclass(frozen=True)
class TariffOctopus:
    tariff_code: str
    start: str
    end: str | None = None
    held: bool = False
    night: str = "00:30-07:30"  # Economy 7's night hours (UTC), for a two-rate (2R) tariff
    payment_method: str = "DIRECT_DEBIT"
    base_url: str = OCTOPUS_URL


def _month(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        date.fromisoformat(text + "-01")
    except ValueError:
        raise OperationError(f"month {text!r}: write YYYY-MM") from None
    return text


@operation("energy.view", EnergyView)
async def energy_view(services: Services, params: EnergyView, emit: Emit) -> Result:
    """Energy per day, week and month, the half-hour heatmap, the average day, gaps and costs."""
    check_zone(params.zone)
    return await asyncio.to_thread(
        energy.view,
        services.vault.conn,
        params.zone,
        params.months,
        _month(params.month),
        params.costs,
        slot_cache(services),
    )


def slot_cache(services: Services) -> SlotCache:
    """The energy views' cache, on the services (kept while the daemon runs)."""
    cache = services.insights.get("energy")
    if not isinstance(cache, SlotCache):
        cache = services.insights["energy"] = SlotCache()
    return cache


def _store(services: Services, records: list[RecordIn], datasets: tuple[str, ...]) -> dict[str, int]:
    counts = services.vault.writer.upsert(records)
    if counts.new or counts.changed:
        services.events.publish(RecordsChanged(SOURCE, datasets, new=counts.new, changed=counts.changed))
    return {"new": counts.new, "changed": counts.changed, "unchanged": counts.unchanged}


def tariff_record(t: tariffs.Tariff) -> RecordIn:
    return RecordIn(SOURCE, "energy.tariff", t.tariff_id, t.from_ms, tariffs.to_data(t))


@operation("tariffs.add", TariffAdd)
async def tariffs_add(services: Services, params: TariffAdd, emit: Emit) -> Result:
    """Store a tariff (checked first); the same tariff_id replaces the one stored."""
    t = tariffs.from_data(params.tariff)
    return {"tariff_id": t.tariff_id, **_store(services, [tariff_record(t)], ("energy.tariff",))}


@operation("tariffs.list", NoParams)
async def tariffs_list(services: Services, params: NoParams, emit: Emit) -> Result:
    """Every stored tariff, oldest first, with how many half-hour prices it has."""
    conn = services.vault.conn
    counts = dict(
        conn.execute(
            "SELECT json_extract(data, '$.tariff_id'), count(*) FROM records"
            " WHERE dataset='energy.price' AND deleted=0 GROUP BY 1"
        ).fetchall()
    )
    colours = conn.execute("SELECT count(*) FROM records WHERE dataset='energy.day_colour' AND deleted=0").fetchone()
    rows = conn.execute("SELECT data FROM records WHERE dataset='energy.tariff' AND deleted=0 ORDER BY ts, key")
    out = []
    for (data,) in rows:
        d = orjson.loads(data)
        out.append({**d, "prices": counts.get(d["tariff_id"], 0)})
    return {"tariffs": out, "day_colours": colours[0]}


@operation("tariffs.remove", TariffRemove)
async def tariffs_remove(services: Services, params: TariffRemove, emit: Emit) -> Result:
    """Remove a tariff and its half-hour prices."""
    conn = services.vault.conn
    keys = [
        k
        for (k,) in conn.execute(
            "SELECT key FROM records WHERE dataset='energy.price' AND deleted=0 AND source=?"
            " AND json_extract(data, '$.tariff_id')=?",
            (SOURCE, params.tariff_id),
        )
    ]
    if not services.vault.writer.delete(source=SOURCE, dataset="energy.tariff", keys=[params.tariff_id]):
        raise OperationError(f"no tariff {params.tariff_id!r}: selfdata tariffs list shows them")
    prices = services.vault.writer.delete(source=SOURCE, dataset="energy.price", keys=keys) if keys else 0
    services.events.publish(RecordsChanged(SOURCE, ("energy.tariff", "energy.price"), new=0, changed=0))
    return {"tariff_id": params.tariff_id, "prices_removed": prices}


def price_records(tid: str, currency: str, rows: list[tuple[datetime, datetime, Decimal]]) -> list[RecordIn]:
    return [
        RecordIn(
            SOURCE,
            "energy.price",
            f"{tid}:{start.astimezone(UTC).isoformat()}",
            int(start.timestamp() * 1000),
            {
                "tariff_id": tid,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "price": decimal_text(price),
                "currency": currency,
            },
        )
        for start, end, price in rows
    ]


def _stored_tariff(services: Services, tid: str) -> tariffs.Tariff:
    for t in energy.stored_tariffs(services.vault.conn):
        if t.tariff_id == tid:
            return t
    raise OperationError(f"no tariff {tid!r}: add it first (selfdata tariffs add ... --kind half_hourly)")


@operation("tariffs.import", TariffImport)
async def tariffs_import(services: Services, params: TariffImport, emit: Emit) -> Result:
    """Half-hour prices of a tariff, or Tempo day colours, from a CSV file (checked whole first)."""
    path = Path(params.path)
    name = params.filename or path.name
    if path.stat().st_size > MAX_FILE:
        raise OperationError(f"{name}: larger than {MAX_FILE // (1024 * 1024)} MB")
    text = await asyncio.to_thread(path.read_text, "utf-8-sig")
    if params.what == "colours":
        colours = tariffs.read_colour_csv(text, name)
        records = [
            RecordIn(
                SOURCE,
                "energy.day_colour",
                f"{params.calendar}:{day.isoformat()}",
                int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000),
                {"calendar": params.calendar, "day": day.isoformat(), "colour": colour},
            )
            for day, colour in colours
        ]
        return {"file": name, "records": len(records), **_store(services, records, ("energy.day_colour",))}
    if params.what != "prices":
        raise OperationError(f"what {params.what!r}: prices or colours")
    if not params.tariff_id:
        raise OperationError("prices belong to a tariff: give its tariff_id")
    t = _stored_tariff(services, params.tariff_id)
    if t.kind != "half_hourly":
        raise OperationError(f"tariff {t.tariff_id} is {t.kind}: half-hour prices belong to a half_hourly tariff")
    rows = tariffs.read_price_csv(text, name)
    records = price_records(t.tariff_id, t.currency, rows)
    return {"file": name, "records": len(records), **_store(services, records, ("energy.price",))}


@operation("tariffs.octopus", TariffOctopus)
async def tariffs_octopus(services: Services, params: TariffOctopus, emit: Emit) -> Result:
    """A tariff's prices from Octopus's public product rates (no account needed)."""
    from ..insights import octopus_tariffs

    start = datetime.fromtimestamp(parse_instant(params.start) / 1000, UTC)
    end = datetime.fromtimestamp(parse_instant(params.end) / 1000, UTC) if params.end else datetime.now(UTC)
    if end <= start:
        raise OperationError("end must be after start")
    if end - start > timedelta(days=3700):
        raise OperationError("at most ten years of rates at a time")
    found = await octopus_tariffs.read(
        params.base_url, params.tariff_code, start, end, params.held, params.night, params.payment_method
    )
    records = [tariff_record(t) for t in found.versions]
    for tid, rows in found.prices.items():
        records += price_records(tid, "GBP", rows)
    stored = _store(services, records, ("energy.tariff", "energy.price"))
    return {
        "tariff_code": params.tariff_code,
        "versions": [t.tariff_id for t in found.versions],
        "prices": sum(len(r) for r in found.prices.values()),
        **stored,
    }


OPERATIONS = (energy_view, tariffs_add, tariffs_list, tariffs_remove, tariffs_import, tariffs_octopus)
