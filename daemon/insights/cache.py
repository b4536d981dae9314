"""Views kept until the bank data they were computed from changes.

A view's version is the last change sequence of each bank dataset (`seq` moves on every
insert, change and deletion, tombstones included), so a sync that adds a meter reading
keeps the money view, and one that adds a transaction recomputes it. The daemon computes
the current month after each bank change, so a page asks for a view already there.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from ..vault.db import Connection

BANK = ("bank.transaction", "bank.account")
RESCAN = 20_000  # records written since the last look past which the bank records' index is read instead


def bank_version(conn: Connection) -> tuple[int, ...]:
    rules = conn.execute("SELECT count(*), coalesce(max(id), 0) FROM category_rules").fetchone()
    seqs = tuple(
        int(conn.execute("SELECT max(seq) FROM records WHERE dataset=?", (d,)).fetchone()[0] or 0) for d in BANK
    )
    return (*seqs, *rules)


class BankVersion:
    """`bank_version` without reading every bank record's index entry on each view (30 ms on
    100,000 transactions): the vault's last `seq` says whether anything was written since the
    last look, and only the records written since are looked at. The live counts per bank
    stream (record_counts) stand beside, so a purge of old records is seen too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen = -1  # the vault's last seq at the last look
        self._seqs: dict[str, int] = {}

    def __call__(self, conn: Connection) -> tuple[Hashable, ...]:
        row = conn.execute("SELECT value FROM meta WHERE name='last_seq'").fetchone()
        last = int(row[0]) if row else 0
        with self._lock:
            if last < self._seen or self._seen < 0 or last - self._seen > RESCAN:  # a large import: the index
                self._seqs = dict(zip(BANK, bank_version(conn)[: len(BANK)], strict=True))
            elif last > self._seen:
                marks = ",".join("?" * len(BANK))
                for dataset, seq in conn.execute(
                    # NOT INDEXED: the seq (rowid) range of the records written since, not the dataset index
                    f"SELECT dataset, max(seq) FROM records NOT INDEXED WHERE seq > ? AND dataset IN ({marks})"
                    " GROUP BY dataset",
                    (self._seen, *BANK),
                ):
                    self._seqs[dataset] = max(self._seqs.get(dataset, 0), int(seq))
            self._seen = last
            seqs = tuple(self._seqs.get(d, 0) for d in BANK)
        marks = ",".join("?" * len(BANK))
        live = conn.execute(
            f"SELECT dataset, count(*), sum(live) FROM record_counts WHERE dataset IN ({marks}) GROUP BY 1 ORDER BY 1",
            BANK,
        ).fetchall()
        rules = conn.execute("SELECT count(*), coalesce(max(id), 0) FROM category_rules").fetchone()
        return (*seqs, tuple(live), *rules)


class ViewCache:
    def __init__(self, size: int = 64) -> None:
        self.size = size
        self.version = BankVersion()
        self._answers: OrderedDict[Hashable, tuple[Hashable, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, version: Hashable) -> Any | None:
        with self._lock:
            found = self._answers.get(key)
            if found is None or found[0] != version:
                return None
            self._answers.move_to_end(key)
            return found[1]

    def put(self, key: Hashable, version: Hashable, value: Any) -> None:
        with self._lock:
            self._answers[key] = (version, value)
            self._answers.move_to_end(key)
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)
