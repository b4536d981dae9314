"""The health and telecom views, their settings (a priority per observation code, the data
plan) and the alert for data that stopped arriving, as operations the CLI and dashboard run."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from ..config import Config
from ..events import EventBus, Notification
from ..insights import arrivals, health, telecom
from ..services import Services
from ..times import iso, now_ms
from ..vault import Vault
from .registry import Emit, NoParams, OperationError, Result, operation

log = logging.getLogger("selfdata.alerts")


@dataclass(frozen=True)
class TrendsParams:
    days: int = 90
    zone: str = "UTC"
    end: str | None = None  # YYYY-MM-DD; default: the day of the newest record


@dataclass(frozen=True)
class SetPriority:
    code: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class ClearPriority:
    code: str


@dataclass(frozen=True)
class TelecomParams:
    days: int = 90
    zone: str = "UTC"
    end: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class SetPlan:
    cap: str | None = None  # "50GB"
    no_cap: bool = False
    region: str | None = None


@dataclass(frozen=True)
class SetAlert:
    category: str
    on: bool
    days: int | None = None


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise OperationError(f"{text!r} is not a date: write YYYY-MM-DD") from None


@operation("health.trends", TrendsParams)
async def health_trends(services: Services, params: TrendsParams, emit: Emit) -> Result:
    """Health per observation code with 7-day rolling means and sources; workouts; clinical records."""
    return health.trends(services.vault.conn, days=params.days, zone=params.zone, end=_day(params.end)).to_json()


@operation("health.priority", NoParams)
async def health_priority(services: Services, params: NoParams, emit: Emit) -> Result:
    """Which source or device counts first, per observation code."""
    return [{"code": c, "names": n} for c, n in health.priorities(services.vault.conn).items()]


@operation("health.priority.set", SetPriority)
async def health_priority_set(services: Services, params: SetPriority, emit: Emit) -> Result:
    """Set the sources or devices that count for an observation code, first to last."""
    names = health.set_priority(services.vault, params.code, params.names)
    return {"code": params.code.strip(), "names": names}


@operation("health.priority.clear", ClearPriority)
async def health_priority_clear(services: Services, params: ClearPriority, emit: Emit) -> Result:
    """Count every source again for an observation code."""
    return {"code": params.code, "cleared": health.clear_priority(services.vault, params.code)}


@operation("telecom.summary", TelecomParams)
async def telecom_summary(services: Services, params: TelecomParams, emit: Emit) -> Result:
    """Calls and messages per day and per contact, missed calls, data per month against the cap."""
    s = telecom.summary(
        services.vault.conn, days=params.days, zone=params.zone, end=_day(params.end), region=params.region
    )
    return s.to_json()


@operation("telecom.plan", SetPlan)
async def telecom_plan(services: Services, params: SetPlan, emit: Emit) -> Result:
    """Show, or change, the data plan's monthly cap and home region."""
    if params.cap is None and not params.no_cap and params.region is None:
        return asdict(telecom.plan(services.vault.conn))
    cap = telecom.parse_size(params.cap) if params.cap is not None else None
    return asdict(telecom.set_plan(services.vault, cap, params.region, clear_cap=params.no_cap))


@operation("alerts.stopped", NoParams)
async def alerts_stopped(services: Services, params: NoParams, emit: Emit) -> Result:
    """The rules for data that stopped arriving, and the sources silent now."""
    return {
        "rules": arrivals.rules_json(services.vault.conn),
        "silent": [asdict(s) for s in arrivals.silent(services.vault.conn, now_ms())],
    }


@operation("alerts.stopped.set", SetAlert)
async def alerts_stopped_set(services: Services, params: SetAlert, emit: Emit) -> Result:
    """Turn the alert for a category's data that stopped arriving on or off."""
    return asdict(arrivals.set_rule(services.vault, params.category, params.on, params.days))


@operation("alerts.stopped.check", NoParams)
async def alerts_stopped_check(services: Services, params: NoParams, emit: Emit) -> Result:
    """Tell, through the notification channels, of sources silent past their rule (once each)."""
    return await tell_stopped(services.config, services.vault, services.events, now_ms())


async def tell_stopped(config: Config, vault: Vault, events: EventBus, at_ms: int) -> list[dict[str, Any]]:
    """Deliver each new silence through the notification channels and record it (the
    scheduler calls this hourly; every rule is off until the user turns it on)."""
    from ..notify import Notifier

    told = []
    notifier = Notifier(config, vault, events)
    for s in arrivals.to_tell(vault, at_ms):
        payload = {
            "source": s.source,
            "kind": "stopped",
            "message": s.message,
            "action": f"Check that {s.source} still runs or sends (selfdata status)",
            "health": "ok",
            "at": iso(at_ms),
        }
        delivered = await notifier.deliver(payload)
        with vault.writer.transaction() as conn:
            conn.execute(
                "INSERT INTO notifications (at, source, kind, message, delivered) VALUES (?,?,?,?,?)",
                (at_ms, s.source, "stopped", s.message, ",".join(delivered)),
            )
        events.publish(Notification(s.source, "stopped", s.message, payload["action"], "ok"))
        told.append({**asdict(s), "delivered": delivered})
    if told:
        log.info("told of %d source(s) whose data stopped arriving", len(told))
    return told


OPERATIONS = (
    health_trends,
    health_priority,
    health_priority_set,
    health_priority_clear,
    telecom_summary,
    telecom_plan,
    alerts_stopped,
    alerts_stopped_set,
    alerts_stopped_check,
)
