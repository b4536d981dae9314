"""Sources: the list, a source's page, adding, editing, running, authorising, removing."""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from ..errors import SelfdataError
from ..operations import dispatch
from .common import back, dashboard_of, html, op, running_sources, source_view
from .guard import page


@page()
async def sources_page(request: web.Request) -> web.StreamResponse:
    status = await op(request, "status")
    running = running_sources(request)
    connectors = dashboard_of(request).services.registry
    return html(
        request,
        "sources.html",
        title="Sources",
        sources=[source_view(s, running) for s in status["sources"]],
        connectors=_connector_list(connectors),
    )


def _connector_list(registry: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": cls.name,
            "title": cls.title,
            "category": cls.category,
            "kind": cls.kind,
            "description": cls.description,
        }
        for cls in registry.all()
    ]


@page()
async def source_page(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    try:
        src = await op(request, "source.show", name=name)
    except SelfdataError as err:
        raise web.HTTPNotFound(text=str(err)) from None
    runs = await op(request, "runs", name=name, limit=30)
    view = source_view(src, running_sources(request))
    cls = dashboard_of(request).services.registry.get(src["connector"])
    return html(
        request,
        "source.html",
        title=name,
        source=view,
        runs=runs,
        secrets=src["secrets"],
        authorizes=bool(getattr(cls, "needs_authorization", False)),
        asks=bool(getattr(cls, "asks_questions", False)),
    )


@page(change=True)
async def source_run(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    dash = dashboard_of(request)
    try:
        await dispatch.get("source.show").handler(
            dash.services, dispatch.get("source.show").decode({"name": name}), lambda e: None
        )
    except SelfdataError as err:
        dash.flash(request, "error", str(err))
        return back(request, "/sources")
    if name in running_sources(request):
        dash.flash(request, "info", f"{name} is already running.")
        return web.HTTPSeeOther(f"/sources/{name}")
    _start_run(request, name)
    dash.flash(request, "info", f"{name} is running; this page follows its progress.")
    return web.HTTPSeeOther(f"/sources/{name}")


def _start_run(request: web.Request, name: str) -> None:
    dash = dashboard_of(request)

    async def run() -> None:
        try:
            await dispatch.run(dash.services, "sync", {"name": name})
        except SelfdataError:
            pass  # the run log and the source's health say what went wrong

    task = asyncio.create_task(run(), name=f"dashboard-sync-{name}")
    dash.tasks.add(task)
    task.add_done_callback(dash.tasks.discard)


@page(change=True)
async def source_enable(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    enabled = request.match_info["what"] == "enable"
    try:
        await op(request, "source.enable", name=name, enabled=enabled)
        dashboard_of(request).flash(request, "ok", f"{name}: scheduled runs {'on' if enabled else 'off'}.")
    except SelfdataError as err:
        dashboard_of(request).flash(request, "error", str(err))
    return web.HTTPSeeOther(f"/sources/{name}")


@page(change=True)
async def source_remove(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    form = await request.post()
    dash = dashboard_of(request)
    if str(form.get("confirm", "")) != name:
        dash.flash(request, "error", f"To remove {name}, type its name in the box: nothing was removed.")
        return web.HTTPSeeOther(f"/sources/{name}")
    keep = form.get("keep_records") == "on"
    try:
        result = await op(request, "source.remove", name=name, keep_records=keep)
    except SelfdataError as err:
        dash.flash(request, "error", str(err))
        return web.HTTPSeeOther(f"/sources/{name}")
    erased = "" if keep else f" and its {result['deleted']:,} records erased"
    dash.flash(request, "ok", f"Source {name} removed{erased}.")
    return web.HTTPSeeOther("/sources")


def _add_title(services: Any, connector: str) -> str:
    return f"Add a source: {services.registry.get(connector).title}"


def _fields(services: Any, connector: str) -> list[Any]:
    return list(services.registry.get(connector).fields)


@page()
async def source_new(request: web.Request) -> web.StreamResponse:
    services = dashboard_of(request).services
    connector = request.query.get("connector", "")
    try:
        fields = _fields(services, connector)
    except SelfdataError as err:
        dashboard_of(request).flash(request, "error", str(err))
        return web.HTTPSeeOther("/sources")
    return html(
        request,
        "source_form.html",
        title=_add_title(services, connector),
        connector=connector,
        fields=fields,
        values={},
        errors={},
        error=None,
        name="",
        editing=None,
        schedule="",
    )


def _form_values(fields: list[Any], form: Any, editing: bool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in fields:
        if f.type == "bool":
            values[f.name] = "true" if form.get(f.name) == "on" else "false"
            continue
        raw = str(form.get(f.name, "")).strip()
        if raw == "" and (editing or not f.required):
            continue  # unchanged secret or setting; an empty optional one takes its default
        values[f.name] = raw
    return values


def _field_errors(message: str, fields: list[Any]) -> dict[str, str]:
    """Put a check's message beside the field it names, if it names one."""
    for f in fields:
        if re.search(rf"\b{re.escape(f.name)}\b", message):
            return {f.name: message}
    return {}


@page(change=True)
async def source_create(request: web.Request) -> web.StreamResponse:
    services = dashboard_of(request).services
    form = await request.post()
    connector = str(form.get("connector", ""))
    name = str(form.get("name", "")).strip()
    schedule = str(form.get("schedule", "")).strip() or None
    try:
        fields = _fields(services, connector)
    except SelfdataError as err:
        dashboard_of(request).flash(request, "error", str(err))
        return web.HTTPSeeOther("/sources")
    values = _form_values(fields, form, editing=False)
    try:
        await op(request, "source.add", name=name, connector=connector, values=values, schedule=schedule)
    except SelfdataError as err:
        shown = {k: v for k, v in values.items() if not next((f for f in fields if f.name == k and f.secret), None)}
        response = html(
            request,
            "source_form.html",
            title=_add_title(services, connector),
            connector=connector,
            fields=fields,
            values=shown,
            errors=_field_errors(str(err), fields),
            error=str(err),
            name=name,
            editing=None,
            schedule=schedule or "",
        )
        response.set_status(400)
        return response
    dashboard_of(request).flash(request, "ok", f"Source {name} added; its first run starts now.")
    return web.HTTPSeeOther(f"/sources/{name}")


@page()
async def source_edit_form(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    services = dashboard_of(request).services
    try:
        src = await op(request, "source.show", name=name)
    except SelfdataError as err:
        raise web.HTTPNotFound(text=str(err)) from None
    fields = _fields(services, src["connector"])
    return html(
        request,
        "source_form.html",
        title=f"Edit {name}",
        connector=src["connector"],
        fields=fields,
        values={k: v for k, v in src["settings"].items()},
        errors={},
        error=None,
        name=name,
        editing=src,
        schedule=src["schedule"] or "",
    )


@page(change=True)
async def source_update(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    services = dashboard_of(request).services
    form = await request.post()
    try:
        src = await op(request, "source.show", name=name)
    except SelfdataError as err:
        raise web.HTTPNotFound(text=str(err)) from None
    fields = _fields(services, src["connector"])
    values = _form_values(fields, form, editing=True)
    schedule = str(form.get("schedule", "")).strip() or None
    try:
        await op(request, "source.edit", name=name, values=values, schedule=schedule)
    except SelfdataError as err:
        response = html(
            request,
            "source_form.html",
            title=f"Edit {name}",
            connector=src["connector"],
            fields=fields,
            values={**src["settings"], **{k: v for k, v in values.items() if k not in src["secrets"]}},
            errors=_field_errors(str(err), fields),
            error=str(err),
            name=name,
            editing=src,
            schedule=schedule or "",
        )
        response.set_status(400)
        return response
    dashboard_of(request).flash(request, "ok", f"{name} saved.")
    return web.HTTPSeeOther(f"/sources/{name}")


def _origin(request: web.Request) -> str:
    scheme = "https" if request.secure or request.headers.get("X-Forwarded-Proto") == "https" else "http"
    return f"{scheme}://{request.headers.get('Host', request.host)}"


@page(change=True)
async def source_authorize_start(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    redirect_uri = f"{_origin(request)}/sources/{name}/authorized"
    try:
        result = await op(request, "source.authorization_url", name=name, redirect_uri=redirect_uri)
    except SelfdataError as err:
        dashboard_of(request).flash(request, "error", str(err))
        return web.HTTPSeeOther(f"/sources/{name}")
    # A page with the vendor's link, not a redirect: the CSP's form-action keeps every form's
    # answer on this origin, and the user sees where they are sent.
    vendor = urlsplit(result["url"]).netloc
    # A vendor that refuses this page's address (Withings: no IP, no plain http) sends the browser
    # elsewhere; the user pastes that address back here.
    landing = parse_qs(urlsplit(result["url"]).query).get("redirect_uri", [redirect_uri])[0]
    return html(
        request,
        "authorize.html",
        title=f"Authorise {name}",
        name=name,
        url=result["url"],
        vendor=vendor,
        landing=landing if landing != redirect_uri else None,
    )


@page(change=True)
async def source_authorized_pasted(request: web.Request) -> web.StreamResponse:
    """The address the vendor sent the browser to, pasted by the user."""
    name = request.match_info["name"]
    pasted = str((await request.post()).get("url", "")).strip()
    dash = dashboard_of(request)
    try:
        await op(
            request,
            "source.authorize",
            name=name,
            redirect_uri=f"{_origin(request)}/sources/{name}/authorized",
            code=pasted,
        )
    except SelfdataError as err:
        dash.flash(request, "error", str(err))
        return web.HTTPSeeOther(f"/sources/{name}")
    dash.flash(request, "ok", f"{name} is authorised; its next run starts now.")
    return web.HTTPSeeOther(f"/sources/{name}")


@page()
async def source_authorized(request: web.Request) -> web.StreamResponse:
    """The vendor sends the browser back here with the code."""
    name = request.match_info["name"]
    redirect_uri = f"{_origin(request)}/sources/{name}/authorized"
    dash = dashboard_of(request)
    if "error" in request.query:
        dash.flash(
            request, "error", f"The vendor refused: {request.query.get('error_description') or request.query['error']}"
        )
        return web.HTTPSeeOther(f"/sources/{name}")
    try:
        await op(request, "source.authorize", name=name, redirect_uri=redirect_uri, code=str(request.url))
    except SelfdataError as err:
        dash.flash(request, "error", str(err))
        return web.HTTPSeeOther(f"/sources/{name}")
    dash.flash(request, "ok", f"{name} is authorised; its next run starts now.")
    return web.HTTPSeeOther(f"/sources/{name}")


@page(change=True)
async def source_question(request: web.Request) -> web.StreamResponse:
    """The website's question (a 2FA code): the one the last run met, or one a login started now asks."""
    name = request.match_info["name"]
    dash = dashboard_of(request)
    try:
        asked = await op(request, "source.question", name=name)
    except SelfdataError as err:
        dash.flash(request, "error", str(err))
        return web.HTTPSeeOther(f"/sources/{name}")
    if asked["question"] is None:
        dash.flash(request, "info", f"{name}: the website asks nothing now.")
        return web.HTTPSeeOther(f"/sources/{name}")
    return html(request, "question.html", title=f"Answer {name}", name=name, question=asked["question"])


@page(change=True)
async def source_answer(request: web.Request) -> web.StreamResponse:
    """The user's answer: kept encrypted for one run, which starts now."""
    name = request.match_info["name"]
    form = await request.post()
    dash = dashboard_of(request)
    try:
        result = await op(
            request,
            "source.answer",
            name=name,
            question=str(form.get("question", "")),
            answer=str(form.get("answer", "")),
            run=False,
        )
    except SelfdataError as err:
        dash.flash(request, "error", str(err))
        return web.HTTPSeeOther(f"/sources/{name}")
    if result["question"] is not None:  # the website asked several values: the next one
        return html(request, "question.html", title=f"Answer {name}", name=name, question=result["question"])
    if name not in running_sources(request):
        _start_run(request, name)
    dash.flash(request, "info", f"{name} runs now with your answer; this page follows it.")
    return web.HTTPSeeOther(f"/sources/{name}")
