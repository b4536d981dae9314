"""Money alerts: a new recurring payment, a subscription's price change, a balance under a
threshold. Each is off until the user switches it on, and each thing is told once: what was
told is kept in the vault (`money_alerts_told`), so a restart never repeats it.

Switching an alert on takes what is there as known: only what appears afterwards is told.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import SelfdataError
from ..times import now_ms
from ..vault.db import Connection

KINDS = {
    "new_recurring": "a new recurring payment (subscription or standing order)",
    "price_change": "a recurring payment's price changed",
    "low_balance": "an account's balance under a threshold",
    "high_bill": "a monthly bill more than the threshold % above its usual amount (default 30)",
    "energy_month": "a month's energy use more than the threshold % above the usual month (default 30)",
}
PERCENT_KINDS = ("high_bill", "energy_month")
DEFAULT_PERCENT = "30"


class AlertError(SelfdataError, ValueError):
    """An alert setting that does not fit; the message names it."""


@dataclass(frozen=True)
class Alert:
    kind: str
    subject: str  # what it is about: a payee, an account
    value: str  # what was told about it: a price, "under"
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "subject": self.subject, "message": self.message}


def settings(conn: Connection) -> list[dict[str, Any]]:
    rows = {k: (e, t) for k, e, t in conn.execute("SELECT kind, enabled, threshold FROM money_alerts")}
    return [
        {"kind": k, "about": about, "enabled": bool(rows.get(k, (0, None))[0]), "threshold": rows.get(k, (0, None))[1]}
        for k, about in KINDS.items()
    ]


def check_setting(kind: str, enabled: bool, threshold: str | None) -> str | None:
    if kind not in KINDS:
        raise AlertError(f"{kind!r} is not a money alert: use one of {', '.join(KINDS)}")
    if kind in PERCENT_KINDS:
        return _percent(kind, threshold)
    if kind != "low_balance":
        if threshold is not None:
            raise AlertError(f"{kind} takes no threshold")
        return None
    if threshold is None:
        if enabled:
            raise AlertError("low_balance needs a threshold: the balance under which you are told, e.g. 100")
        return None
    try:
        value = Decimal(threshold)
    except InvalidOperation:
        raise AlertError(f"the threshold {threshold!r} is not a number (e.g. 100 or 250.50)") from None
    if not value.is_finite():
        raise AlertError(f"the threshold {threshold!r} is not a number (e.g. 100 or 250.50)")
    return str(value)


def _percent(kind: str, threshold: str | None) -> str:
    if threshold is None:
        return DEFAULT_PERCENT
    try:
        value = Decimal(threshold.strip().removesuffix("%"))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or not 0 < value <= 1000:
        raise AlertError(f"{kind}: the threshold {threshold!r} is not a percentage from 0 to 1000 (e.g. 30)")
    return str(value)


def set_alert(conn: Connection, kind: str, enabled: bool, threshold: str | None, current: Sequence[Alert]) -> None:
    """Store the setting; when switched on, what `current` holds is taken as already told."""
    threshold = check_setting(kind, enabled, threshold)
    was = conn.execute("SELECT enabled FROM money_alerts WHERE kind=?", (kind,)).fetchone()
    conn.execute(
        "INSERT INTO money_alerts (kind, enabled, threshold, updated_at) VALUES (?,?,?,?) ON CONFLICT (kind)"
        " DO UPDATE SET enabled=excluded.enabled, threshold=excluded.threshold, updated_at=excluded.updated_at",
        (kind, int(enabled), threshold, now_ms()),
    )
    if enabled and not (was and was[0]):
        conn.execute("DELETE FROM money_alerts_told WHERE kind=?", (kind,))
        _mark(conn, [a for a in current if a.kind == kind])


def _mark(conn: Connection, alerts: Sequence[Alert]) -> None:
    conn.executemany(
        "INSERT INTO money_alerts_told (kind, subject, value, at) VALUES (?,?,?,?) ON CONFLICT (kind, subject)"
        " DO UPDATE SET value=excluded.value, at=excluded.at",
        [(a.kind, a.subject, a.value, now_ms()) for a in alerts],
    )


def candidates(
    view: dict[str, Any],
    threshold: str | None,
    percents: dict[str, str] | None = None,
    energy: Sequence[dict[str, Any]] = (),
) -> list[Alert]:
    """Everything the money view (and `energy`, the last whole month per stream against the
    usual one) would alert about, were every alert on; `percents`: the percentage alerts' thresholds."""
    percents = percents or {}
    out = []
    bill_limit = Decimal(percents.get("high_bill") or DEFAULT_PERCENT)
    for b in view.get("bills", []):
        if Decimal(b["change_percent"]) > bill_limit:
            subject = f"{b['payee']} ({b['currency']})"
            out.append(
                Alert(
                    "high_bill",
                    subject,
                    b["on"],
                    f"{b['payee']}: {b['amount']} {b['currency']} on {b['on']}, +{b['change_percent']}% over its"
                    f" usual {b['usual']}",
                )
            )
    energy_limit = Decimal(percents.get("energy_month") or DEFAULT_PERCENT)
    for s in energy:
        if s["change_percent"] is not None and Decimal(s["change_percent"]) > energy_limit:
            out.append(
                Alert(
                    "energy_month",
                    s["stream"],
                    s["month"],
                    f"{s['stream']}: {s['total']} {s['unit']} in {s['month']}, +{s['change_percent']}% over the usual"
                    f" month ({s['usual']} {s['unit']})",
                )
            )
    for r in view.get("recurring", []):
        if r["stopped"]:
            continue
        subject = f"{r['payee']} ({r['currency']})"
        out.append(
            Alert(
                "new_recurring",
                subject,
                "seen",
                f"New recurring payment: {subject}, {r['amount']} {r['currency']} {r['interval']}, next expected"
                f" {r['next_expected']}",
            )
        )
        if r.get("price_from") is not None:
            out.append(
                Alert(
                    "price_change",
                    subject,
                    r["amount"],
                    f"{r['payee']} now costs {r['amount']} {r['currency']} instead of {r['price_from']}"
                    f" ({r['change']})",
                )
            )
    if threshold is not None:
        limit = Decimal(threshold)
        for b in view.get("balances", []):
            if Decimal(b["balance"]) < limit:
                out.append(
                    Alert(
                        "low_balance",
                        f"{b['name']} ({b['currency']})",
                        "under",
                        f"{b['name']}: balance {b['balance']} {b['currency']}, under {threshold}",
                    )
                )
    return out


def due(conn: Connection, view: dict[str, Any], energy: Sequence[dict[str, Any]] = ()) -> list[Alert]:
    """The alerts switched on that were not told yet; marks them told. A balance back above
    its threshold is forgotten, so the next fall is told again."""
    on = {k: t for k, e, t in conn.execute("SELECT kind, enabled, threshold FROM money_alerts") if e}
    if not on:
        return []
    percents = {k: t for k, t in on.items() if k in PERCENT_KINDS and t}
    found = [a for a in candidates(view, on.get("low_balance"), percents, energy) if a.kind in on]
    told = {(k, s): v for k, s, v in conn.execute("SELECT kind, subject, value FROM money_alerts_told")}
    fresh = [a for a in found if told.get((a.kind, a.subject)) != a.value]
    if "low_balance" in on:
        under = {a.subject for a in found if a.kind == "low_balance"}
        for kind, subject in list(told):
            if kind == "low_balance" and subject not in under:
                conn.execute("DELETE FROM money_alerts_told WHERE kind=? AND subject=?", (kind, subject))
    _mark(conn, fresh)
    return fresh
