"""Sources: configured instances of a connector or importer, kept in the vault.

Settings here are the non-secret ones; credentials live in the vault's secrets table.
A source's `state` is its connector's last committed checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from .errors import SelfdataError
from .times import now_ms
from .vault import Vault
from .vault.db import Connection
from .vault.names import check_source

Health = Literal["ok", "retrying", "failing", "needs_login", "needs_action", "needs_authorization"]

ACTIONS: dict[str, str] = {
    "ok": "",
    "retrying": "nothing yet: selfdata retries by itself",
    "failing": "look at the last error (selfdata runs NAME); selfdata sync NAME retries now",
    "needs_login": "log in again: selfdata source edit NAME (new credentials), then selfdata sync NAME",
    "needs_action": "do what the message says (selfdata source authorize NAME when it asks a question),"
    " then run selfdata sync NAME",
    "needs_authorization": "authorise access in your browser: selfdata source authorize NAME",
}
# A file importer is never synced: what it needs is another file.
IMPORTER_ACTIONS: dict[str, str] = {
    "ok": "",
    "failing": "look at the last error (selfdata runs NAME), then import a corrected file: "
    "selfdata import FILE --source NAME",
}


class SourceError(SelfdataError, ValueError):
    pass


class SourceNotFound(SourceError):
    pass


@dataclass(frozen=True)
class Source:
    name: str
    connector: str
    kind: str  # "connector" or "importer"
    settings: dict[str, Any]
    schedule: str | None
    enabled: bool
    state: dict[str, Any]
    health: Health
    health_message: str | None
    health_since: int | None
    failures: int
    next_run: int | None
    warning: str | None
    created_at: int
    updated_at: int

    @property
    def action(self) -> str:
        table = IMPORTER_ACTIONS if self.kind == "importer" else ACTIONS
        return table.get(self.health, "").replace("NAME", self.name)

    @property
    def runs_automatically(self) -> bool:
        return (
            self.enabled
            and self.kind == "connector"
            and self.health not in ("needs_login", "needs_action", "needs_authorization")
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "connector": self.connector,
            "kind": self.kind,
            "settings": self.settings,
            "schedule": self.schedule,
            "enabled": self.enabled,
            "health": self.health,
            "health_message": self.health_message,
            "action": self.action,
            "failures": self.failures,
            "next_run": self.next_run,
            "warning": self.warning,
        }


_COLUMNS = (
    "name, connector, kind, settings, schedule, enabled, state, health, health_message, health_since,"
    " failures, next_run, warning, created_at, updated_at"
)


def _row(row: tuple[Any, ...]) -> Source:
    (
        name,
        connector,
        kind,
        settings,
        schedule,
        enabled,
        state,
        health,
        message,
        since,
        failures,
        next_run,
        warning,
        created,
        updated,
    ) = row
    return Source(
        name,
        connector,
        kind,
        orjson.loads(settings),
        schedule,
        bool(enabled),
        orjson.loads(state),
        health,
        message,
        since,
        failures,
        next_run,
        warning,
        created,
        updated,
    )


class SourceStore:
    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def add(
        self,
        name: str,
        connector: str,
        kind: str,
        settings: dict[str, Any],
        secrets: dict[str, str],
        *,
        schedule: str | None = None,
        health: Health = "ok",
    ) -> Source:
        check_source(name)
        if self.find(name) is not None:
            raise SourceError(f"a source named {name!r} already exists")
        now = now_ms()
        with self.vault.writer.transaction() as conn:
            conn.execute(
                f"INSERT INTO sources ({_COLUMNS}) VALUES (?,?,?,?,?,1,'{{}}',?,NULL,?,0,NULL,NULL,?,?)",
                (name, connector, kind, orjson.dumps(settings).decode(), schedule, health, now, now, now),
            )
        for key, value in secrets.items():
            self.vault.secrets.put(name, key, value)
        return self.get(name)

    def find(self, name: str) -> Source | None:
        row = self.vault.conn.execute(f"SELECT {_COLUMNS} FROM sources WHERE name=?", (name,)).fetchone()
        return _row(row) if row else None

    def get(self, name: str) -> Source:
        source = self.find(name)
        if source is None:
            known = [s.name for s in self.list()]
            raise SourceNotFound(f"no source named {name!r}" + (f"; sources: {', '.join(known)}" if known else ""))
        return source

    def list(self) -> list[Source]:
        return [_row(r) for r in self.vault.conn.execute(f"SELECT {_COLUMNS} FROM sources ORDER BY name")]

    def update(self, name: str, **changes: Any) -> Source:
        """Change columns of a source: settings, schedule, enabled, next_run, warning."""
        self.get(name)
        allowed = {"settings", "schedule", "enabled", "next_run", "warning", "state"}
        bad = set(changes) - allowed
        if bad:
            raise SourceError(f"cannot change {', '.join(sorted(bad))}")
        sets, params = [], []
        for col, value in changes.items():
            sets.append(f"{col}=?")
            params.append(orjson.dumps(value).decode() if col in ("settings", "state") else value)
        with self.vault.writer.transaction() as conn:
            conn.execute(f"UPDATE sources SET {', '.join(sets)}, updated_at=? WHERE name=?", (*params, now_ms(), name))
        return self.get(name)

    def set_health(self, name: str, health: Health, message: str | None, *, failures: int | None = None) -> bool:
        """Record a health change; True when it is a change (so it is logged and notified once)."""
        current = self.get(name)
        changed = current.health != health or (health != "ok" and current.health_message != message)
        with self.vault.writer.transaction() as conn:
            conn.execute(
                "UPDATE sources SET health=?, health_message=?, health_since=CASE WHEN health=? THEN health_since"
                " ELSE ? END, failures=COALESCE(?, failures), updated_at=? WHERE name=?",
                (health, message, health, now_ms(), failures, now_ms(), name),
            )
        return changed

    @staticmethod
    def save_state(conn: Connection, name: str, state: dict[str, Any]) -> None:
        """Inside the transaction that commits the records the checkpoint covers."""
        conn.execute(
            "UPDATE sources SET state=?, updated_at=? WHERE name=?", (orjson.dumps(state).decode(), now_ms(), name)
        )

    @staticmethod
    def save_settings(conn: Connection, name: str, settings: dict[str, Any]) -> None:
        """Inside the transaction that publishes the records read with them (an import)."""
        text = orjson.dumps(settings).decode()
        conn.execute("UPDATE sources SET settings=?, updated_at=? WHERE name=?", (text, now_ms(), name))

    def remove(self, name: str) -> None:
        """Forget the source and its credentials; its records stay (erase removes those)."""
        self.get(name)
        self.vault.secrets.delete_source(name)
        with self.vault.writer.transaction() as conn:
            conn.execute("DELETE FROM sources WHERE name=?", (name,))

    def secrets(self, name: str) -> dict[str, str]:
        """Decrypted credentials, for the runner only."""
        out = {}
        for key in self.vault.secrets.names(name):
            value = self.vault.secrets.get(name, key)
            if value is not None:
                out[key] = value
        return out
