"""The dashboard's pages. Each reads and acts through operations, as the CLI does."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import orjson
from aiohttp import BodyPartReader, web

from .. import __version__
from ..errors import SelfdataError
from ..events import RunFinished, RunProgress, RunStarted
from ..operations import dispatch
from ..vault.keyslots import KeySlots
from . import charts, signin
from .guard import (
    DASHBOARD,
    SESSION,
    Dashboard,
    page,
    refuse,
    same_origin,
    secure_headers,
    set_session_cookie,
)
from .render import HEALTH_WORDS, render, zone

PAGE_SIZE = 50
NEEDS_YOU = ("needs_login", "needs_action", "needs_authorization")
EXPORT_FORMATS = ("jsonl", "csv", "sqlite")


def _dash(request: web.Request) -> Dashboard:
    return request.app[DASHBOARD]


async def op(request: web.Request, operation: str, /, **params: Any) -> Any:
    return await dispatch.run(_dash(request).services, operation, params)


def _tz(request: web.Request) -> Any:
    return zone(unquote(request.cookies.get("sd_tz", ""))) or zone(os.environ.get("TZ"))


def html(request: web.Request, template: str, **context: Any) -> web.Response:
    dash = _dash(request)
    session = request.get(SESSION)
    body = render(
        template,
        tz=_tz(request),
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


def _category(dataset: str) -> str:
    return dataset.split(".", 1)[0]


# ---- signing in -----------------------------------------------------------------------


def _safe_next(value: str) -> str:
    return value if value.startswith("/") and not value.startswith("//") and "\\" not in value else "/"


async def signin_page(request: web.Request) -> web.StreamResponse:
    """The one-time link lands here; without one, the passphrase form."""
    dash = _dash(request)
    if "Authorization" in request.headers:
        return refuse(401, "app tokens do not open the dashboard: sign in with selfdata dashboard")
    code = request.query.get("code", "")
    nxt = _safe_next(request.query.get("next", "/"))
    if code:
        token = await asyncio.to_thread(signin.redeem_link, dash.services.vault, code)
        if token is None:
            return _signin_form(
                request,
                nxt,
                "This sign-in link was already used or has expired: run selfdata dashboard for a new one.",
                403,
            )
        response = web.HTTPSeeOther(nxt)
        set_session_cookie(request, response, token)
        secure_headers(response)
        return response
    return _signin_form(request, nxt, None, 200)


def _signin_form(request: web.Request, nxt: str, error: str | None, status: int) -> web.Response:
    has_passphrase = _slots(_dash(request)) is not None
    body = render(
        "signin.html",
        title="Sign in",
        tz=_tz(request),
        error=error,
        next=nxt,
        has_passphrase=has_passphrase,
        csrf="",
        flashes=[],
        version=__version__,
        path=request.path,
    )
    response = web.Response(text=body, content_type="text/html", status=status)
    secure_headers(response)
    return response


def _slots(dash: Dashboard) -> KeySlots | None:
    try:
        slots = KeySlots.load(dash.services.paths.keyslots_file)
    except (OSError, SelfdataError):
        return None
    return slots if slots.has("passphrase") else None


async def signin_passphrase(request: web.Request) -> web.StreamResponse:
    dash = _dash(request)
    if not same_origin(request):
        return refuse(403, "signing in must come from the dashboard's own page")
    form = await request.post()
    nxt = _safe_next(str(form.get("next", "/")))
    wait = dash.passphrase_wait()
    if wait > 0:
        return _signin_form(request, nxt, f"Too many wrong passphrases: wait {int(wait) + 1} s and try again.", 429)
    slots = _slots(dash)
    if slots is None:
        return _signin_form(
            request, nxt, "This vault has no passphrase: sign in with a link from selfdata dashboard.", 403
        )
    passphrase = str(form.get("passphrase", ""))
    try:
        master = await asyncio.to_thread(slots.unlock_passphrase, passphrase)
    except SelfdataError:
        master = None
    if master is None or master.vault_id != dash.services.vault.vault_id:
        dash.passphrase_failures.append(asyncio.get_running_loop().time())
        return _signin_form(request, nxt, "That passphrase does not open this vault.", 403)
    token = await asyncio.to_thread(signin.open_session, dash.services.vault)
    response = web.HTTPSeeOther(nxt)
    set_session_cookie(request, response, token)
    secure_headers(response)
    return response


@page(change=True)
async def signout(request: web.Request) -> web.StreamResponse:
    from .guard import COOKIE, SESSION_TOKEN

    await asyncio.to_thread(signin.close_session, _dash(request).services.vault, request[SESSION_TOKEN])
    response = web.HTTPSeeOther("/signin")
    response.del_cookie(COOKIE, path="/")
    return response


# ---- home -----------------------------------------------------------------------------


def _source_view(src: dict[str, Any], running: set[str]) -> dict[str, Any]:
    fix = None
    name = src["name"]
    if src["health"] == "needs_login":
        fix = ("Log in again", f"/sources/{name}/edit", "get")
    elif src["health"] == "needs_authorization":
        fix = ("Authorise access", f"/sources/{name}/authorize", "post")
    elif src["health"] in ("needs_action", "failing") and src["kind"] == "connector":
        fix = ("Try again now", f"/sources/{name}/run", "post")
    return {**src, "fix": fix, "running": name in running, "needs_you": src["health"] in NEEDS_YOU}


def _running(request: web.Request) -> set[str]:
    runner = _dash(request).services.runner
    return set(runner.running()) if runner is not None else set()


@page()
async def home(request: web.Request) -> web.StreamResponse:
    status = await op(request, "status")
    running = _running(request)
    sources = [_source_view(s, running) for s in status["sources"]]
    datasets = await op(request, "datasets")
    categories: dict[str, dict[str, Any]] = {}
    for d in datasets:
        c = categories.setdefault(
            _category(d["name"]),
            {"name": _category(d["name"]), "count": 0, "first": None, "last": None, "datasets": []},
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


# ---- sources --------------------------------------------------------------------------


@page()
async def sources_page(request: web.Request) -> web.StreamResponse:
    status = await op(request, "status")
    running = _running(request)
    connectors = _dash(request).services.registry
    return html(
        request,
        "sources.html",
        title="Sources",
        sources=[_source_view(s, running) for s in status["sources"]],
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
    view = _source_view(src, _running(request))
    cls = _dash(request).services.registry.get(src["connector"])
    return html(
        request,
        "source.html",
        title=name,
        source=view,
        runs=runs,
        secrets=src["secrets"],
        authorizes=bool(getattr(cls, "needs_authorization", False)),
    )


@page(change=True)
async def source_run(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    dash = _dash(request)
    try:
        await dispatch.get("source.show").handler(
            dash.services, dispatch.get("source.show").decode({"name": name}), lambda e: None
        )
    except SelfdataError as err:
        dash.flash(request, "error", str(err))
        return back(request, "/sources")
    if name in _running(request):
        dash.flash(request, "info", f"{name} is already running.")
        return web.HTTPSeeOther(f"/sources/{name}")

    async def run() -> None:
        try:
            await dispatch.run(dash.services, "sync", {"name": name})
        except SelfdataError:
            pass  # the run log and the source's health say what went wrong

    task = asyncio.create_task(run(), name=f"dashboard-sync-{name}")
    dash.tasks.add(task)
    task.add_done_callback(dash.tasks.discard)
    await asyncio.sleep(0)  # let the run start, so the page shows it running
    dash.flash(request, "info", f"{name} is running; this page follows its progress.")
    return web.HTTPSeeOther(f"/sources/{name}")


@page(change=True)
async def source_enable(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    enabled = request.match_info["what"] == "enable"
    try:
        await op(request, "source.enable", name=name, enabled=enabled)
        _dash(request).flash(request, "ok", f"{name}: scheduled runs {'on' if enabled else 'off'}.")
    except SelfdataError as err:
        _dash(request).flash(request, "error", str(err))
    return web.HTTPSeeOther(f"/sources/{name}")


@page(change=True)
async def source_remove(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    form = await request.post()
    dash = _dash(request)
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
    services = _dash(request).services
    connector = request.query.get("connector", "")
    try:
        fields = _fields(services, connector)
    except SelfdataError as err:
        _dash(request).flash(request, "error", str(err))
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
    services = _dash(request).services
    form = await request.post()
    connector = str(form.get("connector", ""))
    name = str(form.get("name", "")).strip()
    schedule = str(form.get("schedule", "")).strip() or None
    try:
        fields = _fields(services, connector)
    except SelfdataError as err:
        _dash(request).flash(request, "error", str(err))
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
    _dash(request).flash(request, "ok", f"Source {name} added; its first run starts now.")
    return web.HTTPSeeOther(f"/sources/{name}")


@page()
async def source_edit_form(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    services = _dash(request).services
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
    services = _dash(request).services
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
    _dash(request).flash(request, "ok", f"{name} saved.")
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
        _dash(request).flash(request, "error", str(err))
        return web.HTTPSeeOther(f"/sources/{name}")
    # A page with the vendor's link, not a redirect: the CSP's form-action keeps every form's
    # answer on this origin, and the user sees where they are sent.
    vendor = urlsplit(result["url"]).netloc
    return html(request, "authorize.html", title=f"Authorise {name}", name=name, url=result["url"], vendor=vendor)


@page()
async def source_authorized(request: web.Request) -> web.StreamResponse:
    """The vendor sends the browser back here with the code."""
    name = request.match_info["name"]
    redirect_uri = f"{_origin(request)}/sources/{name}/authorized"
    dash = _dash(request)
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


# ---- importing a dropped file ---------------------------------------------------------

UPLOAD_NAME = re.compile(r"[^\w.,()+ -]")  # letters of any script stay; separators and controls go


@page(change=True, upload=True)
async def upload(request: web.Request) -> web.StreamResponse:
    """A file dropped on the page goes into the inbox, as if copied there."""
    dash = _dash(request)
    inbox = dash.services.config.inbox_dir
    saved: list[str] = []
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, BodyPartReader) and part.name == "file" and part.filename:
                saved.append(await _save_upload(part, inbox))
    except (SelfdataError, OSError, ValueError, web.HTTPException) as err:
        # ValueError and HTTPException: a body that is not the form's multipart.
        reason = err.text if isinstance(err, web.HTTPException) else str(err)
        kept = f" ({', '.join(saved)} reached the inbox)" if saved else ""
        dash.flash(request, "error", f"The upload failed: {reason}{kept}")
        return back(request, "/")
    if not saved:
        dash.flash(request, "error", "No file was sent: choose a file, then Import.")
    elif dash.services.inbox is None:
        dash.flash(request, "error", "The inbox is not watched right now, so the file waits there: " + ", ".join(saved))
    else:
        dash.flash(
            request, "ok", "In the inbox, importing now: " + ", ".join(saved) + ". The home page shows the result."
        )
    return back(request, "/")


CHUNK_S = 30.0  # a stalled upload is dropped, as a stalled API body is


async def _save_upload(part: BodyPartReader, inbox: Path) -> str:
    """Stream one file under a hidden name, then rename it into the inbox, complete."""
    name = UPLOAD_NAME.sub("_", Path(part.filename or "upload").name).lstrip(".-") or "upload"
    inbox.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=inbox)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await _chunk(part):
                await asyncio.to_thread(out.write, chunk)
        target = _free_name(inbox / name)
        os.replace(tmp, target)  # renamed into place: the inbox takes it as complete
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target.name


async def _chunk(part: BodyPartReader) -> bytes:
    try:
        async with asyncio.timeout(CHUNK_S):
            return await part.read_chunk(1 << 20)
    except TimeoutError:
        raise SelfdataError(f"the upload stalled: nothing arrived for {CHUNK_S:.0f} s") from None


def _free_name(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate


# ---- consent --------------------------------------------------------------------------


@page()
async def consent(request: web.Request) -> web.StreamResponse:
    grants = await op(request, "grants.list")
    code = request.query.get("code", "").strip()
    found = None
    if code:
        try:
            found = await op(request, "grants.pending", code=code)
        except SelfdataError as err:
            _dash(request).flash(request, "error", str(err))
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
    dash = _dash(request)
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
    dash = _dash(request)
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
    category = q.get("category", "")
    app_name = q.get("app", "") or None
    period = q.get("period", "month")
    since = None
    if period in PERIODS:
        since = (datetime.now(UTC) - timedelta(days=PERIODS[period])).isoformat()
    glob = f"{category}.*" if category and re.fullmatch(r"[a-z0-9_]+", category) else None
    entries = await op(request, "access_log", app=app_name, since=since, dataset=glob, limit=1000)
    grants = await op(request, "grants.list")
    datasets = await op(request, "datasets")
    return html(
        request,
        "access.html",
        title="Who read what",
        entries=entries,
        apps=sorted({g["app"] for g in grants}),
        categories=sorted({_category(d["name"]) for d in datasets}),
        chosen={"category": category, "app": app_name or "", "period": period},
        periods=list(PERIODS) + ["all"],
        totals={"requests": sum(e["requests"] for e in entries), "records": sum(e["records"] for e in entries)},
        link=lambda **kw: (
            "/access?" + urlencode({**{"category": category, "app": app_name or "", "period": period}, **kw})
        ),
    )


# ---- rights: export and erase ---------------------------------------------------------


@page()
async def rights(request: web.Request) -> web.StreamResponse:
    erasures = await op(request, "erasures")
    datasets = await op(request, "datasets")
    status = await op(request, "status")
    return html(
        request,
        "rights.html",
        title="Export and erase",
        erasures=erasures,
        datasets=datasets,
        sources=status["sources"],
        formats=EXPORT_FORMATS,
    )


@page(change=True)
async def export_download(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    fmt = str(form.get("format", "jsonl"))
    dataset = str(form.get("dataset", "")) or None
    source = str(form.get("source", "")) or None
    passphrase = str(form.get("passphrase", "")) or None
    dash = _dash(request)
    if fmt not in EXPORT_FORMATS:
        dash.flash(request, "error", f"unknown export format {fmt!r}")
        return web.HTTPSeeOther("/rights")
    with tempfile.TemporaryDirectory(prefix="selfdata-export-") as tmp:
        out = Path(tmp) / "export"
        try:
            result = await op(
                request, "export", out=str(out), format=fmt, dataset=dataset, source=source, passphrase=passphrase
            )
        except SelfdataError as err:
            dash.flash(request, "error", str(err))
            return web.HTTPSeeOther("/rights")
        archive = await asyncio.to_thread(_archive, Path(result["out"]), Path(tmp))
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        label = "-".join(("selfdata", dataset or source or "all", fmt, stamp))
        suffix = "".join(archive.suffixes[-2:]) if archive.is_file() and archive != Path(tmp) / "export.tar" else ".tar"
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Disposition": f'attachment; filename="{label}{suffix}"',
            }
        )
        secure_headers(response)
        await response.prepare(request)
        with archive.open("rb") as f:
            while chunk := await asyncio.to_thread(f.read, 1 << 20):
                await response.write(chunk)
        await response.write_eof()
        return response


def _archive(path: Path, tmp: Path) -> Path:
    """One file to download: the export itself if it is one, else a tar of its folder."""
    import tarfile

    if path.is_file():
        return path
    target = tmp / "export.tar"
    with tarfile.open(target, "w") as tar:
        tar.add(path, arcname=path.name)
    return target


@page(change=True)
async def erase(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    dash = _dash(request)
    what = str(form.get("what", ""))
    kind, _, name = what.partition(":")
    if kind not in ("source", "dataset") or not name:
        dash.flash(request, "error", "Choose a source or a dataset to erase.")
        return web.HTTPSeeOther("/rights")
    if str(form.get("confirm", "")) != name:
        dash.flash(request, "error", f"To erase {name}, type its name in the box: nothing was erased.")
        return web.HTTPSeeOther("/rights")
    try:
        result = await op(request, "erase", **{kind: name})
    except SelfdataError as err:
        dash.flash(request, "error", str(err))
        return web.HTTPSeeOther("/rights")
    dash.flash(
        request, "ok", f"Erased {result.get('records', 0):,} records of {name}; nothing of them is left on disk."
    )
    return web.HTTPSeeOther("/rights")


# ---- data -----------------------------------------------------------------------------


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
    tz = _tz(request)
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
    bus = _dash(request).services.events
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
