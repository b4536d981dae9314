"""`selfdata homeassistant ...`: set up, push energy statistics to, and forget a Home Assistant."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..homeassistant import push as ha_push
from ..homeassistant.errors import HomeAssistantRefused, websocket_url
from ..services import Services
from ..times import iso
from .registry import Emit, NoParams, OperationError, Result, operation


@dataclass(frozen=True)
class Setup:
    url: str
    token: str | None = field(default=None, repr=False)  # None: keep the stored one
    auto: bool = True
    check: bool = True


@dataclass(frozen=True)
class Push:
    full: bool = False


def _lock(services: Services) -> asyncio.Lock:
    """One push at a time (the daemon's after a sync, one asked for): kept on the services."""
    lock = services.insights.get("homeassistant.lock")
    if not isinstance(lock, asyncio.Lock):
        lock = services.insights["homeassistant.lock"] = asyncio.Lock()
    return lock


@operation("homeassistant.setup", Setup)
async def homeassistant_setup(services: Services, params: Setup, emit: Emit) -> Result:
    """Store Home Assistant's address and access token (the token encrypted), after trying them."""
    try:
        websocket_url(params.url)
    except ValueError as err:
        raise OperationError(str(err)) from None
    secret = params.token if params.token is not None else ha_push.token(services.vault)
    if not secret:
        raise OperationError("give Home Assistant's long-lived access token (none is stored yet)")
    user = None
    version = None
    if params.check:
        from ..homeassistant.client import Connection

        async with Connection(params.url, secret) as ha:
            version = ha.version
            user = await ha.current_user()
        if user is not None and not user.get("is_admin"):
            raise HomeAssistantRefused(
                f"the token belongs to {user.get('name')!r}, who is not an administrator of Home Assistant at"
                f" {params.url}: importing statistics needs an administrator's token"
            )
    await asyncio.to_thread(
        ha_push.save_settings, services.vault, ha_push.Settings(params.url.strip(), params.auto), params.token
    )
    return {"url": params.url.strip(), "auto": params.auto, "ha_version": version, "user": user and user.get("name")}


@operation("homeassistant.push", Push)
async def homeassistant_push(services: Services, params: Push, emit: Emit) -> Result:
    """Send the energy readings changed since the last push as HA long-term statistics."""
    async with _lock(services):
        return await ha_push.push(services.vault, full=params.full, emit=emit)


@operation("homeassistant.status", NoParams)
async def homeassistant_status(services: Services, params: NoParams, emit: Emit) -> Result:
    """Where statistics go, and what each one holds since the last push."""
    conn = services.vault.conn
    config = ha_push.load_settings(conn)
    pushed = ha_push.pushed_state(conn)
    stats = [
        {
            "statistic_id": sid,
            "meter_id": p.get("meter_id"),
            "commodity": p.get("commodity"),
            "direction": p.get("direction"),
            "unit": p.get("unit"),
            "last": iso(int(p["last"])) if p.get("last") is not None else None,
            "sum": p.get("sum"),
            "pushed_at": iso(int(p["at"])) if p.get("at") else None,
        }
        for sid, p in sorted(pushed.items())
    ]
    pending = await asyncio.to_thread(ha_push.plan, conn) if config is not None else (0, [], [])
    return {
        "configured": config is not None,
        "url": config.url if config else None,
        "auto": config.auto if config else False,
        "token_stored": bool(ha_push.token(services.vault)),
        "statistics": stats,
        "pending": [{"statistic_id": p.statistic_id, "hours": len(p.rows)} for p in pending[1]],
    }


@operation("homeassistant.remove", NoParams)
async def homeassistant_remove(services: Services, params: NoParams, emit: Emit) -> Result:
    """Forget Home Assistant's address, token and what was pushed (HA keeps its statistics)."""
    await asyncio.to_thread(ha_push.forget, services.vault)
    return {"removed": True}


OPERATIONS = (homeassistant_setup, homeassistant_push, homeassistant_status, homeassistant_remove)
