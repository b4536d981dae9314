"""The admin socket's server: POST /ops/NAME runs an operation and streams NDJSON.

Each line is `{"event": {...}}` while it runs, then `{"result": ...}` or
`{"error": {"type", "message"}}`. The socket's file permissions are the authentication:
0600 for a user install, 0660 with group `selfdata` for the system service.
"""

from __future__ import annotations

import grp
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from ..errors import SelfdataError
from ..operations import dispatch
from ..services import Services

log = logging.getLogger("selfdata.admin")
UPLOAD_HEADER = "X-Selfdata-Upload"
# The daemon's Services on its applications; here, beside the app that holds them, so the
# CLI (which imports Services) never loads aiohttp.
SERVICES: web.AppKey[Services] = web.AppKey("services")


async def handle_op(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    name = request.match_info["name"]
    try:
        params = orjson.loads(request.headers.get("X-Selfdata-Params", "{}"))
    except orjson.JSONDecodeError:
        params = None
    if not isinstance(params, dict):
        message = "the parameters must be a JSON object"
        return web.json_response({"error": {"type": "OperationError", "message": message}}, status=400)
    upload_dir: Path | None = None
    if UPLOAD_HEADER in request.headers:
        filename = Path(request.headers[UPLOAD_HEADER]).name or "upload"
        upload_dir = Path(tempfile.mkdtemp(prefix="upload-", dir=services.paths.state_dir))
        target = upload_dir / filename
        with target.open("wb") as f:
            async for chunk in request.content.iter_chunked(1 << 16):
                f.write(chunk)
        params["path"], params["filename"] = str(target), filename

    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    lines: list[bytes] = []

    def emit(event: dict[str, Any]) -> None:
        lines.append(orjson.dumps({"event": event}) + b"\n")

    import asyncio

    task = asyncio.ensure_future(dispatch.run(services, name, params, emit))
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=0.2)
            while lines:
                await response.write(lines.pop(0))
        while lines:
            await response.write(lines.pop(0))
        try:
            result = task.result()
            await response.write(orjson.dumps({"result": result}, default=str) + b"\n")
        except Exception as err:
            if not isinstance(err, SelfdataError | OSError):
                log.exception("admin operation %s failed", name)
            await response.write(
                orjson.dumps({"error": {"type": type(err).__name__, "message": str(err) or type(err).__name__}}) + b"\n"
            )
    except (ConnectionResetError, asyncio.CancelledError):
        task.cancel()
        raise
    finally:
        if upload_dir is not None:
            shutil.rmtree(upload_dir, ignore_errors=True)
    await response.write_eof()
    return response


def admin_app(services: Services) -> web.Application:
    app = web.Application(client_max_size=0)
    app[SERVICES] = services
    app.router.add_post("/ops/{name}", handle_op)
    return app


def secure_socket(path: Path, system: bool) -> None:
    """0600, or 0660 with group selfdata for the system service."""
    if system:
        try:
            os.chown(path, -1, grp.getgrnam("selfdata").gr_gid)
            os.chmod(path, 0o660)
            return
        except (KeyError, PermissionError):
            pass
    os.chmod(path, 0o600)
