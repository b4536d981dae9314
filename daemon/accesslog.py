"""The access log: every authorised read, by grant, endpoint and dataset.

Reads are counted in memory and written once a minute, one row per (minute, grant,
endpoint, dataset), so an app polling every second costs one row a minute, not sixty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .grants import Grant
from .times import iso, now_ms
from .vault import Vault

MINUTE_MS = 60_000


@dataclass(frozen=True)
class AccessEntry:
    minute: int
    grant_id: str
    app: str
    purpose: str
    endpoint: str
    dataset: str
    requests: int
    records: int

    def to_json(self) -> dict[str, Any]:
        return {
            "minute": iso(self.minute),
            "grant": self.grant_id,
            "app": self.app,
            "purpose": self.purpose,
            "endpoint": self.endpoint,
            "dataset": self.dataset,
            "requests": self.requests,
            "records": self.records,
        }


class AccessLog:
    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self._pending: dict[tuple[int, str, str, str], list[Any]] = {}

    def record(self, grant: Grant, endpoint: str, dataset: str, records: int) -> None:
        minute = now_ms() // MINUTE_MS * MINUTE_MS
        key = (minute, grant.id, endpoint, dataset)
        entry = self._pending.get(key)
        if entry is None:
            self._pending[key] = [grant.app, grant.purpose, 1, records]
        else:
            entry[2] += 1
            entry[3] += records

    def flush(self) -> int:
        pending, self._pending = self._pending, {}
        if not pending:
            return 0
        with self.vault.writer.transaction() as conn:
            conn.executemany(
                "INSERT INTO access_log (minute, grant_id, app, purpose, endpoint, dataset, requests, records)"
                " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (minute, grant_id, endpoint, dataset) DO UPDATE SET"
                " requests = requests + excluded.requests, records = records + excluded.records",
                [
                    (minute, grant_id, app, purpose, endpoint, dataset, requests, records)
                    for (minute, grant_id, endpoint, dataset), (app, purpose, requests, records) in pending.items()
                ],
            )
        return len(pending)


def query(
    vault: Vault,
    *,
    app: str | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    dataset: str | None = None,
    limit: int = 500,
) -> list[AccessEntry]:
    """Newest first; `dataset` is a name or a glob such as health.*."""
    clauses: list[str] = ["1=1"]
    params: list[Any] = []
    if app is not None:
        clauses.append("app=?")
        params.append(app)
    if since_ms is not None:
        clauses.append("minute>=?")
        params.append(since_ms)
    if until_ms is not None:
        clauses.append("minute<?")
        params.append(until_ms)
    if dataset is not None:
        clauses.append("dataset GLOB ?")
        params.append(dataset)
    rows = vault.conn.execute(
        "SELECT minute, grant_id, app, purpose, endpoint, dataset, requests, records FROM access_log"
        f" WHERE {' AND '.join(clauses)} ORDER BY minute DESC, app, dataset LIMIT ?",
        (*params, limit),
    )
    return [AccessEntry(*r) for r in rows]
