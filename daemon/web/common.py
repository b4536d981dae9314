"""What the dashboard's pages share: running operations, rendering, redirects."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote, urlsplit

from aiohttp import web

from .. import __version__
from ..operations import dispatch
from .guard import DASHBOARD, SESSION, Dashboard
from .render import render, zone

PAGE_SIZE = 50
NEEDS_YOU = ("needs_login", "needs_action", "needs_authorization")
EXPORT_FORMATS = ("jsonl", "csv", "sqlite")


def dashboard_of(request: web.Request) -> Dashboard:
    return request.app[DASHBOARD]


async def op(request: web.Request, operation: str, /, **params: Any) -> Any:
    return await dispatch.run(dashboard_of(request).services, operation, params)


def user_zone(request: web.Request) -> Any:
    return zone(unquote(request.cookies.get("sd_tz", ""))) or zone(os.environ.get("TZ"))


def html(request: web.Request, template: str, **context: Any) -> web.Response:
    dash = dashboard_of(request)
    session = request.get(SESSION)
    body = render(
        template,
        tz=user_zone(request),
        csrf=session.csrf if session else "",
        flashes=dash.take_flashes(request),
        version=__version__,
        path=request.path,
        **context,
    )
    return web.Response(text=body, content_type="text/html")


def back(request: web.Request, default: str) -> web.Response:
    """After a change, back to the page it came from (only ever a path of this dashboard)."""
    referer = urlsplit(request.headers.get("Referer", ""))
    target = referer.path if referer.path.startswith("/") and not referer.path.startswith("//") else default
    if referer.query and target == referer.path:
        target += "?" + referer.query
    return web.HTTPSeeOther(target)


def category(dataset: str) -> str:
    return dataset.split(".", 1)[0]


def source_view(src: dict[str, Any], running: set[str]) -> dict[str, Any]:
    fix = None
    name = src["name"]
    if src["health"] == "needs_login":
        fix = ("Log in again", f"/sources/{name}/edit", "get")
    elif src["health"] == "needs_authorization":
        fix = ("Authorise access", f"/sources/{name}/authorize", "post")
    elif src["health"] in ("needs_action", "failing") and src["kind"] == "connector":
        fix = ("Try again now", f"/sources/{name}/run", "post")
    return {**src, "fix": fix, "running": name in running, "needs_you": src["health"] in NEEDS_YOU}


def running_sources(request: web.Request) -> set[str]:
    runner = dashboard_of(request).services.runner
    return set(runner.running()) if runner is not None else set()
