"""What the views read: the aggregates an app asks the API for, and records of a short window.

Each view takes a `Reads`, so the same functions serve the dashboard, `selfdata report`
and the tests; they run the vault's own query functions (daemon.vault.aggregate, recordjson),
the ones behind `/api/v1/.../aggregate` and `/records`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import orjson

from ..vault import aggregate, filters, recordjson
from ..vault.db import Connection

PAGE = 1000
T = TypeVar("T")


class Reads:
    """`memo`, when given, keeps views between calls (daemon.insights.cache), keyed by what
    they were computed from."""

    def __init__(self, conn: Connection, memo: Callable[[Hashable, Callable[[], Any]], Any] | None = None) -> None:
        self.conn = conn
        self._memo = memo

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        return compute() if self._memo is None else self._memo(key, compute)

    def aggregate(
        self,
        dataset: str,
        fn: str = "count",
        field: str | None = None,
        *,
        bucket: str | None = None,
        zone: str = "UTC",
        group: tuple[str, ...] = (),
        start_ms: int | None = None,
        end_ms: int | None = None,
        where: tuple[str, ...] = (),
    ) -> list[dict[str, Any]]:
        spec = aggregate.Aggregate(
            dataset,
            fn,
            field,
            bucket,
            zone,
            group,
            start_ms,
            end_ms,
            None,
            tuple(filters.parse(dataset, filters.split_terms(where))) if where else (),
        )
        rows: list[dict[str, Any]] = aggregate.run(self.conn, spec)["rows"]
        return rows

    def has(self, dataset: str) -> bool:
        """Whether the dataset holds any live record (from the kept counts: no scan)."""
        row = self.conn.execute("SELECT 1 FROM record_counts WHERE dataset=? AND live>0 LIMIT 1", (dataset,)).fetchone()
        return row is not None

    def records(
        self, dataset: str, start_ms: int | None = None, end_ms: int | None = None, where: tuple[str, ...] = ()
    ) -> list[dict[str, Any]]:
        """Every live record of the window, as the API's record JSON, page after page."""
        parsed = filters.parse(dataset, filters.split_terms(where)) if where else ()
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            lines, cursor = recordjson.query(
                self.conn, dataset, limit=PAGE, cursor=cursor, start_ms=start_ms, end_ms=end_ms, filters=parsed
            )
            out.extend(orjson.loads(line) for line in lines)
            if cursor is None:
                return out
