"""The dashboard's routes, added to the API application."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..services import Services
from . import pages
from .guard import DASHBOARD, Dashboard


def add_dashboard(app: web.Application, services: Services, trusted_proxies: tuple[Any, ...] = ()) -> None:
    app[DASHBOARD] = Dashboard(services, trusted_proxies)
    r = app.router
    r.add_get("/", pages.home)
    r.add_get("/signin", pages.signin_page)
    r.add_post("/signin", pages.signin_passphrase)
    r.add_post("/signout", pages.signout)
    r.add_get("/sources", pages.sources_page)
    r.add_get("/sources/new", pages.source_new)
    r.add_post("/sources/new", pages.source_create)
    r.add_get("/sources/{name}", pages.source_page)
    r.add_get("/sources/{name}/edit", pages.source_edit_form)
    r.add_post("/sources/{name}/edit", pages.source_update)
    r.add_post("/sources/{name}/run", pages.source_run)
    r.add_post("/sources/{name}/{what:enable|disable}", pages.source_enable)
    r.add_post("/sources/{name}/remove", pages.source_remove)
    r.add_post("/sources/{name}/authorize", pages.source_authorize_start)
    r.add_get("/sources/{name}/authorized", pages.source_authorized)
    r.add_post("/import", pages.upload)
    r.add_get("/consent", pages.consent)
    r.add_post("/consent/decide", pages.consent_decide)
    r.add_post("/grants/{id}/revoke", pages.grant_revoke)
    r.add_get("/access", pages.access)
    r.add_get("/rights", pages.rights)
    r.add_post("/rights/export", pages.export_download)
    r.add_post("/rights/erase", pages.erase)
    r.add_get("/data", pages.data)
    r.add_get("/data/{dataset}", pages.dataset_page)
    r.add_get("/events", pages.events)
    r.add_get("/static/{name}", pages.static)
