"""The insights: the money view, category rules, money alerts and `selfdata report`.

The dashboard's money page and `selfdata report` read through these, as every other page
reads through its operations; the views are computed from the aggregates (daemon.insights).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from ..insights import cache, categories, money, money_alerts, report
from ..insights.reads import Reads
from ..services import Services
from ..times import now_ms
from ..vault import timebuckets
from .registry import Emit, NoParams, OperationError, Result, operation

log = logging.getLogger("selfdata.insights")
LANGS = ("en", "fr")
T = TypeVar("T")


@dataclass(frozen=True)
class MonthParams:
    month: str | None = None  # YYYY-MM; the current month when absent
    zone: str = "UTC"
    lang: str = "en"
    today: str | None = None  # YYYY-MM-DD: what counts as today (a reproducible report)


@dataclass(frozen=True)
class RuleAdd:
    pattern: str
    category: str
    field: str = "any"


@dataclass(frozen=True)
class RuleRemove:
    id: int


@dataclass(frozen=True)
class AlertSet:
    kind: str
    enabled: bool
    threshold: str | None = None
    zone: str = "UTC"
    today: str | None = None  # YYYY-MM-DD, as for money.view


def period(params: MonthParams) -> report.Period:
    try:
        tz = timebuckets.zone(params.zone)
    except timebuckets.ZoneError as err:
        raise OperationError(str(err)) from None
    if params.lang not in LANGS:
        raise OperationError(f"{params.lang!r} is not a language of the views: use one of {', '.join(LANGS)}")
    try:
        today = date.fromisoformat(params.today) if params.today else datetime.now(UTC).astimezone(tz).date()
    except ValueError:
        raise OperationError(f"{params.today!r} is not a date (YYYY-MM-DD)") from None
    month = params.month or today.isoformat()[:7]
    money.window(month, params.zone)  # a bad month is refused here, naming it
    return report.Period(month, params.zone, today, params.lang)


def reading(services: Services, compute: Callable[[Reads], T]) -> T:
    """`compute` over a read connection of its own (so it can run off the event loop), its
    views kept in `services.views` while the bank data they read stays as it was."""
    conn = services.vault.reader(cache_kib=8000)
    try:
        version = services.views.version(conn)

        def memo(key: Hashable, fn: Callable[[], Any]) -> Any:
            found = services.views.get(key, version)
            if found is None:
                found = fn()
                services.views.put(key, version, found)
            return found

        return compute(Reads(conn, memo))
    finally:
        conn.close()


def money_view(services: Services, p: report.Period) -> dict[str, Any]:
    return reading(services, lambda reads: money.cached_view(reads, p.month, p.zone, p.today, p.lang))


@operation("money.view", MonthParams)
async def money_view_op(services: Services, params: MonthParams, emit: Emit) -> Result:
    """A month's money: in, out, net, balances, spending by category, recurring payments."""
    return await asyncio.to_thread(money_view, services, period(params))


@operation("money.rules", NoParams)
async def money_rules(services: Services, params: NoParams, emit: Emit) -> Result:
    """The category rules: yours, in the order they apply, then the starter set."""
    mine = categories.stored(services.vault.conn)
    return {"rules": [r.to_json() for r in mine], "starter": [r.to_json() for r in categories.STARTER]}


@operation("money.rule_add", RuleAdd)
async def money_rule_add(services: Services, params: RuleAdd, emit: Emit) -> Result:
    """Add a category rule: transactions whose counterparty or description contains PATTERN."""
    with services.vault.writer.transaction() as conn:
        rule = categories.add(conn, params.pattern, params.category, params.field)
    return rule.to_json()


@operation("money.rule_remove", RuleRemove)
async def money_rule_remove(services: Services, params: RuleRemove, emit: Emit) -> Result:
    """Remove a category rule; the months it categorised go back to what they were."""
    with services.vault.writer.transaction() as conn:
        if not categories.remove(conn, params.id):
            raise OperationError(f"no category rule {params.id}: `selfdata categories list` shows them")
    return {"removed": params.id}


@operation("money.alerts", NoParams)
async def money_alerts_list(services: Services, params: NoParams, emit: Emit) -> Result:
    """The money alerts, each off until switched on."""
    return money_alerts.settings(services.vault.conn)


@operation("money.alert_set", AlertSet)
async def money_alert_set(services: Services, params: AlertSet, emit: Emit) -> Result:
    """Switch a money alert on or off (low_balance takes a threshold)."""
    checked = money_alerts.check_setting(params.kind, params.enabled, params.threshold)
    current: list[money_alerts.Alert] = []
    if params.enabled:  # what is there already when it is switched on is not news
        p = period(MonthParams(zone=params.zone, today=params.today))
        percent = params.kind in money_alerts.PERCENT_KINDS
        current = money_alerts.candidates(
            money_view(services, p),
            checked if params.kind == "low_balance" else None,
            {params.kind: checked} if percent and checked else None,
            last_energy_month(services, params.zone, p.today) if params.kind == "energy_month" else (),
        )
    with services.vault.writer.transaction() as conn:
        money_alerts.set_alert(conn, params.kind, params.enabled, params.threshold, current)
    return money_alerts.settings(services.vault.conn)


def due_alerts(services: Services, zone: str = "UTC", today: str | None = None) -> list[money_alerts.Alert]:
    """The money alerts to tell now (marked told), from this month's view (computed, and so kept)."""
    p = period(MonthParams(zone=zone, today=today))
    view = money_view(services, p)
    on = {s["kind"] for s in money_alerts.settings(services.vault.conn) if s["enabled"]}
    if not on:
        return []
    energy = last_energy_month(services, zone, p.today) if "energy_month" in on else []
    with services.vault.writer.transaction() as conn:
        return money_alerts.due(conn, view, energy)


def last_energy_month(services: Services, zone: str, today: date) -> list[dict[str, Any]]:
    """The last whole month's energy per stream against the usual month (the 12 before it)."""
    from ..insights.energy import month_streams
    from .energy import slot_cache

    first = today.replace(day=1)
    month = (first - timedelta(days=1)).strftime("%Y-%m")
    streams = month_streams(services.vault.conn, month, zone, slot_cache(services))
    return [
        {
            "month": month,
            "stream": s.stream,
            "unit": s.unit,
            "total": str(s.total),
            "usual": None if s.usual is None else str(s.usual),
            "change_percent": None if s.change_percent is None else str(s.change_percent),
        }
        for s in streams
        if s.slots * 10 >= s.expected * 9  # a month with a tenth of its readings missing is not compared
    ]


@operation("report", MonthParams)
async def report_op(services: Services, params: MonthParams, emit: Emit) -> Result:
    """A month's summary in sections (money; others as they come), for `selfdata report`."""
    p = period(params)
    out = await asyncio.to_thread(reading, services, lambda reads: report.build(reads, p))
    out["generated_at"] = datetime.fromtimestamp(now_ms() / 1000, UTC).isoformat()
    return out


OPERATIONS = (
    money_view_op,
    money_rules,
    money_rule_add,
    money_rule_remove,
    money_alerts_list,
    money_alert_set,
    report_op,
)


WATCHED = (*cache.BANK, "energy.reading")  # what the alerts are computed from
SETTLE_S = 5.0  # a sync commits in batches: the view is computed once they stop coming


async def watch(services: Services, zone: str) -> None:
    """After bank data changes: the current month's view computed ahead (the page then finds
    it), and the money alerts switched on told through the notification channels."""
    from ..events import Notification, RecordsChanged
    from ..notify import Notifier

    notifier = Notifier(services.config, services.vault, services.events)
    queue = services.events.subscribe()
    first = True  # at start too: the page then finds this month computed
    try:
        while True:
            if not first:
                event = await queue.get()
                if not (isinstance(event, RecordsChanged) and any(d in WATCHED for d in event.datasets)):
                    continue
                while True:  # until the batches settle
                    try:
                        await asyncio.wait_for(queue.get(), SETTLE_S)
                    except TimeoutError:
                        break
            first = False
            try:
                alerts = await asyncio.to_thread(due_alerts, services, zone)
            except Exception:
                log.exception("could not compute the money view after a change")
                continue
            for alert in alerts:
                payload = {
                    "source": "money",
                    "kind": alert.kind,
                    "message": alert.message,
                    "action": "",
                    "health": "ok",
                    "at": datetime.fromtimestamp(now_ms() / 1000, UTC).isoformat(),
                }
                delivered = await notifier.deliver(payload)
                with services.vault.writer.transaction() as conn:
                    conn.execute(
                        "INSERT INTO notifications (at, source, kind, message, delivered) VALUES (?,?,?,?,?)",
                        (now_ms(), "money", alert.kind, alert.message, ",".join(delivered)),
                    )
                services.events.publish(Notification("money", alert.kind, alert.message, "", "ok"))
    finally:
        services.events.unsubscribe(queue)
