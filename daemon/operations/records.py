"""`selfdata query` and `selfdata import-jsonl`: records in and out, as the CLI sees them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import orjson

from .. import catalog
from ..events import RecordsChanged
from ..services import Services
from ..sync import jsonl
from ..times import parse_instant
from ..vault import aggregate, filters, recordjson
from ..vault.names import check_dataset, check_source
from .registry import Emit, Result, operation


@dataclass(frozen=True)
class Query:
    dataset: str
    start: str | None = None
    end: str | None = None
    source: str | None = None
    limit: int = 100
    cursor: str | None = None
    where: tuple[str, ...] = ()  # field=value, field__gte=value... (vault.filters)


@dataclass(frozen=True)
class AggregateParams:
    dataset: str
    fn: str = "count"
    field: str | None = None
    bucket: str | None = None
    zone: str = "UTC"
    group: tuple[str, ...] = ()
    start: str | None = None
    end: str | None = None
    source: str | None = None
    where: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportJsonl:
    path: str
    filename: str | None = None
    source: str | None = None
    dataset: str | None = None


@operation("query", Query)
async def query(services: Services, params: Query, emit: Emit) -> Result:
    """A page of a dataset's records in time order."""
    check_dataset(params.dataset)
    catalog.check_dataset(services.vault, services.registry, params.dataset)
    if params.source is not None:
        check_source(params.source)
        catalog.check_source(services.vault, params.source)
    lines, nxt = recordjson.query(
        services.vault.conn,
        params.dataset,
        limit=params.limit,
        cursor=params.cursor,
        source=params.source,
        start_ms=parse_instant(params.start) if params.start else None,
        end_ms=parse_instant(params.end) if params.end else None,
        filters=filters.parse(params.dataset, filters.split_terms(params.where)) if params.where else (),
    )
    # The JSON the API gives, parsed back: the CLI renders records as tables too.
    return {"records": [orjson.loads(line) for line in lines], "next": nxt}


@operation("aggregate", AggregateParams)
async def aggregate_records(services: Services, params: AggregateParams, emit: Emit) -> Result:
    """Count, sum, avg, min or max of a dataset's field per local hour, day, week, month or year."""
    check_dataset(params.dataset)
    if params.source is not None:
        check_source(params.source)
    spec = aggregate.Aggregate(
        params.dataset,
        params.fn,
        params.field,
        params.bucket,
        params.zone,
        params.group,
        parse_instant(params.start) if params.start else None,
        parse_instant(params.end) if params.end else None,
        params.source,
        tuple(filters.parse(params.dataset, filters.split_terms(params.where))) if params.where else (),
    )
    return aggregate.run(services.vault.conn, spec)


@operation("import_jsonl", ImportJsonl)
async def import_jsonl(services: Services, params: ImportJsonl, emit: Emit) -> Result:
    """Normalised records from a JSON Lines file."""

    def progress(done: int, total: int) -> None:
        emit({"type": "progress", "done": done, "total": total})

    result = await asyncio.to_thread(
        jsonl.import_jsonl,
        services.vault,
        Path(params.path),
        source=params.source,
        dataset=params.dataset,
        progress=progress,
    )
    c = result.counts
    if c.new or c.changed:
        by_source: dict[str, set[str]] = {}
        for source, dataset in result.streams:
            by_source.setdefault(source, set()).add(dataset)
        single = len(by_source) == 1  # the counts are the file's: exact only for one source
        for source, datasets in sorted(by_source.items()):
            services.events.publish(
                RecordsChanged(
                    source, tuple(sorted(datasets)), new=c.new if single else 0, changed=c.changed if single else 0
                )
            )
    return {
        "file": params.filename or result.file.name,
        "records": result.records,
        "new": c.new,
        "changed": c.changed,
        "unchanged": c.unchanged,
    }


OPERATIONS = (query, aggregate_records, import_jsonl)
