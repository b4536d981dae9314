"""Telecom: calls and messages per day and per contact, missed calls, and data used per
month against the plan's cap; and a month's summary.

Contacts are told apart by number, normalised again here (`connectors.telecom.phone`) in
the plan's home region, so "06 12 34 56 78" from one source and "+33612345678" from
another are one person; a contact's name is the one the data gives most often.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connectors.telecom.phone import check_region, normalize_number

from ..errors import SelfdataError
from ..times import now_ms
from ..vault import Vault, aggregate, timebuckets
from ..vault.db import Connection
from . import settings

MAX_DAYS = 3700
GB = 10**9
PLAN = "telecom.plan"
CONTACTS_SHOWN = 50
WITHHELD = "withheld"


class TelecomViewError(SelfdataError, ValueError):
    """A telecom view or setting asked for in a way that cannot be served; the message says why."""


@dataclass
class Plan:
    cap_bytes: int | None = None  # the plan's data per month; None: no cap set
    region: str | None = None  # where numbers without a country code were dialled


@dataclass
class DayOfCalls:
    day: str
    calls_in: int = 0
    calls_out: int = 0
    missed: int = 0
    rejected: int = 0
    messages_in: int = 0
    messages_out: int = 0


@dataclass
class Contact:
    number: str  # E.164 where the number is valid; "withheld" for hidden callers
    name: str | None
    calls: int
    missed: int
    call_minutes: int
    messages: int
    numbers_seen: list[str]  # the numbers as the sources stored them


@dataclass
class MissedCall:
    at: str
    number: str
    name: str | None


@dataclass
class MonthOfData:
    month: str
    bytes_up: int
    bytes_down: int
    used_bytes: int
    cap_bytes: int | None
    percent_of_cap: str | None  # "112.5": over the cap


@dataclass
class TelecomSummary:
    zone: str
    start: str
    end: str
    plan: Plan
    days: list[DayOfCalls]
    contacts: list[Contact]
    missed: list[MissedCall]
    usage: list[MonthOfData]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# ---- the plan -------------------------------------------------------------------------


def plan(conn: Connection) -> Plan:
    value = settings.get(conn, PLAN) or {}
    return Plan(value.get("cap_bytes"), value.get("region"))


def set_plan(vault: Vault, cap_bytes: int | None = None, region: str | None = None, *, clear_cap: bool = False) -> Plan:
    """Change the plan's cap (bytes a month) and home region; what is not given stays."""
    current = plan(vault.conn)
    if cap_bytes is not None:
        if cap_bytes <= 0 or cap_bytes > 10**15:
            raise TelecomViewError("a data cap is a positive size, such as 50GB")
        current.cap_bytes = cap_bytes
    if clear_cap:
        current.cap_bytes = None
    if region is not None:
        problem = check_region(region)
        if problem:
            raise TelecomViewError(problem)
        current.region = region.upper()
    settings.put(vault, PLAN, asdict(current))
    return current


def parse_size(text: str) -> int:
    """`50GB`, `1.5 TB`, `800MB` (decimal units, as operators sell plans) as bytes."""
    raw = text.strip().upper().replace(" ", "")
    for unit, factor in (("TB", 10**12), ("GB", GB), ("MB", 10**6), ("B", 1)):
        if raw.endswith(unit):
            try:
                value = Decimal(raw[: -len(unit)])
            except ArithmeticError:
                break
            if value.is_finite() and value > 0:
                return int(value * factor)
            break
    raise TelecomViewError(f"{text!r} is not a data size: write it like 50GB, 800MB or 1.5TB")


# ---- the view -------------------------------------------------------------------------


def _window(conn: Connection, days: int, zone: str, end: date | None) -> tuple[int, int, list[date], Any]:
    if not 1 <= days <= MAX_DAYS:
        raise TelecomViewError(f"show 1 to {MAX_DAYS} days, not {days}")
    try:
        tz = timebuckets.zone(zone)
    except timebuckets.ZoneError as err:
        raise TelecomViewError(str(err)) from None
    if end is None:
        end = _newest_day(conn, ("telecom.call", "telecom.message"), tz)
    first = end - timedelta(days=days - 1)
    after = end + timedelta(days=1)
    start_ms = int(datetime(first.year, first.month, first.day, tzinfo=tz).timestamp() * 1000)
    end_ms = int(datetime(after.year, after.month, after.day, tzinfo=tz).timestamp() * 1000)
    return start_ms, end_ms, [first + timedelta(days=i) for i in range(days)], tz


def _newest_day(conn: Connection, datasets: tuple[str, ...], tz: Any) -> date:
    """The local day of the newest record of `datasets` (calls and usage arrive apart: a
    router samples traffic now, a call list may be months old), else today."""
    marks = ",".join("?" * len(datasets))
    last = conn.execute(f"SELECT max(last_ts) FROM record_counts WHERE dataset IN ({marks})", datasets).fetchone()[0]
    return datetime.fromtimestamp((last if last is not None else now_ms()) / 1000, tz).date()


def summary(
    conn: Connection, *, days: int = 90, zone: str = "UTC", end: date | None = None, region: str | None = None
) -> TelecomSummary:
    start_ms, end_ms, span, tz = _window(conn, days, zone, end)
    the_plan = plan(conn)
    region = region or the_plan.region
    if region is not None and check_region(region):
        raise TelecomViewError(str(check_region(region)))
    per_day = {d.isoformat(): DayOfCalls(d.isoformat()) for d in span}
    for dataset, prefix in (("telecom.call", "calls"), ("telecom.message", "messages")):
        spec = aggregate.Aggregate(
            dataset, bucket="day", zone=zone, group=("direction",), start_ms=start_ms, end_ms=end_ms
        )
        for r in aggregate.run(conn, spec)["rows"]:
            day = per_day.get(r["start"][:10])
            name = {"missed": "missed", "rejected": "rejected"}.get(r["direction"], f"{prefix}_{r['direction']}")
            if day is not None and hasattr(day, name):
                setattr(day, name, getattr(day, name) + r["count"])
    return TelecomSummary(
        zone,
        span[0].isoformat(),
        span[-1].isoformat(),
        the_plan,
        list(per_day.values()),
        contacts(conn, start_ms, end_ms, region),
        missed_calls(conn, start_ms, end_ms, region, tz),
        usage_per_month(conn, zone, end or _newest_day(conn, ("telecom.usage",), tz), the_plan.cap_bytes),
    )


def contact_key(number: str | None, region: str | None) -> str:
    return normalize_number(number, region) or WITHHELD


def contacts(conn: Connection, start_ms: int, end_ms: int, region: str | None) -> list[Contact]:
    """Everyone called, calling or texting in the window, most in touch first."""
    found: dict[str, Contact] = {}
    names: dict[str, dict[str, int]] = {}
    for dataset in ("telecom.call", "telecom.message"):
        duration = "sum(json_extract(data, '$.duration_s'))" if dataset == "telecom.call" else "0"
        for number, name, direction, n, seconds in conn.execute(
            "SELECT json_extract(data, '$.number'), json_extract(data, '$.name'), json_extract(data, '$.direction'),"
            f" count(*), {duration} FROM records WHERE dataset=? AND deleted=0 AND ts >= ? AND ts < ?"
            " GROUP BY 1, 2, 3",
            (dataset, start_ms, end_ms),
        ):
            key = contact_key(number, region)
            c = found.setdefault(key, Contact(key, None, 0, 0, 0, 0, []))
            if number and number not in c.numbers_seen:
                c.numbers_seen.append(number)
            if dataset == "telecom.message":
                c.messages += n
            else:
                c.calls += n
                c.missed += n if direction == "missed" else 0
                c.call_minutes += int(seconds or 0)  # seconds until the end
            if name:
                names.setdefault(key, {})[name] = names.setdefault(key, {}).get(name, 0) + n
    for key, c in found.items():
        c.call_minutes = (c.call_minutes + 30) // 60
        c.numbers_seen.sort()
        if key in names:
            c.name = max(sorted(names[key]), key=lambda n: names[key][n])
    ranked = sorted(found.values(), key=lambda c: (-(c.calls + c.messages), c.number))
    return ranked[:CONTACTS_SHOWN]


def missed_calls(
    conn: Connection, start_ms: int, end_ms: int, region: str | None, tz: Any, limit: int = 20
) -> list[MissedCall]:
    rows = conn.execute(
        "SELECT ts, json_extract(data, '$.number'), json_extract(data, '$.name') FROM records"
        " WHERE dataset='telecom.call' AND deleted=0 AND ts >= ? AND ts < ?"
        " AND json_extract(data, '$.direction') = 'missed' ORDER BY ts DESC LIMIT ?",
        (start_ms, end_ms, limit),
    ).fetchall()
    return [
        MissedCall(datetime.fromtimestamp(ts / 1000, tz).isoformat(), contact_key(number, region), name)
        for ts, number, name in rows
    ]


def usage_per_month(
    conn: Connection, zone: str, last_day: date, cap: int | None, months: int = 12
) -> list[MonthOfData]:
    """Bytes up and down per local month, the `months` months ending with `last_day`'s."""
    tz = timebuckets.zone(zone)
    first = last_day.replace(day=1)
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    nxt = (last_day.replace(day=28) + timedelta(days=4)).replace(day=1)
    start_ms = int(datetime(first.year, first.month, 1, tzinfo=tz).timestamp() * 1000)
    end_ms = int(datetime(nxt.year, nxt.month, 1, tzinfo=tz).timestamp() * 1000)
    totals: dict[str, list[int]] = {}
    for i, fieldname in enumerate(("bytes_up", "bytes_down")):
        spec = aggregate.Aggregate("telecom.usage", "sum", fieldname, "month", zone, start_ms=start_ms, end_ms=end_ms)
        for r in aggregate.run(conn, spec)["rows"]:
            totals.setdefault(r["start"][:7], [0, 0])[i] += int(r["value"] or 0)
    out = []
    for month in sorted(totals):
        up, down = totals[month]
        used = up + down
        percent = None
        if cap:
            percent = str((Decimal(used) * 100 / cap).quantize(Decimal("0.1"), ROUND_HALF_UP))
        out.append(MonthOfData(month, up, down, used, cap, percent))
    return out


def _call_minutes(conn: Connection, first: date, last: date, zone: str) -> int:
    start_ms, end_ms, _, _ = _window(conn, (last - first).days + 1, zone, last)
    spec = aggregate.Aggregate("telecom.call", "sum", "duration_s", start_ms=start_ms, end_ms=end_ms)
    rows = aggregate.run(conn, spec)["rows"]
    return (int(rows[0]["value"] or 0) + 30) // 60 if rows else 0


# ---- a month --------------------------------------------------------------------------


@dataclass
class TelecomMonth:
    month: str
    zone: str
    calls_in: int
    calls_out: int
    missed: int
    call_minutes: int
    messages_in: int
    messages_out: int
    top_contacts: list[Contact]
    data_used_bytes: int | None  # None: no usage data that month
    cap_bytes: int | None
    percent_of_cap: str | None


def telecom_month_summary(conn: Connection, month: str, zone: str = "UTC") -> TelecomMonth:
    """A month of calls, messages and data for `selfdata report`."""
    try:
        first = datetime.strptime(month, "%Y-%m").date()
    except ValueError:
        raise TelecomViewError(f"{month!r} is not a month: write YYYY-MM") from None
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    s = summary(conn, days=(last - first).days + 1, zone=zone, end=last)
    used = next((u for u in s.usage if u.month == month), None)
    return TelecomMonth(
        month,
        zone,
        sum(d.calls_in for d in s.days),
        sum(d.calls_out for d in s.days),
        sum(d.missed for d in s.days),
        _call_minutes(conn, first, last, zone),
        sum(d.messages_in for d in s.days),
        sum(d.messages_out for d in s.days),
        s.contacts[:5],
        used.used_bytes if used else None,
        s.plan.cap_bytes,
        used.percent_of_cap if used else None,
    )
