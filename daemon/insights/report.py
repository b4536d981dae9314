"""`selfdata report`: a month in sections, each one function from the reads to titled tables.

A section function takes the `Reads` and the `Period` and returns a `Section`, or None when
it has nothing to say (no bank data, say). To add one (energy, health, telecom), write the
function and list it in `SECTIONS`: the CLI prints every section as rich tables, and the
HTML file holds the same.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from . import money
from .reads import Reads


@dataclass(frozen=True)
class Period:
    month: str  # YYYY-MM
    zone: str
    today: date
    lang: str = "en"


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    empty: str = "nothing this month"


@dataclass
class Section:
    title: str
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "notes": self.notes,
            "tables": [{"title": t.title, "columns": t.columns, "rows": t.rows, "empty": t.empty} for t in self.tables],
        }


def money_section(reads: Reads, period: Period) -> Section | None:
    if not reads.has(money.TX):
        return None
    v = money.cached_view(reads, period.month, period.zone, period.today, period.lang)
    s = Section("Money")
    s.tables.append(
        Table(
            f"{period.month}: in, out and net, all accounts",
            ["currency", "in", "out", "net", "transactions"],
            [[r["currency"], r["in"], r["out"], r["net"], str(r["count"])] for r in v["summary"]],
        )
    )
    ends = {b["account_id"]: {m["month"]: m["balance"] for m in b["month_ends"]} for b in v["balances"]}
    s.tables.append(
        Table(
            "Per account",
            ["account", "currency", "in", "out", "net", "balance at month end"],
            [
                [
                    a["name"],
                    a["currency"],
                    m["in"],
                    m["out"],
                    m["net"],
                    ends.get(a["account_id"], {}).get(v["month"], ""),
                ]
                for a in v["accounts"]
                for m in a["months"]
                if m["month"] == v["month"]
            ],
        )
    )
    for cur in v["spending"]:
        s.tables.append(
            Table(
                f"Spending by category ({cur['currency']}, total {cur['total']})",
                ["category", "out", "transactions", "from"],
                [[r["category"], r["out"], str(r["count"]), ", ".join(r["origins"])] for r in cur["rows"]],
            )
        )
    s.tables.append(
        Table(
            "Recurring payments",
            ["payee", "every", "amount", "next expected", "change"],
            [
                [
                    r["payee"],
                    r["interval"],
                    f"{r['amount']} {r['currency']}",
                    r["next_expected"] or f"stopped (last {r['last']})",
                    r["change"],
                ]
                for r in v["recurring"]
            ],
            empty="none found",
        )
    )
    return s


# Each section of the report, in order: one function each.
SECTIONS: tuple[Callable[[Reads, Period], Section | None], ...] = (money_section,)


def build(reads: Reads, period: Period) -> dict[str, Any]:
    sections = [s for fn in SECTIONS if (s := fn(reads, period)) is not None]
    return {"month": period.month, "zone": period.zone, "sections": [s.to_json() for s in sections]}


def machine_zone() -> str:
    """This machine's zone name (TZ, /etc/timezone, /etc/localtime), else UTC."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and "/" in tz or tz == "UTC":
        return tz
    try:
        return Path("/etc/timezone").read_text().strip() or "UTC"
    except OSError:
        pass
    try:
        target = os.readlink("/etc/localtime")
        return target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else "UTC"
    except OSError:
        return "UTC"
