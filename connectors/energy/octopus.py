"""Octopus Energy: half-hourly smart meter readings from the customer REST API.

The API key is the HTTP Basic user name (no password). Meter points (MPAN for
electricity, MPRN for gas) and their meter serials come from the account, or from the
`meters` setting. Each run asks every meter for readings from its last stored interval
minus a lookback window, because readings arrive late and are sometimes revised: a
revision lands on the same key and updates the record, it never adds a second one.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from connectors.sdk import (
    Checkpoint,
    Connector,
    Context,
    Fatal,
    Field,
    Fragment,
    InvalidRecord,
    Item,
    Record,
    Secret,
    datasets,
    parse_decimal,
)

from .units import check_zone, reading_key, zone

MAX_PAGE_SIZE = 25_000
METER_RE = re.compile(r"^(electricity|electricity-export|gas):(\d{10,13}):([A-Za-z0-9]+)$")


@dataclass(frozen=True)
class MeterPoint:
    kind: str  # electricity | gas: the API path
    point: str  # MPAN or MPRN
    serial: str
    export: bool = False

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.point}:{self.serial}"

    @property
    def path(self) -> str:
        return f"/v1/{self.kind}-meter-points/{self.point}/meters/{self.serial}/consumption/"


def _check_meters(text: str) -> str | None:
    try:
        parse_meters(text)
    except ValueError as err:
        return str(err)
    return None


def _check_page_size(value: int) -> str | None:
    return None if 1 <= value <= MAX_PAGE_SIZE else f"must be between 1 and {MAX_PAGE_SIZE}"


def _check_days(value: int) -> str | None:
    return None if 0 <= value <= 3660 else "must be between 0 and 3660 days"


def parse_meters(text: str) -> list[MeterPoint]:
    """`electricity:MPAN:SERIAL, electricity-export:MPAN:SERIAL, gas:MPRN:SERIAL`."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = METER_RE.match(part)
        if m is None:
            raise ValueError(f"{part!r} is not kind:point:serial (kind electricity, electricity-export or gas)")
        kind, point, serial = m.groups()
        out.append(MeterPoint(kind.split("-")[0], point, serial, export=kind.endswith("export")))
    return out


def meters_from_account(body: Any) -> list[MeterPoint]:
    """Every meter serial of every meter point of every property on the account."""
    out: list[MeterPoint] = []
    if not isinstance(body, dict) or not isinstance(body.get("properties"), list):
        raise Fatal("Octopus answered an account without properties")
    for prop in body["properties"]:
        for kind, key in (("electricity", "mpan"), ("gas", "mprn")):
            for mp in prop.get(f"{kind}_meter_points") or []:
                for meter in mp.get("meters") or []:
                    serial = meter.get("serial_number")
                    if mp.get(key) and serial:
                        mp_out = MeterPoint(kind, str(mp[key]), str(serial), export=bool(mp.get("is_export")))
                        if mp_out not in out:
                            out.append(mp_out)
    return out


class OctopusEnergy(Connector):
    name = "octopus-energy"
    title = "Octopus Energy"
    category = "energy"
    datasets = ("energy.reading",)
    description = "Half-hourly electricity (import and export) and gas readings from your Octopus smart meters."
    # Twice a day, off the hour and the half hour when every other client polls.
    schedule = "37 9,21 * * *"
    fields = (
        Secret("api_key", "Your API key, from octopus.energy/dashboard/new/accounts/personal-details/api-access"),
        Field("account_number", "Your account number (A-1234ABCD): meters are found from it", required=False),
        Field(
            "meters",
            "Meters to read instead of the account's: electricity:MPAN:SERIAL, electricity-export:MPAN:SERIAL, "
            "gas:MPRN:SERIAL (comma-separated)",
            required=False,
            check=_check_meters,
        ),
        Field(
            "gas_unit",
            "What your gas meter reports: m3 (SMETS2 meters) or kWh (SMETS1 meters)",
            type="choice",
            choices=("m3", "kWh"),
            default="m3",
        ),
        Field("history_days", "How far back the first sync reaches", type="int", default=365, check=_check_days),
        Field(
            "lookback_days",
            "Days re-read each sync for late and revised data",
            type="int",
            default=7,
            check=_check_days,
        ),
        Field(
            "page_size",
            "Readings per request (at most 25000)",
            type="int",
            default=MAX_PAGE_SIZE,
            check=_check_page_size,
        ),
        Field("timezone", "Time zone of interval starts and ends", default="Europe/London", check=check_zone),
        Field("base_url", "The API's address", type="url", default="https://api.octopus.energy"),
    )

    async def check(self, ctx: Context) -> None:
        meters = await self._meters(ctx)
        if not meters:
            raise Fatal("the account has no smart meters with serial numbers")
        if not ctx.settings.get("account_number"):
            await self._get(ctx, self._url(ctx, meters[0].path, {"page_size": 1}))

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        meters = await self._meters(ctx)
        cursors: dict[str, str] = dict(state.get("meters") or {})
        now = _half_hour(ctx.now())
        skipped: list[str] = []
        for number, meter in enumerate(meters, 1):
            async for item in self._meter(ctx, meter, cursors, now, skipped):
                yield item
            ctx.progress(number, len(meters), f"{meter.kind} {meter.point}")
        if skipped:
            ctx.warn(
                f"Octopus sent {len(skipped)} readings that could not be stored, the others were (first: "
                f"{skipped[0]}); one Octopus corrects within lookback_days is stored at a later sync"
            )
        else:
            ctx.clear_warning()

    async def _meter(
        self, ctx: Context, meter: MeterPoint, cursors: dict[str, str], now: datetime, skipped: list[str]
    ) -> AsyncIterator[Item]:
        last = cursors.get(meter.id)
        since = now - timedelta(days=int(ctx.settings.get("history_days", 365)))
        if last:
            lookback = timedelta(days=int(ctx.settings.get("lookback_days", 7)))
            since = max(since, datetime.fromisoformat(last) - lookback)
        params = {
            "period_from": _z(_half_hour(since)),
            "period_to": _z(now),
            "page_size": int(ctx.settings.get("page_size", MAX_PAGE_SIZE)),
            "order_by": "period",
        }
        url: str | None = self._url(ctx, meter.path, params)
        base = self._raw_base(ctx, meter)
        while url:
            body = await self._get(ctx, url)
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(results, list):
                raise Fatal("Octopus answered a consumption page without results")
            newest = last
            for row in results:
                if not isinstance(row, dict) or not {"consumption", "interval_start", "interval_end"} <= row.keys():
                    raise Fatal(f"Octopus answered a reading without consumption or interval times: {row!r:.120}")
                fragment = Fragment("energy.reading", {**base, **row, "consumption": str(row["consumption"])})
                try:
                    self.normalize(fragment)
                except InvalidRecord as err:
                    # One bad reading (Octopus's own docs show an end before the start) must not
                    # cost the others: skipped, counted, logged once.
                    if not skipped:
                        ctx.log.warning("skipping a reading of %s %s: %s", meter.kind, meter.point, err)
                    skipped.append(f"{meter.kind} {meter.point}: {err}")
                    continue
                yield fragment
                end = datetime.fromisoformat(row["interval_end"]).astimezone(UTC).isoformat()
                newest = max(newest or end, end)
            if newest:
                cursors[meter.id] = newest
            nxt = body.get("next")
            url = self._follow(ctx, nxt) if nxt else None
            yield Checkpoint({"meters": dict(cursors)})

    def normalize(self, fragment: Fragment) -> Record:
        raw = fragment.raw
        try:
            start = datetime.fromisoformat(raw["interval_start"])
            end = datetime.fromisoformat(raw["interval_end"])
            quantity = parse_decimal(raw["consumption"])
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidRecord(f"Octopus reading {raw!r:.160}: {err}") from None
        if start.tzinfo is None or end.tzinfo is None:
            raise InvalidRecord(f"Octopus reading {raw['interval_start']} has no UTC offset")
        if end <= start:
            raise InvalidRecord(
                f"Octopus reading from {raw['interval_start']} to {raw['interval_end']}: absurd interval, "
                "it ends before it starts"
            )
        tz = zone(raw["timezone"])
        data = datasets.EnergyReading.make(
            meter_id=raw["meter_point"],
            commodity=raw["commodity"],
            direction=raw["direction"],
            start=start.astimezone(tz),
            end=end.astimezone(tz),
            quantity=quantity,
            unit=raw["unit"],
        )
        data["serial"] = raw["serial"]
        key = reading_key(raw["meter_point"], raw["commodity"], raw["direction"], start)
        return Record("energy.reading", key, start.astimezone(tz), data)

    # --- helpers ---

    async def _meters(self, ctx: Context) -> list[MeterPoint]:
        configured = ctx.settings.get("meters")
        if configured:
            return parse_meters(str(configured))
        account = ctx.settings.get("account_number")
        if not account:
            raise Fatal("set account_number (to find the meters) or meters; see docs/sources/energy.md")
        body = await self._get(ctx, self._url(ctx, f"/v1/accounts/{account}/", {}))
        return meters_from_account(body)

    def _raw_base(self, ctx: Context, meter: MeterPoint) -> dict[str, Any]:
        gas = meter.kind == "gas"
        return {
            "meter_point": meter.point,
            "serial": meter.serial,
            "commodity": meter.kind,
            "direction": "production" if meter.export else "consumption",
            "unit": str(ctx.settings.get("gas_unit", "m3")) if gas else "kWh",
            "timezone": str(ctx.settings.get("timezone", "Europe/London")),
        }

    def _url(self, ctx: Context, path: str, params: dict[str, Any]) -> str:
        base = str(ctx.settings.get("base_url", "https://api.octopus.energy")).rstrip("/")
        return f"{base}{path}" + (f"?{urlencode(params)}" if params else "")

    def _follow(self, ctx: Context, nxt: Any) -> str:
        # Only the path and query of `next` are used: the key is never sent to another host.
        parts = urlsplit(str(nxt))
        if not parts.path.startswith("/v1/"):
            raise Fatal(f"Octopus answered an unexpected next page: {str(nxt)[:120]}")
        return self._url(ctx, parts.path, {}) + (f"?{parts.query}" if parts.query else "")

    async def _get(self, ctx: Context, url: str) -> Any:
        # HTTP Basic with the key as user name and an empty password.
        token = base64.b64encode(f"{ctx.secret('api_key')}:".encode()).decode()
        resp = await ctx.http.request("GET", url, headers={"Authorization": f"Basic {token}"})
        try:
            # Numbers stay text: 0.234 must not become a binary float on its way to a Decimal.
            return json.loads(resp.body, parse_float=str)
        except ValueError as err:
            raise Fatal(f"Octopus answered something that is not JSON: {resp.text[:80]!r}") from err


def _half_hour(t: datetime) -> datetime:
    t = t.astimezone(UTC).replace(second=0, microsecond=0)
    return t - timedelta(minutes=t.minute % 30)


def _z(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- Public product rates: unit rates and standing charges of a tariff, no API key -----------
# GET /v1/products/{product}/{electricity|gas}-tariffs/{tariff}/{standard-unit-rates|
# day-unit-rates|night-unit-rates|standing-charges}/ with period_from, period_to, page_size
# (at most 1500) and page; newest first; pence, with and without VAT.

RATES_PAGE_SIZE = 1500
RATE_KINDS = ("standard-unit-rates", "day-unit-rates", "night-unit-rates", "standing-charges")
TARIFF_CODE_RE = re.compile(r"^([EG])-(1R|2R)-([A-Z0-9-]+)-([A-P])$")


@dataclass(frozen=True)
class Rate:
    valid_from: datetime
    valid_to: datetime | None
    value_inc_vat: Any  # Decimal: pence per kWh, or per day for a standing charge
    value_exc_vat: Any
    payment_method: str | None


def product_of(tariff_code: str) -> str:
    """The product of a tariff code: E-1R-AGILE-24-10-01-C is AGILE-24-10-01 (region C)."""
    m = TARIFF_CODE_RE.match(tariff_code)
    if m is None:
        raise ValueError(
            f"{tariff_code!r} is not an Octopus tariff code such as E-1R-AGILE-24-10-01-C (E or G, 1R or 2R,"
            " the product, the region letter)"
        )
    return m.group(3)


def rates_path(tariff_code: str, kind: str) -> str:
    if kind not in RATE_KINDS:
        raise ValueError(f"{kind!r} is not one of {', '.join(RATE_KINDS)}")
    fuel = "electricity" if tariff_code.startswith("E-") else "gas"
    return f"/v1/products/{product_of(tariff_code)}/{fuel}-tariffs/{tariff_code}/{kind}/"


def parse_rates(body: Any) -> list[Rate]:
    """The rates of one page (numbers read as text, so pence stay exact)."""
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise Fatal("Octopus answered a rates page without results")
    out = []
    for row in results:
        try:
            valid_to = row.get("valid_to")
            out.append(
                Rate(
                    datetime.fromisoformat(str(row["valid_from"]).replace("Z", "+00:00")),
                    datetime.fromisoformat(str(valid_to).replace("Z", "+00:00")) if valid_to else None,
                    parse_decimal(str(row["value_inc_vat"])),
                    parse_decimal(str(row["value_exc_vat"])),
                    row.get("payment_method"),
                )
            )
        except (AttributeError, KeyError, TypeError, ValueError) as err:
            raise Fatal(f"Octopus answered a rate that cannot be read ({err}): {row!r:.160}") from None
    return out


async def fetch_rates(
    http: Any, base_url: str, tariff_code: str, kind: str, period_from: datetime, period_to: datetime
) -> list[Rate]:
    """Every rate of the tariff overlapping [period_from, period_to), oldest first, across pages."""
    base = base_url.rstrip("/")
    query = urlencode({"period_from": _z(period_from), "period_to": _z(period_to), "page_size": RATES_PAGE_SIZE})
    url: str | None = f"{base}{rates_path(tariff_code, kind)}?{query}"
    out: list[Rate] = []
    pages = 0
    while url:
        pages += 1
        if pages > 10_000:
            raise Fatal("Octopus kept answering more rate pages than any period holds")
        resp = await http.request("GET", url)
        try:
            body = json.loads(resp.body, parse_float=str)
        except ValueError as err:
            raise Fatal(f"Octopus answered something that is not JSON: {resp.text[:80]!r}") from err
        out += parse_rates(body)
        nxt = body.get("next")
        if nxt:
            parts = urlsplit(str(nxt))
            if not parts.path.startswith("/v1/products/"):
                raise Fatal(f"Octopus answered an unexpected next page: {str(nxt)[:120]}")
            url = f"{base}{parts.path}" + (f"?{parts.query}" if parts.query else "")
        else:
            url = None
    return sorted(out, key=lambda r: r.valid_from)
