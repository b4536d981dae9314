"""A fake Freebox Server (Freebox OS local API, as documented at dev.freebox.fr/sdk/os).

    server = make_server(seed=1, days=90)   # the demo app token DEMO_APP_TOKEN is already granted
    box = server.app[BOX]                  # knobs for tests: grant/deny, expire sessions, counters

It answers like the box: `/api_version` for discovery; `login/authorize/` to register an
app, whose request waits on the box's front screen (`press(track_id)` or `auto_grant`);
`login/` hands out a challenge and `login/session/` opens a session when the password is
HMAC-SHA1(app_token, challenge); other calls need the `X-Fbx-App-Auth` header and answer
403 `auth_required` without a known session, and `invalid_session` for a session the box
dropped (`drop_sessions_after(n)`: mid-run, after n more requests). Every answer is the
`{"success": ..., "result": ...}` / `{"success": false, "error_code", "msg"}` envelope. A missed
call's `duration` is how long it rang, as the box reports it (Home Assistant's recorded call
log has missed calls of 15 and 25 s).
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from ..fakeserver import FakeServer

APP_ID = "org.selfdata.daemon"
DEMO_APP_TOKEN = "dyNYgfK0Ya6FWGqq83sBHa7TwzWo+pg4fDFUJHShcjVYzTfaRrZzm93p7OTAfH/0"
DEFAULT_END = datetime(2026, 6, 1, tzinfo=UTC)
API = "/api/v8/"
CONTACTS = (
    ("Marie Martin", "0612345678"),
    ("Papa", "0623456789"),
    ("Cabinet médical", "0142685300"),
    ("Lucas", "+33634567890"),
)
PERMISSIONS = {"settings": False, "contacts": True, "calls": True, "explorer": True, "downloader": True, "pvr": True}


@dataclass
class App:
    app_id: str
    token: str
    status: str = "pending"  # unknown, pending, timeout, granted, denied
    track_id: int = 0
    polls: int = 0
    permissions: dict[str, bool] = field(default_factory=lambda: dict(PERMISSIONS))


@dataclass
class FreeboxState:
    calls: list[dict[str, Any]]
    apps: dict[str, App] = field(default_factory=dict)  # by app token
    sessions: dict[str, int] = field(default_factory=dict)  # session token -> requests left
    dropped: set[str] = field(default_factory=set)  # sessions the box dropped before their end
    drop_after: int | None = None
    challenge: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    auto_grant: bool = True  # the demo: requests are granted at the second status poll
    session_requests: int = 1000
    logins: int = 0
    serial: str = "1234567A89012345"
    frozen: bool = False
    bytes_up: int = 2_100_000_000
    bytes_down: int = 39_000_000_000
    rate_up: int = 9_000
    rate_down: int = 110_000
    uptime0: float = 5 * 86400.0
    _t0: float = 0.0
    _advanced: float = 0.0
    _started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return self._advanced + (0.0 if self.frozen else time.monotonic() - self._started)

    def advance(self, seconds: float) -> None:
        self._advanced += seconds

    def uptime(self) -> int:
        return int(self.uptime0 + self.elapsed() - self._t0)

    def counters(self) -> tuple[int, int]:
        dt = self.elapsed() - self._t0
        return self.bytes_up + int(self.rate_up * dt), self.bytes_down + int(self.rate_down * dt)

    def reconnect(self) -> None:
        """The line came back up: the counters restart, the box stays up."""
        now = self.elapsed()
        self.uptime0, self._t0, self.bytes_up, self.bytes_down = self.uptime(), now, 0, 0

    def reboot(self) -> None:
        self.uptime0, self._t0, self.bytes_up, self.bytes_down = 0.0, self.elapsed(), 0, 0
        self.sessions.clear()

    def expire_sessions(self) -> None:
        self.sessions.clear()

    def drop_sessions_after(self, requests: int) -> None:
        """After `requests` more authenticated requests, every open session becomes invalid."""
        self.drop_after = requests

    def press(self, track_id: int, accept: bool = True) -> None:
        """The user answers on the box's screen."""
        for app in self.apps.values():
            if app.track_id == track_id:
                app.status = "granted" if accept else "denied"


BOX = web.AppKey("freebox_state", FreeboxState)


def generate_calls(*, seed: int, end: datetime, days: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    day0 = (end - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    calls: list[dict[str, Any]] = []
    for d in range(days + 1):
        for minute in sorted(rng.randint(8 * 60, 22 * 60) for _ in range(rng.choice((0, 1, 2, 3, 5)))):
            at = day0 + timedelta(days=d, minutes=minute, seconds=rng.randint(0, 59))
            if at >= end:
                continue
            kind = rng.choices(("accepted", "outgoing", "missed"), (45, 35, 20))[0]
            roll = rng.random()
            if roll < 0.55:
                name, number = rng.choice(CONTACTS)
            elif roll < 0.9 or kind == "outgoing":
                number = f"0{rng.choice('1234579')}{rng.randint(10**7, 10**8 - 1)}"
                name = number  # the box repeats the number when it knows no name
            else:
                name, number = "", ""  # withheld
            calls.append(
                {
                    "number": number,
                    "type": kind,
                    "id": 0,
                    "duration": rng.randint(4, 2400) if kind != "missed" else rng.choice((0, 5, 15, 25, 40)),
                    "datetime": int(at.timestamp()),
                    "contact_id": CONTACTS.index((name, number)) + 1 if (name, number) in CONTACTS else 0,
                    "line_id": 0,
                    "name": name,
                    "new": rng.random() < 0.1,
                }
            )
    for i, call in enumerate(calls, start=1):
        call["id"] = 200 + i
    return calls


def ok(result: Any = None) -> web.Response:
    body: dict[str, Any] = {"success": True}
    if result is not None:
        body["result"] = result
    return web.json_response(body)


def error(status: int, code: str, msg: str, **extra: Any) -> web.Response:
    return web.json_response({"success": False, "error_code": code, "msg": msg, **extra}, status=status)


def make_app(box: FreeboxState) -> web.Application:
    async def api_version(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "box_model_name": "Freebox v7 (r1)",
                "api_base_url": "/api/",
                "https_port": 44563,
                "device_name": "Freebox Server",
                "https_available": True,
                "box_model": "fbxgw7-r1/full",
                "api_domain": "x7b9kq2m.fbxos.fr",
                "uid": "23b86ec8091013d668829fe12791fdab",
                "api_version": "8.0",
                "device_type": "FreeboxServer7,1",
            }
        )

    async def authorize(request: web.Request) -> web.Response:
        body = await request.json()
        if not all(isinstance(body.get(k), str) for k in ("app_id", "app_name", "app_version", "device_name")):
            return error(400, "invalid_request", "Requête invalide")
        app = App(body["app_id"], secrets.token_urlsafe(48), track_id=len(box.apps) + 1)
        box.apps[app.token] = app
        return ok({"app_token": app.token, "track_id": app.track_id})

    async def track(request: web.Request) -> web.Response:
        track_id = int(request.match_info["track_id"])
        app = next((a for a in box.apps.values() if a.track_id == track_id), None)
        if app is None:
            return error(404, "invalid_request", "Requête invalide")
        app.polls += 1
        if box.auto_grant and app.status == "pending" and app.polls >= 2:
            app.status = "granted"
        return ok({"status": app.status, "challenge": box.challenge, "password_salt": "PJSiwpDA8ly6gGTGSqg9Ro"})

    async def login(request: web.Request) -> web.Response:
        return ok({"logged_in": False, "challenge": box.challenge, "password_salt": "PJSiwpDA8ly6gGTGSqg9Ro"})

    async def session(request: web.Request) -> web.Response:
        body = await request.json()
        box.logins += 1
        challenge, box.challenge = box.challenge, secrets.token_urlsafe(24)
        for app in box.apps.values():
            expected = hmac.new(app.token.encode(), challenge.encode(), hashlib.sha1).hexdigest()
            if app.app_id == body.get("app_id") and hmac.compare_digest(expected, str(body.get("password", ""))):
                if app.status == "pending":
                    return error(403, "pending_token", "L'application n'a pas encore été validée sur la Freebox")
                if app.status != "granted":
                    break
                token = secrets.token_urlsafe(32)
                box.sessions[token] = box.session_requests
                return ok({"session_token": token, "challenge": box.challenge, "permissions": app.permissions})
        return error(403, "invalid_token", "Le token de l'application que vous utilisez est invalide ou a été révoqué")

    def authenticated(request: web.Request) -> web.Response | None:
        token = request.headers.get("X-Fbx-App-Auth", "")
        if box.drop_after is not None:
            if box.drop_after <= 0:
                box.dropped |= set(box.sessions)
                box.sessions.clear()
                box.drop_after = None
            else:
                box.drop_after -= 1
        if token in box.dropped:
            return error(403, "invalid_session", "Session invalide")
        if box.sessions.get(token, 0) <= 0:
            box.sessions.pop(token, None)
            return error(403, "auth_required", "Invalid session token, or not session token sent")
        box.sessions[token] -= 1
        return None

    async def call_log(request: web.Request) -> web.Response:
        refused = authenticated(request)
        if refused is not None:
            return refused
        if not any(a.permissions.get("calls") for a in box.apps.values() if a.status == "granted"):
            return error(403, "insufficient_rights", "Cette application n'est pas autorisée", missing_right="calls")
        return ok(list(reversed(box.calls)) or None)  # newest first; an empty log has no result

    async def connection(request: web.Request) -> web.Response:
        refused = authenticated(request)
        if refused is not None:
            return refused
        up, down = box.counters()
        return ok(
            {
                "type": "ethernet",
                "rate_down": box.rate_down,
                "bytes_up": up,
                "rate_up": box.rate_up,
                "bandwidth_up": 700_000_000,
                "ipv4": "82.64.113.27",
                "ipv6": "2a01:e0a:2b4:b8d0::1",
                "bandwidth_down": 1_000_000_000,
                "state": "up",
                "bytes_down": down,
                "media": "ftth",
            }
        )

    async def system(request: web.Request) -> web.Response:
        refused = authenticated(request)
        if refused is not None:
            return refused
        uptime = box.uptime()
        return ok(
            {
                "mac": "F4:CA:E5:12:34:56",
                "model_info": {"name": "fbxgw7-r1/full", "pretty_name": "Freebox v7 (r1)", "has_dect": True},
                "fans": [{"id": "fan0_speed", "name": "Ventilateur 1", "value": 1460}],
                "sensors": [{"id": "temp_cpu0", "name": "Température CPU 0", "value": 63}],
                "board_name": "fbxgw7r",
                "disk_status": "active",
                "uptime": f"{uptime // 86400} jours {uptime % 86400 // 3600} heures",
                "uptime_val": uptime,
                "user_main_storage": "Disque dur",
                "box_authenticated": True,
                "serial": box.serial,
                "firmware_version": "4.8.7",
            }
        )

    async def not_found(request: web.Request) -> web.Response:
        return error(404, "invalid_request", "Requête invalide")

    app = web.Application()
    app[BOX] = box
    app.router.add_get("/api_version", api_version)
    app.router.add_post(API + "login/authorize/", authorize)
    app.router.add_get(API + "login/authorize/{track_id:[0-9]+}", track)
    app.router.add_get(API + "login/", login)
    app.router.add_post(API + "login/session/", session)
    app.router.add_get(API + "call/log/", call_log)
    app.router.add_get(API + "connection/", connection)
    app.router.add_get(API + "system/", system)
    app.router.add_route("*", "/api/{tail:.*}", not_found)
    return app


def make_server(*, seed: int = 1, end: datetime | None = None, days: int = 90) -> FakeServer:
    """A fake Freebox with `days` days of calls before `end`; DEMO_APP_TOKEN is granted for APP_ID."""
    box = FreeboxState(calls=generate_calls(seed=seed, end=end or DEFAULT_END, days=days))
    box.apps[DEMO_APP_TOKEN] = App(APP_ID, DEMO_APP_TOKEN, status="granted", track_id=0)
    return FakeServer(make_app(box))
