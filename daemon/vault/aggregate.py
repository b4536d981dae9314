"""Aggregates of a dataset's numeric field: count, sum, avg, min, max, bucketed by local
half hour, hour, day, week, month or year in a named zone, grouped by up to two declared fields.

Decimal sums are exact: SQLite sums each decimal text as a whole number of 10^-9 units
(its integer and fraction digits read apart, never through a float); a value with more
than 9 decimals, or a sum past 64 bits, is summed in Python with `decimal.Decimal`
instead. A field with a unit (`DecimalText(unit=...)`: an amount's currency, a quantity's
unit) is aggregated per unit, and a bucket whose records have several is refused.

Health observations measured by several sources at once (a watch and a phone both count
steps) are counted once where the user set a priority for their code: in each local hour,
only the records of the first source or device in the list that has any for that code
are aggregated (unlisted ones count where no listed one has data). Records stay as stored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

import orjson

from connectors.sdk import schema as kinds
from connectors.sdk.schema import decimal_text

from ..errors import SelfdataError
from . import timebuckets
from .db import Connection, DatabaseError
from .filters import Filter, FilterError, extract, kind_of
from .records import record_filter

FUNCTIONS = ("count", "sum", "avg", "min", "max")
MAX_GROUPS = 2
SCALE = 9
_UNIT = 10**SCALE
MAX_ROWS = 100_000
PRIORITY_DATASET = "health.observation"


class AggregateError(SelfdataError, ValueError):
    """An aggregate that cannot be computed as asked; the message says which part."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Priority:
    """For one observation code, the sources or devices that count, first to last."""

    code: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class Aggregate:
    dataset: str
    fn: str = "count"
    field: str | None = None
    bucket: str | None = None
    zone: str = "UTC"
    group: tuple[str, ...] = ()
    start_ms: int | None = None
    end_ms: int | None = None
    source: str | None = None
    filters: tuple[Filter, ...] = ()
    # None: the priorities stored in the vault (health.observation only); (): every source counted
    priority: tuple[Priority, ...] | None = None


def stored_priorities(conn: Connection) -> tuple[Priority, ...]:
    rows = conn.execute("SELECT code, names FROM health_priority ORDER BY code").fetchall()
    return tuple(Priority(code, tuple(orjson.loads(names))) for code, names in rows)


def resolved(conn: Connection, spec: Aggregate) -> Aggregate:
    """The spec with the priorities it applies spelt out (none outside health.observation)."""
    if spec.dataset != PRIORITY_DATASET:
        return spec if spec.priority == () else dataclasses.replace(spec, priority=())
    found = stored_priorities(conn) if spec.priority is None else spec.priority
    codes = next((set(f.values) for f in spec.filters if f.field == "code" and f.op == "eq"), None)
    if codes is not None:  # only the asked codes' priorities change the answer
        found = tuple(p for p in found if p.code in codes)
    return spec if found == spec.priority else dataclasses.replace(spec, priority=found)


@dataclass
class _Cell:
    count: int = 0  # records
    n: int = 0  # records with a value
    total: Decimal = Decimal(0)
    low: Decimal | None = None
    high: Decimal | None = None
    scale: int = 0
    units: set[Any] = field(default_factory=set)
    order: int = 0  # sorts buckets by their start

    def add(self, count: int, n: int, total: Decimal, low: Decimal | None, high: Decimal | None, scale: int) -> None:
        self.count += count
        self.n += n
        self.total += total
        if low is not None:
            self.low = low if self.low is None else min(self.low, low)
        if high is not None:
            self.high = high if self.high is None else max(self.high, high)
        self.scale = max(self.scale, scale)


def check(spec: Aggregate) -> tuple[kinds.Kind | None, str | None]:
    """The aggregated field's kind and its unit field; AggregateError or FilterError if unfit."""
    if spec.fn not in FUNCTIONS:
        raise AggregateError("bad_fn", f"{spec.fn!r} is not an aggregate: use one of {', '.join(FUNCTIONS)}")
    if spec.bucket is not None:
        try:
            timebuckets.check_bucket(spec.bucket)
        except timebuckets.ZoneError as err:
            raise AggregateError("bad_bucket", str(err)) from None
    try:
        timebuckets.zone(spec.zone)
    except timebuckets.ZoneError as err:
        raise AggregateError("bad_zone", str(err)) from None
    if len(spec.group) > MAX_GROUPS or len(set(spec.group)) != len(spec.group):
        raise AggregateError("bad_group", f"group by at most {MAX_GROUPS} different fields")
    for name in spec.group:
        kind = kind_of(spec.dataset, name)
        if not isinstance(kind, kinds.Text | kinds.Choice | kinds.Day | kinds.Integer):
            raise FilterError(name, f"{name!r} cannot be grouped by: group by a text, choice, date or integer field")
    if spec.field is None:
        if spec.fn != "count":
            raise AggregateError("bad_field", f"{spec.fn} needs field=, a decimal or integer field of {spec.dataset}")
        return None, None
    kind = kind_of(spec.dataset, spec.field)
    if not isinstance(kind, kinds.DecimalText | kinds.Integer):
        raise FilterError(spec.field, f"{spec.field!r} is not a number: {spec.fn} takes a decimal or integer field")
    return kind, kind.unit if isinstance(kind, kinds.DecimalText) else None


def _scaled(v: str) -> str:
    """SQL of the decimal text `v` as a whole number of 10^-SCALE units, exactly."""
    dot = f"instr({v}, '.')"
    whole = f"CAST(ltrim(CASE WHEN {dot} THEN substr({v}, 1, {dot} - 1) ELSE {v} END, '-') AS INTEGER)"
    digits = f"substr(substr({v}, {dot} + 1) || '{'0' * SCALE}', 1, {SCALE})"
    frac = f"CASE WHEN {dot} THEN CAST({digits} AS INTEGER) ELSE 0 END"
    return f"(CASE WHEN substr({v}, 1, 1) = '-' THEN -1 ELSE 1 END * ({whole} * {_UNIT} + {frac}))"


def scaled_sql(value: str) -> str:
    """SQL of a decimal text as a whole number of 10^-SCALE units, exactly (for sums of other views)."""
    return _scaled(value)


def run(conn: Connection, spec: Aggregate) -> dict[str, Any]:
    kind, unit_field = check(spec)
    spec = resolved(conn, spec)
    tz = timebuckets.zone(spec.zone)
    clauses, params = record_filter(spec.dataset, spec.start_ms, spec.end_ms, spec.source, spec.filters)
    keys = [extract(g) for g in spec.group] + ([extract(unit_field)] if unit_field else [])
    bucket_sql, unit_ms, offset_col = "0", timebuckets.DAY_MS, "0"
    bucket_args: list[int] = []
    offset_args: list[int] = []
    table = "records"
    if spec.bucket is not None or spec.priority:
        first, last = _span(conn, spec)
        if first is None:
            return _result(spec, unit_field, {}, False)
        spans = timebuckets.offset_spans(spec.zone, first, last)
        if spec.priority:
            table, params = _one_view(spec.priority, clauses, params, spans)
            clauses = ["1"]
    if spec.bucket is not None:
        unit_ms = timebuckets.CLOCK_MS.get(spec.bucket, timebuckets.DAY_MS)
        bucket_sql, bucket_args = timebuckets.number_sql("ts", spans, unit_ms)
        if spec.bucket in timebuckets.CLOCK_MS:  # a clock set back shows one local hour twice: told apart by offset
            offset_col, offset_args = timebuckets.offset_sql("ts", spans)
    value = extract(spec.field) if spec.field else "NULL"
    is_decimal = isinstance(kind, kinds.DecimalText)
    head = f"SELECT {bucket_sql}, {offset_col}{''.join(', ' + k for k in keys)}"
    where = f"FROM {table} WHERE {' AND '.join(clauses)} GROUP BY {', '.join(str(i + 1) for i in range(2 + len(keys)))}"
    args = [*bucket_args, *offset_args, *params]
    if is_decimal:
        agg = {"sum": "sum", "avg": "sum", "min": "min", "max": "max", "count": "sum"}[spec.fn]
        dot = f"instr({value}, '.')"
        sql = (
            f"{head}, count(*), count({value}), {agg}({_scaled(value)}),"
            f" max(CASE WHEN {dot} THEN length({value}) - {dot} ELSE 0 END) {where}"
        )
    else:
        agg = {"sum": "sum", "avg": "sum", "min": "min", "max": "max", "count": "count"}[spec.fn]
        sql = f"{head}, count(*), count({value}), {agg}({value}), 0 {where}"
    try:
        rows = conn.execute(sql, args).fetchall()
        exact = not is_decimal or all(r[-1] is None or r[-1] <= SCALE for r in rows)
    except DatabaseError as err:
        if "overflow" not in str(err):
            raise
        exact = False
    if not exact:
        rows = _in_python(conn, spec, head, where, args, value)
    cells = _combine(spec, rows, len(keys), unit_field is not None, is_decimal, unit_ms, tz)
    return _result(spec, unit_field, cells, is_decimal)


def _one_view(
    priority: tuple[Priority, ...], clauses: list[str], params: list[Any], spans: timebuckets.Spans
) -> tuple[str, list[Any]]:
    """The records the aggregate reads, with each prioritised code's overlaps left out: per
    code and local hour, only those of the best-ranked source or device there."""
    code, device = extract("code"), extract("device")
    cases: list[str] = []
    args: list[Any] = []
    for p in priority:
        for rank, name in enumerate(p.names):
            # a device matches by its start: "Apple Watch" is "Apple Watch (Watch6,2)"
            cases.append(f"WHEN {code} = ? AND (source = ? OR {device} LIKE ? ESCAPE '\\') THEN {rank}")
            like = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            args += [p.code, name, like]
        cases.append(f"WHEN {code} = ? THEN {len(p.names)}")
        args.append(p.code)
    slot, slot_args = timebuckets.number_sql("ts", spans, timebuckets.HOUR_MS)
    inner = (
        f"SELECT *, CASE {' '.join(cases)} END AS _rank, {code} AS _code, {slot} AS _slot"
        f" FROM records WHERE {' AND '.join(clauses)}"
    )
    ranked = f"SELECT *, min(_rank) OVER (PARTITION BY _code, _slot) AS _best FROM ({inner})"
    return f"(SELECT * FROM ({ranked}) WHERE _rank IS NULL OR _rank = _best) AS records", [*args, *slot_args, *params]


def _in_python(conn: Connection, spec: Aggregate, head: str, where: str, args: list[Any], value: str) -> list[Any]:
    """The same groups, each value summed as a Decimal: past 9 decimals or 64 bits."""
    plain = where.split(" GROUP BY ")[0]
    out = []
    for row in conn.execute(f"{head}, {value} {plain}", args):
        *key, v = row
        if v is None:
            out.append((*key, 1, 0, None, 0))
            continue
        d = Decimal(str(v))
        out.append((*key, 1, 1, d, max(0, -int(d.as_tuple().exponent))))
    return out


def _span(conn: Connection, spec: Aggregate) -> tuple[int | None, int | None]:
    if spec.start_ms is not None and spec.end_ms is not None:
        return spec.start_ms, spec.end_ms
    first, last = conn.execute(
        "SELECT min(first_ts), max(last_ts) FROM record_counts WHERE dataset=?", (spec.dataset,)
    ).fetchone()
    if first is None:
        return None, None
    return (spec.start_ms if spec.start_ms is not None else first), (spec.end_ms if spec.end_ms is not None else last)


def _combine(
    spec: Aggregate, rows: list[Any], nkeys: int, has_unit: bool, decimal: bool, unit_ms: int, tz: Any
) -> dict[tuple[Any, ...], _Cell]:
    cells: dict[tuple[Any, ...], _Cell] = {}
    starts: dict[tuple[int, int], tuple[str, int]] = {}
    for row in rows:
        number, offset = row[0], row[1]
        groups = row[2 : 2 + len(spec.group)]
        unit = row[2 + len(spec.group)] if has_unit else None
        count, n, agg, scale = row[2 + nkeys :]
        if spec.bucket is None:
            start, order = None, 0
        elif (number, offset) in starts:
            start, order = starts[(number, offset)]
        else:
            if spec.bucket in timebuckets.CLOCK_MS:
                start, order = timebuckets.hour_start(number, offset, tz, unit_ms), number * unit_ms - offset
            else:
                first = timebuckets.start_of(timebuckets.day_of(number), spec.bucket)
                start, order = timebuckets.midnight(first, tz), first.toordinal()
            starts[(number, offset)] = (start, order)
        value: Decimal | None = None
        if agg is not None:
            # SQL's decimal sums are whole units of 10^-SCALE; Python's, and integers, are values
            value = agg if isinstance(agg, Decimal) else Decimal(agg).scaleb(-SCALE if decimal else 0)
        cell = cells.get((start, *groups))
        if cell is None:
            cell = cells[(start, *groups)] = _Cell(order=order)
        total = value if spec.fn in ("sum", "avg") and value is not None else Decimal(0)
        low = value if spec.fn == "min" else None
        high = value if spec.fn == "max" else None
        cell.add(count, n, total, low, high, scale or 0)
        if n:
            cell.units.add(unit)
    if has_unit:
        for cell in cells.values():
            if len(cell.units) > 1:
                shown = ", ".join(sorted(str(u) if u is not None else "none" for u in cell.units))
                raise AggregateError(
                    "mixed_units",
                    f"{spec.field} of {spec.dataset} comes in several units here ({shown}): they are never added"
                    " up together; filter on one (unit=..., currency=...) or group by it",
                )
    return cells


def _result(
    spec: Aggregate, unit_field: str | None, cells: dict[tuple[Any, ...], _Cell], decimal: bool
) -> dict[str, Any]:
    if len(cells) > MAX_ROWS:
        raise AggregateError("too_many_rows", f"more than {MAX_ROWS} buckets: use a longer bucket or a shorter window")
    out = []
    for key in sorted(cells, key=lambda k: (cells[k].order, *((v is None, str(v)) for v in k[1:]))):
        cell = cells[key]
        row: dict[str, Any] = {} if spec.bucket is None else {"start": key[0]}
        row.update(zip(spec.group, key[1:], strict=True))
        if unit_field is not None:
            row[unit_field] = next(iter(cell.units), None)
        row["count"] = cell.count if spec.field is None else cell.n
        if spec.fn != "count":
            row["value"] = _shown(spec.fn, cell, decimal)
        out.append(row)
    return {
        "dataset": spec.dataset,
        "fn": spec.fn,
        "field": spec.field,
        "bucket": spec.bucket,
        "zone": spec.zone,
        "group": list(spec.group),
        "rows": out,
    }


def _shown(fn: str, cell: _Cell, decimal: bool) -> Any:
    if cell.n == 0:
        return None
    if fn == "avg":
        with localcontext() as ctx:
            ctx.prec = 28
            return decimal_text((cell.total / cell.n).normalize())
    value = {"sum": cell.total, "min": cell.low, "max": cell.high}[fn]
    assert value is not None
    exp = Decimal(1).scaleb(-cell.scale)
    quantized = value.quantize(exp) if cell.scale else value.to_integral_value()
    return decimal_text(quantized) if decimal else int(quantized)


class AggregateCache:
    """Answers kept until the vault next changes (its last `seq`): a dashboard asking for the
    same year again gets it without reading 35,000 records again."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._answers: dict[Aggregate, tuple[int, dict[str, Any]]] = {}

    def run(self, conn: Connection, spec: Aggregate, last_seq: int) -> dict[str, Any]:
        spec = resolved(conn, spec)  # a priority changed since is another question
        found = self._answers.get(spec)
        if found is not None and found[0] == last_seq:
            return found[1]
        answer = run(conn, spec)
        if len(self._answers) >= self.size:
            self._answers.pop(next(iter(self._answers)))
        self._answers[spec] = (last_seq, answer)
        return answer
