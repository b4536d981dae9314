"""A fake Withings API: OAuth 2.0 (`/oauth2_user/authorize2`, `/v2/oauth2` requesttoken) and
`/measure` `getmeas`, answering like the documented API: errors in the JSON body with
HTTP 200 (`{"status": 401, "error": "..."}`), paging through `more`/`offset`, incremental
through `lastupdate`, values as `value` and a power of ten `unit`, Body Scan segmental
measures (types 173-175, one per body `position`).

Like Withings, it refuses a redirect URI that is not https on port 443/80 of a domain name
(localhost and IP addresses are refused), or not among `registered` when that is set, and an
authorization code used twice or more than 30 seconds old (`advance(seconds)` moves its clock).

    server = make_server(days=120)      # FakeServer; await server.start()
    withings = withings_state(server)   # knobs: expire tokens, next statuses, HTML token page...

Demo credentials: client id `selfdata-demo`, client secret `demo-secret`; the refresh
token `demo-refresh-token` is valid from the start (secret `token` = `DEMO_TOKEN`).
Settings for a source: `api_url` = `server.url`, `authorize_url` =
`{server.url}/oauth2_user/authorize2`.
"""

from __future__ import annotations

import ipaddress
import json
import random
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from ..fakeserver import FakeServer

CLIENT_ID = "selfdata-demo"
CLIENT_SECRET = "demo-secret"
DEMO_REFRESH = "demo-refresh-token"
DEMO_TOKEN = json.dumps(
    {
        "access_token": "demo-expired-access",
        "refresh_token": DEMO_REFRESH,
        "expires_at": 0,
        "extra": {"userid": "1234567"},
    }
)
END = datetime(2026, 6, 1, tzinfo=UTC)
SCALE = ("f998be4b9ccc9e136fd8cd8e8e344c31ec3b271d", 5, "Body+")
BPM = ("c405eb8e0e053f6601e151c7e43c04e29aad6956", 44, "BPM Core")
WATCH = ("9b5a2f6e1d0c4b3a29187f6e5d4c3b2a1f0e9d8c", 93, "ScanWatch")
THERMO = ("0a1b2c3d4e5f60718293a4b5c6d7e8f901234567", 70, "Thermo")
BODY_SCAN = ("7c1e0f3a9b2d4c5e6f708192a3b4c5d6e7f80912", 10, "Body Scan")
CODE_LIFETIME_S = 30  # "valid for 30 seconds" (Withings' glossary)
SEGMENTS = (12, 10, 3, 11, 2)  # torso, left leg, left arm, right leg, right arm, in the order Withings sends


@dataclass
class WithingsState:
    groups: list[dict[str, Any]]
    updatetime: int
    page_size: int = 50
    token_ttl: int = 10800
    access: set[str] = field(default_factory=set)
    refresh: set[str] = field(default_factory=lambda: {DEMO_REFRESH})
    codes: dict[str, tuple[str, float]] = field(default_factory=dict)  # code -> (redirect, issued at)
    registered: list[str] = field(default_factory=list)  # the application's registered URLs; empty: any valid
    skew: float = 0.0
    statuses: list[int] = field(default_factory=list)  # the next getmeas answers' body status
    token_requests: int = 0
    measure_requests: int = 0
    html_token_endpoint: bool = False

    def expire_access_tokens(self) -> None:
        self.access.clear()

    def clock(self) -> float:
        return time.monotonic() + self.skew

    def advance(self, seconds: float) -> None:
        self.skew += seconds

    def _issue(self, userid: str = "1234567") -> dict[str, Any]:
        access, refresh = secrets.token_hex(20), secrets.token_hex(20)
        self.access.add(access)
        self.refresh.add(refresh)
        return {
            "userid": userid,
            "access_token": access,
            "refresh_token": refresh,
            "scope": "user.metrics",
            "expires_in": self.token_ttl,
            "token_type": "Bearer",
        }


WITHINGS = web.AppKey("withings", WithingsState)


def withings_state(server: FakeServer) -> WithingsState:
    return server.app[WITHINGS]


def measure_groups(*, seed: int = 1, days: int = 120, end: datetime = END) -> list[dict[str, Any]]:
    """Measure groups over `days` days: scale, blood-pressure monitor, watch, thermometer."""
    rng = random.Random(seed)
    start = end - timedelta(days=days)
    groups: list[dict[str, Any]] = []
    grpid = 4815750000

    def group(t: datetime, device: tuple[str, int, str], measures: list[dict[str, int]], attrib: int = 0) -> None:
        nonlocal grpid
        grpid += rng.randint(1, 40)
        stamp = int(t.timestamp())
        created = stamp + rng.randint(20, 900)
        groups.append(
            {
                "grpid": grpid,
                "attrib": attrib,
                "date": stamp,
                "created": created,
                "modified": created,
                "category": 1,
                "deviceid": device[0],
                "hash_deviceid": device[0],
                "measures": measures,
                "modelid": device[1],
                "model": device[2],
                "comment": None,
            }
        )

    def m(kind: int, value: float, unit: int) -> dict[str, int]:
        return {"value": round(value * 10**-unit), "type": kind, "unit": unit, "algo": 3, "fm": 3}

    for day in range(days):
        morning = start + timedelta(days=day, hours=7, minutes=rng.randint(0, 40))
        kg = 72 + rng.uniform(-1.5, 1.5)
        fat = rng.uniform(17, 21)
        group(
            morning,
            SCALE,
            [
                m(1, kg, -3),
                m(6, fat, -3),
                m(8, kg * fat / 100, -3),
                m(5, kg * (1 - fat / 100), -3),
                m(76, kg * 0.75, -2),
                m(77, kg * 0.55, -2),
                m(88, 3.1, -2),
            ],
        )
        if day % 3 == 0:
            t = morning + timedelta(minutes=10)
            group(
                t,
                BPM,
                [m(9, rng.randint(68, 88), 0), m(10, rng.randint(108, 138), 0), m(11, rng.randint(55, 80), 0)],
                attrib=5,
            )
        if day % 2 == 0:
            group(morning + timedelta(hours=14), WATCH, [m(54, rng.randint(94, 99), 0), m(11, rng.randint(60, 90), 0)])
        if day % 7 == 3:
            group(morning + timedelta(hours=2), THERMO, [m(71, rng.uniform(36.3, 37.6), -2)])
        if day % 11 == 5:
            # A visitor stepped on the scale: ambiguous, it may not be this user's weight.
            group(morning + timedelta(hours=12), SCALE, [m(1, rng.uniform(55, 95), -3)], attrib=1)
        if day % 14 == 6:
            # A Body Scan: whole-body measures (position 7, fat-free and fat mass listed twice, as
            # Withings does) and fat-free, fat and muscle mass for each of five segments.
            share = {12: 0.46, 10: 0.17, 11: 0.17, 3: 0.05, 2: 0.05}
            lean, fat_kg = kg * (1 - fat / 100), kg * fat / 100
            whole = [m(5, lean, -2), m(5, lean, -2), m(8, fat_kg, -2), m(8, fat_kg, -2), m(76, lean * 0.95, -2)]
            whole += [m(168, kg * 0.23, -2), m(169, kg * 0.32, -2), m(170, rng.uniform(3, 9), -1)]
            segments = [
                {**m(kind, base * share[p] * rng.uniform(0.97, 1.03), -2), "position": p}
                for kind, base in ((173, lean), (174, fat_kg), (175, lean * 0.95))
                for p in SEGMENTS
            ]
            measures = [m(1, kg, -3), *({**x, "position": 7} for x in whole), *segments, m(6, fat, -3)]
            group(morning + timedelta(minutes=3), BODY_SCAN, measures)
        if day % 30 == 10:
            group(
                morning + timedelta(hours=1),
                SCALE,
                [m(1, kg, -3), {"value": 4200, "type": 999, "unit": -1, "algo": 0, "fm": 3}],
            )
    # Some groups were edited in the app later: their `modified` moves on.
    for g in groups[5::40]:
        g["modified"] = g["created"] + 86400 * rng.randint(1, 5)
    return groups


def make_server(*, seed: int = 1, days: int = 120, end: datetime = END, page_size: int = 50) -> FakeServer:
    groups = measure_groups(seed=seed, days=days, end=end)
    state = WithingsState(groups, updatetime=max(g["modified"] for g in groups), page_size=page_size)
    app = web.Application()
    app[WITHINGS] = state
    app.router.add_get("/oauth2_user/authorize2", _authorize)
    app.router.add_post("/v2/oauth2", _oauth2)
    app.router.add_post("/measure", _measure)
    app.router.add_get("/measure", _measure)
    return FakeServer(app)


def _status(status: int, error: str) -> web.Response:
    # Withings answers errors with HTTP 200 and the status in the body.
    return web.json_response({"status": status, "body": {}, "error": error})


def _redirect_allowed(url: str) -> bool:
    """Withings' rules for a callback URL: https, no IP or localhost, ports 80 and 443 only, 255 characters."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        pass
    try:
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and bool(host)
        and "localhost" not in host
        and port in (None, 80, 443)
        and len(url) <= 255
    )


async def _authorize(request: web.Request) -> web.Response:
    q = request.query
    if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code" or "user.metrics" not in q.get("scope", ""):
        return web.Response(status=400, text="Invalid Params")
    state = request.app[WITHINGS]
    redirect = q.get("redirect_uri", "")
    if not _redirect_allowed(redirect) or (state.registered and redirect not in state.registered):
        return web.Response(status=400, text="Invalid Params: redirect_uri does not match a registered callback URL")
    code = secrets.token_hex(20)
    state.codes[code] = (redirect, state.clock())
    raise web.HTTPFound(f"{q.get('redirect_uri')}?{urlencode({'code': code, 'state': q.get('state', '')})}")


async def _oauth2(request: web.Request) -> web.Response:
    state = request.app[WITHINGS]
    state.token_requests += 1
    if state.html_token_endpoint:
        return web.Response(
            text="<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>", content_type="text/html"
        )
    form = await request.post()
    if form.get("action") != "requesttoken":
        return _status(2554, "Unknown action")
    if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
        return _status(503, "Invalid Params: invalid client_id or client_secret")
    grant = form.get("grant_type")
    if grant == "authorization_code":
        issued = state.codes.pop(str(form.get("code")), None)
        if issued is None or state.clock() - issued[1] > CODE_LIFETIME_S:
            return _status(503, "Invalid Params: invalid code")
        if issued[0] != form.get("redirect_uri"):
            return _status(503, "Invalid Params: invalid redirect_uri")
        return web.json_response({"status": 0, "body": state._issue()})
    if grant == "refresh_token":
        token = str(form.get("refresh_token"))
        if token not in state.refresh:
            return _status(503, "Invalid Params: invalid refresh_token")
        if token != DEMO_REFRESH:  # the demo's token lasts; issued ones are rotated: each works once
            state.refresh.discard(token)
        return web.json_response({"status": 0, "body": state._issue()})
    return _status(503, "Invalid Params: invalid grant_type")


async def _measure(request: web.Request) -> web.Response:
    state = request.app[WITHINGS]
    state.measure_requests += 1
    form = {**request.query, **(await request.post())}
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in state.access:
        return _status(401, "XRequestID: Not provided invalid_token: The access token provided is invalid")
    if state.statuses:
        return _status(state.statuses.pop(0), "Injected failure")
    if form.get("action") != "getmeas":
        return _status(2554, "Unknown action")
    try:
        lastupdate = int(str(form.get("lastupdate", "0")))
        offset = int(str(form.get("offset", "0")))
        types = {int(t) for t in str(form.get("meastypes") or form.get("meastype") or "").split(",") if t}
    except ValueError:
        return _status(503, "Invalid Params")
    hits = [
        g for g in state.groups if g["modified"] > lastupdate and str(g["category"]) == str(form.get("category", 1))
    ]
    hits.sort(key=lambda g: (g["modified"], g["grpid"]))
    page = hits[offset : offset + state.page_size]
    if types:
        page = [{**g, "measures": [x for x in g["measures"] if x["type"] in types]} for g in page]
        page = [g for g in page if g["measures"]]
    body: dict[str, Any] = {"updatetime": state.updatetime, "timezone": "Europe/Paris", "measuregrps": page}
    if offset + state.page_size < len(hits):
        body.update(more=1, offset=offset + state.page_size)
    return web.json_response({"status": 0, "body": body})
