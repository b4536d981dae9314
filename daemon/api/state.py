"""What the API's handlers share: the grants, the access log, a read connection, caches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..accesslog import AccessLog
from ..grants import GrantStore
from ..services import Services
from ..vault.db import Connection
from .security import FailedLogins


@dataclass
class ApiState:
    services: Services
    grants: GrantStore
    access: AccessLog
    reader: Connection
    failures: FailedLogins = field(default_factory=FailedLogins)
    _datasets: tuple[int, list[dict[str, Any]]] | None = None

    async def fetch(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Small indexed queries run on the loop's thread: measured here, handing them to
        worker threads cost more (about 30% fewer requests a second) than it gained."""
        return self.reader.execute(sql, args).fetchall()

    def close(self) -> None:
        self.reader.close()

    def last_seq(self) -> int:
        row = self.reader.execute("SELECT value FROM meta WHERE name='last_seq'").fetchone()
        return int(row[0]) if row else 0

    def datasets(self) -> list[dict[str, Any]]:
        """Counts and time spans per dataset, recomputed only when something changed."""
        seq = self.last_seq()
        if self._datasets is None or self._datasets[0] != seq:
            rows = self.reader.execute(
                "SELECT dataset, source, count(*), min(ts), max(ts) FROM records WHERE deleted=0"
                " GROUP BY dataset, source ORDER BY dataset, source"
            ).fetchall()
            by_name: dict[str, dict[str, Any]] = {}
            for dataset, source, n, first, last in rows:
                d = by_name.setdefault(
                    dataset, {"name": dataset, "count": 0, "first": first, "last": last, "sources": []}
                )
                d["count"] += n
                d["first"] = min(d["first"], first)
                d["last"] = max(d["last"], last)
                d["sources"].append(source)
            self._datasets = (seq, list(by_name.values()))
        return self._datasets[1]
