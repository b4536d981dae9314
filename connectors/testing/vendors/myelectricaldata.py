"""A fake MyElectricalData gateway (https://www.myelectricaldata.fr), the Enedis Linky data relay.

    server = make_server(today=date(2026, 6, 1), days=800, production=True)

It answers like the gateway: the token in the `Authorization` header (no scheme),
`GET /valid_access/{pdl}`, and `GET /{service}/{pdl}/start/{YYYY-MM-DD}/end/{YYYY-MM-DD}`
for `daily_consumption`, `consumption_load_curve`, `daily_production` and
`production_load_curve`, each also under `.../cache` (answered from what the gateway
already holds). End dates are exclusive and at most today; the load curve is at most 7
days per call and 2 years back, daily values 3 years back; data stops at yesterday.
Load-curve points are average watts stamped with the wall-clock END of their interval in
Paris time, so the autumn repeated hour appears twice; daily values are Wh per local day.
Above `quota` live calls a day the gateway answers 409, as the real one does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from ..fakeserver import FakeServer, Handler

DEMO_TOKEN = "selfdata-demo-med-token-5a1b2c3d4e5f"
DEMO_PDL = "12345678901234"
PARIS = ZoneInfo("Europe/Paris")
CURVE_DAYS, CURVE_HISTORY, DAILY_HISTORY = 7, 730, 1095
SERVICES = {
    "daily_consumption": ("consumption", False),
    "consumption_load_curve": ("consumption", True),
    "daily_production": ("production", False),
    "production_load_curve": ("production", True),
}


def local_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=PARIS)


@dataclass
class GatewayData:
    """What the fake gateway serves. Tests move `today`, hide days not yet published,
    revise points (the cache keeps serving what it first held) and count calls."""

    seed: int
    today: date
    first_day: date
    production: bool
    quota: int | None
    consent_expires: datetime
    live_calls: int = 0
    cache_calls: int = 0
    hidden: set[date] = field(default_factory=set)
    revised: dict[tuple[str, datetime], int] = field(default_factory=dict)

    def watts(self, direction: str, end: datetime, *, cached: bool = False) -> int:
        if not cached and (direction, end) in self.revised:
            return self.revised[(direction, end)]
        local = (end - timedelta(minutes=30)).astimezone(PARIS)
        hour = local.hour + local.minute / 60
        n = int(end.timestamp()) // 1800
        noise = (self.seed * 7919 + n * 104_729 + (0 if direction == "consumption" else 17)) % 400
        if direction == "production":
            sun = max(0.0, 1 - abs(hour - 13.5) / (4 if local.month in (11, 12, 1, 2) else 7))
            return int(sun * 2400 + (noise if sun else 0))
        heating = 1800 if local.month in (11, 12, 1, 2, 3) and (6 <= hour < 9 or 18 <= hour < 23) else 0
        return 250 + heating + (900 if 19 <= hour < 21 else 0) + noise

    def ends(self, day: date) -> list[datetime]:
        """The interval ends of one local day: 48 half hours, 46 or 50 on DST days."""
        start, stop = local_midnight(day).astimezone(UTC), local_midnight(day + timedelta(days=1)).astimezone(UTC)
        out, t = [], start + timedelta(minutes=30)
        while t <= stop:
            out.append(t)
            t += timedelta(minutes=30)
        return out

    def has(self, day: date) -> bool:
        return self.first_day <= day < self.today and day not in self.hidden

    def revise(self, direction: str, end: datetime, watts: int) -> None:
        self.revised[(direction, end)] = watts


GATEWAY = web.AppKey("myelectricaldata", GatewayData)


def _detail(status: int, detail: str) -> web.Response:
    return web.json_response({"detail": detail}, status=status)


def make_server(
    *,
    seed: int = 1,
    today: date | None = None,
    days: int = 800,
    production: bool = True,
    quota: int | None = None,
    token: str = DEMO_TOKEN,
    pdl: str = DEMO_PDL,
) -> FakeServer:
    """A Linky meter with `days` of history before `today` (Paris), solar production if asked."""
    today = today or datetime.now(PARIS).date()
    data = GatewayData(
        seed=seed,
        today=today,
        first_day=today - timedelta(days=days),
        production=production,
        quota=quota,
        consent_expires=local_midnight(today + timedelta(days=300)),
    )

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.headers.get("Authorization") != token:
            return _detail(401, "Token invalide ou absent.")
        if request.match_info.get("pdl") not in (None, pdl):
            return _detail(403, "Ce point de livraison n'est pas associé à ce jeton.")
        return await handler(request)

    async def valid_access(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "valid": True,
                "consent_expiration_date": data.consent_expires.replace(tzinfo=None).isoformat(),
                "call_number": data.live_calls,
                "quota_reached": data.quota is not None and data.live_calls >= data.quota,
                "quota_limit": data.quota or 50,
                "quota_reset_at": datetime.combine(data.today, datetime.max.time()).isoformat(),
                "ban": False,
            }
        )

    async def readings(request: web.Request) -> web.Response:
        service = request.match_info["service"]
        direction, curve = SERVICES[service]
        cached = request.match_info.get("cache") == "cache"
        if cached:
            data.cache_calls += 1
        else:
            data.live_calls += 1
            if data.quota is not None and data.live_calls > data.quota:
                return _detail(409, "Quota journalier d'appels atteint pour ce point de livraison.")
        try:
            start = date.fromisoformat(request.match_info["start"])
            end = date.fromisoformat(request.match_info["end"])
        except ValueError:
            return _detail(400, "Dates attendues au format AAAA-MM-JJ.")
        if not start < end or end > data.today:
            return _detail(400, "La date de fin doit suivre la date de début et ne pas dépasser aujourd'hui.")
        if curve and (end - start).days > CURVE_DAYS:
            return _detail(400, "La courbe de charge est limitée à 7 jours par appel.")
        if (data.today - start).days > (CURVE_HISTORY if curve else DAILY_HISTORY):
            return _detail(400, "La date de début dépasse l'historique disponible chez Enedis.")
        if direction == "production" and not data.production:
            return _detail(404, "Aucune production sur ce point de livraison.")
        days = [start + timedelta(days=n) for n in range((end - start).days) if data.has(start + timedelta(days=n))]
        if not days:
            return _detail(404, "no_data_found: aucune mesure sur cette période.")
        rows = _curve(data, direction, days, cached) if curve else _daily(data, direction, days, cached)
        reading_type = (
            {"measurement_kind": "power", "unit": "W", "aggregate": "average"}
            if curve
            else {"measurement_kind": "energy", "measuring_period": "P1D", "unit": "Wh", "aggregate": "sum"}
        )
        body = {"usage_point_id": pdl, "start": str(start), "end": str(end), "quality": "BRUT"}
        return web.json_response({"meter_reading": {**body, "reading_type": reading_type, "interval_reading": rows}})

    app = web.Application(middlewares=[auth])
    app[GATEWAY] = data
    app.router.add_get("/valid_access/{pdl}", valid_access)
    app.router.add_get("/valid_access/{pdl}/{cache:cache}", valid_access)
    base = "/{service:" + "|".join(SERVICES) + "}/{pdl}/start/{start}/end/{end}"
    app.router.add_get(base, readings)
    app.router.add_get(base + "/{cache:cache}", readings)
    return FakeServer(app)


def _curve(data: GatewayData, direction: str, days: list[date], cached: bool) -> list[dict[str, Any]]:
    rows = []
    for day in days:
        for end in data.ends(day):
            rows.append(
                {
                    "value": str(data.watts(direction, end, cached=cached)),
                    "date": end.astimezone(PARIS).strftime("%Y-%m-%d %H:%M:%S"),
                    "interval_length": "PT30M",
                    "measure_type": "B",
                }
            )
    return rows


def _daily(data: GatewayData, direction: str, days: list[date], cached: bool) -> list[dict[str, Any]]:
    # A day's energy is its load curve's: W x 0.5 h per point.
    return [
        {"value": str(sum(data.watts(direction, e, cached=cached) for e in data.ends(day)) // 2), "date": str(day)}
        for day in days
    ]


__all__ = ["DEMO_PDL", "DEMO_TOKEN", "GATEWAY", "GatewayData", "make_server"]
