"""`POST /api/v1/push/{source}`: an app pushes records into one named source, under a grant.

A phone app (Health Auto Export's REST automation, a Tasker task, a script) sends either
normalised records (`{"records": [...]}`, the `records-json` format) or a vendor payload that
a registered importer reads (`?format=health-auto-export`). The body is streamed to a private
file and imported by the same code as `selfdata import`: parsed and staged first, published
in one transaction, so a bad payload stores nothing and the run log shows every push. Keys
are the importer's stable ones, so the same push twice stores once.

The token needs `write:<dataset glob>@<source>` covering every dataset the push may write;
a source the user erased after approving the token is not filled again by it.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import shutil
import tempfile
from pathlib import Path

import orjson
from aiohttp import web

from ..events import import_events
from ..files import ensure_private_dir
from ..grants import Grant
from ..sources import SourceError
from ..sync.importing import ImportResult, import_file
from ..vault.names import SOURCE_RE
from .errors import ApiError, ok
from .listener import awaiting_client
from .security import authenticate
from .state import API, ApiState

PUSH_LIMIT = 64 * 1024 * 1024  # a day of minute-by-minute metrics is a few MB; a first sync of months more
CHUNK_S = 30.0
RECORDS_FORMAT = "records-json"
BODY_NAME = "request-body"  # what an importer's messages call the file


async def push(request: web.Request) -> web.Response:
    state: ApiState = request.app[API]
    grant = authenticate(request, state.grants, state.failures)
    source = request.match_info["source"]
    if not SOURCE_RE.match(source):
        raise ApiError(400, "bad_source", "a source name is lowercase letters, digits, '-' and '_'")
    globs = grant.push_globs(source)
    if not globs:
        raise ApiError(403, "scope", f"this token may not push into {source}: it needs write:<datasets>@{source}")
    fmt = request.query.get("format", RECORDS_FORMAT)
    importer = state.services.registry.importers.get(fmt)
    if importer is None:
        known = ", ".join(sorted(state.services.registry.importers))
        raise ApiError(400, "bad_format", f"no importer named {fmt!r}; formats: {known}")
    if fmt == RECORDS_FORMAT and request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send application/json")
    if fmt != RECORDS_FORMAT:
        # A format's own datasets (health_auto_export.*: what it carries that no normalised
        # dataset holds yet) come with it once its normalised ones are all granted.
        own = importer.name.replace("-", "_") + "."
        beyond = [d for d in importer.datasets if not _covered(d, globs) and not d.startswith(own)]
        if beyond:
            raise ApiError(403, "scope", f"{fmt} writes {', '.join(beyond)}, which this token may not push")
    _refuse_after_erasure(state, grant, source)
    folder = await asyncio.to_thread(_private_folder, state)
    try:
        body = folder / BODY_NAME
        await _save_body(request, body)
        if fmt == RECORDS_FORMAT:
            await asyncio.to_thread(_check_record_datasets, body, globs)
        result = await asyncio.to_thread(_import, state, body, source, fmt)
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)
    return _answer(state, grant, result)


def _covered(dataset: str, globs: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(dataset, g) for g in globs)


def _refuse_after_erasure(state: ApiState, grant: Grant, source: str) -> None:
    """Erasing a source is the user's word on it: a token approved before does not fill it again."""
    row = state.reader.execute("SELECT max(at) FROM erasures WHERE source=? AND dataset IS NULL", (source,)).fetchone()
    erased_at = row[0] if row else None
    approved_at = grant.decided_at or grant.created_at
    if erased_at is not None and erased_at > approved_at:
        raise ApiError(
            403,
            "source_erased",
            f"the user erased {source} after approving this token: ask for a new grant to push into it again",
        )


def _private_folder(state: ApiState) -> Path:
    root = ensure_private_dir(state.services.paths.state_dir / "push")
    return Path(tempfile.mkdtemp(prefix="push-", dir=root))


async def _save_body(request: web.Request, path: Path) -> None:
    declared = request.content_length
    if declared is not None and declared > PUSH_LIMIT:
        raise ApiError(413, "too_large", f"a push is at most {PUSH_LIMIT // (1024 * 1024)} MiB: send it in parts")
    size = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, awaiting_client(request.transport):
        while True:
            try:
                async with asyncio.timeout(CHUNK_S):
                    chunk = await request.content.read(1 << 20)
            except TimeoutError:
                raise ApiError(408, "body_timeout", f"the push stalled: nothing arrived for {CHUNK_S:.0f} s") from None
            except (ConnectionError, web.HTTPException):
                raise ApiError(400, "incomplete_body", "the request body was cut short") from None
            if not chunk:
                break
            size += len(chunk)
            if size > PUSH_LIMIT:
                raise ApiError(
                    413, "too_large", f"a push is at most {PUSH_LIMIT // (1024 * 1024)} MiB: send it in parts"
                )
            await asyncio.to_thread(out.write, chunk)
    if size == 0:
        raise ApiError(400, "empty_body", "the push has no body")


def _check_record_datasets(body: Path, globs: list[str]) -> None:
    """Before anything is staged: every pushed record is of a dataset the token may write."""
    try:
        items = orjson.loads(body.read_bytes()).get("records")
    except (orjson.JSONDecodeError, AttributeError):
        return  # the importer says what is wrong with it
    for i, item in enumerate(items if isinstance(items, list) else []):
        dataset = item.get("dataset") if isinstance(item, dict) else None
        if isinstance(dataset, str) and not _covered(dataset, globs):
            raise ApiError(403, "scope", f"records[{i}]: this token may not push {dataset}")


def _import(state: ApiState, body: Path, source: str, fmt: str) -> ImportResult:
    services = state.services
    try:
        return import_file(services.vault, services.registry, body, source=source, fmt=fmt)
    except SourceError as err:
        raise ApiError(409, "source_conflict", str(err)) from None


def _answer(state: ApiState, grant: Grant, result: ImportResult) -> web.Response:
    for event in import_events(result, state.services.registry):
        state.services.events.publish(event)
    run = result.run
    if result.retry:
        raise ApiError(503, "try_later", f"the push could not be stored now ({result.retry})", {"Retry-After": "60"})
    if not result.ok:
        raise ApiError(400, "bad_payload", f"{run.error}\nNothing of this push was stored (run {run.id}).")
    state.access.record(grant, "push", ",".join(result.datasets) or "-", run.new + run.changed)
    return ok(
        {
            "source": result.source.name,
            "run": run.id,
            "records": result.records,
            "new": run.new,
            "changed": run.changed,
            "unchanged": run.unchanged,
            "datasets": list(result.datasets),
        }
    )


push.streams_body = True  # type: ignore[attr-defined]


def add_push_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/push/{source}", push)
