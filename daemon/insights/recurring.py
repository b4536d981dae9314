"""Recurring payments: subscriptions and standing orders found in the payments themselves.

A series is the money out to one payee (its counterparty, else its description without
the reference numbers banks append) in one currency. It is recurring when the days between
its payments keep to one interval (weekly, monthly, yearly) and its amounts stay near their
median. Then it has a next expected date, maybe a price change (the last two prices, when
the price is mostly constant), and it has stopped when a payment is overdue well past its
interval.
"""

from __future__ import annotations

import functools
import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

# (name, shortest and longest gap in days, grace before a missing payment means stopped, least payments)
INTERVALS = (
    ("weekly", 6, 8, 4, 4),
    ("monthly", 26, 35, 12, 3),
    ("yearly", 350, 380, 35, 2),
)
AMOUNT_SPREAD = Decimal("0.40")  # every amount within 40% of the median: a bill varies, a price rises
REGULAR_SHARE = 0.75  # of the gaps that must fit the interval
_REFERENCE = re.compile(r"\S*\d\S*")  # a word with a digit: a reference, a store number, a date


@dataclass(frozen=True)
class Payment:
    on: date
    amount: Decimal  # positive: money out
    count: int = 1


@dataclass(frozen=True)
class Recurring:
    payee: str
    currency: str
    interval: str
    payments: int
    first: date
    last: date
    amount: Decimal  # the latest
    next_expected: date | None  # None once stopped
    stopped: bool
    price_from: Decimal | None = None  # the price before the latest change
    price_since: date | None = None  # the first payment at the latest price

    @property
    def change_percent(self) -> Decimal | None:
        if self.price_from is None or not self.price_from:
            return None
        return ((self.amount - self.price_from) / self.price_from * 100).quantize(Decimal(1), ROUND_HALF_EVEN)

    def change_text(self) -> str:
        pct = self.change_percent
        if pct is None or self.price_since is None:
            return ""
        return f"{'+' if pct > 0 else ''}{pct}% since {self.price_since.strftime('%B %Y')}"

    def to_json(self) -> dict[str, object]:
        return {
            "payee": self.payee,
            "currency": self.currency,
            "interval": self.interval,
            "payments": self.payments,
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
            "amount": str(self.amount),
            "next_expected": self.next_expected.isoformat() if self.next_expected else None,
            "stopped": self.stopped,
            "price_from": str(self.price_from) if self.price_from is not None else None,
            "price_since": self.price_since.isoformat() if self.price_since else None,
            "change_percent": str(self.change_percent) if self.change_percent is not None else None,
            "change": self.change_text(),
        }


@functools.lru_cache(maxsize=65536)
def payee_of(counterparty: str | None, description: str | None) -> str:
    """The name a series goes by: the counterparty, else the description without references."""
    if counterparty and counterparty.strip():
        return " ".join(counterparty.split())
    text = _REFERENCE.sub(" ", description or "")
    return " ".join(text.split()).strip(" -*#/").upper()


def _add_months(day: date, months: int, anchor_day: int) -> date:
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    for d in (anchor_day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("every month has 28 days")


def next_after(last: date, interval: str, anchor_day: int) -> date:
    if interval == "weekly":
        return last + timedelta(days=7)
    if interval == "monthly":
        return _add_months(last, 1, anchor_day)
    return _add_months(last, 12, anchor_day)


def detect_one(payee: str, currency: str, payments: Iterable[Payment], as_of: date) -> Recurring | None:
    """The series as a recurring payment, or None when it is not one."""
    pays = sorted(payments, key=lambda p: p.on)
    if len(pays) < 2:
        return None
    gaps = [(b.on - a.on).days for a, b in zip(pays, pays[1:], strict=False)]
    amounts = [p.amount for p in pays]
    median = Decimal(statistics.median(amounts))
    if median <= 0 or any(abs(a - median) > median * AMOUNT_SPREAD for a in amounts):
        return None
    for name, low, high, grace, least in INTERVALS:
        if len(pays) < least:
            continue
        fitting = sum(1 for g in gaps if low <= g <= high)
        if fitting < REGULAR_SHARE * len(gaps) or not low <= statistics.median(gaps) <= high:
            continue
        anchor = statistics.median_low([p.on.day for p in pays[-3:]])
        expected = next_after(pays[-1].on, name, anchor)
        stopped = (as_of - expected).days > grace
        price_from, price_since = _price_change(pays)
        return Recurring(
            payee=payee,
            currency=currency,
            interval=name,
            payments=len(pays),
            first=pays[0].on,
            last=pays[-1].on,
            amount=pays[-1].amount,
            next_expected=None if stopped else expected,
            stopped=stopped,
            price_from=price_from,
            price_since=price_since,
        )
    return None


def _price_change(pays: list[Payment]) -> tuple[Decimal | None, date | None]:
    """The previous price and the day the latest took over, when the price is mostly constant."""
    runs: list[list[Payment]] = []
    for p in pays:
        if runs and runs[-1][-1].amount == p.amount:
            runs[-1].append(p)
        else:
            runs.append([p])
    if len(runs) < 2 or len(runs) > max(2, len(pays) // 2):
        return None, None  # one price, or a bill that varies every time
    return runs[-2][-1].amount, runs[-1][0].on


def detect(series: dict[tuple[str, str], list[Payment]], as_of: date) -> list[Recurring]:
    """Every recurring series of {(payee, currency): payments}: active ones by next date, then stopped."""
    found = [r for (payee, cur), pays in series.items() if (r := detect_one(payee, cur, pays, as_of)) is not None]
    return sorted(found, key=lambda r: (r.stopped, r.next_expected or r.last, r.payee))


@dataclass(frozen=True)
class Bill:
    """A payee paid about monthly, whose latest payment is compared with its usual one (a bill
    varies, so it need not be recurring at a steady price to be told about)."""

    payee: str
    currency: str
    on: date
    amount: Decimal  # the latest payment
    usual: Decimal  # the median of the payments before it (up to 12)
    payments: int

    @property
    def change_percent(self) -> Decimal:
        return ((self.amount - self.usual) * 100 / self.usual).quantize(Decimal("0.1"), ROUND_HALF_EVEN)

    def to_json(self) -> dict[str, object]:
        return {
            "payee": self.payee,
            "currency": self.currency,
            "on": self.on.isoformat(),
            "amount": str(self.amount),
            "usual": str(self.usual),
            "payments": self.payments,
            "change_percent": str(self.change_percent),
        }


BILL_LEAST = 4  # payments before a usual amount means something: three, then the latest
BILL_RECENT_DAYS = 40  # a latest payment older than this is no news


def bills(series: dict[tuple[str, str], list[Payment]], as_of: date) -> list[Bill]:
    """Every payee paid about monthly with a recent payment, its latest against its usual."""
    out = []
    for (payee, currency), payments in series.items():
        pays = sorted((p for p in payments if p.on <= as_of), key=lambda p: p.on)
        if len(pays) < BILL_LEAST or (as_of - pays[-1].on).days > BILL_RECENT_DAYS:
            continue
        gaps = [(b.on - a.on).days for a, b in zip(pays, pays[1:], strict=False)]
        if not 26 <= statistics.median(gaps) <= 35:
            continue
        before = [p.amount for p in pays[-13:-1]]
        usual = Decimal(statistics.median(before))
        if usual > 0:
            out.append(Bill(payee, currency, pays[-1].on, pays[-1].amount, usual, len(pays)))
    return sorted(out, key=lambda b: (b.payee, b.currency))
