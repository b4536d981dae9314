"""The API's OpenAPI 3.1 description. A test fails when a route is missing from it."""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..grants import APP_RE
from ..vault.names import DATASET_RE, SOURCE_RE

ERROR = {"$ref": "#/components/schemas/Error"}


def _err(*statuses: int) -> dict[str, Any]:
    text = {
        400: "Bad parameter",
        401: "No, unknown, revoked or expired token",
        403: "Host not allowed or scope missing",
        404: "Not found",
        408: "The body stalled",
        409: "The source is fed by another connector or importer",
        413: "Body too large",
        415: "Not JSON",
        429: "Too many failed logins",
        503: "Could not be stored now: try again (Retry-After)",
    }
    return {str(s): {"description": text[s], "content": {"application/json": {"schema": ERROR}}} for s in statuses}


def _q(name: str, description: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def _ok(schema: dict[str, Any], description: str = "OK", media: str = "application/json") -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": schema}}}


DATASET_PARAM = {
    "name": "dataset",
    "in": "path",
    "required": True,
    "description": "e.g. energy.reading",
    "schema": {"type": "string", "pattern": DATASET_RE.pattern},
}
TIME = {"type": "string", "description": "ISO 8601 date-time with offset, or a date (midnight UTC)"}


def filterable() -> dict[str, dict[str, str]]:
    """Each normalised dataset's filterable fields and how their values compare."""
    from connectors.sdk import datasets, schema

    compare = {
        schema.DecimalText: "decimal",
        schema.Integer: "integer",
        schema.Day: "date",
        schema.Instant: "date-time",
    }
    out: dict[str, dict[str, str]] = {}
    for shape in datasets.ALL:
        fields = {}
        for name, kind in shape.fields().items():
            if isinstance(kind, schema.Nested | schema.ListOf | schema.AnyJson):
                continue
            fields[name] = next((v for k, v in compare.items() if isinstance(kind, k)), "text")
        out[shape.dataset] = fields
    return out


def _filter_param() -> dict[str, Any]:
    listed = "; ".join(
        f"{d}: {', '.join(f'{n} ({t})' for n, t in fields.items())}" for d, fields in filterable().items()
    )
    return {
        "name": "filters",
        "in": "query",
        "required": False,
        "style": "form",
        "explode": True,
        "description": "Filters on the dataset's declared fields: FIELD=VALUE (equality; repeat the field for any of"
        " several values) and, on decimal, integer, date and date-time fields, FIELD__gt, __gte, __lt, __lte."
        " Decimals compare as numbers, dates as dates, date-times as instants. An undeclared field or a value"
        f" of the wrong type is a 400 naming the field. Fields per dataset: {listed}",
        "schema": {"type": "object", "additionalProperties": {"type": "string"}},
        "examples": {"heart rate": {"value": {"code": "8867-4"}}, "spending": {"value": {"amount__lt": "0"}}},
    }


AUTH: list[dict[str, list[str]]] = [{"bearer": []}]


def _push_path() -> dict[str, Any]:
    from .push import PUSH_LIMIT, RECORDS_FORMAT

    counts = {k: {"type": "integer"} for k in ("run", "records", "new", "changed", "unchanged")}
    return {
        "post": {
            "summary": "Push records into one source (scope write:<dataset glob>@<source>): normalised records,"
            " or a payload a registered importer reads (?format=health-auto-export)",
            "security": AUTH,
            "parameters": [
                {
                    "name": "source",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": SOURCE_RE.pattern},
                },
                _q("format", f"The importer that reads the body (default {RECORDS_FORMAT})", {"type": "string"}),
            ],
            "requestBody": {
                "required": True,
                "description": '{"records": [{dataset, key?, ts?, data}]}, or the vendor payload;'
                f" at most {PUSH_LIMIT} bytes",
                "content": {"application/json": {"schema": {"type": "object"}}, "*/*": {"schema": {}}},
            },
            "responses": {
                "200": _ok(
                    {
                        "type": "object",
                        "properties": {
                            "ok": {"const": True},
                            "source": {"type": "string"},
                            "datasets": {"type": "array", "items": {"type": "string"}},
                            **counts,
                        },
                    }
                ),
                **_err(400, 401, 403, 408, 409, 413, 415, 429, 503),
            },
        }
    }


def spec() -> dict[str, Any]:
    record = {"$ref": "#/components/schemas/Record"}
    paths: dict[str, Any] = {
        "/api/v1/health": {
            "get": {
                "summary": "Liveness, without authentication: ok, or damaged (the vault's pages), nothing more",
                "security": [],
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "properties": {
                                "ok": {"const": True},
                                "status": {"const": "ok"},
                                "version": {"type": "string"},
                            },
                        }
                    ),
                    "503": _ok(
                        {
                            "type": "object",
                            "properties": {
                                "ok": {"const": False},
                                "status": {"const": "damaged"},
                                "version": {"type": "string"},
                            },
                        },
                        "The vault's database is damaged; its owner sees what to do in selfdata status",
                    ),
                },
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This description",
                "security": [],
                "responses": {"200": _ok({"type": "object"})},
            }
        },
        "/api/v1/grants": {
            "post": {
                "summary": "Ask the user for access (device-authorisation pattern)",
                "security": [],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["app", "purpose", "scopes"],
                                "properties": {
                                    "app": {"type": "string", "pattern": APP_RE.pattern},
                                    "purpose": {"type": "string", "minLength": 3, "maxLength": 500},
                                    "scopes": {
                                        "type": "array",
                                        "items": {"type": "string"},
                                        "examples": [["read:energy.*", "write:app.budget.*"]],
                                    },
                                    "origins": {"type": "array", "items": {"type": "string"}},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _ok(
                        {
                            "type": "object",
                            "properties": {
                                "ok": {"const": True},
                                "id": {"type": "string", "description": "Secret request id to poll with"},
                                "user_code": {"type": "string"},
                                "expires_in": {"type": "integer"},
                                "interval": {"type": "integer"},
                                "message": {"type": "string"},
                            },
                        },
                        "Request created",
                    ),
                    **_err(400, 403, 413, 415),
                    "429": {
                        "description": "Too many requests wait for the user (from this client, or in all); "
                        "Retry-After says when one expires",
                        "content": {"application/json": {"schema": ERROR}},
                    },
                },
            }
        },
        "/api/v1/grants/{request_id}": {
            "get": {
                "summary": "Poll a grant request; the token comes exactly once",
                "security": [],
                "parameters": [{"name": "request_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "properties": {
                                "ok": {"const": True},
                                "status": {
                                    "enum": ["pending", "approved", "delivered", "denied", "expired", "revoked"]
                                },
                                "token": {"type": "string"},
                                "expires_at": {"type": "string"},
                                "scopes": {"type": "array", "items": {"type": "string"}},
                            },
                        }
                    ),
                    **_err(403, 404),
                },
            }
        },
        "/api/v1/datasets": {
            "get": {
                "summary": "Datasets this token may read: counts, time span, JSON Schema",
                "security": AUTH,
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "properties": {
                                "ok": {"const": True},
                                "datasets": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "name": {"type": "string"},
                                            "count": {"type": "integer"},
                                            "first": {"type": "string"},
                                            "last": {"type": "string"},
                                            "sources": {"type": "array", "items": {"type": "string"}},
                                            "schema": {"type": "object"},
                                        },
                                    },
                                },
                            },
                        }
                    ),
                    **_err(401, 403, 429),
                },
            }
        },
        "/api/v1/datasets/{dataset}/records": {
            "get": {
                "summary": "Records of a dataset in time order; JSON pages, or NDJSON streamed (Accept)",
                "security": AUTH,
                "parameters": [
                    DATASET_PARAM,
                    _q("from", "Start, inclusive", TIME),
                    _q("to", "End, exclusive", TIME),
                    _q("source", "Only this source", {"type": "string", "pattern": SOURCE_RE.pattern}),
                    _q("fields", "Comma-separated fields of data to return", {"type": "string"}),
                    _q(
                        "limit",
                        "Records per page (JSON: 1-1000, default 100; NDJSON: a cap)",
                        {"type": "integer", "minimum": 1},
                    ),
                    _q("cursor", "The `next` of the previous page", {"type": "string"}),
                    _filter_param(),
                ],
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "ok": {"const": True},
                                        "records": {"type": "array", "items": record},
                                        "next": {"type": ["string", "null"]},
                                    },
                                }
                            },
                            "application/x-ndjson": {"schema": record},
                        },
                    },
                    **_err(400, 401, 403, 429),
                },
            },
            "post": {
                "summary": "Store an app's own records under app.<name>.* (scope write:app.<name>.*)",
                "security": AUTH,
                "parameters": [DATASET_PARAM],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["records"],
                                "properties": {
                                    "records": {
                                        "type": "array",
                                        "maxItems": 1000,
                                        "items": {
                                            "type": "object",
                                            "required": ["key", "ts", "data"],
                                            "properties": {
                                                "key": {"type": "string"},
                                                "ts": TIME,
                                                "data": {"type": "object"},
                                            },
                                        },
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "properties": {
                                "ok": {"const": True},
                                "new": {"type": "integer"},
                                "changed": {"type": "integer"},
                                "unchanged": {"type": "integer"},
                            },
                        }
                    ),
                    **_err(400, 401, 403, 413, 415, 429),
                },
            },
        },
        "/api/v1/datasets/{dataset}/aggregate": {
            "get": {
                "summary": "Count, sum, avg, min or max of a field per local hour, day, week, month or year",
                "security": AUTH,
                "parameters": [
                    DATASET_PARAM,
                    _q("fn", "count (default), sum, avg, min or max", {"enum": ["count", "sum", "avg", "min", "max"]}),
                    _q("field", "The decimal or integer field (needed but for count)", {"type": "string"}),
                    _q(
                        "bucket",
                        "Local hour, day, week (from Monday), month or year; none: one total",
                        {"enum": ["halfhour", "hour", "day", "week", "month", "year"]},
                    ),
                    _q("zone", "IANA time zone of the buckets (default UTC)", {"type": "string"}),
                    _q("group", "Up to two declared fields, comma-separated", {"type": "string"}),
                    _q("from", "Start, inclusive", TIME),
                    _q("to", "End, exclusive", TIME),
                    _q("source", "Only this source", {"type": "string"}),
                    _filter_param(),
                ],
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "properties": {
                                "ok": {"const": True},
                                "rows": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "description": "start (local, with offset), the group fields, the unit"
                                        " field (currency, unit) where the field has one, count, value (decimal"
                                        " as a string, exact)",
                                    },
                                },
                            },
                        }
                    ),
                    **_err(400, 401, 403, 429),
                },
            }
        },
        "/api/v1/changes": {
            "get": {
                "summary": "Inserts, changes and deletions after a sequence number, tombstones included",
                "security": AUTH,
                "parameters": [
                    _q("since", "The last seq seen (0 for everything)", {"type": "integer", "minimum": 0}),
                    _q(
                        "dataset",
                        "Only this dataset (filters need it)",
                        {"type": "string", "pattern": DATASET_RE.pattern},
                    ),
                    _q(
                        "limit",
                        "At most this many (1-10000, default 1000)",
                        {"type": "integer", "minimum": 1, "maximum": 10_000},
                    ),
                    _filter_param(),
                ],
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "properties": {
                                "ok": {"const": True},
                                "changes": {"type": "array", "items": record},
                                "next": {"type": "integer"},
                                "more": {"type": "boolean"},
                            },
                        }
                    ),
                    **_err(400, 401, 403, 429),
                },
            }
        },
        "/api/v1/events": {
            "get": {
                "summary": "Server-sent events: record changes and sync progress; resume with Last-Event-ID",
                "security": AUTH,
                "parameters": [
                    {"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": _ok({"type": "string"}, "An event stream", "text/event-stream"),
                    **_err(401, 403, 429),
                },
            }
        },
    }
    paths["/api/v1/push/{source}"] = _push_path()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "selfdata local API",
            "version": __version__,
            "description": "Read the data the user granted, for the purpose the user saw. Served on loopback.",
        },
        "servers": [{"url": "http://127.0.0.1:7350"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "sd_... token"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["ok", "error"],
                    "properties": {
                        "ok": {"const": False},
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                        },
                    },
                },
                "Record": {
                    "type": "object",
                    "required": ["source", "dataset", "key", "ts", "seq", "updated_at"],
                    "properties": {
                        "source": {"type": "string"},
                        "dataset": {"type": "string"},
                        "key": {"type": "string"},
                        "ts": {"type": "string"},
                        "seq": {"type": "integer"},
                        "updated_at": {"type": "string"},
                        "data": {"type": "object"},
                        "deleted": {"type": "boolean"},
                    },
                },
            },
        },
        "security": AUTH,
    }
