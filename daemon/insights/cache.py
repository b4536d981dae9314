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


def bank_version(conn: Connection) -> tuple[int, ...]:
    rules = conn.execute("SELECT count(*), coalesce(max(id), 0) FROM category_rules").fetchone()
    seqs = tuple(
        int(conn.execute("SELECT max(seq) FROM records WHERE dataset=?", (d,)).fetchone()[0] or 0) for d in BANK
    )
    return (*seqs, *rules)


class ViewCache:
    def __init__(self, size: int = 64) -> None:
        self.size = size
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
