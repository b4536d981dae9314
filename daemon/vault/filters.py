"""Filters on a dataset's declared fields, typed from its schema, as SQL on the stored JSON.

A term is `field=value` (equality; the same field twice means any of the values) or
`field__gte=value` (also `__gt`, `__lte`, `__lt`), the same in a URL query, in
`selfdata query --where` and in the MCP tools. Values are typed by the field's kind: a
decimal compares as a number, a date as a date, a date-time as an instant.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from connectors.sdk import datasets as schemas
from connectors.sdk import schema as kinds
from connectors.sdk.errors import InvalidRecord

from ..errors import SelfdataError
from ..times import TimeFormatError, parse_instant

RANGES = ("gt", "gte", "lt", "lte")
_SQL_OP = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
MAX_VALUES = 100
# A double keeps 15 significant digits exactly, so a decimal of at most 15 compares exactly.
MAX_DIGITS = 15


class FilterError(SelfdataError, ValueError):
    """A filter that does not fit the dataset's schema; the message names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Filter:
    field: str
    op: str  # eq (one or more values: any of them), gt, gte, lt, lte
    values: tuple[Any, ...]
    expr: str  # the SQL giving the field's comparable value

    def sql(self) -> tuple[str, list[Any]]:
        if self.op == "eq" and len(self.values) > 1:
            return f"{self.expr} IN ({','.join('?' * len(self.values))})", list(self.values)
        return f"{self.expr} {_SQL_OP[self.op]} ?", [self.values[0]]


def extract(field: str) -> str:
    """The field's stored JSON value; the filter indexes are built on exactly this expression."""
    return f"json_extract(data, '$.{field}')"


def shape_of(dataset: str) -> type[schemas.Dataset]:
    shape = schemas.schema_of(dataset)
    if shape is None:
        raise FilterError(
            "", f"{dataset} has no declared fields (connector or app data): filters apply to normalised datasets"
        )
    return shape


def kind_of(dataset: str, field: str) -> kinds.Kind:
    kind = shape_of(dataset).fields().get(field)
    if kind is None:
        declared = ", ".join(shape_of(dataset).fields())
        raise FilterError(field, f"{field!r} is not a field of {dataset} (its fields: {declared})")
    return kind


def parse(dataset: str, terms: Iterable[tuple[str, str]]) -> list[Filter]:
    """Filters from (name, value) terms: `code`, `amount__gte`... Equal names gather as any-of."""
    gathered: dict[tuple[str, str], list[str]] = {}
    for name, value in terms:
        field, _, op = name.partition("__")
        op = op or "eq"
        if op not in RANGES and op != "eq":
            raise FilterError(field, f"{name!r}: {op!r} is not a filter; use {field}=, {field}__gte= (gt, lt, lte)")
        gathered.setdefault((field, op), []).append(value)
    out = []
    for (field, op), values in gathered.items():
        if op != "eq" and len(values) > 1:
            raise FilterError(field, f"{field}__{op} is given twice")
        if len(values) > MAX_VALUES:
            raise FilterError(field, f"{field}: at most {MAX_VALUES} values")
        out.append(_typed(dataset, field, op, values))
    return out


def split_terms(texts: Iterable[str]) -> list[tuple[str, str]]:
    """`field=value` texts (as `selfdata query --where` takes them) as (name, value) terms."""
    out = []
    for text in texts:
        name, eq, value = text.partition("=")
        if not eq or not name:
            raise FilterError(name, f"{text!r} is not a filter: write field=value or field__gte=value")
        out.append((name.strip(), value))
    return out


def _typed(dataset: str, field: str, op: str, values: list[str]) -> Filter:
    kind = kind_of(dataset, field)
    if isinstance(kind, kinds.Nested | kinds.ListOf | kinds.AnyJson):
        raise FilterError(field, f"{field!r} holds objects or lists: it cannot be filtered")
    ordered = isinstance(kind, kinds.DecimalText | kinds.Integer | kinds.Day | kinds.Instant)
    if op != "eq" and not ordered:
        raise FilterError(field, f"{field!r} is text: filter it by equality ({field}=...), not by range")
    expr, typed = extract(field), [_value(kind, field, v) for v in values]
    if isinstance(kind, kinds.DecimalText):
        expr = f"CAST({expr} AS REAL)"
    elif isinstance(kind, kinds.Instant):
        expr = f"CAST(round(unixepoch({expr}, 'subsec') * 1000) AS INTEGER)"
    return Filter(field, op, tuple(typed), expr)


def _value(kind: kinds.Kind, field: str, text: str) -> Any:
    if not isinstance(text, str):
        raise FilterError(field, f"{field}: a filter value is text, not {type(text).__name__}")
    if isinstance(kind, kinds.DecimalText):
        try:
            number = kinds.parse_decimal(text)
        except ValueError:
            raise FilterError(field, f"{field} is a decimal: {text!r} is not a number (e.g. -12.50)") from None
        if len(number.as_tuple().digits) > MAX_DIGITS:
            raise FilterError(field, f"{field}: {text!r} has more than {MAX_DIGITS} significant digits")
        return float(number)
    if isinstance(kind, kinds.Integer):
        try:
            return int(text)
        except ValueError:
            raise FilterError(field, f"{field} is a whole number: {text!r} is not one") from None
    if isinstance(kind, kinds.Day):
        try:
            date.fromisoformat(text)
            if len(text) != 10:
                raise ValueError
        except ValueError:
            raise FilterError(field, f"{field} is a date: {text!r} is not YYYY-MM-DD") from None
        return text
    if isinstance(kind, kinds.Instant):
        try:
            return parse_instant(text)
        except TimeFormatError as err:
            raise FilterError(field, f"{field} is a date-time: {err}") from None
    try:
        kind.check(text, field)
    except InvalidRecord as err:
        raise FilterError(field, str(err).replace("field ", "", 1)) from None
    return text


def where(filters: Sequence[Filter]) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for f in filters:
        sql, args = f.sql()
        clauses.append(sql)
        params.extend(args)
    return clauses, params


def dataset_literal(dataset: str) -> str:
    """The dataset as an SQL literal: a partial index (WHERE dataset='...') serves only a query
    naming it literally. Safe: a dataset name is dotted lowercase words (names.DATASET_RE)."""
    if not all(c.islower() or c.isdigit() or c in "._" for c in dataset):
        raise ValueError(f"not a dataset name: {dataset!r}")
    return f"'{dataset}'"
