"""A record's JSON, decided in one place.

The API's records and changes, `selfdata query --json` and the JSON Lines export all read
records as this JSON, so an app gets one shape wherever it reads them:
`{source, dataset, key, ts, seq, updated_at, data}`; a deleted record (only the changes
feed shows them) is `{source, dataset, key, ts, seq, updated_at, deleted: true}`.

SQLite builds the JSON, so the per-record work stays in C: `data` is stored as canonical
JSON already and is spliced in as it is, never parsed again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ..times import MAX_MS, MIN_MS
from .db import Connection, DatabaseError
from .filters import Filter
from .records import corrupt_from, decode_cursor, encode_cursor, record_filter


def _time(column: str) -> str:
    # Clamped as `times.shown_ms` does: SQLite gives NULL for a time past 9999 an older selfdata stored.
    shown = f"min(max({column}, {MIN_MS}), {MAX_MS})"
    return f"json_quote(strftime('%Y-%m-%dT%H:%M:%fZ', {shown} / 1000.0, 'unixepoch'))"


# A record's JSON: each field and the SQL giving its JSON text, in the order the JSON has them.
_FIELDS: dict[str, str] = {
    "source": "json_quote(source)",
    "dataset": "json_quote(dataset)",
    "key": "json_quote(key)",
    "ts": _time("ts"),
    "seq": "seq",
    "updated_at": _time("updated_at"),
    "data": "data",
}
FIELDS: tuple[str, ...] = tuple(_FIELDS)
# The flat exports (CSV, SQLite) flatten `data` into columns of its own and keep these fields
# beside them (a file or table per dataset), read as rows (ts, seq, source, key, data).
FLAT_FIELDS: tuple[str, ...] = ("source", "key", "ts")
FLAT_COLUMNS = "source, key, data"


def _object(members: Sequence[tuple[str, str]], tail: str = "") -> str:
    """SQL building a JSON object from (name, SQL giving the member's JSON text); `tail` adds members."""
    parts = [f"""'{"," if i else "{"}"{name}":' || {sql}""" for i, (name, sql) in enumerate(members)]
    return " || ".join(parts) + (f" || {tail}" if tail else "") + " || '}'"


_HEAD = [(name, sql) for name, sql in _FIELDS.items() if name != "data"]
RECORD_JSON = _object(list(_FIELDS.items()))
TOMBSTONE_JSON = _object([*_HEAD, ("deleted", "'true'")])
CHANGE_JSON = f"CASE WHEN deleted THEN {TOMBSTONE_JSON} ELSE {RECORD_JSON} END"
# The JSON Lines export is the record's JSON plus the vendor's original, when there is one.
EXPORT_JSON = _object(list(_FIELDS.items()), """CASE WHEN raw IS NULL THEN '' ELSE ',"raw":' || raw END""")

Row = tuple[Any, ...]


@dataclass(frozen=True)
class RecordSelect:
    """Records matching WHERE clauses in (ts, seq) order, resumable after any (ts, seq).

    Rows are always `(ts, seq, *columns)`: the position comes first whatever else is
    read, so paging never depends on the columns.
    """

    where: Sequence[str]
    params: Sequence[Any]
    columns: str = RECORD_JSON

    def sql(self, after: tuple[int, int] | None, limit: int) -> tuple[str, tuple[Any, ...]]:
        clauses, args = list(self.where), list(self.params)
        if after is not None:
            clauses.append("(ts, seq) > (?, ?)")
            args.extend(after)
        sql = f"SELECT ts, seq, {self.columns} FROM records WHERE {' AND '.join(clauses)} ORDER BY ts, seq LIMIT ?"
        return sql, (*args, limit)

    def chunks(self, conn: Connection, size: int, after: tuple[int, int] | None = None) -> Iterator[list[Row]]:
        """Every matching row, `size` at a time by keyset: bounded memory whatever the count."""
        while True:
            rows = conn.execute(*self.sql(after, size)).fetchall()
            if rows:
                yield rows
            if len(rows) < size:
                return
            after = position(rows[-1])


def position(row: Row) -> tuple[int, int]:
    return row[0], row[1]


def page(rows: list[Row], limit: int) -> tuple[list[Row], str | None]:
    """A page from `limit + 1` rows read: at most `limit` rows, and the cursor after them if more remain."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(*position(rows[-1]))


def with_fields(record_json: str, fields: Sequence[str]) -> bytes:
    """A record's JSON with `data` cut down to the given fields it has, in their order."""
    record = orjson.loads(record_json)
    data = record["data"]
    record["data"] = {f: data[f] for f in fields if f in data}
    return orjson.dumps(record)


def query(
    conn: Connection,
    dataset: str,
    *,
    limit: int,
    cursor: str | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    source: str | None = None,
    filters: Sequence[Filter] = (),
) -> tuple[list[str], str | None]:
    """One page of a dataset's live records as JSON text, and the cursor for the next page."""
    clauses, params = record_filter(dataset, start_ms, end_ms, source, filters)
    sql, args = RecordSelect(clauses, params).sql(decode_cursor(cursor) if cursor else None, limit + 1)
    try:
        rows, nxt = page(conn.execute(sql, args).fetchall(), limit)
    except DatabaseError as err:
        raise corrupt_from(conn, err) from err
    return [r[2] for r in rows], nxt
