"""Defences of a localhost API: Host allowlist (DNS rebinding), CORS only for granted origins,
security headers, tokens only in the Authorization header, limits on failed logins."""

from __future__ import annotations

import ipaddress
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from ..grants import Grant, GrantStore
from .errors import HTTP_CODES, ApiError, envelope

log = logging.getLogger("selfdata.api")
# The grant of an authenticated request, set by the token check below.
GRANT: web.RequestKey[Grant] = web.RequestKey("grant")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

FAILURE_WINDOW_S = 60.0
MAX_FAILURES = 10


def host_allowed(host: str, extra: tuple[str, ...]) -> bool:
    """Loopback addresses, localhost, *.localhost, or a configured name (port ignored)."""
    if not host:
        return False
    if host.startswith("["):
        name = host[1 : host.find("]")] if "]" in host else ""
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost") or name in {h.lower().rstrip(".") for h in extra}:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_address(remote: str | None, forwarded: list[str], trusted: tuple[Network, ...]) -> str:
    """The client a request comes from: the peer, or, when the peer is a trusted proxy, the
    nearest address in X-Forwarded-For that is not itself a trusted proxy. Read from the
    right, as each proxy appends the address it saw: entries further left are whatever the
    client chose to send. Anything unreadable stops the walk at the last trusted hop."""
    client = remote or "?"
    if not trusted:
        return client
    hops = [client] + [hop.strip() for header in reversed(forwarded) for hop in reversed(header.split(","))]
    for hop in hops:
        try:
            address = ipaddress.ip_address(hop)
        except ValueError:
            return client
        client = str(address)
        if not any(address in net for net in trusted):
            break
    return client


class FailedLogins:
    """After MAX_FAILURES bad tokens in a minute from one client, it must wait. Clients are
    told apart by address; behind a trusted proxy, by the address the proxy forwards."""

    def __init__(self, trusted_proxies: tuple[str, ...] = ()) -> None:
        self._failures: dict[str, deque[float]] = {}
        self.trusted = tuple(ipaddress.ip_network(p, strict=False) for p in trusted_proxies)

    def client(self, request: web.Request) -> str:
        return client_address(request.remote, request.headers.getall("X-Forwarded-For", []), self.trusted)

    def blocked_for(self, peer: str) -> float:
        times = self._failures.get(peer)
        if not times:
            return 0.0
        now = time.monotonic()
        while times and now - times[0] > FAILURE_WINDOW_S:
            times.popleft()
        if len(times) < MAX_FAILURES:
            return 0.0
        return FAILURE_WINDOW_S - (now - times[0])

    def fail(self, peer: str) -> None:
        self._failures.setdefault(peer, deque(maxlen=MAX_FAILURES * 2)).append(time.monotonic())


def make_middleware(allowed_hosts: tuple[str, ...], grants: GrantStore) -> Middleware:
    @web.middleware
    async def defend(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if not host_allowed(request.headers.get("Host", ""), allowed_hosts):
                raise ApiError(
                    403,
                    "bad_host",
                    "this API answers only to localhost; configure api.allowed_hosts to reach it through another name",
                )
            origin = request.headers.get("Origin")
            if request.method == "OPTIONS":
                return _preflight(origin, grants)
            if "token" in request.query or "access_token" in request.query:
                raise ApiError(400, "token_in_url", "tokens go in the Authorization header, never in a URL")
            response = await handler(request)
        except ApiError as err:
            response = envelope(err.status, err.code, err.message, err.headers)
        except web.HTTPException as err:
            if err.status < 400:
                raise
            response = envelope(err.status, HTTP_CODES.get(err.status, "error"), err.reason)
        except Exception:
            log.exception("request %s %s failed", request.method, request.path)
            response = envelope(500, "internal", "internal error; the daemon's log has the details")
        _headers(request, response)
        return response

    return defend


def _preflight(origin: str | None, grants: GrantStore) -> web.Response:
    if not origin or origin not in grants.origins():
        raise ApiError(403, "cors", "no grant lists this origin")
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": "Authorization, Content-Type, Accept, Last-Event-ID",
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        },
    )


def _headers(request: web.Request, response: web.StreamResponse) -> None:
    if response.prepared:
        return
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers.setdefault("Referrer-Policy", "no-referrer")  # the dashboard sends its own
    grant: Grant | None = request.get(GRANT)
    origin = request.headers.get("Origin")
    if grant is not None and origin and origin in grant.origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"


def prepare_headers(request: web.Request, response: web.StreamResponse) -> None:
    """For streamed responses, which are prepared inside the handler."""
    _headers(request, response)


def authenticate(request: web.Request, grants: GrantStore, failures: FailedLogins) -> Grant:
    peer = failures.client(request)
    wait = failures.blocked_for(peer)
    if wait > 0:
        raise ApiError(
            429,
            "too_many_failures",
            "too many bad tokens; wait before trying again",
            {"Retry-After": str(int(wait) + 1)},
        )
    header = request.headers.get("Authorization", "")
    if not header:
        raise ApiError(
            401,
            "no_token",
            "send a token: Authorization: Bearer sd_...",
            {"WWW-Authenticate": 'Bearer realm="selfdata"'},
        )
    scheme, _, token = header.partition(" ")
    grant = grants.authenticate(token.strip()) if scheme.lower() == "bearer" else None
    if grant is None:
        failures.fail(peer)
        raise ApiError(
            401,
            "bad_token",
            "the token is unknown, revoked or expired",
            {"WWW-Authenticate": 'Bearer realm="selfdata", error="invalid_token"'},
        )
    request[GRANT] = grant
    return grant
