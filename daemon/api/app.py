"""The API application, served on TCP (loopback by default) by `selfdata run`."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from ..accesslog import AccessLog
from ..grants import GrantStore
from ..services import Services
from ..web.app import add_dashboard
from .push import add_push_routes
from .routes import add_routes
from .security import FailedLogins, make_middleware
from .state import API, ApiState

log = logging.getLogger("selfdata.api")
BODY_LIMIT = 1024 * 1024
FLUSH_S = 60.0


class UnsafeBind(Exception):
    pass


def check_bind(host: str, unsafe_allowed: bool) -> None:
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not unsafe_allowed:
        raise UnsafeBind(
            f"refusing to serve the API on {host}: anyone who can reach it could try tokens. Keep api.bind on "
            "127.0.0.1 and put a TLS proxy in front (docs/remote-access.md), or set api.unsafe_allow_remote_bind"
        )


async def _flusher(app: web.Application) -> AsyncIterator[None]:
    state = app[API]

    async def loop() -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            await asyncio.to_thread(_flush, state)

    task = asyncio.create_task(loop(), name="access-log")
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.to_thread(_flush, state)
    await asyncio.to_thread(state.close)


def _flush(state: ApiState) -> None:
    state.access.flush()
    state.grants.flush_last_used()


def _add_mcp(app: web.Application) -> None:
    import importlib.util

    if importlib.util.find_spec("mcp") is None:  # the SDK is missing: everything else serves on
        log.warning("no MCP server at /mcp: the mcp package is not installed (pip install mcp)")
        return
    from ..mcp.http import add_mcp

    add_mcp(app)


def api_app(services: Services) -> web.Application:
    grants: GrantStore = services.get_grants()
    state = ApiState(
        services,
        grants,
        AccessLog(services.vault),
        services.vault.reader(cache_kib=8000),
        FailedLogins(services.config.api_trusted_proxies),
    )
    services.access = state.access
    app = web.Application(
        client_max_size=BODY_LIMIT,
        middlewares=[make_middleware(services.config.api_allowed_hosts, grants, state.damaged)],
    )
    app[API] = state
    add_routes(app)
    add_push_routes(app)
    add_dashboard(app, services)
    _add_mcp(app)
    app.cleanup_ctx.append(_flusher)
    return app
