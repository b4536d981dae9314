"""Alerts for data that stopped arriving: a source's health or telecom records whose newest
is older than the rule's days. Each rule is off until the user turns it on; each silence is
told once, and told again only after the source's data came back and stopped again."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import SelfdataError
from ..times import iso
from ..vault import Vault, records
from ..vault.db import Connection
from . import settings

RULES = "alerts.stopped"
TOLD = "alerts.stopped.told"
CATEGORIES = ("health", "telecom")
DEFAULT_DAYS = 3
MAX_DAYS = 365
DAY_MS = 86_400_000


class AlertRuleError(SelfdataError, ValueError):
    """An alert rule that cannot be set as asked."""


@dataclass
class Rule:
    category: str
    on: bool = False
    days: int = DEFAULT_DAYS


@dataclass
class Stopped:
    source: str
    dataset: str
    last: str  # the newest record's own time
    days_silent: int

    @property
    def message(self) -> str:
        newest = self.last[:10]
        return f"{self.source} has sent no {self.dataset} for {self.days_silent} days (the newest is from {newest})"


def rules(conn: Connection) -> list[Rule]:
    stored = settings.get(conn, RULES) or {}
    return [Rule(c, **stored[c]) if c in stored else Rule(c) for c in CATEGORIES]


def set_rule(vault: Vault, category: str, on: bool, days: int | None = None) -> Rule:
    if category not in CATEGORIES:
        raise AlertRuleError(f"no alert for {category!r}: data stopping is watched for {', '.join(CATEGORIES)}")
    current = {r.category: r for r in rules(vault.conn)}[category]
    if days is not None:
        if not 1 <= days <= MAX_DAYS:
            raise AlertRuleError(f"tell after 1 to {MAX_DAYS} days of silence, not {days}")
        current.days = days
    current.on = on
    stored = settings.get(vault.conn, RULES) or {}
    stored[category] = {"on": current.on, "days": current.days}
    settings.put(vault, RULES, stored)
    return current


def silent(conn: Connection, now_ms: int) -> list[Stopped]:
    """Streams of enabled sources, in a category whose rule is on, silent past its days."""
    on = {r.category: r.days for r in rules(conn) if r.on}
    if not on:
        return []
    enabled = {name for (name,) in conn.execute("SELECT name FROM sources WHERE enabled = 1")}
    out = []
    for c in records.counts(conn):
        days = on.get(c.dataset.split(".", 1)[0])
        if c.source in enabled and c.count and c.last_ts is not None and days is not None:
            if c.last_ts < now_ms - days * DAY_MS:
                out.append(Stopped(c.source, c.dataset, iso(c.last_ts), (now_ms - c.last_ts) // DAY_MS))
    return sorted(out, key=lambda s: (s.source, s.dataset))


def to_tell(vault: Vault, now_ms: int) -> list[Stopped]:
    """The silences not told yet; they are marked told (call it, then deliver what it gives)."""
    found = silent(vault.conn, now_ms)
    told: dict[str, Any] = settings.get(vault.conn, TOLD) or {}
    marks = {f"{s.source}\x1f{s.dataset}": s.last for s in found}
    new = [s for s in found if told.get(f"{s.source}\x1f{s.dataset}") != s.last]
    if marks != told:  # a stream that came back loses its mark: its next silence is told
        settings.put(vault, TOLD, marks)
    return new


def rules_json(conn: Connection) -> list[dict[str, Any]]:
    return [asdict(r) for r in rules(conn)]
