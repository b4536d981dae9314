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

The daily quota (`quota`, 50 by default, as the gateway's): a call counts when the gateway
has to ask Enedis, that is a live call, or a `/cache` call for days it does not hold yet
(the cache keeps what any call fetched). Past the quota, data calls answer 409 and
`valid_access` answers what myelectricaldatapy recorded from the gateway: `"valid": false,
"quota_reached": true, "information": "Vous avez dépassé votre quota journalier (50)"`, with
`quota_reset_at` the end of the Paris day. The count is kept per `data.today`: moving it on
is a new quota day.

`make_server(gateway="v2")` answers like the v2 gateway (v2.myelectricaldata.fr, its public
source MyElectricalData/myelectricaldata_new) instead: `Authorization: Bearer <token>`,
everything under `/api`: `GET /api/pdl`, `GET /api/enedis/{consumption,production}/{daily,
detail}/{pdl}?start=YYYY-MM-DD&end=YYYY-MM-DD&use_cache=true|false`, end included and capped
to yesterday, detail points stamped with the START of their interval, answers wrapped in
`{"success": true, "data": ...}` and errors as HTTP 200 `{"success": false, "error":
{"code", "message"}}` (`RATE_LIMIT_EXCEEDED` past 50 calls without cache or 1000 with,
`DATE_TOO_OLD`, `NO_DATA`, `ACCESS_DENIED`).
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
QUOTA = 50
V2_CACHED_QUOTA = 1000
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
    counted: dict[tuple[date, bool], int] = field(default_factory=dict)  # (quota day, cached) -> calls
    cached: set[tuple[str, date]] = field(default_factory=set)  # what the gateway's cache holds

    def calls_today(self, *, cached: bool = False) -> int:
        return self.counted.get((self.today, cached), 0)

    def spend(self, *, cached: bool = False) -> bool:
        """Count one call against today's quota; False when the quota was already spent."""
        limit = (V2_CACHED_QUOTA if cached else self.quota) if self.v2 else self.quota
        if limit is not None and self.calls_today(cached=cached) >= limit:
            self.counted[(self.today, cached)] = self.calls_today(cached=cached) + 1
            return False
        self.counted[(self.today, cached)] = self.calls_today(cached=cached) + 1
        return True

    v2: bool = False

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
    quota: int | None = QUOTA,
    token: str = DEMO_TOKEN,
    pdl: str = DEMO_PDL,
    gateway: str = "v1",
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
        v2=gateway == "v2",
    )
    if gateway == "v2":
        return _v2_server(data, token, pdl)

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.headers.get("Authorization") != token:
            return _detail(401, "Token invalide ou absent.")
        if request.match_info.get("pdl") not in (None, pdl):
            return _detail(403, "Ce point de livraison n'est pas associé à ce jeton.")
        return await handler(request)

    async def valid_access(request: web.Request) -> web.Response:
        calls = data.calls_today()
        spent = data.quota is not None and calls >= data.quota
        out: dict[str, Any] = {"valid": not spent}
        if spent:
            out["information"] = f"Vous avez dépassé votre quota journalier ({data.quota})"
        out.update(
            {
                "consent_expiration_date": data.consent_expires.replace(tzinfo=None).isoformat(),
                "call_number": calls,
                "quota_reached": spent,
                "quota_limit": data.quota or QUOTA,
                "quota_reset_at": datetime.combine(data.today, datetime.max.time()).isoformat(),
                "last_call": datetime.combine(data.today, datetime.min.time()).isoformat(),
                "ban": False,
            }
        )
        return web.json_response(out)

    async def readings(request: web.Request) -> web.Response:
        service = request.match_info["service"]
        direction, curve = SERVICES[service]
        cached = request.match_info.get("cache") == "cache"
        try:
            start = date.fromisoformat(request.match_info["start"])
            end = date.fromisoformat(request.match_info["end"])
        except ValueError:
            return _detail(400, "Dates attendues au format AAAA-MM-JJ.")
        window = [start + timedelta(days=n) for n in range(max(0, (end - start).days))]
        if cached:
            data.cache_calls += 1
        if not cached or any((service, d) not in data.cached for d in window):  # the gateway asks Enedis
            data.live_calls += 1
            if not data.spend():
                return _detail(409, "Quota journalier d'appels atteint pour ce point de livraison.")
        if not start < end or end > data.today:
            return _detail(400, "La date de fin doit suivre la date de début et ne pas dépasser aujourd'hui.")
        if curve and (end - start).days > CURVE_DAYS:
            return _detail(400, "La courbe de charge est limitée à 7 jours par appel.")
        if (data.today - start).days > (CURVE_HISTORY if curve else DAILY_HISTORY):
            return _detail(400, "La date de début dépasse l'historique disponible chez Enedis.")
        if direction == "production" and not data.production:
            return _detail(404, "Aucune production sur ce point de livraison.")
        days = [d for d in window if data.has(d)]
        data.cached.update((service, d) for d in days)
        if not days:
            return _detail(404, "no_data_found: aucune mesure sur cette période.")
        rows = _curve(data, direction, days, cached) if curve else _daily(data, direction, days, cached)
        body = {"usage_point_id": pdl, "start": str(start), "end": str(end), "quality": "BRUT"}
        meter = {**body, "reading_type": _reading_type(curve), "interval_reading": rows}
        return web.json_response({"meter_reading": meter})

    app = web.Application(middlewares=[auth])
    app[GATEWAY] = data
    app.router.add_get("/valid_access/{pdl}", valid_access)
    app.router.add_get("/valid_access/{pdl}/{cache:cache}", valid_access)
    base = "/{service:" + "|".join(SERVICES) + "}/{pdl}/start/{start}/end/{end}"
    app.router.add_get(base, readings)
    app.router.add_get(base + "/{cache:cache}", readings)
    return FakeServer(app)


def _reading_type(curve: bool) -> dict[str, str]:
    if curve:
        return {"measurement_kind": "power", "unit": "W", "aggregate": "average"}
    return {"measurement_kind": "energy", "measuring_period": "P1D", "unit": "Wh", "aggregate": "sum"}


def _failure(code: str, message: str) -> web.Response:
    """The v2 gateway's errors: HTTP 200, success false."""
    return web.json_response({"success": False, "error": {"code": code, "message": message}, "timestamp": _stamp()})


def _stamp() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat()


def _v2_server(data: GatewayData, token: str, pdl: str) -> FakeServer:
    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {token}":
            return _detail(401, "Invalid authentication credentials")
        return await handler(request)

    async def pdls(request: web.Request) -> web.Response:
        point = {"id": "7c1e", "usage_point_id": pdl, "name": "Maison", "created_at": _stamp(), "is_active": True}
        point.update({"has_consumption": True, "has_production": data.production})
        return web.json_response({"success": True, "data": [point], "timestamp": _stamp()})

    async def readings(request: web.Request) -> web.Response:
        direction, kind = request.match_info["direction"], request.match_info["kind"]
        curve = kind == "detail"
        if request.match_info["pdl"] != pdl:
            return _failure("ACCESS_DENIED", "Accès refusé : PDL introuvable ou non associé à votre compte.")
        q = request.query
        try:
            start, end = date.fromisoformat(q["start"]), date.fromisoformat(q["end"])
        except (KeyError, ValueError) as err:
            return _failure("INVALID_DATE_FORMAT", f"Invalid date format. Expected YYYY-MM-DD. Error: {err}")
        end = min(end, data.today - timedelta(days=1))  # Enedis has data up to yesterday
        if start >= end and not curve:
            start = end - timedelta(days=1)
        years = 2 if curve else 3
        oldest = data.today.replace(year=data.today.year - years)
        if start < oldest:
            return _failure("DATE_TOO_OLD", f"Start date is too old. Oldest allowed date: {oldest}")
        cached = q.get("use_cache") == "true"
        if cached:
            data.cache_calls += 1
        else:
            data.live_calls += 1
        if not data.spend(cached=cached):
            limit = V2_CACHED_QUOTA if cached else (data.quota or QUOTA)
            hint = "Try again tomorrow." if cached else "Use cache to increase limit."
            return _failure("RATE_LIMIT_EXCEEDED", f"Daily rate limit exceeded ({limit + 1}/{limit}). {hint}")
        window = [start + timedelta(days=n) for n in range((end - start).days + 1)]
        days = [d for d in window if data.has(d) and (direction == "consumption" or data.production)]
        if not days:
            return _failure("NO_DATA", "No consumption data available for this period")
        if curve:
            rows = _curve(data, direction, days, cached)
            for row in rows:  # the v2 gateway stamps each point with the START of its interval
                end_at = datetime.strptime(row["date"], "%Y-%m-%d %H:%M:%S")
                row["date"] = (end_at - timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M:%S")
        else:
            rows = _daily(data, direction, days, cached)
        meter = {"interval_reading": rows, "reading_type": _reading_type(curve)}
        return web.json_response({"success": True, "data": {"meter_reading": meter}, "timestamp": _stamp()})

    app = web.Application(middlewares=[auth])
    app[GATEWAY] = data
    app.router.add_get("/api/pdl", pdls)
    app.router.add_get("/api/enedis/{direction:consumption|production}/{kind:daily|detail}/{pdl}", readings)
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
