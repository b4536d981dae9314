"""Who may open a dashboard page: the user's own browser with a session cookie, nothing else.

An app token never opens a page (401), a page never answers a browser without a session
(it redirects to the sign-in page), every change carries the session's CSRF token and comes
from the dashboard's own origin, and every answer forbids framing and outside resources.
The API's own defences (the Host allowlist) run before any of this.
"""

from __future__ import annotations

import asyncio
import hmac
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web

from .. import __version__
from ..services import Services
from . import signin

COOKIE = "sd_session"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PASSPHRASE_WINDOW_S = 60.0
PASSPHRASE_TRIES = 5


@dataclass
class Dashboard:
    services: Services
    trusted_proxies: tuple[Any, ...] = ()
    # Messages shown once on the next page, per session.
    flashes: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    passphrase_failures: deque[float] = field(default_factory=lambda: deque(maxlen=PASSPHRASE_TRIES))
    tasks: set[asyncio.Task[None]] = field(default_factory=set)  # runs started from a page

    def flash(self, request: web.Request, kind: str, text: str) -> None:
        token = request.get(SESSION_TOKEN)
        if token:
            self.flashes.setdefault(token, []).append((kind, text))

    def take_flashes(self, request: web.Request) -> list[tuple[str, str]]:
        token = request.get(SESSION_TOKEN)
        return self.flashes.pop(token, []) if token else []

    def passphrase_wait(self) -> float:
        now = asyncio.get_running_loop().time()
        if len(self.passphrase_failures) < PASSPHRASE_TRIES:
            return 0.0
        return max(0.0, PASSPHRASE_WINDOW_S - (now - self.passphrase_failures[0]))


DASHBOARD: web.AppKey[Dashboard] = web.AppKey("dashboard")
SESSION: web.RequestKey[signin.WebSession] = web.RequestKey("web_session")
SESSION_TOKEN: web.RequestKey[str] = web.RequestKey("web_session_token")


def secure_headers(response: web.StreamResponse) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    # Not no-referrer: under it a browser sends `Origin: null` with a form, and changes need the Origin.
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"


def is_https(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def same_origin(request: web.Request) -> bool:
    """A change must come from a page of this dashboard: Origin (or, without it, Referer) names our Host."""
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin or origin == "null":
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == request.headers.get("Host", "").lower()


def refuse(status: int, text: str) -> web.Response:
    response = web.Response(status=status, text=text, content_type="text/plain")
    secure_headers(response)
    return response


def not_found(request: web.Request, message: str) -> web.Response:
    from .render import render

    session = request.get(SESSION)
    body = render(
        "error.html",
        title="Not found",
        message=message if message and not message.startswith("404") else "There is no such page.",
        tz=None,
        csrf=session.csrf if session else "",
        flashes=[],
        version=__version__,
        path=request.path,
    )
    return web.Response(status=404, text=body, content_type="text/html")


def page(*, change: bool = False, upload: bool = False) -> Callable[[Handler], Handler]:
    """Guard a dashboard handler: a session is needed; `change` handlers need the CSRF token too.

    An `upload` (a streamed multipart body, never read whole) carries its token in the
    X-CSRF-Token header or in the query string's `csrf`, as the page's form sends it."""

    def wrap(handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if "Authorization" in request.headers:
                return refuse(401, "app tokens do not open the dashboard: sign in with selfdata dashboard")
            dash = request.app[DASHBOARD]
            token = request.cookies.get(COOKIE, "")
            session = signin.find_session(dash.services.vault, token) if token else None
            if session is None:
                if request.method == "GET":
                    target = request.path_qs if request.path != "/" else ""
                    raise web.HTTPSeeOther("/signin" + (f"?next={quote(target, safe='')}" if target else ""))
                return refuse(403, "not signed in: open a new link from selfdata dashboard")
            if change or request.method != "GET":
                if not same_origin(request):
                    return refuse(403, "this change did not come from the dashboard's own page")
                if upload:
                    sent = request.headers.get("X-CSRF-Token") or request.query.get("csrf", "")
                else:
                    form = await request.post() if request.content_type in FORM_TYPES else {}
                    sent = request.headers.get("X-CSRF-Token") or str(form.get("csrf", ""))
                if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
                    return refuse(403, "the form's security token is missing or wrong: reload the page and try again")
            request[SESSION] = session
            request[SESSION_TOKEN] = token
            try:
                response = await handler(request)
            except web.HTTPNotFound as err:
                response = not_found(request, err.text or "")
            if not response.prepared:
                secure_headers(response)
            return response

        guarded.__name__ = handler.__name__
        guarded.__doc__ = handler.__doc__
        # An upload reads its own body, chunk by chunk: the API's whole-body read would hold it
        # in memory and refuse it beyond the API's 1 MiB.
        guarded.streams_body = upload  # type: ignore[attr-defined]
        return guarded

    return wrap


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=signin.SESSION_TTL_MS // 1000,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=is_https(request),
    )
