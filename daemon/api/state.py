"""What the API's handlers share: the grants, the access log, a read connection, caches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..accesslog import AccessLog
from ..grants import GrantStore
from ..services import Services
from ..vault import VaultCorrupt, records
from ..vault.aggregate import AggregateCache
from ..vault.db import Connection
from .security import FailedLogins


@dataclass
class ApiState:
    services: Services
    grants: GrantStore
    access: AccessLog
    reader: Connection
    failures: FailedLogins = field(default_factory=FailedLogins)
    aggregates: AggregateCache = field(default_factory=AggregateCache)
    _datasets: tuple[int, list[dict[str, Any]]] | None = None

    async def fetch(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Small indexed queries run on the loop's thread: measured here, handing them to
        worker threads cost more (about 30% fewer requests a second) than it gained."""
        return self.reader.execute(sql, args).fetchall()

    def close(self) -> None:
        self.reader.close()

    def damaged(self, err: BaseException) -> None:
        """A read met a damaged page: noted, and a fresh connection for the reads that can still succeed
        (the one that met it refuses every read after)."""
        self.services.vault.note_damage(err)
        try:
            fresh = self.services.vault.reader(cache_kib=8000)
        except VaultCorrupt:
            return
        old, self.reader = self.reader, fresh
        old.close()

    def last_seq(self) -> int:
        row = self.reader.execute("SELECT value FROM meta WHERE name='last_seq'").fetchone()
        return int(row[0]) if row else 0

    def datasets(self) -> list[dict[str, Any]]:
        """Counts and time spans per dataset, recomputed only when something changed."""
        seq = self.last_seq()
        if self._datasets is None or self._datasets[0] != seq:
            by_name: dict[str, dict[str, Any]] = {}
            for c in records.counts(self.reader):
                d = by_name.setdefault(
                    c.dataset, {"name": c.dataset, "count": 0, "first": c.first_ts, "last": c.last_ts, "sources": []}
                )
                d["count"] += c.count
                d["first"] = min(d["first"], c.first_ts)
                d["last"] = max(d["last"], c.last_ts)
                d["sources"].append(c.source)
            self._datasets = (seq, list(by_name.values()))
        return self._datasets[1]


API: web.AppKey[ApiState] = web.AppKey("api")
