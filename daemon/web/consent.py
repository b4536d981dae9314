"""Apps and consent: requests by code, grants, revoking, the access log."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from aiohttp import web

from ..errors import SelfdataError
from .common import category, dashboard_of, html, op
from .guard import page


@page()
async def consent(request: web.Request) -> web.StreamResponse:
    grants = await op(request, "grants.list")
    code = request.query.get("code", "").strip()
    found = None
    if code:
        try:
            found = await op(request, "grants.pending", code=code)
        except SelfdataError as err:
            dashboard_of(request).flash(request, "error", str(err))
    datasets = [d["name"] for d in await op(request, "datasets")]
    for g in grants:
        g["reads"] = _scope_words(g["scopes"], datasets)
    if found:
        found["reads"] = _scope_words(found["scopes"], datasets)
    return html(
        request,
        "consent.html",
        title="Apps and consent",
        pending=[g for g in grants if g["status"] == "pending"],
        active=[g for g in grants if g["status"] == "approved"],
        past=[g for g in grants if g["status"] not in ("pending", "approved")][:30],
        found=found,
        code=code,
    )


def _scope_words(scopes: list[str], datasets: list[str]) -> list[str]:
    """Each scope in plain words, with the datasets it reaches today."""
    import fnmatch

    words = []
    for scope in scopes:
        verb, _, glob = scope.partition(":")
        if verb == "read":
            hits = [d for d in datasets if fnmatch.fnmatchcase(d, glob)]
            reach = ", ".join(hits[:6]) + ("…" if len(hits) > 6 else "") if hits else "no data yet"
            words.append(f"read {('everything' if glob == '*' else glob)} ({reach})")
        elif verb == "write" and "@" in glob:
            pushed, _, source = glob.partition("@")
            words.append(f"push {('any data' if pushed == '*' else pushed)} into the source {source}")
        elif verb == "write":
            words.append(f"write its own data under app.{glob.removeprefix('app.').rstrip('.*')}")
        else:
            words.append(scope)
    return words


@page(change=True)
async def consent_decide(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    code = str(form.get("code", ""))
    approve = form.get("decision") == "approve"
    dash = dashboard_of(request)
    try:
        days = int(str(form.get("expires_days", "90")))
        if not 1 <= days <= 3650:
            raise ValueError
    except ValueError:
        dash.flash(request, "error", "The expiry must be a number of days between 1 and 3650.")
        return web.HTTPSeeOther("/consent?code=" + code)
    try:
        grant = await op(request, "grants.decide", code=code, approve=approve, expires_days=days)
    except SelfdataError as err:
        dash.flash(request, "error", str(err))
        return web.HTTPSeeOther("/consent")
    dash.flash(request, "ok", f"{grant['app']}: {'approved for ' + str(days) + ' days' if approve else 'denied'}.")
    return web.HTTPSeeOther("/consent")


@page(change=True)
async def grant_revoke(request: web.Request) -> web.StreamResponse:
    grant_id = request.match_info["id"]
    dash = dashboard_of(request)
    try:
        grant = await op(request, "grants.revoke", id=grant_id)
        dash.flash(request, "ok", f"{grant['app']}: revoked. Its token stopped working.")
    except SelfdataError as err:
        dash.flash(request, "error", str(err))
    return web.HTTPSeeOther("/consent")


PERIODS = {"day": 1, "week": 7, "month": 31, "year": 366}


@page()
async def access(request: web.Request) -> web.StreamResponse:
    q = request.query
    chosen_category = q.get("category", "")
    app_name = q.get("app", "") or None
    period = q.get("period", "month")
    since = None
    if period in PERIODS:
        since = (datetime.now(UTC) - timedelta(days=PERIODS[period])).isoformat()
    glob = f"{chosen_category}.*" if chosen_category and re.fullmatch(r"[a-z0-9_]+", chosen_category) else None
    entries = await op(request, "access_log", app=app_name, since=since, dataset=glob, limit=1000)
    grants = await op(request, "grants.list")
    datasets = await op(request, "datasets")
    return html(
        request,
        "access.html",
        title="Who read what",
        entries=entries,
        apps=sorted({g["app"] for g in grants}),
        categories=sorted({category(d["name"]) for d in datasets}),
        chosen={"category": chosen_category, "app": app_name or "", "period": period},
        periods=list(PERIODS) + ["all"],
        totals={"requests": sum(e["requests"] for e in entries), "records": sum(e["records"] for e in entries)},
        link=lambda **kw: (
            "/access?" + urlencode({**{"category": chosen_category, "app": app_name or "", "period": period}, **kw})
        ),
    )
