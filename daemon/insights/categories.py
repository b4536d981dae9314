"""Spending categories: what the bank or aggregator sent, else the user's rules, else a starter set.

A rule says "a transaction whose counterparty (or description, or either) contains PATTERN
is CATEGORY". Matching ignores case and accents; `*` and `?` in a pattern are wildcards.
Rules are applied when a view is computed, never written into the records: a new rule
changes every past month at once, and removing it undoes that. The user's rules are tried
in the order they were added, before the starter set; a category the bank sent wins.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..errors import SelfdataError
from ..times import now_ms
from ..vault.db import Connection

FIELDS = ("counterparty", "description", "any")
UNCATEGORISED = {"en": "uncategorised", "fr": "sans catégorie"}
MAX_PATTERN = 200


class RuleError(SelfdataError, ValueError):
    """A rule that cannot be stored as given; the message names the part."""


@dataclass(frozen=True)
class Rule:
    pattern: str
    category: str
    field: str = "any"
    id: int | None = None  # None: a starter rule
    category_fr: str | None = None

    def label(self, lang: str) -> str:
        return self.category_fr if lang == "fr" and self.category_fr else self.category

    def matches(self, counterparty: str | None, description: str | None) -> bool:
        texts = {"counterparty": (counterparty,), "description": (description,)}.get(
            self.field, (counterparty, description)
        )
        want = _folded(self.pattern)
        wild = "*" in want or "?" in want
        for text in texts:
            if not text:
                continue
            folded = _folded(text)
            if fnmatch.fnmatchcase(folded, f"*{want}*") if wild else want in folded:
                return True
        return False

    def to_json(self, lang: str = "en") -> dict[str, Any]:
        return {
            "id": self.id,
            "pattern": self.pattern,
            "field": self.field,
            "category": self.label(lang),
            "starter": self.id is None,
        }


@functools.lru_cache(maxsize=65536)  # a statement repeats its payees; each is folded once
def _folded(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"\s+", " ", plain.casefold()).strip()


def _starter(category: str, category_fr: str, *patterns: str) -> list[Rule]:
    return [Rule(p, category, "any", None, category_fr) for p in patterns]


# Merchants and wordings seen on English and French statements.
STARTER: tuple[Rule, ...] = tuple(
    _starter(
        "groceries",
        "courses",
        "safeway",
        "trader joe",
        "whole foods",
        "tesco",
        "sainsbury",
        "carrefour",
        "leclerc",
        "lidl",
        "aldi",
        "auchan",
        "intermarche",
        "monoprix",
        "franprix",
    )
    + _starter("eating out", "restaurants", "starbucks", "mcdonald", "chipotle", "restaurant", "boulangerie")
    + _starter("transport", "transports", "uber", "lyft", "sncf", "ratp", "navigo", "shell", "esso", "totalenergies")
    + _starter("housing", "logement", "rent", "loyer")
    + _starter("energy", "énergie", "pg&e", "edf", "engie", "octopus energy", "british gas")
    + _starter("subscriptions", "abonnements", "netflix", "spotify", "disney+", "deezer", "canal+", "youtube premium")
    + _starter("shopping", "achats", "amazon", "target", "fnac", "ikea")
    + _starter("health", "santé", "pharmacy", "pharmacie", "doctolib", "cvs")
    + _starter("cash", "retraits", "atm", "retrait dab", "retrait")
    + _starter("income", "revenus", "payroll", "salary", "salaire")
)


@dataclass
class Effect:
    """What one rule decides: transactions and their total per currency."""

    count: int = 0
    totals: dict[str, Decimal] = field(default_factory=dict)
    overridden: int = 0  # matched, but the bank's category (or an earlier rule) won

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "totals": {c: str(v) for c, v in sorted(self.totals.items())},
            "overridden": self.overridden,
        }


def categorise(
    transactions: Iterable[dict[str, Any]], rules: Sequence[Rule], lang: str = "en"
) -> tuple[list[tuple[dict[str, Any], str, str]], dict[int, Effect]]:
    """Each transaction with its category and where that came from ("bank", "rule N", "starter",
    ""); and the effect of each user rule (by id)."""
    ordered = [*rules, *STARTER]
    effects: dict[int, Effect] = {r.id: Effect() for r in rules if r.id is not None}
    out = []
    for t in transactions:
        cp, desc = t.get("counterparty"), t.get("description")
        bank = t.get("category")
        chosen: tuple[str, str] | None = (bank, "bank") if isinstance(bank, str) and bank.strip() else None
        for rule in ordered:
            if rule.id is None and chosen is not None:
                break  # the starter set only fills what nothing else did; it records no effect
            if not rule.matches(cp, desc):
                continue
            if chosen is not None:
                if rule.id is not None:
                    effects[rule.id].overridden += 1
                continue
            chosen = (rule.label(lang), f"rule {rule.id}" if rule.id is not None else "starter")
            if rule.id is not None:
                e = effects[rule.id]
                e.count += 1
                cur = str(t.get("currency") or "")
                e.totals[cur] = e.totals.get(cur, Decimal(0)) + Decimal(str(t.get("amount") or "0"))
        category, origin = chosen or (UNCATEGORISED.get(lang, UNCATEGORISED["en"]), "")
        out.append((t, category, origin))
    return out, effects


# ---- the user's rules, stored in the vault --------------------------------------------


def check(pattern: str, category: str, field_: str) -> tuple[str, str, str]:
    pattern, category = pattern.strip(), category.strip()
    if not pattern:
        raise RuleError("a rule needs a pattern: text the counterparty or description contains")
    if len(pattern) > MAX_PATTERN or len(category) > MAX_PATTERN:
        raise RuleError(f"a pattern or category has at most {MAX_PATTERN} characters")
    if not category:
        raise RuleError("a rule needs a category")
    if field_ not in FIELDS:
        raise RuleError(f"{field_!r} is not a field a rule looks at: use one of {', '.join(FIELDS)}")
    return pattern, category, field_


def stored(conn: Connection) -> list[Rule]:
    rows = conn.execute("SELECT id, pattern, category, field FROM category_rules ORDER BY id").fetchall()
    return [Rule(pattern=p, category=c, field=f, id=i) for i, p, c, f in rows]


def add(writer_conn: Connection, pattern: str, category: str, field_: str = "any") -> Rule:
    pattern, category, field_ = check(pattern, category, field_)
    cur = writer_conn.execute(
        "INSERT INTO category_rules (pattern, category, field, created_at) VALUES (?,?,?,?)",
        (pattern, category, field_, now_ms()),
    )
    return Rule(pattern, category, field_, int(cur.lastrowid or 0))


def remove(writer_conn: Connection, rule_id: int) -> bool:
    return writer_conn.execute("DELETE FROM category_rules WHERE id=?", (rule_id,)).rowcount > 0
