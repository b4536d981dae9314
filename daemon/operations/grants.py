"""`selfdata grants`, `token create` and `access-log`: who may read what, and who read it."""

from __future__ import annotations

from dataclasses import dataclass

from .. import accesslog, catalog
from ..events import GrantDecided
from ..services import Services
from ..times import parse_instant
from .registry import Emit, NoParams, Result, operation


@dataclass(frozen=True)
class GrantCode:
    code: str


@dataclass(frozen=True)
class Decide:
    code: str
    approve: bool
    expires_days: int = 90


@dataclass(frozen=True)
class GrantId:
    id: str


@dataclass(frozen=True)
class CreateToken:
    app: str
    purpose: str
    scopes: tuple[str, ...]
    expires_days: int = 90
    origins: tuple[str, ...] = ()


@dataclass(frozen=True)
class AccessLogQuery:
    app: str | None = None
    since: str | None = None
    limit: int = 500
    until: str | None = None
    dataset: str | None = None  # a name or a glob such as health.*


@operation("grants.list", NoParams)
async def grants_list(services: Services, params: NoParams, emit: Emit) -> Result:
    """Every grant, pending, approved, denied or revoked."""
    if services.access is not None:
        services.access.flush()
    return [g.to_json() for g in services.get_grants().all()]


@operation("grants.pending", GrantCode)
async def grants_pending(services: Services, params: GrantCode, emit: Emit) -> Result:
    """The pending request with this user code, and the datasets its read scopes reach today."""
    grant = services.get_grants().pending(params.code)
    return {**grant.to_json(), "reads": catalog.matching(services.vault, services.registry, grant.scopes)}


@operation("grants.decide", Decide)
async def grants_decide(services: Services, params: Decide, emit: Emit) -> Result:
    """Approve or deny a pending request."""
    grant = services.get_grants().decide(params.code, params.approve, params.expires_days)
    services.events.publish(GrantDecided(grant.id, grant.status))
    return grant.to_json()


@operation("grants.revoke", GrantId)
async def grants_revoke(services: Services, params: GrantId, emit: Emit) -> Result:
    """Revoke a grant: its token stops working at once."""
    return services.get_grants().revoke(params.id).to_json()


@operation("token.create", CreateToken)
async def token_create(services: Services, params: CreateToken, emit: Emit) -> Result:
    """A token for a script, shown once."""
    grant, token = services.get_grants().create_token(
        params.app,
        params.purpose,
        list(params.scopes),
        expires_days=params.expires_days,
        origins=list(params.origins) or None,
    )
    warning = catalog.scope_warning(services.vault, services.registry, grant.scopes)
    return {**grant.to_json(), "token": token, **({"warning": warning} if warning else {})}


@operation("access_log", AccessLogQuery)
async def access_log(services: Services, params: AccessLogQuery, emit: Emit) -> Result:
    """What apps read, newest first."""
    if services.access is not None:
        services.access.flush()
    entries = accesslog.query(
        services.vault,
        app=params.app,
        since_ms=parse_instant(params.since) if params.since else None,
        until_ms=parse_instant(params.until) if params.until else None,
        dataset=params.dataset,
        limit=params.limit,
    )
    return [e.to_json() for e in entries]


OPERATIONS = (grants_list, grants_pending, grants_decide, grants_revoke, token_create, access_log)
