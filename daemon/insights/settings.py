"""The views' small settings, kept in the vault (`view_settings`): a plan's cap, which alerts are on."""

from __future__ import annotations

from typing import Any

import orjson

from ..times import now_ms
from ..vault import Vault
from ..vault.db import Connection


def get(conn: Connection, name: str) -> Any:
    row = conn.execute("SELECT value FROM view_settings WHERE name=?", (name,)).fetchone()
    return orjson.loads(row[0]) if row else None


def put(vault: Vault, name: str, value: Any) -> None:
    with vault.writer.transaction() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO view_settings (name, value, updated_at) VALUES (?, ?, ?)",
            (name, orjson.dumps(value).decode(), now_ms()),
        )
