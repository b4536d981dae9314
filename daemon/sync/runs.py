"""Every run is recorded: start, end, status, counts, error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ..times import iso, now_ms
from ..vault import BatchCounts, Vault


@dataclass(frozen=True)
class Run:
    id: int
    source: str
    kind: str
    started_at: int
    ended_at: int | None
    status: str
    new: int
    changed: int
    unchanged: int
    deleted: int
    error: str | None
    detail: dict[str, Any]

    @property
    def duration_s(self) -> float | None:
        return None if self.ended_at is None else (self.ended_at - self.started_at) / 1000

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "kind": self.kind,
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at) if self.ended_at else None,
            "status": self.status,
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "error": self.error,
            **({"detail": self.detail} if self.detail else {}),
        }


_COLS = "id, source, kind, started_at, ended_at, status, new, changed, unchanged, deleted, error, detail"


def start(vault: Vault, source: str, kind: str) -> int:
    with vault.writer.transaction() as conn:
        cur = conn.execute(
            "INSERT INTO runs (source, kind, started_at, status) VALUES (?,?,?, 'running')", (source, kind, now_ms())
        )
        return int(cur.lastrowid or 0)


def finish(
    vault: Vault,
    run_id: int,
    status: str,
    counts: BatchCounts,
    deleted: int = 0,
    error: str | None = None,
    detail: dict[str, Any] | None = None,
) -> Run:
    ended = now_ms()
    with vault.writer.transaction() as conn:
        conn.execute(
            "UPDATE runs SET ended_at=?, status=?, new=?, changed=?, unchanged=?, deleted=?, error=?, detail=?"
            " WHERE id=?",
            (
                ended,
                status,
                counts.new,
                counts.changed,
                counts.unchanged,
                deleted,
                error,
                orjson.dumps(detail).decode() if detail else None,
                run_id,
            ),
        )
        row = conn.execute(f"SELECT {_COLS} FROM runs WHERE id=?", (run_id,)).fetchone()
    if row is None:  # its source was erased once the run's own transaction let the erase in
        return Run(
            run_id,
            "",
            "",
            ended,
            ended,
            status,
            counts.new,
            counts.changed,
            counts.unchanged,
            deleted,
            error,
            detail or {},
        )
    return _row(row)


def _row(row: tuple[Any, ...]) -> Run:
    id_, source, kind, started, ended, status, new, changed, unchanged, deleted, error, detail = row
    detail_json = orjson.loads(detail) if detail else {}
    return Run(id_, source, kind, started, ended, status, new, changed, unchanged, deleted, error, detail_json)


def get(vault: Vault, run_id: int) -> Run:
    row = vault.conn.execute(f"SELECT {_COLS} FROM runs WHERE id=?", (run_id,)).fetchone()
    return _row(row)


def recent(vault: Vault, source: str | None = None, limit: int = 20) -> list[Run]:
    if source is None:
        rows = vault.conn.execute(f"SELECT {_COLS} FROM runs ORDER BY id DESC LIMIT ?", (limit,))
    else:
        rows = vault.conn.execute(f"SELECT {_COLS} FROM runs WHERE source=? ORDER BY id DESC LIMIT ?", (source, limit))
    return [_row(r) for r in rows]


def close_interrupted(vault: Vault) -> int:
    """How many runs a crash or kill had left 'running': `Vault.open` marked them interrupted
    (their commits stay) and cleared what they staged, when no other process had the vault open
    (one that has may be running them still)."""
    return vault.leftovers.interrupted_runs
