"""Grants: which app may read what, for which purpose, with which token.

An app asks (app, purpose, scopes); the user approves with a short code in the CLI; the
app polls and receives its token exactly once — the OAuth 2.0 device-authorisation
pattern. Tokens are `sd_` + 256 random bits, stored only as a keyed hash, expiring and
revocable. Scopes: `read:<dataset glob>`, `write:app.<name>.*` (an app's own datasets),
`write:<dataset glob>@<source>` (push records of those datasets into that one source, e.g. a phone
app's `write:health.*@iphone`); `admin` is never granted.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson

from .errors import SelfdataError
from .times import iso, now_ms
from .vault import Vault
from .vault.keys import derive

TOKEN_PREFIX = "sd_"
DAY_MS = 86_400_000
DEFAULT_EXPIRY_DAYS = 90
# A request waits for the user, who reads its code in the app and approves it on the same
# machine, typically within a minute: 5 minutes is room for that, and a queue filled by
# requests nobody approves frees itself three times as fast as it did at 15.
REQUEST_TTL_MS = 5 * 60 * 1000
MAX_PENDING = 20
# One client (the address the API's limits use) holds at most 3 of the 20 places: an app asks
# once and polls, and 3 leaves room for one restarted twice before the user looks, while
# filling the queue takes 7 addresses instead of one.
MAX_PENDING_PER_CLIENT = 3
_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
_READ_RE = re.compile(r"^read:[a-z0-9_*][a-z0-9_.*]*$")
_WRITE_RE = re.compile(r"^write:app\.([a-z][a-z0-9_]*)\.\*$")
_PUSH_RE = re.compile(r"^write:([a-z0-9_*][a-z0-9_.*]*)@([a-z0-9][a-z0-9_-]{0,62})$")
_ORIGIN_RE = re.compile(r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$")
APP_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


class GrantError(SelfdataError, ValueError):
    """A grant request or decision that cannot be honoured; the message says why."""


class GrantNotFound(GrantError):
    pass


class GrantQueueFull(GrantError):
    """Too many requests wait for the user; `retry_after_s` says when a place frees."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class Grant:
    id: str
    app: str
    purpose: str
    scopes: list[str]
    origins: list[str]
    status: str  # pending, approved, denied, revoked
    created_at: int
    expires_at: int | None
    decided_at: int | None = None
    last_used_at: int | None = None
    user_code: str | None = None
    request_expires_at: int | None = None
    token_issued: bool = False
    reads: dict[str, int] = field(default_factory=dict)
    writes: dict[str, int] = field(default_factory=dict)  # records pushed, by the datasets of each push

    def active(self, now: int | None = None) -> bool:
        now = now or now_ms()
        return self.status == "approved" and self.token_issued and (self.expires_at is None or now < self.expires_at)

    @property
    def read_globs(self) -> list[str]:
        """Dataset globs this grant reads. Scopes allow only [a-z0-9_.*], where SQLite's GLOB
        means what fnmatchcase means, so queries can filter by them directly."""
        return [s[5:] for s in self.scopes if s.startswith("read:")]

    def can_read(self, dataset: str) -> bool:
        return any(fnmatch.fnmatchcase(dataset, g) for g in self.read_globs)

    def can_write(self, dataset: str) -> bool:
        for s in self.scopes:
            m = _WRITE_RE.match(s)
            if m and dataset.startswith(f"app.{m.group(1)}."):
                return True
        return False

    def push_globs(self, source: str) -> list[str]:
        """Dataset globs this grant may push into `source` (`write:<glob>@<source>` scopes)."""
        return [m.group(1) for s in self.scopes if (m := _PUSH_RE.match(s)) and m.group(2) == source]

    def can_push(self, source: str, dataset: str) -> bool:
        return any(fnmatch.fnmatchcase(dataset, g) for g in self.push_globs(source))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "app": self.app,
            "purpose": self.purpose,
            "scopes": self.scopes,
            "origins": self.origins,
            "status": "expired"
            if self.status == "approved" and not self.active() and self.token_issued
            else self.status,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at) if self.expires_at else None,
            "last_used_at": iso(self.last_used_at) if self.last_used_at else None,
            **({"user_code": self.user_code} if self.status == "pending" else {}),
            **({"records_read": self.reads} if self.reads else {}),
            **({"records_pushed": self.writes} if self.writes else {}),
        }


def _seconds_until(at_ms: int | None, now: int) -> int:
    return max(1, -(-((at_ms or now) - now) // 1000))


def check_scopes(scopes: list[str]) -> list[str]:
    if not scopes:
        raise GrantError("ask for at least one scope, e.g. read:energy.*")
    for scope in scopes:
        if scope == "admin":
            raise GrantError("the admin scope is never granted to apps: admin is done with the selfdata command")
        if not (_READ_RE.match(scope) or _WRITE_RE.match(scope) or _PUSH_RE.match(scope)):
            raise GrantError(
                f"{scope!r} is not a scope: use read:<dataset glob>, write:app.<name>.* or "
                "write:<dataset glob>@<source> (e.g. write:health.*@iphone)"
            )
    return sorted(set(scopes))


def check_request(app: Any, purpose: Any, scopes: Any, origins: Any) -> tuple[str, str, list[str], list[str]]:
    if not isinstance(app, str) or not APP_RE.match(app):
        raise GrantError("'app' must be a name of 1 to 64 letters, digits, spaces, '.', '_' or '-'")
    if not isinstance(purpose, str) or not 3 <= len(purpose.strip()) <= 500:
        raise GrantError("'purpose' must say, in 3 to 500 characters, what the app does with the data")
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise GrantError("'scopes' must be a list of strings")
    origins = origins or []
    if not isinstance(origins, list) or not all(isinstance(o, str) and _ORIGIN_RE.match(o) for o in origins):
        raise GrantError("'origins' must be a list of origins like http://localhost:3000")
    return app, purpose.strip(), check_scopes(scopes), sorted(set(origins))


def _code() -> str:
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def normalise_code(code: str) -> str:
    raw = "".join(ch for ch in code.upper() if ch.isalpha())
    return f"{raw[:4]}-{raw[4:]}"


_COLS = (
    "id, app, purpose, scopes, origins, status, created_at, expires_at, decided_at, last_used_at, user_code,"
    " request_expires_at, token_hash IS NOT NULL"
)


def _row(row: tuple[Any, ...]) -> Grant:
    (gid, app, purpose, scopes, origins, status, created, expires, decided, used, code, req_exp, issued) = row
    return Grant(
        gid,
        app,
        purpose,
        orjson.loads(scopes),
        orjson.loads(origins),
        status,
        created,
        expires,
        decided,
        used,
        code,
        req_exp,
        bool(issued),
    )


class GrantStore:
    """Grants in the vault, with an in-memory cache of live tokens (dropped on revoke)."""

    def __init__(self, vault: Vault, secrets_key: bytes) -> None:
        self.vault = vault
        self._key = derive(secrets_key, b"selfdata-tokens")
        self._cache: dict[bytes, Grant] = {}
        self._used: dict[str, int] = {}
        self._asked_by: dict[str, str] = {}  # pending request -> the client that asked (in memory: they expire soon)

    def token_hash(self, token: str) -> bytes:
        return hashlib.blake2b(token.encode(), key=self._key, digest_size=32).digest()

    def _hash(self, value: str) -> bytes:
        return hashlib.blake2b(value.encode(), key=self._key, digest_size=32, person=b"request").digest()

    def get(self, grant_id: str) -> Grant:
        row = self.vault.conn.execute(f"SELECT {_COLS} FROM grants WHERE id=?", (grant_id,)).fetchone()
        if row is None:
            raise GrantNotFound(f"no grant with id {grant_id!r}; `selfdata grants list` shows them")
        return _row(row)

    def all(self) -> list[Grant]:
        self._expire_requests()
        grants = [_row(r) for r in self.vault.conn.execute(f"SELECT {_COLS} FROM grants ORDER BY created_at DESC")]
        rows = self.vault.conn.execute(
            "SELECT grant_id, endpoint='push', dataset, sum(records) FROM access_log"
            " GROUP BY grant_id, endpoint='push', dataset HAVING sum(records) > 0"
        ).fetchall()
        by_grant: dict[tuple[str, bool], dict[str, int]] = {}
        for gid, pushed, dataset, n in rows:
            by_grant.setdefault((gid, bool(pushed)), {})[dataset] = int(n)
        for g in grants:
            g.reads = by_grant.get((g.id, False), {})
            g.writes = by_grant.get((g.id, True), {})
            g.last_used_at = max(filter(None, [g.last_used_at, self._used.get(g.id)]), default=None)
        return grants

    # the device flow

    def request(
        self, app: Any, purpose: Any, scopes: Any, origins: Any = None, client: str | None = None
    ) -> tuple[Grant, str]:
        """A pending grant; returns it with the request id only the asking app knows.

        `client` is who asks (the API's client address): each holds a few of the places."""
        app, purpose, scope_list, origin_list = check_request(app, purpose, scopes, origins)
        self._check_queue(client)
        request_id = secrets.token_urlsafe(32)
        now = now_ms()
        grant = Grant(
            f"g_{secrets.token_hex(4)}",
            app,
            purpose,
            scope_list,
            origin_list,
            "pending",
            now,
            None,
            user_code=_code(),
            request_expires_at=now + REQUEST_TTL_MS,
        )
        if client is not None:
            self._asked_by[grant.id] = client
        with self.vault.writer.transaction() as conn:
            conn.execute(
                "INSERT INTO grants (id, request_hash, user_code, app, purpose, scopes, origins, status, created_at,"
                " request_expires_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    grant.id,
                    self._hash(request_id),
                    grant.user_code,
                    app,
                    purpose,
                    orjson.dumps(scope_list).decode(),
                    orjson.dumps(origin_list).decode(),
                    "pending",
                    now,
                    grant.request_expires_at,
                ),
            )
        return grant, request_id

    def _check_queue(self, client: str | None) -> None:
        self._expire_requests()
        waiting = dict(
            self.vault.conn.execute("SELECT id, request_expires_at FROM grants WHERE status='pending'").fetchall()
        )
        self._asked_by = {g: c for g, c in self._asked_by.items() if g in waiting}
        now = now_ms()
        if len(waiting) >= MAX_PENDING:
            raise GrantQueueFull(
                f"{MAX_PENDING} grant requests are already waiting for the user; ask again when one expires",
                _seconds_until(min(waiting.values()), now),
            )
        mine = [waiting[g] for g, c in self._asked_by.items() if c == client] if client is not None else []
        if len(mine) >= MAX_PENDING_PER_CLIENT:
            raise GrantQueueFull(
                f"{len(mine)} grant requests from this client are already waiting for the user; approve or deny "
                "them, or ask again when one expires",
                _seconds_until(min(mine), now),
            )

    def pending(self, code: str) -> Grant:
        self._expire_requests()
        row = self.vault.conn.execute(
            f"SELECT {_COLS} FROM grants WHERE user_code=? AND status='pending'", (normalise_code(code),)
        ).fetchone()
        if row is None:
            raise GrantNotFound(
                f"no waiting request with code {code!r} (codes expire after {REQUEST_TTL_MS // 60_000} minutes)"
            )
        return _row(row)

    def decide(self, code: str, approve: bool, expires_days: int = DEFAULT_EXPIRY_DAYS) -> Grant:
        grant = self.pending(code)
        now = now_ms()
        with self.vault.writer.transaction() as conn:
            conn.execute(
                "UPDATE grants SET status=?, decided_at=?, expires_at=?, user_code=NULL WHERE id=?",
                ("approved" if approve else "denied", now, now + expires_days * DAY_MS if approve else None, grant.id),
            )
        return self.get(grant.id)

    def poll(self, request_id: str) -> tuple[Grant, str | None]:
        """The grant a request id names; its token the first time it is polled after approval."""
        row = self.vault.conn.execute(
            f"SELECT {_COLS} FROM grants WHERE request_hash=?", (self._hash(request_id),)
        ).fetchone()
        if row is None:
            raise GrantNotFound("no grant request with that id")
        grant = _row(row)
        if grant.status == "pending" and grant.request_expires_at and grant.request_expires_at < now_ms():
            self._expire_requests()
            grant = self.get(grant.id)
        if grant.status != "approved" or grant.token_issued:
            return grant, None
        token = self._issue(grant.id, clear_request=True)
        return self.get(grant.id), token

    def _issue(self, grant_id: str, clear_request: bool = False) -> str:
        token = TOKEN_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        with self.vault.writer.transaction() as conn:
            conn.execute(
                "UPDATE grants SET token_hash=?" + (", request_hash=NULL" if clear_request else "") + " WHERE id=?",
                (self.token_hash(token), grant_id),
            )
        return token

    def create_token(
        self,
        app: str,
        purpose: str,
        scopes: list[str],
        *,
        expires_days: int = DEFAULT_EXPIRY_DAYS,
        origins: list[str] | None = None,
    ) -> tuple[Grant, str]:
        """For scripts: an approved grant and its token, at once."""
        if not 1 <= expires_days <= 3650:
            raise GrantError("--expires must be between 1 and 3650 days")
        app, purpose, scope_list, origin_list = check_request(app, purpose, scopes, origins)
        now = now_ms()
        gid = f"g_{secrets.token_hex(4)}"
        with self.vault.writer.transaction() as conn:
            conn.execute(
                "INSERT INTO grants (id, app, purpose, scopes, origins, status, created_at, decided_at, expires_at)"
                " VALUES (?,?,?,?,?,'approved',?,?,?)",
                (
                    gid,
                    app,
                    purpose,
                    orjson.dumps(scope_list).decode(),
                    orjson.dumps(origin_list).decode(),
                    now,
                    now,
                    now + expires_days * DAY_MS,
                ),
            )
        token = self._issue(gid)
        return self.get(gid), token

    def revoke(self, grant_id: str) -> Grant:
        grant = self.get(grant_id)
        with self.vault.writer.transaction() as conn:
            conn.execute("UPDATE grants SET status='revoked', decided_at=? WHERE id=?", (now_ms(), grant.id))
        self._cache = {h: g for h, g in self._cache.items() if g.id != grant.id}
        return self.get(grant.id)

    def _expire_requests(self) -> None:
        now = now_ms()
        stale = self.vault.conn.execute(
            "SELECT count(*) FROM grants WHERE status='pending' AND request_expires_at < ?", (now,)
        ).fetchone()[0]
        if stale:
            with self.vault.writer.transaction() as conn:
                conn.execute(
                    "UPDATE grants SET status='expired', user_code=NULL, request_hash=NULL"
                    " WHERE status='pending' AND request_expires_at < ?",
                    (now,),
                )

    # authentication

    def authenticate(self, token: str) -> Grant | None:
        """The live grant a token belongs to, or None (unknown, revoked or expired)."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            return None
        h = self.token_hash(token)
        grant = self._cache.get(h)
        if grant is None:
            row = self.vault.conn.execute(f"SELECT {_COLS} FROM grants WHERE token_hash=?", (h,)).fetchone()
            if row is None:
                return None
            grant = _row(row)
            if grant.active():
                self._cache[h] = grant
        if not grant.active():
            self._cache.pop(h, None)
            return None
        self._used[grant.id] = now_ms()
        return grant

    def origins(self) -> set[str]:
        rows = self.vault.conn.execute("SELECT origins FROM grants WHERE status='approved'").fetchall()
        return {o for (text,) in rows for o in orjson.loads(text)}

    def flush_last_used(self) -> None:
        used, self._used = self._used, {}
        if used:
            with self.vault.writer.transaction() as conn:
                conn.executemany(
                    "UPDATE grants SET last_used_at=max(coalesce(last_used_at, 0), ?) WHERE id=?",
                    [(t, g) for g, t in used.items()],
                )
