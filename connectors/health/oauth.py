"""OAuth 2.0 for the live health connectors: PKCE, the browser round trip, token answers,
and an access token refreshed at expiry, never by two tasks at once.

Tokens live in one secret, `token` (JSON: access and refresh token, expiry, and what the
server said with them, such as the SMART `patient`), saved with `ctx.update_secret` the
moment they change: a refresh token the server rotates is never lost. What the two halves
of the browser round trip share (state, PKCE verifier) is the secret `authorization`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connectors.sdk import AuthFailed, Context, Fatal, Response, Retryable, UserActionNeeded

TOKEN = "token"
PENDING = "authorization"
EARLY_S = 60  # refresh this long before the server's expiry


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str | None = None
    expires_at: float | None = None  # Unix seconds
    scope: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # SMART patient, Withings userid, endpoints

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now.timestamp() >= self.expires_at - EARLY_S

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v not in (None, {})}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str) -> TokenSet:
        try:
            data = json.loads(text)
            return cls(
                access_token=str(data["access_token"]),
                refresh_token=data.get("refresh_token"),
                expires_at=data.get("expires_at"),
                scope=data.get("scope"),
                extra=dict(data.get("extra") or {}),
            )
        except (ValueError, KeyError, TypeError):
            raise AuthFailed(
                f"the source {source!r} holds no usable token; authorize it again: selfdata source authorize {source}"
            ) from None


def from_token_answer(body: dict[str, Any], now: datetime, previous: TokenSet | None = None) -> TokenSet:
    """A TokenSet from an RFC 6749 token answer; what the answer leaves out is kept from `previous`."""
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise Fatal("the token answer holds no access_token")
    expires_in = body.get("expires_in")
    extra = dict(previous.extra) if previous else {}
    extra.update({k: v for k, v in body.items() if k in ("patient", "userid", "id_token", "encounter")})
    return TokenSet(
        access_token=access,
        refresh_token=body.get("refresh_token") or (previous.refresh_token if previous else None),
        expires_at=now.timestamp() + float(expires_in) if isinstance(expires_in, int | float | str) else None,
        scope=body.get("scope") or (previous.scope if previous else None),
        extra=extra,
    )


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge) as RFC 7636 describes."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


async def save_pending(ctx: Context, **values: str) -> str:
    """Store what the second half of the round trip needs; returns a fresh `state`."""
    state = secrets.token_urlsafe(24)
    await ctx.update_secret(PENDING, json.dumps({**values, "state": state}))
    return state


def load_pending(ctx: Context) -> dict[str, str]:
    text = ctx.secrets.get(PENDING)
    try:
        pending = json.loads(text) if text else None
    except ValueError:
        pending = None
    if not isinstance(pending, dict) or "state" not in pending:
        raise UserActionNeeded(f"no authorization is under way; start one with: selfdata source authorize {ctx.source}")
    return pending


async def clear_pending(ctx: Context) -> None:
    await ctx.update_secret(PENDING, "")


def code_from(code_or_url: str, state: str) -> str:
    """The code from what the user brought back: the whole redirect URL, its query, or the code."""
    text = code_or_url.strip()
    if "?" in text or "code=" in text or "error=" in text:
        query = parse_qs(urlsplit(text).query if "?" in text else text)
        if "error" in query:
            reason = query.get("error_description", query["error"])[0]
            raise AuthFailed(f"the authorization was refused: {reason}")
        if query.get("state", [state])[0] != state:
            raise AuthFailed("the authorization answer is not for this request (state differs); start again")
        codes = query.get("code")
        if not codes:
            raise AuthFailed("the URL holds no authorization code")
        return codes[0]
    if not text:
        raise AuthFailed("no authorization code given")
    return text


def json_answer(resp: Response, where: str) -> dict[str, Any]:
    """A JSON object from an endpoint that should answer one; an HTML page (a login or error
    page from a proxy) is a clear error: Retryable when the status says the server is down."""
    content_type = resp.headers.get("Content-Type", "").lower()
    text = resp.text.lstrip()
    if "html" in content_type or text.startswith("<"):
        title = re.search(r"<title>(.*?)</title>", text, re.I | re.S)
        seen = f" ({title.group(1).strip()[:60]!r})" if title else ""
        if resp.status >= 500 or resp.status == 429:
            raise Retryable(f"{where} is unavailable (HTTP {resp.status}, an HTML page{seen})")
        raise Fatal(
            f"{where} answered an HTML page{seen} instead of JSON (HTTP {resp.status}): check the server's "
            "address; a login or error page there means the URL is wrong or the service is down"
        )
    try:
        body = json.loads(resp.body)
    except ValueError:
        raise Fatal(f"{where} answered something that is not JSON (HTTP {resp.status}): {text[:80]!r}") from None
    if not isinstance(body, dict):
        raise Fatal(f"{where} answered JSON that is not an object")
    return body


def token_body(resp: Response, where: str) -> dict[str, Any]:
    """The JSON of a token endpoint's answer, with OAuth errors turned into what happens next."""
    body = json_answer(resp, where)
    error = body.get("error")
    if resp.status >= 400 or error:
        description = body.get("error_description") or error or f"HTTP {resp.status}"
        if error in ("invalid_grant", "invalid_client", "unauthorized_client", "access_denied"):
            raise AuthFailed(f"{where} refused the credentials ({error}: {description}); authorize again")
        if error == "temporarily_unavailable" or resp.status >= 500 or resp.status == 429:
            raise Retryable(f"{where} is unavailable: {description}")
        raise Fatal(f"{where} refused the token request: {description}")
    return body


class _SourceTokens:
    """The refresh lock of one source, and the last tokens it obtained (for other runs' contexts)."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.latest: TokenSet | None = None
        self.refused: str | None = None  # a refresh token the server refused: never sent again


# One per (event loop, source), alive while some task holds it: the daemon may run a source's
# check and fetch, or two contexts of one source, at the same time; a rotated refresh token
# used twice would log the user out.
_SOURCES: weakref.WeakValueDictionary[tuple[int, str], _SourceTokens] = weakref.WeakValueDictionary()


def _source_tokens(source: str) -> _SourceTokens:
    key = (id(asyncio.get_running_loop()), source)
    found = _SOURCES.get(key)
    if found is None:
        found = _SOURCES[key] = _SourceTokens()
    return found


Refresher = Callable[[TokenSet], Awaitable[TokenSet]]


class OAuthSession:
    """A source's tokens: `access_token()` is valid, refreshed once when it expires."""

    def __init__(self, ctx: Context, refresher: Refresher) -> None:
        self.ctx = ctx
        self.refresher = refresher
        self._shared = _source_tokens(ctx.source)  # held here: alive as long as the session

    def tokens(self) -> TokenSet:
        text = self.ctx.secrets.get(TOKEN)
        if not text:
            raise AuthFailed(
                f"the source {self.ctx.source!r} is not authorized yet: selfdata source authorize {self.ctx.source}"
            )
        return TokenSet.from_json(text, self.ctx.source)

    async def access_token(self) -> str:
        tokens = self.tokens()
        if tokens.expired(self.ctx.now()):
            return await self.refresh(tokens.access_token)
        return tokens.access_token

    async def refresh(self, stale: str) -> str:
        """A new access token in place of `stale` (refused by the server, or expired)."""
        async with self._shared.lock:
            tokens = self.tokens()
            latest = self._shared.latest
            if latest is not None and latest.access_token not in (stale, tokens.access_token):
                tokens = latest  # another context of this source refreshed meanwhile
                await self.ctx.update_secret(TOKEN, tokens.to_json())
            if tokens.access_token != stale and not tokens.expired(self.ctx.now()):
                return tokens.access_token
            if not tokens.refresh_token:
                raise AuthFailed(
                    f"the access of {self.ctx.source!r} expired and the server gave no refresh token; "
                    f"authorize again: selfdata source authorize {self.ctx.source}"
                )
            if tokens.refresh_token == self._shared.refused:
                raise AuthFailed(f"the server refused the refresh token of {self.ctx.source!r}; authorize again")
            try:
                fresh = await self.refresher(tokens)
            except AuthFailed:
                self._shared.refused = tokens.refresh_token
                raise
            await self.ctx.update_secret(TOKEN, fresh.to_json())
            self._shared.latest = fresh
            return fresh.access_token

    async def store(self, tokens: TokenSet) -> None:
        await self.ctx.update_secret(TOKEN, tokens.to_json())
        self._shared.latest = tokens


def with_extra(tokens: TokenSet, **extra: Any) -> TokenSet:
    return replace(tokens, extra={**tokens.extra, **extra})
