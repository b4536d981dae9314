"""The CSV layouts of banks' own exports, each recognised by its header, so a download
imports without settings. Every layout here is one recorded in open-source importers'
tests or documentation (docs/sources/bank-files.md says which); none is guessed.

The registry (`PROFILES`) lists the banks' layouts before the generic one, so a bank's
header is never claimed by a looser profile.
"""

from __future__ import annotations

from typing import Any

from .csvprofiles import BUILT_IN, Profile, apply, profile_overrides

US = "%m/%d/%Y"
UK = "%d/%m/%Y"
DE = "%d.%m.%Y"

BANKS = (
    # United States
    Profile(
        name="chase",
        columns={
            "date": "Posting Date",
            "description": "Description",
            "amount": "Amount",
            "type": "Type",
            "balance": "Balance",
        },
        required=("date", "description", "amount", "type", "balance"),
        markers=("Details", "Check or Slip #"),  # DEBIT/CREDIT/CHECK and a check number: kept in raw
        date_format=US,
        delimiter=",",
        currency="USD",
    ),
    Profile(
        name="chase-card",
        columns={
            "transaction_date": "Transaction Date",
            "date": "Post Date",
            "description": "Description",
            "category": "Category",
            "type": "Type",
            "amount": "Amount",
        },
        required=("transaction_date", "date", "description", "type", "amount"),
        date_format=US,
        delimiter=",",
        currency="USD",
    ),
    Profile(
        name="bank-of-america",
        columns={"date": "Date", "description": "Description", "amount": "Amount", "balance": "Running Bal."},
        required=("date", "description", "amount", "balance"),
        date_format=US,
        delimiter=",",
        currency="USD",
        summary_rows=("beginning balance",),
    ),
    Profile(
        name="capital-one-card",
        columns={
            "transaction_date": "Transaction Date",
            "date": "Posted Date",
            "description": "Description",
            "category": "Category",
            "debit": "Debit",
            "credit": "Credit",
        },
        required=("transaction_date", "date", "description", "debit", "credit"),
        markers=("Card No.",),
        sign="debit-credit",
        delimiter=",",
        currency="USD",
    ),
    Profile(
        name="amex",
        columns={
            "date": "Date",
            "description": "Description",
            "amount": "Amount",
            "counterparty": "Appears On Your Statement As",
            "id": "Reference",
            "category": "Category",
        },
        required=("date", "description", "amount", "counterparty"),
        date_format=US,
        sign="inverted",  # charges are positive
        delimiter=",",
        currency="USD",
    ),
    # United Kingdom
    Profile(
        name="monzo",
        columns={
            "id": "Transaction ID",
            "date": "Date",
            "type": "Type",
            "counterparty": "Name",
            "category": "Category",
            "amount": "Amount",
            "currency": "Currency",
            "description": "Description",
        },
        required=("id", "date", "type", "counterparty", "amount", "currency"),
        markers=("Emoji",),
        date_format=UK,
        delimiter=",",
    ),
    Profile(
        name="starling",
        columns={
            "date": "Date",
            "counterparty": "Counter Party",
            "description": "Reference",
            "type": "Type",
            "amount": "Amount (GBP)",
            "balance": "Balance (GBP)",
            "category": "Spending Category",
        },
        required=("date", "counterparty", "amount"),
        date_format=UK,
        delimiter=",",
        currency="GBP",
    ),
    # Europe
    Profile(
        name="revolut",
        columns={
            "type": "Type",
            "transaction_date": "Started Date",
            "date": "Completed Date",
            "description": "Description",
            "amount": "Amount",
            "currency": "Currency",
            "status": "State",
            "balance": "Balance",
        },
        required=("type", "transaction_date", "date", "description", "amount", "currency", "status"),
        markers=("Product",),
        date_format="%Y-%m-%d %H:%M:%S|%Y-%m-%d %H:%M|%Y-%m-%d",
        delimiter=",",
        void_statuses=("declined", "reverted", "failed"),
    ),
    Profile(
        name="n26",
        columns={
            "date": "Booking Date",
            "value_date": "Value Date",
            "counterparty": "Partner Name",
            "type": "Type",
            "description": "Payment Reference",
            "amount": "Amount (EUR)",
        },
        required=("date", "counterparty", "amount"),
        delimiter=",",
        currency="EUR",
    ),
    Profile(
        name="ing-nl",
        columns={
            "date": "Datum",
            "counterparty": "Naam / Omschrijving",
            "indicator": "Af Bij",
            "amount": "Bedrag (EUR)",
            "type": "Mutatiesoort",
            "description": "Mededelingen",
        },
        required=("date", "counterparty", "indicator", "amount"),
        date_format="%Y%m%d",
        decimal=",",
        thousands=".",
        sign="indicator",
        credit_values=("BIJ",),
        currency="EUR",
    ),
    Profile(
        name="dkb",
        columns={
            "date": "Buchungsdatum",
            "value_date": "Wertstellung",
            "status": "Status",
            "payer": "Zahlungspflichtige*r",
            "payee": "Zahlungsempfänger*in",
            "description": "Verwendungszweck",
            "type": "Umsatztyp",
            "amount": "Betrag (€)",
        },
        required=("date", "payer", "payee", "amount"),
        date_format="%d.%m.%y|%d.%m.%Y",
        decimal=",",
        thousands=".",
        delimiter=";",
        currency="EUR",
    ),
    Profile(
        name="dkb-legacy",
        columns={
            "date": "Buchungstag",
            "value_date": "Wertstellung",
            "type": "Buchungstext",
            "counterparty": "Auftraggeber / Begünstigter",
            "description": "Verwendungszweck",
            "amount": "Betrag (EUR)",
        },
        required=("date", "counterparty", "description", "amount"),
        date_format="%d.%m.%Y|%d.%m.%y",
        decimal=",",
        thousands=".",
        delimiter=";",
        currency="EUR",
    ),
    Profile(
        name="sparkasse",
        columns={
            "date": "Buchungstag",
            "value_date": "Valutadatum",
            "type": "Buchungstext",
            "description": "Verwendungszweck",
            "counterparty": "Beguenstigter/Zahlungspflichtiger",
            "amount": "Betrag",
            "currency": "Waehrung",
            "status": "Info",
        },
        required=("date", "description", "amount", "currency"),
        markers=("Auftragskonto",),
        date_format="%d.%m.%y|%d.%m.%Y",
        decimal=",",
        thousands=".",
        delimiter=";",
    ),
    Profile(
        name="commerzbank",
        columns={
            "date": "Buchungstag",
            "value_date": "Wertstellung",
            "type": "Umsatzart",
            "description": "Buchungstext",
            "amount": "Betrag",
            "currency": "Währung",
            "category": "Kategorie",
        },
        required=("date", "type", "description", "amount", "currency"),
        markers=("IBAN Auftraggeberkonto",),
        date_format=DE,
        decimal=",",
        thousands=".",
        delimiter=";",
    ),
)

PROFILES: dict[str, Profile] = {
    "uk-midata": BUILT_IN["uk-midata"],
    **{p.name: p for p in BANKS},
    "generic": BUILT_IN["generic"],
}


def candidate_profiles(settings: dict[str, Any]) -> list[Profile]:
    """The profiles to try on the file's header: the one asked for, or every built-in one."""
    name = settings.get("profile") or "auto"
    overrides = profile_overrides(settings)
    if name == "auto":
        return [apply(p, overrides) for p in PROFILES.values()]
    base = PROFILES.get(name) or Profile(name="custom", columns={}, required=("date",))
    return [apply(base, overrides)]
