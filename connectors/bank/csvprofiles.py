"""Bank CSV profiles: a declarative mapping of a bank's export (columns, date format,
separators, sign convention, encoding), the built-in ones, and the overrides a source's
settings make."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

ROLES = (
    "date",
    "value_date",
    "transaction_date",
    "description",
    "counterparty",
    "payer",
    "payee",
    "amount",
    "debit",
    "credit",
    "indicator",
    "balance",
    "currency",
    "id",
    "type",
    "category",
    "status",
)
SIGNS = ("signed", "inverted", "debit-credit", "indicator")
SEPARATORS = {"none": "", "comma": ",", "period": ".", "space": " ", "apostrophe": "'"}
DELIMITERS = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|"}
PENDING = {"pending", "authorised", "authorized", "reserved", "pdng", "vorgemerkt", "umsatz vorgemerkt"}
HEADER_LINES = 30  # a header is looked for in the first lines (some banks put an account summary first)


@dataclass(frozen=True)
class Profile:
    """How one bank writes its CSV. `columns` maps a role to its header (matched without
    regard to case or surrounding spaces); `required` roles must be in the header."""

    name: str
    columns: dict[str, str]
    required: tuple[str, ...] = ("date", "amount")
    date_format: str = "iso"
    decimal: str = "."
    thousands: str = ","
    sign: str = "signed"
    credit_values: tuple[str, ...] = ("CR", "C", "CREDIT", "+")
    encoding: str = "auto"
    delimiter: str = "auto"
    currency: str | None = None
    footer_prefixes: tuple[str, ...] = ()
    strip_apostrophe: bool = False
    # Headers that must be in the header row besides the roles' (what tells one bank's
    # layout from another's with the same main columns).
    markers: tuple[str, ...] = ()
    # Rows left out: statuses of payments that never happened (declined, reverted), and
    # descriptions of summary rows without an amount (an opening-balance row).
    void_statuses: tuple[str, ...] = ()
    summary_rows: tuple[str, ...] = ()


BUILT_IN = {
    "uk-midata": Profile(
        name="uk-midata",
        columns={
            "date": "Date",
            "type": "Type",
            "description": "Merchant/Description",
            "amount": "Debit/Credit",
            "balance": "Balance",
        },
        required=("date", "type", "description", "amount", "balance"),
        date_format="%d/%m/%Y",
        delimiter=",",
        currency="GBP",
        footer_prefixes=("arranged overdraft limit",),
        strip_apostrophe=True,
    ),
    "generic": Profile(
        name="generic",
        columns={
            "date": "Date",
            "value_date": "Value Date",
            "description": "Description",
            "counterparty": "Counterparty",
            "amount": "Amount",
            "balance": "Balance",
            "currency": "Currency",
            "id": "Id",
            "category": "Category",
            "status": "Status",
        },
    ),
}


def columns_setting(text: str) -> str | None:
    for pair in filter(None, (p.strip() for p in text.split(";"))):
        role, sep, header = pair.partition("=")
        if not sep or role.strip() not in ROLES or not header.strip():
            return f"{pair!r} is not role=Header with a role among {', '.join(ROLES)}"
    return None


def profile_overrides(settings: dict[str, Any]) -> dict[str, Any]:
    """The profile fields the source's settings set (they override the chosen profile's)."""
    overrides: dict[str, Any] = {}
    if settings.get("columns"):
        columns: dict[str, str] = {}
        for pair in filter(None, (p.strip() for p in str(settings["columns"]).split(";"))):
            role, _, header = pair.partition("=")
            columns[role.strip()] = header.strip()
        overrides["columns"] = columns
    for key, setting, table in (
        ("date_format", "date_format", None),
        ("decimal", "decimal_separator", {"period": ".", "comma": ","}),
        ("thousands", "thousands_separator", SEPARATORS),
        ("sign", "sign", None),
        ("encoding", "encoding", None),
        ("delimiter", "delimiter", DELIMITERS),
        ("currency", "currency", None),
    ):
        if settings.get(setting):
            value = settings[setting]
            overrides[key] = table[value] if table else value
    if settings.get("credit_values"):
        overrides["credit_values"] = tuple(v.strip().upper() for v in str(settings["credit_values"]).split(","))
    return overrides


def apply(profile: Profile, overrides: dict[str, Any]) -> Profile:
    """`profile` with the settings' overrides; columns given are added to the profile's."""
    changes = dict(overrides)
    if "columns" in changes:
        columns = {**profile.columns, **changes["columns"]}
        changes["columns"] = columns
        amount = ("amount",) if "amount" in columns or "debit" not in columns else ("debit", "credit")
        changes["required"] = tuple(r for r in profile.required if r in columns and r != "amount") + amount
    out = dataclasses.replace(profile, **changes)
    if out.decimal == out.thousands:
        # "1.234,56" needs thousands_separator=period said outright
        out = dataclasses.replace(out, thousands="")
    return out
