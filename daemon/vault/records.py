"""Records: batched upserts through the single writer, range queries, the changes feed."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ..errors import SelfdataError
from ..times import now_ms
from .db import Connection, DatabaseError, corrupt
from .filters import Filter, dataset_literal, where


@dataclass(frozen=True, slots=True)
class RecordIn:
    """A normalised record on its way into the vault."""

    source: str
    dataset: str
    key: str
    ts: int  # the record's own time, UTC epoch ms
    data: Any
    raw: Any = None


@dataclass(slots=True)
class BatchCounts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0

    def add(self, other: BatchCounts) -> None:
        self.new += other.new
        self.changed += other.changed
        self.unchanged += other.unchanged

    @property
    def total(self) -> int:
        return self.new + self.changed + self.unchanged


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record read back as Python values; the JSON apps get is built in `recordjson`."""

    source: str
    dataset: str
    key: str
    ts: int
    seq: int
    updated_at: int
    data: Any
    deleted: bool = False


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8: equal content gives equal text, so equal hashes."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def content_hash(ts: int, data_json: str, raw_json: str | None) -> bytes:
    text = f"{ts}\0{data_json}\0{raw_json}" if raw_json is not None else f"{ts}\0{data_json}"
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


Prepared = dict[tuple[str, str, str], tuple[int, str, "str | None", bytes]]


def stored_form(ts: int, data: Any, raw: Any) -> tuple[str, str | None, bytes]:
    """What the vault stores of a record's content: canonical `data` and `raw` JSON, and their hash."""
    data_json = canonical_json(data)
    raw_json = None if raw is None else canonical_json(raw)
    return data_json, raw_json, content_hash(ts, data_json, raw_json)


def prepare(records: Iterable[RecordIn]) -> Prepared:
    """Serialise and hash records (outside any transaction); later duplicates of a key win."""
    return {(r.source, r.dataset, r.key): (r.ts, *stored_form(r.ts, r.data, r.raw)) for r in records}


class RecordWriter:
    """The one writer of a vault: every change goes through here, one transaction a batch."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.lock = threading.RLock()

    def transaction(self) -> _Transaction:
        return _Transaction(self)

    def upsert(
        self,
        records: Iterable[RecordIn],
        *,
        run_id: int | None = None,
        within: Callable[[Connection], None] | None = None,
    ) -> BatchCounts:
        """Store a batch in one transaction; `within` runs inside it (a checkpoint, say).

        Unchanged content costs a read, not a write, and does not bump `seq`.
        """
        prepared = prepare(records)
        with self.transaction() as conn:
            counts = self.apply(conn, prepared, run_id)
            if within is not None:
                within(conn)
        return counts

    def apply(self, conn: Connection, prepared: Prepared, run_id: int | None) -> BatchCounts:
        """Upsert prepared records inside a transaction the caller holds."""
        counts = BatchCounts()
        existing = self._existing(conn, prepared.keys())
        now = now_ms()
        seq = _last_seq(conn)
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        for (source, dataset, key), (ts, data_json, raw_json, h) in prepared.items():
            found = existing.get((source, dataset, key))
            if found is not None and found[0] == h and not found[1]:
                counts.unchanged += 1
                continue
            seq += 1
            if found is None:
                counts.new += 1
                inserts.append((seq, source, dataset, key, ts, data_json, raw_json, h, now, now, run_id))
            else:
                if found[1]:
                    counts.new += 1  # a deleted key that comes back
                else:
                    counts.changed += 1
                updates.append((seq, ts, data_json, raw_json, h, now, run_id, source, dataset, key))
        if inserts:
            conn.executemany(
                "INSERT INTO records (seq, source, dataset, key, ts, data, raw, hash, created_at, updated_at, run_id)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                inserts,
            )
        if updates:
            conn.executemany(
                "UPDATE records SET seq=?, ts=?, data=?, raw=?, hash=?, updated_at=?, run_id=?, deleted=0"
                " WHERE source=? AND dataset=? AND key=?",
                updates,
            )
        if inserts or updates:
            _set_last_seq(conn, seq)
        return counts

    @staticmethod
    def _existing(
        conn: Connection, idents: Iterable[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], tuple[bytes, int]]:
        by_stream: dict[tuple[str, str], list[str]] = {}
        for source, dataset, key in idents:
            by_stream.setdefault((source, dataset), []).append(key)
        found: dict[tuple[str, str, str], tuple[bytes, int]] = {}
        for (source, dataset), keys in by_stream.items():
            # One statement per stream: the keys travel as one JSON array, not thousands of parameters.
            rows = conn.execute(
                "SELECT key, hash, deleted FROM records WHERE source=? AND dataset=?"
                " AND key IN (SELECT value FROM json_each(?))",
                (source, dataset, orjson.dumps(keys).decode()),
            )
            for key, h, deleted in rows:
                found[(source, dataset, key)] = (h, deleted)
        return found

    def delete(self, *, source: str | None = None, dataset: str | None = None, keys: Sequence[str] = ()) -> int:
        """Turn records into tombstones: data and raw are wiped, the changes feed reports them."""
        with self.transaction() as conn:
            return self.delete_in(conn, source=source, dataset=dataset, keys=keys)

    def delete_in(
        self, conn: Connection, *, source: str | None = None, dataset: str | None = None, keys: Sequence[str] = ()
    ) -> int:
        where, params = _scope(source, dataset)
        if keys:
            where += " AND key IN (SELECT value FROM json_each(?))"
            params.append(orjson.dumps(list(keys)).decode())
        seq = _last_seq(conn)
        rows = conn.execute(f"SELECT seq FROM records WHERE deleted=0 AND {where} ORDER BY seq", params).fetchall()
        now = now_ms()
        conn.executemany(
            "UPDATE records SET seq=?, data=NULL, raw=NULL, hash=X'', deleted=1, updated_at=? WHERE seq=?",
            [(seq + i + 1, now, old) for i, (old,) in enumerate(rows)],
        )
        if rows:
            _set_last_seq(conn, seq + len(rows))
        return len(rows)

    def purge_tombstones(self, older_than_ms: int) -> int:
        with self.transaction() as conn:
            cur = conn.execute("DELETE FROM records WHERE deleted=1 AND updated_at < ?", (older_than_ms,))
            return int(cur.rowcount)


class _Transaction:
    def __init__(self, writer: RecordWriter) -> None:
        self.writer = writer

    def __enter__(self) -> Connection:
        self.writer.lock.acquire()
        try:
            self.writer.conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.writer.lock.release()
            raise
        return self.writer.conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is None:
                self.writer.conn.execute("COMMIT")
            else:
                self.writer.conn.execute("ROLLBACK")
        finally:
            self.writer.lock.release()


def _last_seq(conn: Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE name='last_seq'").fetchone()
    return int(row[0]) if row else 0


def _set_last_seq(conn: Connection, seq: int) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('last_seq', ?)", (str(seq),))


def _scope(source: str | None, dataset: str | None) -> tuple[str, list[Any]]:
    clauses, params = ["1=1"], []
    if source is not None:
        clauses.append("source=?")
        params.append(source)
    if dataset is not None:
        clauses.append("dataset=?")
        params.append(dataset)
    return " AND ".join(clauses), params


# Reading


class CursorError(SelfdataError, ValueError):
    pass


def encode_cursor(ts: int, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{ts}:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        ts_text, seq_text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii").split(":")
        return int(ts_text), int(seq_text)
    except (ValueError, UnicodeError) as err:
        raise CursorError("the cursor is not one this server gave out") from err


def _row(row: tuple[Any, ...]) -> StoredRecord:
    source, dataset, key, ts, seq, updated_at, data, deleted = row
    return StoredRecord(source, dataset, key, ts, seq, updated_at, orjson.loads(data) if data else None, bool(deleted))


_COLUMNS = "source, dataset, key, ts, seq, updated_at, data, deleted"


def record_filter(
    dataset: str,
    start_ms: int | None,
    end_ms: int | None,
    source: str | None,
    filters: Sequence[Filter] = (),
) -> tuple[list[str], list[Any]]:
    """WHERE clauses and parameters for live records of a dataset in [start, end) of a source,
    matching `filters` on its fields."""
    if filters:  # named literally, so the dataset's partial filter indexes serve the query
        clauses: list[str] = [f"dataset={dataset_literal(dataset)}", "deleted=0"]
        params: list[Any] = []
    else:
        clauses, params = ["dataset=?", "deleted=0"], [dataset]
    for clause, value in (("ts>=?", start_ms), ("ts<?", end_ms), ("source=?", source)):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    more, args = where(filters)
    return clauses + more, params + args


def iter_records(
    conn: Connection,
    dataset: str,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    source: str | None = None,
) -> Iterator[StoredRecord]:
    """Live records of a dataset in time order, as Python values; `end_ms` is exclusive."""
    clauses, params = record_filter(dataset, start_ms, end_ms, source)
    sql = f"SELECT {_COLUMNS} FROM records WHERE {' AND '.join(clauses)} ORDER BY ts, seq"
    try:
        for row in conn.execute(sql, params):
            yield _row(row)
    except DatabaseError as err:
        raise corrupt_from(conn, err) from err


def changes(conn: Connection, since: int, *, dataset: str | None = None, limit: int = 1000) -> list[StoredRecord]:
    """Every insert, change and deletion after `since`, in `seq` order, tombstones included."""
    sql = f"SELECT {_COLUMNS} FROM records WHERE seq>?"
    params: list[Any] = [since]
    if dataset is not None:
        sql += " AND dataset=?"
        params.append(dataset)
    sql += f" ORDER BY seq LIMIT {int(limit)}"
    try:
        return [_row(r) for r in conn.execute(sql, params)]
    except DatabaseError as err:
        raise corrupt_from(conn, err) from err


@dataclass(frozen=True)
class StreamCount:
    dataset: str
    source: str
    count: int
    first_ts: int | None
    last_ts: int | None


def counts(conn: Connection) -> list[StreamCount]:
    """Live records and their time span per stream, from the table the triggers keep."""
    sql = (
        "SELECT dataset, source, live, first_ts, last_ts, exact FROM record_counts WHERE live > 0"
        " ORDER BY dataset, source"
    )
    try:
        out = []
        for dataset, source, live, first, last, exact in conn.execute(sql).fetchall():
            if not exact:  # an edge record went: this stream's span is read again
                first, last = (
                    conn.execute(
                        "SELECT ts FROM records WHERE dataset=? AND source=? AND deleted=0"
                        f" ORDER BY ts {direction} LIMIT 1",
                        (dataset, source),
                    ).fetchone()[0]
                    for direction in ("ASC", "DESC")
                )
            out.append(StreamCount(dataset, source, live, first, last))
        return out
    except DatabaseError as err:
        raise corrupt_from(conn, err) from err


def corrupt_from(conn: Connection, err: Exception) -> Exception:
    try:
        path = conn.execute("PRAGMA database_list").fetchone()[2]
    except DatabaseError:
        path = "vault"
    return corrupt(path, err)
