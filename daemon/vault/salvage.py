"""Rescuing a damaged vault: every row still readable, copied into a new database under the same key.

A damaged page makes the rows it holds (or leads to) unreadable, and the connection that met
it refuses every later read. So the damaged file is attached read-only to the copy's own
connection, a table's rows are read a window of rowids at a time through the table itself
(never an index, whose pages may be the damaged ones), and a window that fails is attached
again and halved until what fails is a single rowid. What could not be read is listed as
rowid ranges, with the identities (source, dataset, key) an index still gives of the records
in them. The copy is ciphertext like the vault, so nothing readable lands on disk.
"""

from __future__ import annotations

import bisect
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlcipher3 import dbapi2 as sqlcipher

from . import schema
from .damage import is_damage
from .db import Connection, DatabaseError
from .errors import VaultCorrupt

WINDOW = 5000  # rowids one read covers while nothing fails
# Derived or transient: record_counts (and health_hours, energy_slots, bank_amounts) is rebuilt by the
# copy's triggers as records arrive; staging holds only what a killed import left.
SKIP = ("record_counts", "health_hours", "energy_slots", "bank_amounts", "staging")
MAX_LOST_LISTED = 100_000


class _Unreadable(Exception):
    pass


@dataclass(frozen=True)
class Unreadable:
    table: str
    first: int | None = None  # rowids; None: the whole table
    last: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "first_rowid": self.first, "last_rowid": self.last}


@dataclass
class Salvaged:
    copied: dict[str, int] = field(default_factory=dict)
    unreadable: list[Unreadable] = field(default_factory=list)
    lost_records: list[dict[str, str]] = field(default_factory=list)
    lost_named: bool = True  # whether an index named every lost record

    def to_json(self) -> dict[str, Any]:
        return {
            "complete": not self.unreadable,
            "copied": self.copied,
            "unreadable": [u.to_json() for u in self.unreadable],
            "lost_records": self.lost_records,
            "all_lost_records_named": self.lost_named,
        }

    def summary(self) -> dict[str, Any]:
        """What a command prints: counts, without the list."""
        return {
            "complete": not self.unreadable,
            "records_copied": self.copied.get("records", 0),
            "records_unreadable": len(self.lost_records),
            "all_lost_records_named": self.lost_named,
            "unreadable_tables": sorted({u.table for u in self.unreadable}),
        }


class _Copy:
    """The copy's connection with the damaged file attached, attached again after a failed read."""

    def __init__(self, source: Path, db_key: bytes, target: Path) -> None:
        self.source_uri = f"file:{urllib.parse.quote(str(source))}?mode=ro"
        self.key = db_key
        conn = sqlcipher.connect(
            f"file:{urllib.parse.quote(str(target))}", uri=True, isolation_level=None, check_same_thread=False
        )
        self.conn = cast(Connection, conn)
        if db_key:
            self.conn.execute(f"PRAGMA key = \"x'{db_key.hex()}'\"")
        self.conn.execute("PRAGMA cipher_log_level = NONE")
        schema.migrate(self.conn)
        # A new file nobody reads yet; a statement that fails midway must still roll back.
        self.conn.execute("PRAGMA journal_mode = MEMORY")
        self.conn.execute("PRAGMA synchronous = OFF")
        self._attach()

    def _attach(self) -> None:
        try:
            self.conn.execute(f"ATTACH DATABASE ? AS damaged KEY \"x'{self.key.hex()}'\"", (self.source_uri,))
            self.conn.execute("SELECT count(*) FROM damaged.sqlite_master").fetchone()
        except DatabaseError as err:
            raise VaultCorrupt(
                f"the vault database is damaged where its tables are described ({err}): nothing can be rescued "
                "from it. Restore the vault folder from a backup (docs/security.md)"
            ) from err

    def run(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self.conn.execute(sql, args).fetchall()
        except DatabaseError as err:
            raise self._failed(err) from err

    def insert(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        try:
            return int(self.conn.execute(sql, args).rowcount)
        except DatabaseError as err:
            raise self._failed(err) from err

    def _failed(self, err: DatabaseError) -> Exception:
        """A damaged page: attach the file again (this attachment now refuses every read)."""
        if not is_damage(err):
            return cast(Exception, err)
        try:
            self.conn.execute("DETACH DATABASE damaged")
        except DatabaseError:
            pass
        self._attach()
        return _Unreadable()

    def close(self) -> None:
        self.conn.close()


def salvage(source: Path, db_key: bytes, target: Path, vault_id: str) -> Salvaged:
    """Copy what `source` still holds into the new database `target`; what could not be read."""
    copy = _Copy(source, db_key, target)
    out = Salvaged()
    try:
        tables = copy.run(
            "SELECT name, wr FROM pragma_table_list WHERE schema='main' AND type='table' AND name NOT LIKE 'sqlite_%'"
        )
        for name, without_rowid in sorted(tables, key=lambda t: t[0] != "meta"):  # meta first: last_seq
            if name in SKIP:
                continue
            cols = ", ".join(f'"{c[1]}"' for c in copy.run(f'PRAGMA main.table_info("{name}")'))
            if without_rowid:
                try:
                    out.copied[name] = copy.insert(
                        f'INSERT INTO main."{name}" ({cols}) SELECT {cols} FROM damaged."{name}"'
                    )
                except _Unreadable:
                    out.unreadable.append(Unreadable(name))
            else:
                out.copied[name] = _copy_rowid_table(copy, name, cols, out)
        _complete_meta(copy, vault_id)
        bad = [u for u in out.unreadable if u.table == "records" and u.first is not None]
        if bad or any(u.table == "records" and u.first is None for u in out.unreadable):
            out.lost_records, out.lost_named = _lost_records(copy, bad)
    finally:
        copy.close()
    return out


def _edge(copy: _Copy, sql: str) -> int | None:
    """One value read, or -1 when it cannot be (rowids here start at 1)."""
    try:
        value = copy.run(sql)[0][0]
    except _Unreadable:
        return -1
    return None if value is None else int(value)


def _bounds(copy: _Copy, table: str) -> tuple[int, int] | None:
    """The table's first and last rowid (None: empty), read from the table's two edges, else
    from its indexes or (records) the vault's last seq. _Unreadable when nothing says."""
    first = _edge(copy, f'SELECT min(rowid) FROM damaged."{table}" NOT INDEXED')
    last = _edge(copy, f'SELECT max(rowid) FROM damaged."{table}" NOT INDEXED')
    if last is None and first is None:
        return None
    lo = first if first is not None and first > 0 else 1
    if last is not None and last > 0:
        return lo, last
    known: list[int] = []
    for (index,) in copy.run("SELECT name FROM main.sqlite_master WHERE type='index' AND tbl_name=?", (table,)):
        value = _edge(copy, f'SELECT max(rowid) FROM damaged."{table}" INDEXED BY "{index}"')
        known += [value] if value is not None and value > 0 else []
    if table == "records":
        known += [int(v) for (v,) in copy.run("SELECT value FROM main.meta WHERE name='last_seq'")]
    if not known:
        raise _Unreadable
    return lo, max(known)


def _copy_rowid_table(copy: _Copy, table: str, cols: str, out: Salvaged) -> int:
    try:
        bounds = _bounds(copy, table)
    except _Unreadable:
        out.unreadable.append(Unreadable(table))
        return 0
    if bounds is None:
        return 0
    sql = (
        f'INSERT INTO main."{table}" ({cols}) SELECT {cols} FROM damaged."{table}" NOT INDEXED'
        " WHERE rowid BETWEEN ? AND ?"
    )
    copied = 0
    lost: list[int] = []
    for start in range(bounds[0], bounds[1] + 1, WINDOW):
        stack = [(start, min(bounds[1], start + WINDOW - 1))]
        while stack:
            a, b = stack.pop()
            try:
                copied += copy.insert(sql, (a, b))
            except _Unreadable:
                if a == b:
                    lost.append(a)
                else:
                    mid = (a + b) // 2
                    stack += [(mid + 1, b), (a, mid)]
    out.unreadable += [Unreadable(table, a, b) for a, b in _ranges(lost)]
    return copied


def _ranges(rowids: list[int]) -> Iterator[tuple[int, int]]:
    rowids = sorted(rowids)
    i = 0
    while i < len(rowids):
        j = i
        while j + 1 < len(rowids) and rowids[j + 1] == rowids[j] + 1:
            j += 1
        yield rowids[i], rowids[j]
        i = j + 1


def _complete_meta(copy: _Copy, vault_id: str) -> None:
    """The copy opens as this vault, and its seq never goes back, whatever of meta was lost."""
    copy.run("INSERT OR IGNORE INTO main.meta (name, value) VALUES ('vault_id', ?)", (vault_id,))
    copy.run(
        "INSERT INTO main.meta (name, value) SELECT 'last_seq', CAST(max(seq) AS TEXT) FROM main.records"
        " WHERE true HAVING max(seq) IS NOT NULL ON CONFLICT (name) DO UPDATE SET"
        " value = CAST(max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER)) AS TEXT)"
    )


def _lost_records(copy: _Copy, bad: list[Unreadable]) -> tuple[list[dict[str, str]], bool]:
    """Records an index still names whose rows could not be read; and whether the index was read whole."""
    whole_table = not bad
    starts = [u.first or 0 for u in bad]
    lost: list[dict[str, str]] = []
    try:
        rows = copy.run(
            "SELECT seq, source, dataset, key FROM damaged.records INDEXED BY records_identity"
            + ("" if whole_table else " WHERE seq BETWEEN ? AND ?"),
            () if whole_table else (min(starts), max(u.last or 0 for u in bad)),
        )
    except _Unreadable:
        return lost, False
    for seq, source, dataset, key in rows:
        i = bisect.bisect_right(starts, seq) - 1
        if whole_table or (i >= 0 and seq <= (bad[i].last or 0)):
            if len(lost) == MAX_LOST_LISTED:
                return lost, False
            lost.append({"source": source, "dataset": dataset, "key": key, "seq": str(seq)})
    return lost, True
