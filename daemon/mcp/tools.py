"""The tools and resources an assistant sees: datasets its grant may read, records, aggregates."""

from __future__ import annotations

from typing import Any

import orjson
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from connectors.sdk import datasets as schemas

from .. import __version__
from ..api.state import ApiState
from ..grants import Grant
from ..times import TimeFormatError, iso, parse_instant
from ..vault import aggregate as aggregates
from ..vault import filters, recordjson
from ..vault.names import DATASET_RE
from . import GRANT_KEY

MAX_RECORDS = 500
Where = dict[str, str | list[str]]


def _grant(ctx: Context[Any, Any]) -> Grant:
    request = ctx.request_context.request
    grant = getattr(request, "scope", {}).get(GRANT_KEY) if request is not None else None
    if not isinstance(grant, Grant):
        raise ToolError("no grant: connect with a selfdata token")
    return grant


def _readable(grant: Grant, dataset: str) -> str:
    if not isinstance(dataset, str) or not DATASET_RE.match(dataset):
        raise ToolError("a dataset name is dotted lowercase words, e.g. bank.transaction")
    if not grant.can_read(dataset):
        raise ToolError(f"this grant may not read {dataset}")
    return dataset


def _terms(where: Where | None) -> list[tuple[str, str]]:
    out = []
    for name, value in (where or {}).items():
        for v in value if isinstance(value, list) else [value]:
            out.append((name, str(v)))
    return out


def _instant(name: str, text: str | None) -> int | None:
    try:
        return parse_instant(text) if text else None
    except TimeFormatError as err:
        raise ToolError(f"{name}: {err}") from None


def build(state: ApiState) -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer(
        "selfdata",
        version=__version__,
        instructions="The user's own data, as far as they granted it. Decimal values are exact strings;"
        " times are ISO 8601. Use aggregate for totals rather than reading every record.",
    )

    @server.tool()
    def list_datasets(ctx: Context[Any, Any]) -> list[dict[str, Any]]:
        """The datasets you may read: record counts, time span, sources and each one's JSON Schema."""
        grant = _grant(ctx)
        out = []
        for d in state.datasets():
            if grant.can_read(d["name"]):
                out.append(
                    {**d, "first": iso(d["first"]), "last": iso(d["last"]), "schema": schemas.json_schema(d["name"])}
                )
                state.access.record(grant, "mcp.list_datasets", d["name"], 0)
        return out

    @server.tool()
    def query_records(
        ctx: Context[Any, Any],
        dataset: str,
        where: Where | None = None,
        start: str | None = None,
        end: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """Records of a dataset in time order. `where` filters declared fields: {"code": "8867-4"},
        {"amount__lt": "0"}, a list for any of several values; `start` (inclusive) and `end`
        (exclusive) are ISO 8601; pass `next` back as `cursor` for more."""
        grant = _grant(ctx)
        _readable(grant, dataset)
        if not 1 <= limit <= MAX_RECORDS:
            raise ToolError(f"limit is 1 to {MAX_RECORDS}")
        try:
            lines, nxt = recordjson.query(
                state.reader,
                dataset,
                limit=limit,
                cursor=cursor,
                start_ms=_instant("start", start),
                end_ms=_instant("end", end),
                filters=filters.parse(dataset, _terms(where)),
            )
        except (filters.FilterError, ValueError) as err:
            raise ToolError(str(err)) from None
        state.access.record(grant, "mcp.query_records", dataset, len(lines))
        return {"records": [orjson.loads(line) for line in lines], "next": nxt}

    @server.tool()
    def aggregate(
        ctx: Context[Any, Any],
        dataset: str,
        fn: str = "count",
        field: str | None = None,
        bucket: str | None = None,
        zone: str = "UTC",
        group: list[str] | None = None,
        where: Where | None = None,
        start: str | None = None,
        end: str | None = None,
    ) -> dict[str, Any]:
        """count, sum, avg, min or max of a decimal or integer field, per local hour, day, week,
        month or year in `zone` (e.g. Europe/Paris), grouped by up to two fields. Sums are
        exact decimal strings, one unit (currency, kWh) per row."""
        grant = _grant(ctx)
        _readable(grant, dataset)
        try:
            spec = aggregates.Aggregate(
                dataset,
                fn,
                field,
                bucket,
                zone,
                tuple(group or ()),
                _instant("start", start),
                _instant("end", end),
                None,
                tuple(filters.parse(dataset, _terms(where))),
            )
            answer = state.aggregates.run(state.reader, spec, state.last_seq())
        except (filters.FilterError, aggregates.AggregateError) as err:
            raise ToolError(str(err)) from None
        state.access.record(grant, "mcp.aggregate", dataset, sum(r["count"] for r in answer["rows"]))
        return answer

    @server.resource("schema://selfdata/{dataset}", mime_type="application/schema+json")
    def dataset_schema(dataset: str, ctx: Context[Any, Any]) -> str:
        """The JSON Schema of a dataset you may read."""
        grant = _grant(ctx)
        _readable(grant, dataset)
        state.access.record(grant, "mcp.schema", dataset, 0)
        return orjson.dumps(schemas.json_schema(dataset)).decode()

    return server
