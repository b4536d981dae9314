"""An in-memory stand-in for the vault's upsert semantics, so the kit needs no daemon."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..sdk.records import Record


@dataclass
class Counts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0


@dataclass
class MemoryStore:
    records: dict[tuple[str, str], tuple[str, str, str]] = field(default_factory=dict)

    def upsert(self, records: Iterable[Record]) -> Counts:
        counts = Counts()
        for r in records:
            ident = (r.dataset, r.key)
            content = (r.ts.isoformat(), _canon(r.data), _canon(r.raw))
            old = self.records.get(ident)
            if old is None:
                counts.new += 1
            elif old == content:
                counts.unchanged += 1
            else:
                counts.changed += 1
            self.records[ident] = content
        return counts

    def delete(self, dataset: str, keys: Iterable[str]) -> None:
        for k in keys:
            self.records.pop((dataset, k), None)

    def view(self, exclude: Iterable[str] = ()) -> dict[tuple[str, str], tuple[str, str]]:
        """Records as (ts, data), without the datasets in `exclude`."""
        skip = set(exclude)
        return {k: v[:2] for k, v in self.records.items() if k[0] not in skip}


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
