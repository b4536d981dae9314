"""The home page: sources, what you hold, apps waiting, the inbox, notifications."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .common import category, html, op, running_sources, source_view
from .guard import page


@page()
async def home(request: web.Request) -> web.StreamResponse:
    status = await op(request, "status")
    running = running_sources(request)
    sources = [source_view(s, running) for s in status["sources"]]
    datasets = await op(request, "datasets")
    categories: dict[str, dict[str, Any]] = {}
    for d in datasets:
        c = categories.setdefault(
            category(d["name"]),
            {"name": category(d["name"]), "count": 0, "first": None, "last": None, "datasets": []},
        )
        c["count"] += d["count"]
        c["datasets"].append(d)
        if d["first"]:
            c["first"] = min(c["first"] or d["first"], d["first"])
            c["last"] = max(c["last"] or d["last"], d["last"])
    grants = await op(request, "grants.list")
    pending = [g for g in grants if g["status"] == "pending"]
    inbox = await op(request, "inbox.files")
    return html(
        request,
        "home.html",
        title="Home",
        sources=sources,
        categories=sorted(categories.values(), key=lambda c: c["name"]),
        notifications=[n for n in status["notifications"] if not n["delivered"]] or status["notifications"][:5],
        pending=pending,
        inbox=inbox,
        status=status,
    )
