"""The API's routes under /api/v1."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from connectors.sdk import datasets as schemas

from .. import __version__
from ..events import Event, GrantRequested, Reader, RecordsChanged
from ..grants import REQUEST_TTL_MS, Grant, GrantError, GrantNotFound, GrantQueueFull
from ..times import TimeFormatError, iso, parse_instant
from ..vault import RecordIn, filters
from ..vault.aggregate import Aggregate, AggregateError
from ..vault.filters import Filter, FilterError
from ..vault.names import DATASET_RE, SOURCE_RE
from ..vault.recordjson import CHANGE_JSON, RecordSelect, Row, page, position, with_fields
from ..vault.records import CursorError, decode_cursor, record_filter
from .errors import ApiError, ok
from .security import authenticate, prepare_headers
from .state import API, ApiState

MAX_LIMIT = 1000
MAX_WRITE = 1000
MAX_DEPTH = 64  # levels of objects and arrays in an app's `data` (the vault's JSON encoder stops at 255)
EXPORT_CHUNK = 2000
HEARTBEAT_S = 15.0
NDJSON = "application/x-ndjson"


def _state(request: web.Request) -> ApiState:
    return request.app[API]


def _auth(request: web.Request) -> Grant:
    state = _state(request)
    return authenticate(request, state.grants, state.failures)


def _dataset(request: web.Request) -> str:
    name = request.match_info["dataset"]
    if not DATASET_RE.match(name):
        raise ApiError(400, "bad_dataset", "a dataset name is dotted lowercase words, e.g. bank.transaction")
    return name


def _int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"bad_{name}", f"{name} must be a whole number") from None
    if not lo <= value <= hi:
        raise ApiError(400, f"bad_{name}", f"{name} must be between {lo} and {hi}")
    return value


def _instant(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_instant(raw)
    except TimeFormatError as err:
        raise ApiError(400, f"bad_{name}", f"{name}: {err}") from None


async def health(request: web.Request) -> web.Response:
    """No token: so it says only ok or damaged, never what or where."""
    if _state(request).services.vault.damage is not None:
        body = orjson.dumps({"ok": False, "status": "damaged", "version": __version__})
        return web.Response(status=503, body=body, content_type="application/json")
    return ok({"version": __version__, "status": "ok"})


async def list_datasets(request: web.Request) -> web.Response:
    grant = _auth(request)
    state = _state(request)
    out = []
    for d in state.datasets():
        if not grant.can_read(d["name"]):
            continue
        out.append({**d, "first": iso(d["first"]), "last": iso(d["last"]), "schema": schemas.json_schema(d["name"])})
    state.access.record(grant, "datasets", "", 0)  # one row per listing: it reads no records
    return ok({"datasets": out})


@dataclass
class RecordQuery:
    """A records query from the request's parameters, resumable from any (ts, seq)."""

    select: RecordSelect
    after: tuple[int, int] | None
    fields: list[str] | None

    def lines(self, rows: list[Row]) -> list[bytes]:
        """Each row as one record's JSON, built by SQLite; `fields` cuts `data` down."""
        if self.fields:
            return [with_fields(r[2], self.fields) for r in rows]
        return [r[2].encode() for r in rows]


RECORDS_PARAMS = frozenset({"from", "to", "source", "fields", "limit", "cursor"})
CHANGES_PARAMS = frozenset({"since", "limit", "dataset"})


def _filters(request: web.Request, dataset: str | None, reserved: frozenset[str]) -> list[Filter]:
    """The request's other parameters as filters on the dataset's declared fields."""
    terms = [(k, v) for k, v in request.query.items() if k not in reserved]
    if not terms:
        return []
    if dataset is None:
        raise ApiError(400, "bad_filter", f"filters ({terms[0][0]}=...) need one dataset: add dataset=")
    try:
        return filters.parse(dataset, terms)
    except FilterError as err:
        raise ApiError(400, "bad_filter", str(err)) from None


def _record_query(request: web.Request, dataset: str) -> RecordQuery:
    source = request.query.get("source")
    if source is not None and not SOURCE_RE.match(source):
        raise ApiError(400, "bad_source", "not a source name")
    clauses, params = record_filter(
        dataset,
        _instant(request, "from"),
        _instant(request, "to"),
        source,
        _filters(request, dataset, RECORDS_PARAMS),
    )
    after = None
    cursor = request.query.get("cursor")
    if cursor:
        try:
            after = decode_cursor(cursor)
        except CursorError as err:
            raise ApiError(400, "bad_cursor", str(err)) from None
        if not all(-(2**63) <= n < 2**63 for n in after):  # past what SQLite's integers hold
            raise ApiError(400, "bad_cursor", "the cursor is not one this server gave out")
    fields = None
    if "fields" in request.query:
        fields = [f for f in request.query["fields"].split(",") if f]
        if not fields or len(fields) > 50 or not all(f.replace("_", "").isalnum() for f in fields):
            raise ApiError(400, "bad_fields", "fields is a comma-separated list of field names")
    return RecordQuery(RecordSelect(clauses, params), after, fields)


async def get_records(request: web.Request) -> web.StreamResponse:
    grant = _auth(request)
    dataset = _dataset(request)
    if not grant.can_read(dataset):
        raise ApiError(403, "scope", f"this token may not read {dataset}")
    state = _state(request)
    query = _record_query(request, dataset)
    if NDJSON in request.headers.get("Accept", ""):
        return await _export(request, grant, dataset, query)
    limit = _int(request, "limit", 100, 1, MAX_LIMIT)
    rows, nxt = page(await state.fetch(*query.select.sql(query.after, limit + 1)), limit)
    state.access.record(grant, "records", dataset, len(rows))
    body = b'{"ok":true,"records":[' + b",".join(query.lines(rows)) + b'],"next":' + orjson.dumps(nxt) + b"}"
    return web.Response(body=body, content_type="application/json")


async def _export(request: web.Request, grant: Grant, dataset: str, query: RecordQuery) -> web.StreamResponse:
    """Every matching record as NDJSON, streamed in chunks: an export never sits in memory."""
    state = _state(request)
    cap = _int(request, "limit", 2**62, 1, 2**62)
    response = web.StreamResponse(headers={"Content-Type": NDJSON})
    prepare_headers(request, response)
    await response.prepare(request)
    conn = await asyncio.to_thread(state.services.vault.reader, 2000)
    sent = 0
    after = query.after
    try:
        while sent < cap:
            n = min(EXPORT_CHUNK, cap - sent)
            sql, args = query.select.sql(after, n)
            rows = await asyncio.to_thread(lambda: conn.execute(sql, args).fetchall())  # noqa: B023
            if not rows:
                break
            await response.write(b"\n".join(query.lines(rows)) + b"\n")
            sent += len(rows)
            after = position(rows[-1])
            if len(rows) < n:
                break
    finally:
        await asyncio.to_thread(conn.close)
        state.access.record(grant, "records.ndjson", dataset, sent)
    await response.write_eof()
    return response


AGGREGATE_PARAMS = frozenset({"from", "to", "source", "fn", "field", "bucket", "zone", "group"})


async def get_aggregate(request: web.Request) -> web.Response:
    grant = _auth(request)
    dataset = _dataset(request)
    if not grant.can_read(dataset):
        raise ApiError(403, "scope", f"this token may not read {dataset}")
    state = _state(request)
    source = request.query.get("source")
    if source is not None and not SOURCE_RE.match(source):
        raise ApiError(400, "bad_source", "not a source name")
    q = request.query
    spec = Aggregate(
        dataset,
        fn=q.get("fn", "count"),
        field=q.get("field") or None,
        bucket=q.get("bucket") or None,
        zone=q.get("zone", "UTC"),
        group=tuple(g for g in q.get("group", "").split(",") if g),
        start_ms=_instant(request, "from"),
        end_ms=_instant(request, "to"),
        source=source,
        filters=tuple(_filters(request, dataset, AGGREGATE_PARAMS)),
    )
    try:
        answer = state.aggregates.run(state.reader, spec, state.last_seq())
    except FilterError as err:
        raise ApiError(400, "bad_filter", str(err)) from None
    except AggregateError as err:
        raise ApiError(400, err.code, str(err)) from None
    state.access.record(grant, "aggregate", dataset, sum(r["count"] for r in answer["rows"]))
    return ok(answer)


async def post_records(request: web.Request) -> web.Response:
    grant = _auth(request)
    dataset = _dataset(request)
    parts = dataset.split(".")
    if parts[0] != "app" or len(parts) < 3:
        raise ApiError(403, "scope", "apps write only under app.<name>.*")
    if not grant.can_write(dataset):
        raise ApiError(403, "scope", f"this token may not write {dataset}")
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send application/json")
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise ApiError(400, "bad_json", "the body is not valid JSON") from None
    items = body.get("records") if isinstance(body, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_WRITE:
        raise ApiError(400, "bad_records", f'send {{"records": [...]}} with 1 to {MAX_WRITE} records')
    source = f"app-{parts[1]}".replace("_", "-")
    records = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not item["key"]:
            raise ApiError(400, "bad_records", f"records[{i}]: 'key' must be a non-empty string")
        if not isinstance(item.get("data"), dict):
            raise ApiError(400, "bad_records", f"records[{i}]: 'data' must be an object")
        if _deeper_than(item["data"], MAX_DEPTH):
            raise ApiError(400, "bad_records", f"records[{i}]: 'data' is nested deeper than {MAX_DEPTH} levels")
        ts_text = item.get("ts")
        try:
            ts = parse_instant(ts_text) if isinstance(ts_text, str) else None
        except TimeFormatError as err:
            raise ApiError(400, "bad_records", f"records[{i}]: ts: {err}") from None
        if ts is None:
            raise ApiError(400, "bad_records", f"records[{i}]: 'ts' must be an ISO 8601 date-time with offset")
        records.append(RecordIn(source, dataset, item["key"], ts, item["data"]))
    services = _state(request).services
    counts = await asyncio.to_thread(services.vault.writer.upsert, records)
    if counts.new or counts.changed:
        services.events.publish(RecordsChanged(source, (dataset,), counts.new, counts.changed))
    return ok({"new": counts.new, "changed": counts.changed, "unchanged": counts.unchanged}, status=200)


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest more than `limit` levels (the value itself is level 1)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


async def changes(request: web.Request) -> web.Response:
    grant = _auth(request)
    state = _state(request)
    since = _int(request, "since", 0, 0, 2**62)
    limit = _int(request, "limit", 1000, 1, 10_000)
    dataset = request.query.get("dataset")
    scope_args: list[Any]
    if dataset is not None:
        if not DATASET_RE.match(dataset):
            raise ApiError(400, "bad_dataset", "not a dataset name")
        if not grant.can_read(dataset):
            raise ApiError(403, "scope", f"this token may not read {dataset}")
        scope_sql, scope_args = "dataset=?", [dataset]
        wanted = _filters(request, dataset, CHANGES_PARAMS)
        if wanted:
            # Tombstones carry no data: every one of the dataset is sent, so an app drops its copy.
            clauses, scope_args = filters.where(wanted)
            scope_sql = f"dataset={filters.dataset_literal(dataset)} AND (deleted OR ({' AND '.join(clauses)}))"
    else:
        _filters(request, None, CHANGES_PARAMS)
        # The scopes filter in the query itself: no scan of the vault to list datasets first.
        scope_sql = "EXISTS (SELECT 1 FROM json_each(?) WHERE records.dataset GLOB value)"
        scope_args = [orjson.dumps(grant.read_globs).decode()]
    rows = await state.fetch(
        f"SELECT seq, dataset, {CHANGE_JSON} FROM records WHERE seq>? AND {scope_sql} ORDER BY seq LIMIT ?",
        (since, *scope_args, limit),
    )
    return _changes_response(grant, state, rows, since, limit)


def _changes_response(grant: Grant, state: ApiState, rows: list[Row], since: int, limit: int) -> web.Response:
    counts: dict[str, int] = {}
    for _, ds, _ in rows:
        counts[ds] = counts.get(ds, 0) + 1
    for ds, n in counts.items():
        state.access.record(grant, "changes", ds, n)
    nxt = rows[-1][0] if rows else since
    body = (
        b'{"ok":true,"changes":['
        + b",".join(r[2].encode() for r in rows)
        + b'],"next":'
        + str(nxt).encode()
        + b',"more":'
        + (b"true" if len(rows) == limit else b"false")
        + b"}"
    )
    return web.Response(body=body, content_type="application/json")


def _visible(grant: Reader, events: list[Event]) -> list[Event]:
    """What of these events the app may see: those of datasets it may read, narrowed to them."""
    return [shown for e in events if (shown := e.for_app(grant)) is not None]


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: record changes and sync progress; heartbeats; resume with Last-Event-ID."""
    grant = _auth(request)
    bus = _state(request).services.events
    queue = bus.subscribe()
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"})
    prepare_headers(request, response)
    try:
        await response.prepare(request)
        last = request.headers.get("Last-Event-ID", "")
        backlog = bus.since(int(last)) if last.isdigit() else []
        for event in _visible(grant, backlog):
            await response.write(_sse(event))
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            if backlog and event.id <= backlog[-1].id:
                continue
            shown = event.for_app(grant)
            if shown is not None:
                await response.write(_sse(shown))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        bus.unsubscribe(queue)
    return response


def _sse(event: Event) -> bytes:
    return f"id: {event.id}\nevent: {event.type}\ndata: ".encode() + orjson.dumps(event.to_json()) + b"\n\n"


async def request_grant(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send application/json")
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise ApiError(400, "bad_json", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "send a JSON object {app, purpose, scopes, origins?}")
    try:
        grant, request_id = await asyncio.to_thread(
            _state(request).grants.request,
            body.get("app"),
            body.get("purpose"),
            body.get("scopes"),
            body.get("origins"),
            _state(request).failures.client(request),
        )
    except GrantQueueFull as err:
        raise ApiError(429, "too_many_requests", str(err), {"Retry-After": str(err.retry_after_s)}) from None
    except GrantError as err:
        raise ApiError(400, "bad_grant", str(err)) from None
    _state(request).services.events.publish(
        GrantRequested(grant.id, grant.app, grant.purpose, tuple(grant.scopes), grant.user_code or "")
    )
    return ok(
        {
            "id": request_id,
            "user_code": grant.user_code,
            "expires_in": REQUEST_TTL_MS // 1000,
            "interval": 2,
            "message": f"Ask the user to approve code {grant.user_code} on the dashboard's Apps page"
            f" (or with: selfdata grants approve {grant.user_code})",
        },
        status=201,
    )


async def poll_grant(request: web.Request) -> web.Response:
    try:
        grant, token = await asyncio.to_thread(_state(request).grants.poll, request.match_info["request_id"])
    except GrantNotFound:
        raise ApiError(404, "not_found", "no grant request with that id") from None
    out: dict[str, Any] = {"status": grant.status, "scopes": grant.scopes}
    if token is not None:
        out.update({"token": token, "expires_at": iso(grant.expires_at) if grant.expires_at else None})
    elif grant.status == "approved":
        out["status"] = "delivered"
    return ok(out)


async def openapi(request: web.Request) -> web.Response:
    from .openapi import spec

    return web.Response(body=orjson.dumps(spec()), content_type="application/json")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/health", health)
    r.add_get("/api/v1/openapi.json", openapi)
    r.add_post("/api/v1/grants", request_grant)
    r.add_get("/api/v1/grants/{request_id}", poll_grant)
    r.add_get("/api/v1/datasets", list_datasets)
    r.add_get("/api/v1/datasets/{dataset}/records", get_records)
    r.add_post("/api/v1/datasets/{dataset}/records", post_records)
    r.add_get("/api/v1/datasets/{dataset}/aggregate", get_aggregate)
    r.add_get("/api/v1/changes", changes)
    r.add_get("/api/v1/events", events)
