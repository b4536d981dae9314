"""Requests to organisations and signed disclosures: the dashboard's two pages."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..errors import SelfdataError
from ..vrm import letters
from ..vrm.presets import PRESETS, extract
from .common import dashboard_of, html, op, user_zone
from .guard import page

DETAILS = ("name", "address", "email", "reference", "what", "grounds")


def _zone(request: web.Request) -> str:
    tz = user_zone(request)
    return str(tz) if tz is not None else "UTC"


@page()
async def requests_page(request: web.Request) -> web.StreamResponse:
    return html(
        request,
        "requests.html",
        title="Requests to organisations",
        requests=await op(request, "vrm.requests"),
        orgs=await op(request, "vrm.orgs"),
        kinds=letters.KINDS,
        articles=letters.ARTICLE,
        zone=_zone(request),
    )


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise web.HTTPNotFound(text="There is no such request.") from None


@page()
async def request_page(request: web.Request) -> web.StreamResponse:
    try:
        req = await op(request, "vrm.request_show", id=_int(request.match_info["id"]))
    except SelfdataError as err:
        raise web.HTTPNotFound(text=str(err)) from None
    return html(request, "request.html", title=f"Request {req['id']}: {req['org_name']}", req=req)


@page(change=True)
async def request_create(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    dash = dashboard_of(request)
    text = {k: str(v).strip() for k, v in form.items() if k != "csrf"}
    org = text.get("org") or None
    params: dict[str, Any] = {
        "kind": text.get("kind", ""),
        "lang": text.get("lang", "en"),
        "zone": text.get("zone") or _zone(request),
        "details": {k: text[f"my_{k}"] for k in DETAILS if text.get(f"my_{k}")},
    }
    if org:
        params["org"] = org
    else:
        params.update(name=text.get("to_name") or None, email=text.get("to_email") or None,
                      postal=text.get("to_postal") or None)  # fmt: skip
    try:
        req = await op(request, "vrm.request_new", **params)
    except SelfdataError as err:
        dash.flash(request, "error", str(err))
        return web.HTTPSeeOther("/requests")
    dash.flash(request, "ok", f"Request {req['id']} drafted: send it, then mark it sent.")
    return web.HTTPSeeOther(f"/requests/{req['id']}")


@page(change=True)
async def request_act(request: web.Request) -> web.StreamResponse:
    request_id = _int(request.match_info["id"])
    what = request.match_info["what"]
    dash = dashboard_of(request)
    name = {"sent": "vrm.request_sent", "extended": "vrm.request_extend", "close": "vrm.request_close"}[what]
    try:
        req = await op(request, name, id=request_id)
    except SelfdataError as err:
        dash.flash(request, "error", str(err))
        return web.HTTPSeeOther(f"/requests/{request_id}")
    words = {"sent": f"sent; due by {req['deadline']}", "extended": f"now due by {req['deadline']}", "close": "closed"}
    dash.flash(request, "ok", f"Request {request_id} to {req['org_name']}: {words[what]}.")
    return web.HTTPSeeOther(f"/requests/{request_id}")


# Disclosures


@page()
async def share_page(request: web.Request) -> web.StreamResponse:
    return html(
        request,
        "share.html",
        title="Shared extracts",
        log=await op(request, "vrm.disclosures"),
        keys=await op(request, "vrm.keys"),
        presets=PRESETS,
        zone=_zone(request),
    )


def _share_params(form: Any, zone: str) -> dict[str, Any]:
    chosen = [str(p) for p in form.getall("preset", []) if str(p) in PRESETS]
    if not chosen:
        raise SelfdataError("Choose at least one extract to share.")
    try:
        months = int(str(form.get("months", "") or 0)) or None
        days = int(str(form.get("valid_days", "30")))
    except ValueError:
        raise SelfdataError("Months and days are whole numbers.") from None
    return {
        "recipient": str(form.get("recipient", "")),
        "purpose": str(form.get("purpose", "")),
        "extracts": [extract(name, months, zone) for name in chosen],
        "valid_days": days,
        "subject": str(form.get("subject", "")).strip() or None,
    }


@page(change=True)
async def share_preview(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    dash = dashboard_of(request)
    try:
        params = _share_params(form, _zone(request))
        shown = await op(request, "vrm.share_preview", **params)
    except SelfdataError as err:
        dash.flash(request, "error", str(err))
        return web.HTTPSeeOther("/share")
    issue = {**params, "id": shown["id"], "issued_ms": shown["issued_ms"], "digest": shown["digest"]}
    return html(
        request,
        "share_preview.html",
        title="What will be shared",
        document=shown["document"],
        shown=json.dumps(shown["document"], indent=2, ensure_ascii=False),
        issue=json.dumps(issue, ensure_ascii=False),
    )


@page(change=True)
async def share_issue(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    dash = dashboard_of(request)
    try:
        params = json.loads(str(form.get("issue", "")))
        if not isinstance(params, dict):
            raise ValueError
    except ValueError:
        dash.flash(request, "error", "The form was damaged: build the extract again.")
        return web.HTTPSeeOther("/share")
    try:
        package = await op(request, "vrm.share_issue", **params)
    except SelfdataError as err:
        dash.flash(request, "error", str(err))
        return web.HTTPSeeOther("/share")
    dash.flash(request, "ok", f"Signed and logged: {package['id']}. Download it from the list below.")
    return web.HTTPSeeOther("/share")


@page()
async def share_download(request: web.Request) -> web.StreamResponse:
    disclosure_id = request.match_info["id"]
    try:
        package = await op(request, "vrm.disclosure_package", id=disclosure_id)
    except SelfdataError as err:
        raise web.HTTPNotFound(text=str(err)) from None
    name = disclosure_id.rsplit(":", 1)[-1]
    if request.match_info["kind"] == "svg":
        from ..vrm.qr import svg

        try:
            body = svg(package)
        except SelfdataError as err:
            raise web.HTTPNotFound(text=str(err)) from None
        return web.Response(text=body, content_type="image/svg+xml")
    return web.Response(
        text=json.dumps(package, indent=2, ensure_ascii=False) + "\n",
        content_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="disclosure-{name}.json"'},
    )


@page(change=True)
async def key_act(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    dash = dashboard_of(request)
    try:
        if request.match_info["what"] == "new":
            key = await op(request, "vrm.key_new")
            dash.flash(request, "ok", f"Signing from now on with {key['did']}; the key before it is retired.")
        else:
            key = await op(request, "vrm.key_revoke", id=str(form.get("id", "")),
                           reason=str(form.get("reason", "")).strip() or "revoked")  # fmt: skip
            dash.flash(request, "ok", f"Revoked {key['did']}: what it signed now verifies as revoked here.")
    except SelfdataError as err:
        dash.flash(request, "error", str(err))
    return web.HTTPSeeOther("/share")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/requests", requests_page)
    r.add_post("/requests/new", request_create)
    r.add_get("/requests/{id}", request_page)
    r.add_post("/requests/{id}/{what:sent|extended|close}", request_act)
    r.add_get("/share", share_page)
    r.add_post("/share/preview", share_preview)
    r.add_post("/share/issue", share_issue)
    r.add_get("/share/{id}.{kind:json|svg}", share_download)
    r.add_post("/share/keys/{what:new|revoke}", key_act)
