"""Bank CSV exports as banks write them: the UK midata file (quoted cells, "£" amounts with
a sign, a blank line after the header, an overdraft footer, newest first), a generic
ISO-dated export, and a continental one (semicolons, comma decimals, dotted thousands,
separate debit and credit columns, Windows-1252). Deterministic (seeded); the writers
return what they wrote so tests compare a parse with the truth.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

SHOPS = [
    ("POS", "TESCO STORES 3021", (4, 95)),
    ("POS", "Café Nero 114", (3, 9)),
    ("DD", "OCTOPUS ENERGY", (60, 140)),
    ("POS", "M&S SIMPLY FOOD, LEEDS", (3, 40)),
    ("BP", "TFL TRAVEL CH", (2, 12)),
    ("SO", "RENT 'FLAT 2'", (900, 900)),
]


@dataclass
class Written:
    path: Path
    rows: list[dict[str, str]] = field(default_factory=list)  # oldest first
    balance: Decimal = Decimal(0)
    balance_on: str = ""


def _rows(seed: int, days: int, end: date) -> list[dict[str, str]]:
    """Every row of `days` days up to `end`, oldest first, with the running balance;
    a day's rows depend only on the seed and the day, so two windows overlap exactly."""
    rows: list[dict[str, str]] = []
    balance = Decimal(random.Random(f"{seed}-opening").randint(100000, 400000)) / 100
    for d in range(days):
        day = end - timedelta(days=days - 1 - d)
        rng = random.Random(f"{seed}-{day.isoformat()}")
        entries: list[tuple[str, str, Decimal]] = []
        if day.day == 25:
            entries.append(("BGC", "ACME LTD SALARY", Decimal("2450.00")))
        for _ in range(rng.randint(0, 3)):
            kind, name, (lo, hi) = rng.choice(SHOPS)
            entries.append((kind, name, -Decimal(rng.randint(lo * 100, hi * 100)) / 100))
        if day.weekday() == 4:  # two identical fares on Fridays: both must be kept
            entries += [("BP", "TFL TRAVEL CH", Decimal("-2.80"))] * 2
        for kind, name, amount in entries:
            balance += amount
            rows.append(
                {
                    "date": day.isoformat(),
                    "type": kind,
                    "description": name,
                    "amount": f"{amount:.2f}",
                    "balance": f"{balance:.2f}",
                }
            )
    return rows


def _money(value: Decimal, *, signed: bool = True) -> str:
    sign = "-" if value < 0 else "+" if signed else ""
    return f"{sign}£{abs(value):,.2f}"


def _quote(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"'


def _finish(written: Written, rows: list[dict[str, str]]) -> Written:
    written.rows = rows
    if rows:
        written.balance = Decimal(rows[-1]["balance"])
        written.balance_on = rows[-1]["date"]
    return written


def write_midata(
    path: Path,
    *,
    days: int = 60,
    seed: int = 1,
    end: date = date(2026, 5, 31),
    window: tuple[int, int] | None = None,
    newest_first: bool = True,
    footer: bool = True,
    encoding: str = "utf-8",
) -> Written:
    """A UK midata CSV. `window=(a, b)` keeps only days a to b-1 (counted from the first)."""
    rows = _select(_rows(seed, days, end), days, end, window)
    lines = [" Date,Type,Merchant/Description,Debit/Credit,Balance", ""]
    for r in reversed(rows) if newest_first else rows:
        day = date.fromisoformat(r["date"])
        text = ("'" if r["type"] == "POS" else "") + r["description"]
        cells = [f"{day:%d/%m/%Y}", r["type"], text, _money(Decimal(r["amount"])), _money(Decimal(r["balance"]))]
        lines.append(",".join(_quote(c) for c in cells))
    if footer:
        lines += ["", f"Arranged overdraft limit,{end:%d/%m/%Y},£500.00"]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return _finish(Written(path), rows)


def _select(rows: list[dict[str, str]], days: int, end: date, window: tuple[int, int] | None) -> list[dict[str, str]]:
    if window is None:
        return rows
    first = end - timedelta(days=days - 1)
    lo, hi = (first + timedelta(days=w) for w in window)
    return [r for r in rows if lo <= date.fromisoformat(r["date"]) < hi]


def write_generic(
    path: Path, *, days: int = 45, seed: int = 2, end: date = date(2026, 5, 31), currency: str = "EUR"
) -> Written:
    """A generic export: ISO dates, a signed amount, a currency column, oldest first."""
    rows = _rows(seed, days, end)
    lines = ["Date,Value Date,Description,Amount,Currency,Balance,Category"]
    for r in rows:
        value = (date.fromisoformat(r["date"]) + timedelta(days=1)).isoformat()
        description = r["description"]
        cells = [r["date"], value, description, r["amount"], currency, r["balance"], r["type"].lower()]
        lines.append(",".join(_quote(c) if "," in c or '"' in c else c for c in cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return _finish(Written(path), rows)


def write_continental(path: Path, *, days: int = 30, seed: int = 3, end: date = date(2026, 5, 31)) -> Written:
    """A continental export: a summary before the header, semicolons, dd.mm.yyyy dates,
    "1.234,56" amounts in separate debit and credit columns, Windows-1252."""
    rows = _rows(seed, days, end)
    lines = ["Kontoauszug;Girokonto;DE89370400440532013000", "Zeitraum;" + f"{days} Tage", ""]
    lines.append("Buchungstag;Empfänger;Verwendungszweck;Soll;Haben;Saldo")
    for r in rows:
        amount = Decimal(r["amount"])
        text = f"{abs(amount):,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
        balance = f"{Decimal(r['balance']):,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
        debit, credit = (text, "") if amount < 0 else ("", text)
        day = date.fromisoformat(r["date"])
        lines.append(f"{day:%d.%m.%Y};{r['description']};{r['type']};{debit};{credit};{balance}")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    return _finish(Written(path), rows)


CONTINENTAL_SETTINGS = {
    "profile": "custom",
    "columns": "date=Buchungstag;counterparty=Empfänger;description=Verwendungszweck;debit=Soll;credit=Haben;"
    "balance=Saldo",
    "date_format": "%d.%m.%Y",
    "decimal_separator": "comma",
    "thousands_separator": "period",
    "sign": "debit-credit",
    "encoding": "cp1252",
    "delimiter": "semicolon",
    "currency": "EUR",
}
