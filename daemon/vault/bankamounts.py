"""Sums of bank transactions' amounts from `bank_amounts`, the table the triggers keep: one
short row per live transaction (time, account, currency, status, counterparty, description,
amount as whole 10^-9 units), ordered by time.

`aggregate` answers the aggregates the money view asks per account (sum of `amount` per
local day or month, grouped by account, currency or status, filtered on them and on the
amount's sign) as `vault.aggregate.run` does over the records, the same exact sums, without
decrypting and parsing a record; a bucket of several currencies is answered per currency, as
`insights.money.by_currency` asks. They are gathered from one scan of the day totals per
(account, currency, status, sign), which a caller may keep (`memo`), so money in, money out
and the balances read the table once. `payments` gives money out per day and payee fields,
for recurring payments. Anything else (a value past 9 decimals, a sum past 64 bits, a field
or filter the table lacks) gets None and the caller aggregates the records.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from . import timebuckets
from .db import Connection, DatabaseError

SCALE = 9
DAY_MS = timebuckets.DAY_MS

PER_ACCOUNT = ("account_id", "currency", "status")  # the day totals' groups
_EPOCH = date(1970, 1, 1)
_UNIT = 10**SCALE
_EXPS = [Decimal(1).scaleb(-s) for s in range(SCALE + 1)]
Memo = Callable[[Hashable, Callable[[], Any]], Any]


class _Filters:
    """The money view's filters: equality on the table's columns and the amount's sign."""

    def __init__(self, equal: dict[str, str], sign: int) -> None:
        self.equal, self.sign = equal, sign  # sign 1: amount > 0, -1: amount < 0, 0: any


def _filters(terms: Sequence[str]) -> _Filters | None:
    equal: dict[str, str] = {}
    sign = 0
    for term in terms:
        name, _, value = term.partition("=")
        if name in ("amount__gt", "amount__lt") and value == "0" and not sign:
            sign = 1 if name == "amount__gt" else -1
        elif name in PER_ACCOUNT and value and name not in equal:
            equal[name] = value
        else:
            return None
    return _Filters(equal, sign)


def aggregate(
    conn: Connection,
    *,
    fn: str,
    field: str | None,
    bucket: str | None,
    zone: str,
    group: tuple[str, ...] = (),
    start_ms: int | None = None,
    end_ms: int | None = None,
    where: tuple[str, ...] = (),
    memo: Memo | None = None,
) -> list[dict[str, Any]] | None:
    """The rows of sum(amount) per local day or month grouped by `group` (and currency), values
    as exact Decimals; None when the table cannot answer this exactly."""
    if fn != "sum" or field != "amount" or bucket not in ("day", "month"):
        return None
    f = _filters(where)
    if f is None:
        return None
    if not set(group) <= set(PER_ACCOUNT) or start_ms is None or not _midnight(zone, start_ms):
        return None
    if end_ms is not None and not _midnight(zone, end_ms):
        return None
    return _per_account(conn, f, bucket, zone, group, start_ms, end_ms, memo)


def _midnight(zone: str, ms: int) -> bool:
    """Whether `ms` is a local midnight with no clock set back a day either side: the records
    from it on are then exactly those of its local day on (local time only runs backwards
    where a clock is set back)."""
    spans = timebuckets.offset_spans(zone, ms - DAY_MS, ms + DAY_MS)
    if any(b[1] < a[1] for a, b in zip(spans, spans[1:], strict=False)):
        return False
    offset = next(off for start, off in reversed(spans) if start <= ms)
    return (ms + offset) % DAY_MS == 0


def day_totals(conn: Connection, zone: str, start_ms: int) -> list[Any] | None:
    """(local day number, account_id, currency, status, sign, n, total, scale) from `start_ms`
    on; None when a sum is not exact here."""
    last = conn.execute("SELECT max(ts) FROM bank_amounts").fetchone()[0]
    if last is None:
        return []
    spans = timebuckets.offset_spans(zone, start_ms, max(start_ms, last))
    day_sql, day_args = timebuckets.number_sql("ts", spans, DAY_MS)
    try:
        rows: list[Any] = conn.execute(
            f"SELECT {day_sql}, account_id, currency, status, (amount > 0) - (amount < 0),"
            " count(amount), sum(amount), max(scale), max(typeof(amount) = 'real')"
            " FROM bank_amounts WHERE ts >= ? GROUP BY 1, 2, 3, 4, 5",
            [*day_args, start_ms],
        ).fetchall()
    except DatabaseError as err:
        if "overflow" in str(err):
            return None
        raise
    if any(r[7] > SCALE or r[8] for r in rows):
        return None
    return rows


def _per_account(
    conn: Connection,
    f: _Filters,
    bucket: str,
    zone: str,
    group: tuple[str, ...],
    start_ms: int,
    end_ms: int | None,
    memo: Memo | None,
) -> list[dict[str, Any]] | None:
    def compute() -> list[Any] | None:
        return day_totals(conn, zone, start_ms)

    rows = memo(("bank_amounts.day_totals", zone, start_ms), compute) if memo is not None else compute()
    if rows is None:
        return None
    first = timebuckets.offset_spans(zone, start_ms, start_ms)[0][1]
    lo = (start_ms + first) // DAY_MS
    hi = None
    if end_ms is not None:
        hi = (end_ms + timebuckets.offset_spans(zone, end_ms, end_ms)[0][1]) // DAY_MS
    columns = {"account_id": 1, "currency": 2, "status": 3}
    tests = [(columns[name], value) for name, value in f.equal.items()]
    keys = [columns[g] for g in group if g != "currency"] + [2]
    cells: dict[tuple[Any, ...], list[Any]] = {}
    for r in rows:
        if r[0] < lo or (hi is not None and r[0] >= hi) or (f.sign and r[4] != f.sign):
            continue
        if any(r[i] != v for i, v in tests):
            continue
        key = (_bucket(r[0], bucket), *(r[i] for i in keys))
        cell = cells.get(key)
        if cell is None:
            cells[key] = [r[5], r[6] or 0, r[7]]
        else:
            cell[0] += r[5]
            cell[1] += r[6] or 0
            cell[2] = max(cell[2], r[7])
    names = [g for g in group if g != "currency"]
    return _shown([(*k, *c) for k, c in cells.items()], names, zone)


def _bucket(day: int, bucket: str) -> int:
    if bucket == "day":
        return day
    first = (_EPOCH + timedelta(days=day)).replace(day=1)
    return (first - _EPOCH).days


def payments(conn: Connection, zone: str, start_ms: int, end_ms: int) -> list[Any] | None:
    """Money out per local day, counterparty, description and currency in [start, end):
    (day number, counterparty, description, currency, n, total in 10^-9 units, scale), the
    groups recurring payments are found in; None when a sum is not exact here."""
    span = conn.execute(
        "SELECT min(ts), max(ts) FROM bank_amounts WHERE ts >= ? AND ts < ?", (start_ms, end_ms)
    ).fetchone()
    if span[0] is None:
        return []
    spans = timebuckets.offset_spans(zone, span[0], span[1])
    day_sql, day_args = timebuckets.number_sql("ts", spans, DAY_MS)
    try:
        rows: list[Any] = conn.execute(
            f"SELECT {day_sql}, counterparty, description, currency, count(amount), sum(amount), max(scale),"
            " max(typeof(amount) = 'real') FROM bank_amounts"
            # an amount past 9 decimals or 64 bits may look like 0 here: it is let through, to be seen
            " WHERE (amount < 0 OR scale > 9 OR typeof(amount) = 'real') AND ts >= ? AND ts < ?"
            " GROUP BY 1, 2, 3, 4",
            [*day_args, start_ms, end_ms],
        ).fetchall()
    except DatabaseError as err:
        if "overflow" in str(err):
            return None
        raise
    if any(r[6] > SCALE or r[7] for r in rows):
        return None
    return rows


def _shown(rows: Sequence[Sequence[Any]], names: list[str], zone: str) -> list[dict[str, Any]]:
    """Rows (day number, *names, currency, n, total, scale, ...) in the aggregate's shape, values
    Decimal. Their order is time then groups, not the aggregate's: the money view gathers them."""
    nk = len(names) + 1
    seen: dict[tuple[Any, ...], Any] = {}
    mixed = False
    for r in rows:
        if r[1 + nk] and seen.setdefault(tuple(r[:nk]), r[nk]) != r[nk]:
            mixed = True
            break
    if mixed:  # per currency, as by_currency asks it
        rows = sorted(rows, key=lambda r: (r[nk] is None, str(r[nk])))
    tz = timebuckets.zone(zone)
    starts: dict[int, str] = {}
    out = []
    for r in rows:
        start = starts.get(r[0])
        if start is None:
            start = starts[r[0]] = timebuckets.midnight(_EPOCH + timedelta(days=r[0]), tz)
        row: dict[str, Any] = {"start": start}
        for i, name in enumerate(names):
            row[name] = r[1 + i]
        row["currency"] = r[nk]
        n, total, scale = r[1 + nk], r[2 + nk], r[3 + nk]
        row["count"] = n
        row["value"] = (Decimal(total or 0) / _UNIT).quantize(_EXPS[scale]) if n else None
        out.append(row)
    return out
