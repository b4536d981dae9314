"""/mcp on the API: the SDK's streamable-HTTP transport, behind the API's own token check.

The SDK speaks ASGI; the API is aiohttp. Each request is authenticated as any app's (a
bearer token, the Host allowlist, the failed-login limit), then handed to the SDK's
session manager as one ASGI request carrying the grant in its scope.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from ..api.security import authenticate, prepare_headers
from ..api.state import API
from . import GRANT_KEY


@dataclass
class Mcp:
    """The SDK's session manager, started at the first /mcp request: the SDK and pydantic
    (about 40 MB) are loaded only by a daemon an assistant talks to."""

    manager: Any = None
    task: asyncio.Task[None] | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self, app: web.Application) -> Any:
        async with self.lock:
            if self.manager is None:
                from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

                from .tools import build

                # Stateless, JSON answers: every call stands alone, no session outlives a request.
                manager = StreamableHTTPSessionManager(
                    build(app[API])._lowlevel_server, json_response=True, stateless=True
                )
                started = asyncio.Event()

                # The manager's task group must end in the task it began in: a task of its own.
                async def hold() -> None:
                    async with manager.run():
                        started.set()
                        await self.stop.wait()

                self.task = asyncio.create_task(hold(), name="mcp")
                await started.wait()
                self.manager = manager
            return self.manager


MCP: web.AppKey[Mcp] = web.AppKey("mcp")


def add_mcp(app: web.Application) -> None:
    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        app[MCP] = mcp = Mcp()
        yield
        mcp.stop.set()
        if mcp.task is not None:
            await mcp.task

    app.cleanup_ctx.append(lifetime)
    for method in ("GET", "POST", "DELETE"):
        app.router.add_route(method, "/mcp", endpoint)


async def endpoint(request: web.Request) -> web.StreamResponse:
    state = request.app[API]
    grant = authenticate(request, state.grants, state.failures)
    body = await request.read()
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": "http",
        "path": "/mcp",
        "raw_path": b"/mcp",
        "root_path": "",
        "query_string": request.query_string.encode(),
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in request.headers.items()],
        "client": (request.remote or "", 0),
        "server": ("127.0.0.1", 0),
        GRANT_KEY: grant,
    }
    done = asyncio.Event()
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    response: web.StreamResponse | None = None

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal response
        if message["type"] == "http.response.start":
            headers = CIMultiDict((k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", []))
            response = web.StreamResponse(status=message["status"], headers=headers)
            prepare_headers(request, response)
            await response.prepare(request)
        elif message["type"] == "http.response.body" and response is not None:
            if message.get("body"):
                await response.write(message["body"])

    try:
        manager = await request.app[MCP].get(request.app)
        await manager.handle_request(scope, receive, send)
    finally:
        done.set()
    if response is None:
        raise web.HTTPInternalServerError()
    await response.write_eof()
    return response
