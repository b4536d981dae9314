"""Signing in to the dashboard: one-time links, and the sessions they open.

Both are random values given to the user once and kept only as SHA-256 hashes in the vault,
so any process holding the vault (the CLI or the daemon) can make a link or sign everyone
out, and a daemon restart keeps sessions. No aiohttp here: the CLI uses it too.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from ..times import now_ms
from ..vault import Vault

LINK_TTL_MS = 15 * 60 * 1000  # a link printed in a terminal is used within minutes
SESSION_TTL_MS = 12 * 3600 * 1000  # a working day; then sign in again
LINK_PREFIX = "sdl_"
SESSION_PREFIX = "sds_"


@dataclass(frozen=True)
class WebSession:
    csrf: str
    expires_at: int


def _hash(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def create_link(vault: Vault) -> str:
    """A one-time sign-in code, valid for LINK_TTL_MS."""
    code = LINK_PREFIX + secrets.token_urlsafe(24)
    now = now_ms()
    with vault.writer.transaction() as conn:
        conn.execute("DELETE FROM web_sessions WHERE expires_at <= ?", (now,))
        conn.execute(
            "INSERT INTO web_sessions (hash, kind, created_at, expires_at) VALUES (?, 'link', ?, ?)",
            (_hash(code), now, now + LINK_TTL_MS),
        )
    return code


def redeem_link(vault: Vault, code: str) -> str | None:
    """The session a link opens, or None if the link is unknown, used or expired. Once only."""
    if not code.startswith(LINK_PREFIX) or len(code) > 100:
        return None
    now = now_ms()
    with vault.writer.transaction() as conn:
        row = conn.execute(
            "DELETE FROM web_sessions WHERE hash=? AND kind='link' RETURNING expires_at", (_hash(code),)
        ).fetchone()
    if row is None or row[0] <= now:
        return None
    return open_session(vault)


def open_session(vault: Vault) -> str:
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    now = now_ms()
    with vault.writer.transaction() as conn:
        conn.execute(
            "INSERT INTO web_sessions (hash, kind, csrf, created_at, expires_at) VALUES (?, 'session', ?, ?, ?)",
            (_hash(token), secrets.token_urlsafe(24), now, now + SESSION_TTL_MS),
        )
    return token


def find_session(vault: Vault, token: str) -> WebSession | None:
    if not token.startswith(SESSION_PREFIX) or len(token) > 100:
        return None
    row = vault.conn.execute(
        "SELECT csrf, expires_at FROM web_sessions WHERE hash=? AND kind='session'", (_hash(token),)
    ).fetchone()
    if row is None or row[1] <= now_ms():
        return None
    return WebSession(row[0], row[1])


def close_session(vault: Vault, token: str) -> None:
    with vault.writer.transaction() as conn:
        conn.execute("DELETE FROM web_sessions WHERE hash=?", (_hash(token),))


def sign_out_all(vault: Vault) -> int:
    """End every session and unused link; the number ended."""
    with vault.writer.transaction() as conn:
        return conn.execute("DELETE FROM web_sessions").rowcount
