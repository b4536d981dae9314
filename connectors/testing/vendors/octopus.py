"""A fake Octopus Energy REST API (https://api.octopus.energy/v1), for tests, benches and the demo.

    server = make_server(end=datetime(2026, 6, 1, tzinfo=UTC), days=400)
    await server.start()   # then point the connector's base_url at server.url

It answers like the documented API: HTTP Basic auth with the API key as the user name,
`GET /v1/accounts/{number}/` listing meter points and serials, and half-hourly
`.../consumption/` with `period_from`/`period_to`, `page_size` (capped at 25,000),
`order_by` and `page`, paged by absolute `next` URLs. Interval times are written in UK
local time with their offset, as Octopus does. Readings are deterministic for a seed;
`server.app[OCTOPUS]` lets a test hold back, release, revise and extend them, and
`malform(point, at)` serves a reading whose interval ends before it starts, with `+0100`
offsets, as the example in Octopus's own API documentation does.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from ..fakeserver import FakeServer, Handler

DEMO_API_KEY = "sk_live_selfdataDemoKey0000000000"
DEMO_ACCOUNT = "A-5E1FDA7A"
IMPORT_MPAN, EXPORT_MPAN, ELECTRICITY_SERIAL = "1100009640372", "1170001806920", "22L4344979"
OLD_ELECTRICITY_SERIAL = "19L0000001"  # a replaced meter: listed, no readings
GAS_MPRN, GAS_SERIAL = "2112316000", "E6E07422582221"
MAX_PAGE_SIZE = 25_000
HALF_HOUR = timedelta(minutes=30)
LONDON = ZoneInfo("Europe/London")


@dataclass
class Meter:
    kind: str  # electricity | gas
    point: str
    serial: str
    export: bool = False
    number: int = 0

    @property
    def path(self) -> str:
        return f"/v1/{self.kind}-meter-points/{self.point}/meters/{self.serial}/consumption/"


@dataclass
class OctopusData:
    """Readings served by the fake: half hours from `start` to `available_until`.

    `hidden` half hours are not served yet (late data); `revised` ones are served with
    another value than first published.
    """

    seed: int
    start: datetime
    available_until: datetime
    meters: list[Meter]
    hidden: set[tuple[str, datetime]] = field(default_factory=set)
    revised: dict[tuple[str, datetime], float] = field(default_factory=dict)
    malformed: set[tuple[str, datetime]] = field(default_factory=set)

    def value(self, meter: Meter, at: datetime) -> float:
        if (meter.point, at) in self.revised:
            return self.revised[(meter.point, at)]
        n = int(at.timestamp()) // 1800
        noise = ((self.seed * 1_000_003 + meter.number * 7919 + n * 104_729) % 1000) / 1000
        local = at.astimezone(LONDON)
        hour, month = local.hour + local.minute / 60, local.month
        winter = month in (11, 12, 1, 2, 3)
        if meter.kind == "gas":  # SMETS2 gas: cubic metres
            heating = 0.12 if winter and (6 <= hour < 9 or 17 <= hour < 22) else 0.02
            return round(heating * (0.5 + noise), 3)
        if meter.export:
            daylight = max(0.0, 1 - abs(hour - 13) / (4 if winter else 7))
            return round(daylight * (0.4 if winter else 1.4) * (0.6 + 0.4 * noise), 3)
        peak = 0.45 if 17 <= hour < 21 else 0.2 if 7 <= hour < 9 else 0.0
        return round(0.08 + peak + 0.1 * noise, 3)

    def served(self, meter: Meter, period_from: datetime, period_to: datetime) -> list[datetime]:
        """Half-hour starts with readings in [period_from, period_to)."""
        if meter.serial == OLD_ELECTRICITY_SERIAL:
            return []
        first = max(period_from, self.start)
        first = first + (-first.timestamp() % 1800) * timedelta(seconds=1)  # next half hour
        last = min(period_to, self.available_until)
        out = []
        t = first
        while t + HALF_HOUR <= last:
            if (meter.point, t) not in self.hidden:
                out.append(t)
            t += HALF_HOUR
        return out

    def hide(self, point: str, start: datetime, end: datetime) -> None:
        t = start
        while t < end:
            self.hidden.add((point, t))
            t += HALF_HOUR

    def release(self) -> None:
        self.hidden.clear()

    def revise(self, point: str, at: datetime, consumption: float) -> None:
        self.revised[(point, at)] = consumption

    def malform(self, point: str, at: datetime) -> None:
        self.malformed.add((point, at))

    def reading(self, meter: Meter, at: datetime) -> dict[str, Any]:
        if (meter.point, at) in self.malformed:
            # Octopus's documented example: the end a day before the start, offsets without a colon.
            return {
                "consumption": self.value(meter, at),
                "interval_start": _compact(at),
                "interval_end": _compact(at + HALF_HOUR - timedelta(days=1)),
            }
        return {
            "consumption": self.value(meter, at),
            "interval_start": _stamp(at),
            "interval_end": _stamp(at + HALF_HOUR),
        }


OCTOPUS = web.AppKey("octopus", OctopusData)


def _stamp(t: datetime) -> str:
    local = t.astimezone(LONDON)
    return local.isoformat().replace("+00:00", "Z")


def _compact(t: datetime) -> str:
    return t.astimezone(LONDON).strftime("%Y-%m-%dT%H:%M:%S%z")


def _parse_time(text: str, name: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.replace(" ", "+"))
    except ValueError:
        raise _bad(name, "Enter a valid date/time.") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _bad(name: str, message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=f'{{"{name}": ["{message}"]}}', content_type="application/json")


def _authorised(request: web.Request, api_key: str) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        user, _, _ = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    return user == api_key


def make_server(
    *,
    seed: int = 1,
    end: datetime | None = None,
    days: int = 400,
    api_key: str = DEMO_API_KEY,
    account: str = DEMO_ACCOUNT,
) -> FakeServer:
    """An Octopus account with import and export electricity and an SMETS2 gas meter.

    Readings run for `days` up to `end` (default: now, to the half hour).
    """
    end = end or datetime.now(UTC)
    end = end - timedelta(seconds=end.timestamp() % 1800)
    meters = [
        Meter("electricity", IMPORT_MPAN, OLD_ELECTRICITY_SERIAL, number=0),
        Meter("electricity", IMPORT_MPAN, ELECTRICITY_SERIAL, number=1),
        Meter("electricity", EXPORT_MPAN, ELECTRICITY_SERIAL, export=True, number=2),
        Meter("gas", GAS_MPRN, GAS_SERIAL, number=3),
    ]
    data = OctopusData(seed=seed, start=end - timedelta(days=days), available_until=end, meters=meters)

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not _authorised(request, api_key):
            return web.json_response({"detail": "Authentication credentials were not provided."}, status=401)
        return await handler(request)

    async def account_view(request: web.Request) -> web.Response:
        if request.match_info["number"] != account:
            return web.json_response({"detail": "Not found."}, status=404)
        return web.json_response(_account(account, meters, data.start))

    async def consumption(request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        point, serial = request.match_info["point"], request.match_info["serial"]
        meter = next((m for m in meters if (m.kind, m.point, m.serial) == (kind, point, serial)), None)
        if meter is None:
            return web.json_response({"detail": "Not found."}, status=404)
        q = request.query
        if "period_to" in q and "period_from" not in q:
            raise _bad("period_to", "period_from is required when period_to is given.")
        period_from = _parse_time(q["period_from"], "period_from") if "period_from" in q else data.start
        period_to = _parse_time(q["period_to"], "period_to") if "period_to" in q else data.available_until
        try:
            page_size = min(int(q.get("page_size", "100")), MAX_PAGE_SIZE)
            page = int(q.get("page", "1"))
        except ValueError:
            raise _bad("page_size", "A valid integer is required.") from None
        starts = data.served(meter, period_from, period_to)
        if q.get("order_by", "-period") != "period":
            starts.reverse()
        chunk = starts[(page - 1) * page_size : page * page_size]
        if page < 1 or (page > 1 and not chunk):
            return web.json_response({"detail": "Invalid page."}, status=404)
        results = [data.reading(meter, t) for t in chunk]
        url = request.url
        more = page * page_size < len(starts)
        return web.json_response(
            {
                "count": len(starts),
                "next": str(url.update_query(page=page + 1)) if more else None,
                "previous": str(url.update_query(page=page - 1)) if page > 1 else None,
                "results": results,
            }
        )

    app = web.Application(middlewares=[auth])
    app[OCTOPUS] = data
    app.router.add_get("/v1/accounts/{number}/", account_view)
    app.router.add_get("/v1/{kind:electricity|gas}-meter-points/{point}/meters/{serial}/consumption/", consumption)
    return FakeServer(app)


def _account(number: str, meters: list[Meter], start: datetime) -> dict[str, Any]:
    since = start.strftime("%Y-%m-%dT00:00:00Z")

    def point(m: Meter, key: str) -> dict[str, Any]:
        serials = [x.serial for x in meters if x.point == m.point]
        out: dict[str, Any] = {key: m.point, "meters": [{"serial_number": s} for s in serials]}
        tariff = "E-1R-OUTGOING-FIX-12M-19-05-13-C" if m.export else "G-1R-VAR-22-11-01-C"
        if m.kind == "electricity" and not m.export:
            tariff = "E-1R-AGILE-24-10-01-C"
        out["agreements"] = [{"tariff_code": tariff, "valid_from": since, "valid_to": None}]
        if m.kind == "electricity":
            out["is_export"] = m.export
        return out

    seen: set[str] = set()
    electricity, gas = [], []
    for m in meters:
        if m.point in seen:
            continue
        seen.add(m.point)
        if m.kind == "electricity":
            electricity.append(point(m, "mpan"))
        else:
            gas.append(point(m, "mprn"))
    return {
        "number": number,
        "properties": [
            {
                "id": 12345,
                "address_line_1": "1 Example Street",
                "postcode": "SW1A 1AA",
                "moved_in_at": since,
                "moved_out_at": None,
                "electricity_meter_points": electricity,
                "gas_meter_points": gas,
            }
        ],
    }


# --- Public product rates (no API key): a second fake, as api.octopus.energy/v1/products -----
# Agile half-hourly prices from AGILE_FROM, a variable tariff whose price changes each quarter
# (the price cap), its Economy 7 twin (day and night rates) and its gas tariff. Newest first,
# at most 1500 a page, pence with and without 5% VAT, like the documented endpoints.

AGILE_PRODUCT, VARIABLE_PRODUCT = "AGILE-24-10-01", "VAR-22-11-01"
AGILE_FROM = datetime(2024, 10, 1, 23, tzinfo=UTC)
RATES_PAGE_SIZE = 1500
REGIONS = "ABCDEFGHJKLMNP"
# the variable product's quarters: (first day, unit p/kWh, standing p/day), without VAT
VARIABLE_QUARTERS = (
    ("2024-10-01", "23.14", "57.62"),
    ("2025-01-01", "23.81", "58.97"),
    ("2025-04-01", "25.73", "51.37"),
    ("2025-07-01", "24.21", "51.40"),
    ("2025-10-01", "24.84", "51.28"),
    ("2026-01-01", "25.37", "50.17"),
)


def agile_price(at: datetime) -> Decimal:
    """A deterministic Agile half-hour price without VAT, pence (negative some nights)."""
    local = at.astimezone(LONDON)
    hour = local.hour + local.minute / 60
    n = int(at.timestamp()) // 1800
    base = Decimal(12) + Decimal((n * 7919) % 900) / 100
    if 16 <= hour < 19:
        base += 14
    elif 1 <= hour < 5 and n % 7 == 0:
        base = -Decimal((n * 31) % 300) / 100
    return base


def _vat(value: Decimal) -> Decimal:
    return value * Decimal("1.05")


def variable_rates(kind: str, fuel: str) -> list[dict[str, Any]]:
    out = []
    for i, (first, unit, standing) in enumerate(VARIABLE_QUARTERS):
        start = datetime.fromisoformat(first).replace(tzinfo=LONDON)
        nxt = VARIABLE_QUARTERS[i + 1][0] if i + 1 < len(VARIABLE_QUARTERS) else None
        end = datetime.fromisoformat(nxt).replace(tzinfo=LONDON) if nxt else None
        value = Decimal(standing if kind == "standing-charges" else unit)
        if fuel == "gas":
            value = (value / 4).quantize(Decimal("0.01"))
        if kind == "night-unit-rates":
            value = (value * Decimal("0.55")).quantize(Decimal("0.01"))
        methods = ("DIRECT_DEBIT", "NON_DIRECT_DEBIT") if kind == "standing-charges" else (None,)
        for method in methods:
            shown = value if method != "NON_DIRECT_DEBIT" else value + Decimal("1.5")
            out.append(_rate(shown, start, end, method))
    return out


def _rate(value: Decimal, start: datetime, end: datetime | None, method: str | None) -> dict[str, Any]:
    return {
        "value_exc_vat": float(value),
        "value_inc_vat": float(_vat(value)),
        "valid_from": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "valid_to": end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if end else None,
        "payment_method": method,
    }


def make_products_server(*, now: datetime | None = None) -> FakeServer:
    """The public products endpoints; Agile prices are published up to 23:00 UK time tomorrow."""
    now = now or datetime.now(UTC)
    published = datetime.combine(now.astimezone(LONDON).date() + timedelta(days=1), datetime.min.time(), LONDON)
    published = published.replace(hour=23)

    def tariffs(product: str) -> dict[str, tuple[str, ...]]:
        if product == AGILE_PRODUCT:
            return {f"E-1R-{product}-{r}": ("standard-unit-rates", "standing-charges") for r in REGIONS}
        out: dict[str, tuple[str, ...]] = {}
        for r in REGIONS:
            out[f"E-1R-{product}-{r}"] = ("standard-unit-rates", "standing-charges")
            out[f"E-2R-{product}-{r}"] = ("day-unit-rates", "night-unit-rates", "standing-charges")
            out[f"G-1R-{product}-{r}"] = ("standard-unit-rates", "standing-charges")
        return out

    def not_found(what: str) -> web.Response:
        return web.json_response({"detail": f"No {what} matches the given query."}, status=404)

    async def product_view(request: web.Request) -> web.Response:
        code = request.match_info["product"]
        if code not in (AGILE_PRODUCT, VARIABLE_PRODUCT):
            return not_found("Product")
        single = {
            f"_{r}": {"direct_debit_monthly": {"code": f"E-1R-{code}-{r}", "payment_method": None}} for r in REGIONS
        }
        return web.json_response(
            {
                "code": code,
                "full_name": "Agile Octopus October 2024 v1" if code == AGILE_PRODUCT else "Flexible Octopus",
                "is_variable": True,
                "single_register_electricity_tariffs": single,
            }
        )

    async def rates(request: web.Request) -> web.Response:
        product, fuel = request.match_info["product"], request.match_info["fuel"]
        code, kind = request.match_info["tariff"], request.match_info["kind"]
        if product not in (AGILE_PRODUCT, VARIABLE_PRODUCT):
            return not_found("Product")
        known = tariffs(product)
        if code not in known or (fuel == "gas") != code.startswith("G-"):
            return not_found("ElectricityTariff" if fuel == "electricity" else "GasTariff")
        if kind not in known[code]:
            return web.json_response({"detail": "Not found."}, status=404)
        q = request.query
        period_from = _parse_time(q["period_from"], "period_from") if "period_from" in q else None
        period_to = _parse_time(q["period_to"], "period_to") if "period_to" in q else None
        try:
            page_size = min(int(q.get("page_size", "100")), RATES_PAGE_SIZE)
            page = int(q.get("page", "1"))
        except ValueError:
            raise _bad("page_size", "A valid integer is required.") from None
        if page_size < 1:
            raise _bad("page_size", "Ensure this value is greater than or equal to 1.")
        if product == AGILE_PRODUCT and kind == "standard-unit-rates":
            lo = max(period_from or AGILE_FROM, AGILE_FROM)
            lo = lo - timedelta(seconds=lo.timestamp() % 1800)
            hi = min(period_to or published, published)
            starts = []
            t = hi - timedelta(seconds=hi.timestamp() % 1800)
            if t == hi:
                t -= HALF_HOUR
            while t >= lo:  # newest first
                starts.append(t)
                t -= HALF_HOUR
            chosen = starts[(page - 1) * page_size : page * page_size]
            count = len(starts)
            results = [_rate(agile_price(t), t, t + HALF_HOUR, None) for t in chosen]
        else:
            if product == AGILE_PRODUCT:
                rows = [_rate(Decimal("45.00"), AGILE_FROM, None, None)]
            else:
                rows = variable_rates(kind, fuel)
            rows = [
                r
                for r in rows
                if (period_to is None or _parse_time(r["valid_from"], "valid_from") < period_to)
                and (period_from is None or r["valid_to"] is None or _parse_time(r["valid_to"], "x") > period_from)
            ]
            rows.sort(key=lambda r: r["valid_from"], reverse=True)
            count = len(rows)
            results = rows[(page - 1) * page_size : page * page_size]
        if page < 1 or (page > 1 and not results):
            return web.json_response({"detail": "Invalid page."}, status=404)
        url = request.url
        more = page * page_size < count
        return web.json_response(
            {
                "count": count,
                "next": str(url.update_query(page=page + 1)) if more else None,
                "previous": str(url.update_query(page=page - 1)) if page > 1 else None,
                "results": results,
            }
        )

    app = web.Application()
    app.router.add_get("/v1/products/{product}/", product_view)
    app.router.add_get("/v1/products/{product}/{fuel:electricity|gas}-tariffs/{tariff}/{kind}/", rates)
    return FakeServer(app)


__all__ = ["OCTOPUS", "DEMO_ACCOUNT", "DEMO_API_KEY", "OctopusData", "make_products_server", "make_server"]
