"""The money view: per account and for all, a month's money in, out and net over the last
twelve months; balances over time; the month's spending by category; recurring payments.

Everything comes from the aggregates (sums of `amount` per local month or day, grouped by
declared fields) except the month's own transactions, read to put each in its category. The
same sums are read from `bank_amounts`, the short rows the vault's triggers keep per
transaction (daemon.vault.bankamounts), wherever that table can say them exactly.
Sums stay Decimal end to end and currencies are kept apart: a total is per currency, never
across them. A bank that knows only the latest balance (most do) gives the balance of every
earlier day by taking back the booked transactions after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from ..errors import SelfdataError
from ..vault import bankamounts
from ..vault.aggregate import AggregateError
from . import categories, recurring
from .reads import Reads

TX = "bank.transaction"
MONTHS_SHOWN = 12
RECURRING_MONTHS = 27  # two yearly payments and a bit
REACH_MONTHS = 12  # the months before the current one whose views share its kept aggregates
UNIT = Decimal(10) ** bankamounts.SCALE
EXPS = [Decimal(1).scaleb(-s) for s in range(bankamounts.SCALE + 1)]


class MonthError(SelfdataError, ValueError):
    """A month that is not YYYY-MM."""


@dataclass(frozen=True)
class Window:
    month: str  # YYYY-MM, the one shown
    months: tuple[str, ...]  # the twelve ending with it
    start_ms: int  # local midnight on the first of the first month
    month_start_ms: int
    end_ms: int  # local midnight on the first of the next month
    zone: str


def _month_add(first: date, n: int) -> date:
    y, m = divmod(first.month - 1 + n, 12)
    return date(first.year + y, m + 1, 1)


def _midnight_ms(day: date, tz: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp() * 1000)


def window(month: str, zone: str, months: int = MONTHS_SHOWN) -> Window:
    try:
        first = date.fromisoformat(month + "-01")
        if len(month) != 7:
            raise ValueError
    except ValueError:
        raise MonthError(f"{month!r} is not a month: write YYYY-MM, e.g. 2026-03") from None
    tz = ZoneInfo(zone)
    shown = tuple(_month_add(first, i - months + 1).isoformat()[:7] for i in range(months))
    return Window(
        month,
        shown,
        _midnight_ms(_month_add(first, 1 - months), tz),
        _midnight_ms(first, tz),
        _midnight_ms(_month_add(first, 1), tz),
        zone,
    )


def last_day(w: Window) -> date:
    return _month_add(date.fromisoformat(w.month + "-01"), 1) - timedelta(days=1)


def by_currency(reads: Reads, spec: dict[str, Any]) -> list[dict[str, Any]]:
    """An aggregate's rows; where a group of it holds several currencies, asked once per currency.
    From the kept `bank_amounts` where it answers (values then Decimals), else the records."""
    kept = bankamounts.aggregate(reads.conn, **spec, memo=reads.memo)
    if kept is not None:
        return kept
    try:
        return reads.aggregate(TX, **spec)
    except AggregateError as err:
        if err.code != "mixed_units":
            raise
    currencies = reads.aggregate(TX, group=("currency",), start_ms=spec.get("start_ms"), end_ms=spec.get("end_ms"))
    rows = []
    for c in currencies:
        where = (*spec.get("where", ()), f"currency={c['currency']}")
        rows += reads.aggregate(TX, **{**spec, "where": where})
    return rows


def _dec(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value)) if value is not None else Decimal(0)


def flows(
    in_rows: Sequence[dict[str, Any]], out_rows: Sequence[dict[str, Any]], months: Sequence[str]
) -> dict[str, Any]:
    """Money in, out and net per account and month, and per currency for all accounts."""
    cells: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for rows, side in ((in_rows, "in"), (out_rows, "out")):
        for r in rows:
            key = (str(r.get("account_id")), str(r.get("currency")))
            month = r["start"][:7]
            cell = cells.setdefault(key, {}).setdefault(month, {"in": Decimal(0), "out": Decimal(0), "count": 0})
            cell[side] += _dec(r.get("value"))
            cell["count"] += r["count"]
    accounts = []
    totals: dict[str, dict[str, dict[str, Any]]] = {}
    for (account, currency), by_month in sorted(cells.items()):
        rows = []
        for m in months:
            c = by_month.get(m, {"in": Decimal(0), "out": Decimal(0), "count": 0})
            rows.append(_flow(m, c))
            t = totals.setdefault(currency, {}).setdefault(m, {"in": Decimal(0), "out": Decimal(0), "count": 0})
            for k in ("in", "out", "count"):
                t[k] += c[k]
        accounts.append({"account_id": account, "currency": currency, "months": rows})
    all_ = [{"currency": cur, "months": [_flow(m, by[m]) for m in months]} for cur, by in sorted(totals.items())]
    return {"accounts": accounts, "totals": all_}


def _flow(month: str, c: dict[str, Any]) -> dict[str, Any]:
    return {
        "month": month,
        "in": str(c["in"]),
        "out": str(c["out"]),
        "net": str(c["in"] + c["out"]),
        "count": c["count"],
    }


def balances(
    accounts: Sequence[dict[str, Any]], day_rows: Sequence[dict[str, Any]], w: Window, tz: ZoneInfo
) -> list[dict[str, Any]]:
    """Each account's balance at the end of each day and month of the window, from its known
    balance and the booked transactions between."""
    nets: dict[str, dict[date, Decimal]] = {}
    for r in day_rows:
        day = date.fromisoformat(r["start"][:10])
        per = nets.setdefault(str(r.get("account_id")), {})
        per[day] = per.get(day, Decimal(0)) + _dec(r.get("value"))
    first, last = date.fromisoformat(w.months[0] + "-01"), last_day(w)
    out = []
    for a in accounts:
        d = a["data"]
        if d.get("balance") is None:
            continue
        anchor_at = d.get("balance_at") or a["ts"]
        anchor = datetime.fromisoformat(anchor_at.replace("Z", "+00:00")).astimezone(tz).date()
        known = Decimal(d["balance"])
        per = nets.get(d["account_id"], {})
        start, end = first, min(last, max([anchor, *per]) if per else anchor)
        # the balance at the end of `start`, then day by day
        after = sum((v for k, v in per.items() if start < k <= anchor), Decimal(0))
        before = sum((v for k, v in per.items() if anchor < k <= start), Decimal(0))
        balance = known - after + before
        points = [{"day": start.isoformat(), "balance": str(balance)}]
        month_ends: dict[str, str] = {}
        day = start
        while day < end:
            day += timedelta(days=1)
            if day in per:
                balance += per[day]
                points.append({"day": day.isoformat(), "balance": str(balance)})
            month_ends[day.isoformat()[:7]] = str(balance)
        month_ends.setdefault(start.isoformat()[:7], points[0]["balance"])
        out.append(
            {
                "account_id": d["account_id"],
                "name": d.get("name") or d["account_id"],
                "institution": d.get("institution"),
                "currency": d["currency"],
                "balance": d["balance"],
                "balance_at": anchor_at,
                "points": points,
                "month_ends": [{"month": m, "balance": month_ends[m]} for m in w.months if m in month_ends],
            }
        )
    return out


def spending(categorised: Sequence[tuple[dict[str, Any], str, str]]) -> list[dict[str, Any]]:
    """Money out per category in each currency, largest first."""
    per: dict[str, dict[str, dict[str, Any]]] = {}
    for t, category, origin in categorised:
        amount = _dec(t.get("amount"))
        if amount >= 0:
            continue
        row = per.setdefault(str(t.get("currency")), {}).setdefault(
            category, {"category": category, "out": Decimal(0), "count": 0, "origins": set()}
        )
        row["out"] += amount
        row["count"] += 1
        row["origins"].add(origin or "none")
    return [
        {
            "currency": cur,
            "total": str(sum((r["out"] for r in rows.values()), Decimal(0))),
            "rows": [
                {**r, "out": str(r["out"]), "origins": sorted(r["origins"])}
                for r in sorted(rows.values(), key=lambda r: (r["out"], r["category"]))
            ],
        }
        for cur, rows in sorted(per.items())
    ]


def series(day_rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], list[recurring.Payment]]:
    out: dict[tuple[str, str], dict[date, recurring.Payment]] = {}
    days: dict[str, date] = {}
    for r in day_rows:
        payee = recurring.payee_of(r.get("counterparty"), r.get("description"))
        if not payee:
            continue
        day = days.get(r["start"]) or days.setdefault(r["start"], date.fromisoformat(r["start"][:10]))
        per = out.setdefault((payee, str(r.get("currency"))), {})
        amount = -_dec(r.get("value"))
        had = per.get(day)
        per[day] = recurring.Payment(day, amount + (had.amount if had else 0), r["count"] + (had.count if had else 0))
    return {k: list(v.values()) for k, v in out.items()}


def kept_series(rows: Sequence[Any]) -> dict[tuple[str, str], list[recurring.Payment]]:
    """`series` from `bankamounts.payments` rows: whole 10^-9 units summed per payee and day,
    then made Decimals, the same exact amounts."""
    sums: dict[tuple[str, str], dict[int, list[int]]] = {}
    for day, counterparty, description, currency, n, total, scale, *_ in rows:
        payee = recurring.payee_of(counterparty, description)
        if not payee:
            continue
        per = sums.setdefault((payee, str(currency)), {})
        cell = per.get(day)
        if cell is None:
            per[day] = [total or 0, n, scale]
        else:
            cell[0] += total or 0
            cell[1] += n
            cell[2] = max(cell[2], scale)
    epoch = date(1970, 1, 1)
    return {
        key: [
            recurring.Payment(epoch + timedelta(days=day), -(Decimal(t) / UNIT).quantize(EXPS[s]), n)
            for day, (t, n, s) in per.items()
        ]
        for key, per in sums.items()
    }


def _recurring_series(
    reads: Reads, spec: dict[str, Any], month: str, today: date, tz: ZoneInfo
) -> dict[tuple[str, str], list[recurring.Payment]]:
    """Money out per payee over the months recurring payments are looked for in."""
    m = date.fromisoformat(month + "-01")
    lo, hi = _month_add(m, 1 - RECURRING_MONTHS), _month_add(m, 1)
    kept = bankamounts.payments(reads.conn, spec["zone"], _midnight_ms(lo, tz), _midnight_ms(hi, tz))
    if kept is not None:
        return kept_series(kept)
    return series(_rows(reads, spec, month, RECURRING_MONTHS - 1, True, today, tz))


def _rows(
    reads: Reads, spec: dict[str, Any], month: str, before: int, bounded: bool, today: date, tz: ZoneInfo
) -> list[dict[str, Any]]:
    """The aggregate `spec` over the months from `before` months ahead of `month` to its end
    (or on, unbounded). A month of the last year takes them from the rows of the current
    month's wider window, which the daemon keeps: a page of last March reads no record."""
    m = date.fromisoformat(month + "-01")
    c = date(today.year, today.month, 1)
    back = (c.year - m.year) * 12 + c.month - m.month
    lo, hi = _month_add(m, -before), _month_add(m, 1)
    if not 0 <= back <= REACH_MONTHS:
        return by_currency(
            reads, {**spec, "start_ms": _midnight_ms(lo, tz), "end_ms": _midnight_ms(hi, tz) if bounded else None}
        )
    start, end = _month_add(c, -before - REACH_MONTHS), _month_add(c, 1)
    wide = {**spec, "start_ms": _midnight_ms(start, tz), "end_ms": _midnight_ms(end, tz) if bounded else None}
    rows = reads.memo(("rows", repr(sorted(wide.items()))), lambda: by_currency(reads, wide))
    first, after = lo.isoformat(), hi.isoformat()
    return [r for r in rows if first <= r["start"][:10] and (not bounded or r["start"][:10] < after)]


def view(
    reads: Reads, month: str, zone: str, today: date, rules: Sequence[categories.Rule], lang: str = "en"
) -> dict[str, Any]:
    tz = ZoneInfo(zone)
    w = window(month, zone)
    spec: dict[str, Any] = {"fn": "sum", "field": "amount", "bucket": "month", "zone": zone}
    spec["group"] = ("account_id", "currency")
    before = MONTHS_SHOWN - 1
    money = flows(
        _rows(reads, {**spec, "where": ("amount__gt=0",)}, month, before, True, today, tz),
        _rows(reads, {**spec, "where": ("amount__lt=0",)}, month, before, True, today, tz),
        w.months,
    )
    days = _rows(reads, {**spec, "bucket": "day", "where": ("status=booked",)}, month, before, False, today, tz)
    accounts = reads.records("bank.account")
    txns = [r["data"] for r in reads.records(TX, w.month_start_ms, w.end_ms)]
    categorised, effects = categories.categorise(txns, rules, lang)
    rec_spec = {**spec, "bucket": "day", "group": ("counterparty", "description"), "where": ("amount__lt=0",)}
    paid = _recurring_series(reads, rec_spec, month, today, tz)
    as_of = min(today, last_day(w))
    names = {a["data"]["account_id"]: a["data"].get("name") for a in accounts}
    for a in money["accounts"]:
        a["name"] = names.get(a["account_id"]) or a["account_id"]
    shown = next((i for i, m in enumerate(w.months) if m == month), -1)
    return {
        "month": month,
        "zone": zone,
        "months": list(w.months),
        "accounts": money["accounts"],
        "totals": money["totals"],
        "summary": [{"currency": t["currency"], **t["months"][shown]} for t in money["totals"]],
        "balances": balances(accounts, days, w, tz),
        "spending": spending(categorised),
        "transactions": len(txns),
        "recurring": [r.to_json() for r in recurring.detect(paid, as_of)],
        "bills": [b.to_json() for b in recurring.bills(paid, as_of)],
        "rules": [{**r.to_json(lang), "effect": effects[r.id].to_json()} for r in rules if r.id is not None],
        "as_of": as_of.isoformat(),
    }


def cached_view(reads: Reads, month: str, zone: str, today: date, lang: str = "en") -> dict[str, Any]:
    """`view` with the user's rules, kept by `reads` while nothing it read changes."""
    rules = categories.stored(reads.conn)
    key = ("money.view", month, zone, today, lang, tuple(rules))
    return reads.memo(key, lambda: view(reads, month, zone, today, rules, lang))
