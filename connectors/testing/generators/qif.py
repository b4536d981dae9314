"""QIF files as banks and personal-finance programs write them: an `!Account` block naming
the account (or none), a `!Type:Bank` or `!Type:CCard` section, dates month-first (US),
day-first (UK, Australia) or with Quicken's apostrophe (`1/ 5'26`), amounts with
thousands commas, categories and transfers, split transactions, and two identical
payments on Fridays (both must be kept). Optionally a category list and an investment
section before the transactions, which the importer skips.

Deterministic (seeded); a day's transactions depend only on the seed and the day, so
two files over overlapping days hold the same transactions for the days they share.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

PAYEES = [
    ("WHOLE FOODS MARKET #10234", "Groceries"),
    ("SHELL OIL 57442", "Auto:Fuel"),
    ("PACIFIC GAS & ELECTRIC", "Utilities:Electricity"),
    ("AMAZON MKTPLACE PMTS", "Shopping"),
    ("Café de Flore", "Dining"),
]


@dataclass
class Written:
    path: Path
    transactions: list[dict[str, object]] = field(default_factory=list)  # in file order

    @property
    def count(self) -> int:
        return len(self.transactions)


def _date(day: date, style: str) -> str:
    if style == "dmy":
        return f"{day:%d/%m/%Y}"
    if style == "quicken":
        return f"{day.month}/{day.day:2d}'{day:%y}"
    if style == "ymd":
        return day.isoformat()
    return f"{day:%m/%d/%Y}"


def _amount(value: Decimal) -> str:
    return f"{value:,.2f}"


def write_qif(
    path: Path,
    *,
    days: int = 20,
    seed: int = 1,
    end: date = date(2026, 5, 29),
    section: str = "Bank",
    account: str | None = "Checking",
    dates: str = "mdy",
    extras: bool = True,
    crlf: bool = False,
) -> Written:
    """`dates` is mdy, dmy, ymd or quicken (M/D'YY). `extras` adds a category list and an
    investment section (both skipped by the importer)."""
    written = Written(path)
    out: list[str] = []
    if extras:
        out += ["!Type:Cat", "NGroceries", "DFood and household", "E", "^", "NSalary", "I", "^"]
    if account is not None:
        out += ["!Option:AutoSwitch", "!Account", f"N{account}", f"T{section}", "^", "!Clear:AutoSwitch"]
    out.append(f"!Type:{section}")
    start = end - timedelta(days=days - 1)
    for d in range(days):
        day = start + timedelta(days=d)
        rng = random.Random(f"{seed}-{day.isoformat()}")
        entries: list[dict[str, object]] = []
        if day.day == 1:
            entries.append({"payee": "ACME CORP PAYROLL", "amount": Decimal("4250.00"), "category": "Salary"})
        if day.day == 3:
            entries.append({"payee": "Transfer to savings", "amount": Decimal("-500.00"), "category": "[Savings]"})
        for _ in range(rng.randint(0, 3)):
            payee, category = rng.choice(PAYEES)
            value = -Decimal(rng.randint(100, 180_000)) / 100
            entries.append(
                {"payee": payee, "amount": value, "category": category, "memo": f"POS {rng.randint(1000, 9999)}"}
            )
        if day.weekday() == 4:
            entries += [{"payee": "MUNI BUS", "amount": Decimal("-2.50"), "category": "Transport"}] * 2
        if day.day == 15:
            entries.append({"payee": "COSTCO WHSE", "amount": Decimal("-1234.56"), "splits": 2})
        for e in entries:
            amount = e["amount"]
            assert isinstance(amount, Decimal)
            lines = [f"D{_date(day, dates)}", f"T{_amount(amount)}", "C*"]
            if "memo" in e:
                lines.append(f"M{e['memo']}")
            lines.append(f"P{e['payee']}")
            if e.get("splits"):
                lines += [
                    "SGroceries",
                    f"${_amount(amount + Decimal('200.00'))}",
                    "SHousehold",
                    "EPaper towels",
                    "$-200.00",
                ]
            else:
                lines.append(f"L{e['category']}")
            lines.append("^")
            out += lines
            category = str(e.get("category") or "")
            written.transactions.append(
                {
                    "booked_on": day.isoformat(),
                    "amount": f"{amount:.2f}",
                    "description": e.get("memo") or e["payee"],
                    "counterparty": e["payee"],
                    "category": category if category and not category.startswith("[") else None,
                    "transfer_account": category.strip("[]") if category.startswith("[") else None,
                }
            )
    if extras:
        out += ["!Type:Invst", "D5/1'26", "NBuy", "YVanguard Total Stock", "I250.00", "Q2", "T500.00", "^"]
    newline = "\r\n" if crlf else "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((newline.join(out) + newline).encode("cp1252"))
    return written
