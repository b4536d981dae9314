"""Health observations per code and UTC hour (the `health_hours` table the triggers keep):
daily means and totals, and where the records came from, without reading the records.

Answers equal the aggregates' (`vault.aggregate`, the same exact sums and the same priority
rule, per local hour) where a zone's offsets are whole hours over the window, so that each
UTC hour lies in one local day; elsewhere (a zone at +05:30, values past 9 decimals, a sum
past 64 bits) `daily` says None and the caller aggregates the records.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal, localcontext
from typing import Any

from connectors.sdk.schema import decimal_text

from . import timebuckets
from .db import Connection, DatabaseError

HOUR_MS, DAY_MS = timebuckets.HOUR_MS, timebuckets.DAY_MS
SCALE = 9


def _rank(names: Sequence[str], source: str, device: str) -> int:
    for i, name in enumerate(names):
        if source == name or (device and device.casefold().startswith(name.casefold())):
            return i
    return len(names)


def daily(
    conn: Connection, code: str, fn: str, start_ms: int, end_ms: int, zone: str, names: Sequence[str] = ()
) -> list[dict[str, Any]] | None:
    """Rows as `aggregate.run` gives them for fn (sum or avg) of `value`, bucket=day, grouped
    by unit, for one code; None when this table cannot answer exactly."""
    if start_ms % HOUR_MS or end_ms % HOUR_MS:
        return None
    spans = timebuckets.offset_spans(zone, start_ms, end_ms)
    if any(off % HOUR_MS for _, off in spans):
        return None
    if not names:
        return _summed(conn, code, fn, start_ms, end_ms, zone, spans)
    rows = conn.execute(
        "SELECT hour, source, device, unit, n, total, scale, typeof(total) FROM health_hours"
        " WHERE code = ? AND hour >= ? AND hour < ? AND records > 0",
        (code, start_ms // HOUR_MS, end_ms // HOUR_MS),
    ).fetchall()
    if any(r[6] > SCALE or r[7] != "integer" for r in rows):
        return None
    best: dict[int, int] = {}  # per UTC hour, the best-ranked source or device with data
    for r in rows:
        best[r[0]] = min(best.get(r[0], len(names)), _rank(names, r[1], r[2]))
    rows = [r for r in rows if _rank(names, r[1], r[2]) == best[r[0]]]
    starts = [s for s, _ in spans]
    cells: dict[tuple[date, str], list[int]] = {}
    for hour, _, _, unit, n, total, scale, _ in rows:
        at = hour * HOUR_MS
        offset = spans[max(0, bisect.bisect_right(starts, at) - 1)][1]
        day = date(1970, 1, 1) + timedelta(days=(at + offset) // DAY_MS)
        cell = cells.setdefault((day, unit), [0, 0, 0])
        cell[0] += n
        cell[1] += total
        cell[2] = max(cell[2], scale)
    return _shown(fn, sorted(cells.items(), key=lambda kv: (kv[0][0], kv[0][1])), zone)


def _summed(
    conn: Connection, code: str, fn: str, start_ms: int, end_ms: int, zone: str, spans: timebuckets.Spans
) -> list[dict[str, Any]] | None:
    """Every source counted: the hours summed per local day in SQL (a year of a watch's
    heart rate is 9,000 hours of rows, a few hundred days out)."""
    day_sql, day_args = timebuckets.number_sql(f"(hour * {HOUR_MS})", spans, DAY_MS)
    try:
        rows = conn.execute(
            f"SELECT {day_sql}, unit, sum(n), sum(total), max(scale), max(typeof(total) != 'integer')"
            " FROM health_hours WHERE code = ? AND hour >= ? AND hour < ? AND records > 0 GROUP BY 1, 2",
            (*day_args, code, start_ms // HOUR_MS, end_ms // HOUR_MS),
        ).fetchall()
    except DatabaseError as err:
        if "overflow" in str(err):
            return None
        raise
    if any(r[4] > SCALE or r[5] for r in rows):
        return None
    epoch = date(1970, 1, 1)
    cells = sorted(((epoch + timedelta(days=r[0]), r[1]), (r[2], r[3], r[4])) for r in rows)
    return _shown(fn, cells, zone)


def _shown(fn: str, cells: Sequence[tuple[tuple[date, str], Sequence[int]]], zone: str) -> list[dict[str, Any]]:
    tz = timebuckets.zone(zone)
    out = []
    for (day, unit), (n, total, scale) in cells:
        value: str | None = None
        if n:
            exact = Decimal(total).scaleb(-SCALE)
            if fn == "avg":
                with localcontext() as ctx:
                    ctx.prec = 28
                    value = decimal_text((exact / n).normalize())
            else:
                value = decimal_text(exact.quantize(Decimal(1).scaleb(-scale)) if scale else exact.to_integral_value())
        out.append({"start": timebuckets.midnight(day, tz), "unit": unit or None, "count": n, "value": value})
    return out


def origins(
    conn: Connection, codes: Sequence[str], start_ms: int, end_ms: int
) -> list[tuple[str, str | None, int]] | None:
    """(source, device, records) of the codes in [start, end), most first; None unless the
    window is whole hours."""
    if start_ms % HOUR_MS or end_ms % HOUR_MS:
        return None
    marks = ",".join("?" * len(codes))
    rows = conn.execute(
        f"SELECT source, device, sum(records) FROM health_hours WHERE code IN ({marks}) AND hour >= ? AND hour < ?"
        " GROUP BY 1, 2 HAVING sum(records) > 0 ORDER BY 3 DESC, 1, 2",
        (*codes, start_ms // HOUR_MS, end_ms // HOUR_MS),
    ).fetchall()
    return [(s, d or None, n) for s, d, n in rows]
