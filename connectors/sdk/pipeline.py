"""From what a plugin yields to validated records: shared by the daemon's runner and the test kit."""

from __future__ import annotations

from . import datasets
from .connector import Plugin
from .errors import InvalidRecord
from .records import YEARS, Fragment, Notice, Record, outside_utc_years


def to_records(plugin: Plugin, item: Record | Fragment | Notice) -> list[Record]:
    """Normalise a fragment (keeping it as `raw`) or pass a record through; validate each.
    A notice gives no record (the caller that reports notices picks them out first)."""
    if isinstance(item, Notice):
        return []
    if isinstance(item, Fragment):
        mapped = plugin.normalize(item)
        out = [] if mapped is None else [mapped] if isinstance(mapped, Record) else list(mapped)
        out = [r if r.raw is not None else Record(r.dataset, r.key, r.ts, r.data, item.raw) for r in out]
    else:
        out = [item]
    for record in out:
        check(plugin, record)
    return out


def check(plugin: Plugin, record: Record) -> None:
    if not plugin.declares(record.dataset):
        raise InvalidRecord(
            f"{plugin.name} yielded a record of {record.dataset!r}, which it does not declare "
            f"(it declares {', '.join(plugin.datasets)})"
        )
    if outside_utc_years(record.ts):
        raise InvalidRecord(
            f"{plugin.name}: record {record.dataset}/{record.key}: ts {record.ts.isoformat()} is outside "
            f"the years {YEARS} in UTC, which selfdata can store"
        )
    try:
        datasets.validate(record.dataset, record.data)
    except InvalidRecord as err:
        raise InvalidRecord(f"{plugin.name}: record {record.dataset}/{record.key}: {err}") from None
