"""Your data: datasets, records per day, a dataset's records; the page's event stream and static files."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web

from ..errors import SelfdataError
from ..events import RunFinished, RunProgress, RunStarted
from . import charts
from .common import PAGE_SIZE, dashboard_of, html, op, user_zone
from .guard import page, secure_headers
from .render import HEALTH_WORDS


@page()
async def data(request: web.Request) -> web.StreamResponse:
    datasets = await op(request, "datasets")
    return html(request, "data.html", title="Your data", datasets=datasets)


def _day_bounds(text: str, tz: Any, end: bool) -> str | None:
    """A date the user picked, as the start (or the end) of that day in their zone."""
    if not text:
        return None
    try:
        day = datetime.fromisoformat(text).date()
    except ValueError:
        raise SelfdataError(f"{text!r} is not a date (YYYY-MM-DD)") from None
    start = datetime(day.year, day.month, day.day, tzinfo=tz or datetime.now().astimezone().tzinfo)
    return (start + timedelta(days=1) if end else start).isoformat()


@page()
async def dataset_page(request: web.Request) -> web.StreamResponse:
    name = request.match_info["dataset"]
    q = request.query
    tz = user_zone(request)
    known = {d["name"]: d for d in await op(request, "datasets")}
    if name not in known:
        raise web.HTTPNotFound(text=f"no dataset {name!r}")
    info = known[name]
    source = q.get("source", "") or None
    start: str | None = None
    try:
        start = _day_bounds(q.get("from", ""), tz, end=False)
        end = _day_bounds(q.get("to", ""), tz, end=True)
        if start is None and end is None and info["last"]:
            last = datetime.fromisoformat(info["last"].replace("Z", "+00:00"))
            start = (
                (last - timedelta(days=89))
                .astimezone(tz)
                .replace(hour=0, minute=0, second=0, microsecond=0)
                .isoformat()
            )
        page_ = await op(
            request,
            "query",
            dataset=name,
            start=start,
            end=end,
            source=source,
            limit=PAGE_SIZE,
            cursor=q.get("cursor") or None,
        )
        daily = await op(
            request, "records.daily", dataset=name, zone=str(tz) if tz else "UTC", start=start, end=end, source=source
        )
        error = None
    except SelfdataError as err:
        page_, daily, error = {"records": [], "next": None}, {"days": []}, str(err)
    columns = _columns(page_["records"])
    return html(
        request,
        "dataset.html",
        title=name,
        info=info,
        records=page_["records"],
        columns=columns,
        next_link=("?" + urlencode({**dict(q), "cursor": page_["next"]})) if page_["next"] else None,
        first_link="?" + urlencode({k: v for k, v in q.items() if k != "cursor"}),
        chart=charts.daily_bars(daily["days"], title=f"{name}: records per day"),
        chosen={"source": source or "", "from": q.get("from", ""), "to": q.get("to", "")},
        shown_from=start,
        error=error,
        cell=_cell,
    )


def _columns(records: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for r in records[:PAGE_SIZE]:
        for k, v in (r.get("data") or {}).items():
            if not isinstance(v, dict | list):
                seen.setdefault(k, None)
    return list(seen)[:8]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()[:80]
    return str(value)[:80]


# ---- live events ----------------------------------------------------------------------


@page()
async def events(request: web.Request) -> web.StreamResponse:
    """Run progress for the page's script (server-sent events)."""
    bus = dashboard_of(request).services.events
    queue = bus.subscribe()
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
    secure_headers(response)
    await response.prepare(request)
    try:
        await response.write(b": connected\n\n")
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), 15)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if isinstance(event, RunStarted | RunProgress | RunFinished) or event.type.startswith("inbox."):
                await response.write(b"data: " + orjson.dumps(event.to_json()) + b"\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        bus.unsubscribe(queue)
    return response


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    body, kind = STATIC[name]
    response = web.Response(body=body, content_type=kind)
    secure_headers(response)
    return response


_HERE = Path(__file__).parent / "static"
_KINDS = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml", ".png": "image/png"}
STATIC = (
    {p.name: (p.read_bytes(), _KINDS.get(p.suffix, "application/octet-stream")) for p in _HERE.iterdir()}
    if _HERE.is_dir()
    else {}
)

__all__ = ["HEALTH_WORDS"]
