"""Defences of a localhost API: Host allowlist (DNS rebinding), CORS only for granted origins,
security headers, tokens only in the Authorization header, limits on failed logins."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import os
import re
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from ..grants import Grant, GrantStore
from ..vault.damage import is_damage
from .errors import HTTP_CODES, ApiError, envelope
from .listener import awaiting_client

log = logging.getLogger("selfdata.api")
# The grant of an authenticated request, set by the token check below.
GRANT: web.RequestKey[Grant] = web.RequestKey("grant")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

FAILURE_WINDOW_S = 60.0
MAX_FAILURES = 10  # tries of one bad token by one client a minute
MAX_BAD_TOKENS = 20  # different bad tokens from one client a minute
MAX_CLIENTS = 4096  # clients with recent failures kept in memory
BODY_S = 30.0  # a declared body arrives within this


# What a browser sends: a name or IPv4 address, or an IPv6 address in brackets, then an
# optional port of digits. Anything else (`localhost:80.evil.example`, `[::1].evil.example`)
# is no host a browser could have resolved to this machine's loopback.
_HOST = re.compile(r"(?:\[(?P<ip6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9_.-]+))(?::[0-9]{0,5})?")


def host_allowed(host: str, extra: tuple[str, ...]) -> bool:
    """Loopback addresses, localhost, *.localhost, or a configured name (port ignored)."""
    match = _HOST.fullmatch(host)
    if match is None:
        return False
    name = (match.group("ip6") or match.group("name")).lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost") or name in {h.lower().rstrip(".") for h in extra}:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback and (address.version == 6) == (match.group("ip6") is not None)


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
    """Bad tokens, counted per client and per token it presents. A client that keeps sending
    one bad token (an app whose token was revoked) is told to wait with that token; one that
    tries many different tokens (guessing) is told to wait with any bad token. A valid token
    is never held back, and one client's failures never delay another's. Clients are told
    apart by address; behind a trusted proxy, by the address the proxy forwards. Tokens are
    kept only as keyed hashes, and only so many, so a spray of tokens cannot fill memory."""

    def __init__(self, trusted_proxies: tuple[str, ...] = ()) -> None:
        self._key = os.urandom(16)
        # client -> fingerprint of a bad token -> times it failed, least recently failed first
        self._failures: OrderedDict[str, OrderedDict[bytes, deque[float]]] = OrderedDict()
        self.trusted = tuple(ipaddress.ip_network(p, strict=False) for p in trusted_proxies)

    def client(self, request: web.Request) -> str:
        return client_address(request.remote, request.headers.getall("X-Forwarded-For", []), self.trusted)

    def fingerprint(self, presented: str) -> bytes:
        return hashlib.blake2b(presented.encode(errors="replace"), key=self._key, digest_size=16).digest()

    def blocked_for(self, client: str, fingerprint: bytes) -> float:
        """Seconds this client must wait before this bad token is checked again (0: not blocked)."""
        tokens = self._failures.get(client)
        if not tokens:
            return 0.0
        now = time.monotonic()
        for fp in [fp for fp, times in tokens.items() if now - times[-1] > FAILURE_WINDOW_S]:
            del tokens[fp]
        wait = 0.0
        times = tokens.get(fingerprint)
        if times is not None:
            recent = [t for t in times if now - t <= FAILURE_WINDOW_S]
            if len(recent) >= MAX_FAILURES:
                wait = FAILURE_WINDOW_S - (now - recent[-MAX_FAILURES])
        if fingerprint not in tokens and len(tokens) >= MAX_BAD_TOKENS:
            # Guessing: a new bad token waits until the oldest of the last ones ages out.
            wait = max(wait, FAILURE_WINDOW_S - (now - min(times[-1] for times in tokens.values())))
        return max(0.0, wait)

    def fail(self, client: str, fingerprint: bytes) -> None:
        tokens = self._failures.get(client)
        if tokens is None:
            tokens = self._failures[client] = OrderedDict()
            if len(self._failures) > MAX_CLIENTS:
                self._failures.popitem(last=False)
        self._failures.move_to_end(client)
        times = tokens.get(fingerprint)
        if times is None:
            times = tokens[fingerprint] = deque(maxlen=MAX_FAILURES)
            if len(tokens) > MAX_BAD_TOKENS:
                tokens.popitem(last=False)
        tokens.move_to_end(fingerprint)
        times.append(time.monotonic())


DAMAGED = (
    "the vault's database is damaged, so this could not be read; the vault's owner sees what to do in selfdata status"
)


def make_middleware(
    allowed_hosts: tuple[str, ...], grants: GrantStore, on_damage: Callable[[BaseException], None] | None = None
) -> Middleware:
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
            if request.can_read_body and not getattr(handler, "streams_body", False):
                await _read_body(request)
            response = await handler(request)
        except ApiError as err:
            response = envelope(err.status, err.code, err.message, err.headers)
            if err.status == 408:
                response.force_close()
        except web.HTTPException as err:
            if err.status < 400:
                raise
            allow = {"Allow": err.headers["Allow"]} if "Allow" in err.headers else None  # with a 405
            response = envelope(err.status, HTTP_CODES.get(err.status, "error"), err.reason, allow)
        except Exception as err:
            if on_damage is not None and is_damage(err):
                on_damage(err)  # logged there, once
                response = envelope(503, "vault_damaged", DAMAGED)
            else:
                log.exception("request %s %s failed", request.method, request.path)
                response = envelope(500, "internal", "internal error; the daemon's log has the details")
        _headers(request, response)
        return response

    return defend


async def _read_body(request: web.Request) -> None:
    """A declared body must arrive within BODY_S; the handler's own read gets it from the cache."""
    try:
        with awaiting_client(request.transport):
            async with asyncio.timeout(BODY_S):
                await request.read()
    except TimeoutError:
        raise ApiError(408, "body_timeout", f"the request body did not arrive within {BODY_S:.0f} s") from None
    except (ConnectionError, web.RequestPayloadError):
        raise ApiError(400, "incomplete_body", "the request body was cut short") from None


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
        client, fingerprint = failures.client(request), failures.fingerprint(header)
        wait = failures.blocked_for(client, fingerprint)
        if wait > 0:
            raise ApiError(
                429,
                "too_many_failures",
                "the token is unknown, revoked or expired, and this client sent too many bad tokens: wait, or get "
                "a new token",
                {"Retry-After": str(int(wait) + 1)},
            )
        failures.fail(client, fingerprint)
        raise ApiError(
            401,
            "bad_token",
            "the token is unknown, revoked or expired",
            {"WWW-Authenticate": 'Bearer realm="selfdata", error="invalid_token"'},
        )
    request[GRANT] = grant
    return grant
