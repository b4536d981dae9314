"""Signing in: the one-time link, the passphrase, signing out."""

from __future__ import annotations

import asyncio

from aiohttp import web

from .. import __version__
from ..errors import SelfdataError
from ..vault.keyslots import KeySlots
from . import signin
from .common import dashboard_of, user_zone
from .guard import Dashboard, page, refuse, same_origin, secure_headers, set_session_cookie
from .render import render


def _safe_next(value: str) -> str:
    return value if value.startswith("/") and not value.startswith("//") and "\\" not in value else "/"


async def signin_page(request: web.Request) -> web.StreamResponse:
    """The one-time link lands here; without one, the passphrase form."""
    dash = dashboard_of(request)
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
    has_passphrase = _slots(dashboard_of(request)) is not None
    body = render(
        "signin.html",
        title="Sign in",
        tz=user_zone(request),
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
    dash = dashboard_of(request)
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

    await asyncio.to_thread(signin.close_session, dashboard_of(request).services.vault, request[SESSION_TOKEN])
    response = web.HTTPSeeOther("/signin")
    response.del_cookie(COOKIE, path="/")
    return response
