"""The dashboard's routes, added to the API application."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..services import Services
from . import (
    consent,
    data,
    home,
    insights_energy,
    insights_health,
    insights_money,
    insights_telecom,
    rights,
    signin_pages,
    sources,
    upload,
    vrm,
)
from .guard import DASHBOARD, Dashboard


def add_dashboard(app: web.Application, services: Services, trusted_proxies: tuple[Any, ...] = ()) -> None:
    app[DASHBOARD] = Dashboard(services, trusted_proxies)
    r = app.router
    r.add_get("/", home.home)
    r.add_get("/signin", signin_pages.signin_page)
    r.add_post("/signin", signin_pages.signin_passphrase)
    r.add_post("/signout", signin_pages.signout)
    r.add_get("/sources", sources.sources_page)
    r.add_get("/sources/new", sources.source_new)
    r.add_post("/sources/new", sources.source_create)
    r.add_get("/sources/{name}", sources.source_page)
    r.add_get("/sources/{name}/edit", sources.source_edit_form)
    r.add_post("/sources/{name}/edit", sources.source_update)
    r.add_post("/sources/{name}/run", sources.source_run)
    r.add_post("/sources/{name}/{what:enable|disable}", sources.source_enable)
    r.add_post("/sources/{name}/remove", sources.source_remove)
    r.add_post("/sources/{name}/authorize", sources.source_authorize_start)
    r.add_post("/sources/{name}/question", sources.source_question)
    r.add_post("/sources/{name}/answer", sources.source_answer)
    r.add_get("/sources/{name}/authorized", sources.source_authorized)
    r.add_post("/sources/{name}/authorized", sources.source_authorized_pasted)
    r.add_post("/import", upload.upload)
    r.add_get("/consent", consent.consent)
    r.add_post("/consent/decide", consent.consent_decide)
    r.add_post("/grants/{id}/revoke", consent.grant_revoke)
    r.add_get("/access", consent.access)
    r.add_get("/rights", rights.rights)
    r.add_post("/rights/export", rights.export_download)
    r.add_post("/rights/erase", rights.erase)
    r.add_get("/data", data.data)
    r.add_get("/data/{dataset}", data.dataset_page)
    r.add_get("/events", data.events)
    insights_energy.add_routes(app)
    r.add_get("/static/{name}", data.static)
    r.add_get("/health", insights_health.health_page)
    r.add_get("/telecom", insights_telecom.telecom_page)
    insights_money.add_routes(app)
    vrm.add_routes(app)
