"""The OFX mapping: pure functions from the raw fragments (a STMTTRN, a statement's
account and balances) to `bank.transaction` and `bank.account` records."""

from __future__ import annotations

import re
from typing import Any

from connectors.sdk import (
    Record,
    datasets,
    decimal_text,
)

from ..amounts import (
    is_iban,
    midnight_utc,
    ofx_no_date,
    parse_ofx_amount,
    parse_ofx_date,
    parse_ofx_datetime,
    zone,
)

CURRENCY = re.compile(r"[A-Z]{3}")
KINDS = {
    "CHECKING": "checking",
    "SAVINGS": "savings",
    "MONEYMRKT": "savings",
    "CD": "savings",
    "CREDITLINE": "loan",
    "CREDITCARD": "credit_card",
    "INVESTMENT": "investment",
}


def text_of(node: dict[str, Any], tag: str) -> str | None:
    value = node.get(tag)
    if type(value) is str:
        return value or None
    if isinstance(value, list):
        value = value[0]
    if isinstance(value, dict):
        return None
    return value if value else None


def agg_of(node: dict[str, Any], tag: str) -> dict[str, Any]:
    value = node.get(tag)
    if isinstance(value, list):
        value = value[0]
    return value if isinstance(value, dict) else {}


def transaction_record(raw: dict[str, Any]) -> Record | None:
    """The `bank.transaction` of one STMTTRN (a pure function of the fragment)."""
    account, trn = raw["account"], raw["trn"]
    if "CORRECTACTION" in trn and (text_of(trn, "CORRECTACTION") or "").upper() == "DELETE":
        return None
    fitid = text_of(trn, "FITID")
    if not fitid:
        raise ValueError("the transaction has no FITID")
    amount_text = text_of(trn, "TRNAMT")
    if amount_text is None:
        raise ValueError(f"transaction {fitid} has no TRNAMT")
    amount = parse_ofx_amount(amount_text)
    if account.get("invert"):
        amount = -amount
    posted = text_of(trn, "DTPOSTED")
    if posted is None or ofx_no_date(posted):
        raise ValueError(f"transaction {fitid} has no DTPOSTED" + (f" ({posted})" if posted else ""))
    booked = parse_ofx_date(posted)
    avail, user = text_of(trn, "DTAVAIL"), text_of(trn, "DTUSER")
    avail, user = (None if ofx_no_date(d) else d for d in (avail, user))
    # CURRENCY: the amount is in another currency; ORIGCURRENCY: converted into CURDEF.
    currency = text_of(agg_of(trn, "CURRENCY"), "CURSYM") if "CURRENCY" in trn else None
    if currency is not None and not CURRENCY.fullmatch(currency.upper()):
        raise ValueError(f"transaction {fitid}: CURSYM {currency!r} is not an ISO 4217 currency code")
    name = text_of(trn, "NAME") or (text_of(agg_of(trn, "PAYEE"), "NAME") if "PAYEE" in trn else None)
    memo = text_of(trn, "MEMO")
    # Built as BankTransaction.make would, without its per-call schema walk (the hot path of
    # a 100,000-transaction file); the pipeline validates every record against the schema.
    data: dict[str, Any] = {
        "account_id": account["id"],
        "booked_on": booked.isoformat(),
        "value_on": parse_ofx_date(avail).isoformat() if avail else None,
        "amount": decimal_text(amount),
        "currency": (currency or account["currency"]).upper(),
        "description": memo or name,
        "counterparty": name,
        "status": "booked",
    }
    trntype = text_of(trn, "TRNTYPE")
    if trntype:
        data["type"] = trntype
    if user:
        data["transacted_on"] = parse_ofx_date(user).isoformat()
    key = f"{account['id']}:{fitid}" if "occurrence" not in raw else f"{account['id']}:{fitid}#{raw['occurrence']}"
    return Record("bank.transaction", key, midnight_utc(booked), data, raw)


def account_record(raw: dict[str, Any]) -> Record:
    """The `bank.account` of a statement with its ledger and available balances."""
    account = raw["account"]
    tz = zone(raw.get("timezone") or "UTC")
    sign = -1 if account.get("invert") else 1
    balances: dict[str, Any] = {}
    for field, key in (("balance", "ledger"), ("available_balance", "available")):
        node = raw.get(key) or {}
        amount = text_of(node, "BALAMT")
        if amount is not None:
            balances[field] = sign * parse_ofx_amount(amount)
            when = text_of(node, "DTASOF")
            if when and field == "balance" and not ofx_no_date(when):
                balances["balance_at"] = parse_ofx_datetime(when, tz)[1]
    as_of = (
        balances.get("balance_at")
        or parse_ofx_datetime("19700101" if ofx_no_date(raw["as_of"]) else raw["as_of"], tz)[1]
    )
    acct_id = account["id"]
    data = datasets.BankAccount.make(
        account_id=acct_id,
        institution=raw.get("institution"),
        iban=acct_id.replace(" ", "").upper() if is_iban(acct_id) else None,
        currency=account["currency"],
        kind=KINDS.get(account.get("type") or "", "other"),
        **balances,
    )
    if account.get("bank_id"):
        data["bank_id"] = account["bank_id"]
    return Record("bank.account", acct_id, as_of, data)
