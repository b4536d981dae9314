"""Enable Banking's accounts, balances and transactions as `bank.account` and
`bank.transaction` records: pure functions of the stored `raw`, which `normalize` and
`selfdata renormalize` reuse, and the keys a transaction is stored under."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from connectors.sdk import (
    Fatal,
    Record,
    datasets,
)

from .amounts import api_amount

KINDS = {"CACC": "checking", "TRAN": "checking", "SVGS": "savings", "CARD": "credit_card", "LOAN": "loan"}
BOOKED_BALANCES = ("CLBD", "ITBD", "XPCD", "OPBD", "PRCD", "INFO", "OTHR")
AVAILABLE_BALANCES = ("ITAV", "CLAV", "XPCD", "OPAV", "FWAV")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T|$)")
STATUSES = {"BOOK": "booked", "PDNG": "pending", "HOLD": "pending"}  # CNCL, RJCT, SCHD, OTHR are skipped


def sanitize(text: Any) -> str:
    clean = "".join(c if c.isprintable() else " " for c in str(text))
    return re.sub(r"\s+", " ", clean).strip()[:200]


def account_info(details: Any, uid: str, bank: str | None) -> dict[str, Any]:
    """What a sync needs of an account's details, kept in the state for the session's life."""
    if not isinstance(details, dict):
        raise Fatal("Enable Banking answered account details that are not an object")
    ids = details.get("account_id") or {}
    iban = ids.get("iban") if isinstance(ids.get("iban"), str) else None
    other = (ids.get("other") or {}).get("identification") if isinstance(ids.get("other"), dict) else None
    stable = details.get("identification_hash") or uid
    account_id = iban or other or "eb-" + hashlib.sha256(str(stable).encode()).hexdigest()[:16]
    return {
        "account_id": sanitize(account_id),
        "iban": iban,
        "name": sanitize(details.get("details") or details.get("product") or account_id),
        "currency": details.get("currency") if isinstance(details.get("currency"), str) else None,
        "kind": KINDS.get(str(details.get("cash_account_type")), "other"),
        "institution": sanitize(bank) if bank else None,
    }


def transaction_key(account_id: str, txn: dict[str, Any], occurrences: dict[str, int]) -> str:
    """The bank's entry reference, or a hash of what identifies the transaction plus its rank among
    identical ones (two equal coffees on one day stay two records)."""
    ref = txn.get("entry_reference")
    if isinstance(ref, str) and ref.strip():
        ref = ref.strip()
        return (
            f"{account_id}/{ref}"
            if len(ref) <= 120
            else f"{account_id}/r{hashlib.sha256(ref.encode()).hexdigest()[:32]}"
        )
    fields = [
        "status",
        "booking_date",
        "value_date",
        "transaction_date",
        "transaction_amount",
        "credit_debit_indicator",
        "remittance_information",
        "creditor",
        "debtor",
    ]
    identity = json.dumps([txn.get(f) for f in fields], sort_keys=True, default=str)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:20]
    rank = occurrences.get(digest, 0)
    occurrences[digest] = rank + 1
    return f"{account_id}/h{digest}-{rank}"


def _amount(value: Any, what: str) -> Decimal:
    return api_amount(value, what, "Enable Banking")


def _day(value: Any) -> date | None:
    """A YYYY-MM-DD date (a date-time's date part is accepted)."""
    if value is None or value == "":
        return None
    try:
        if not isinstance(value, str) or not _DATE.match(value):
            raise ValueError
        return date.fromisoformat(value[:10])
    except ValueError:
        raise Fatal(f"Enable Banking answered a date that is not one: {value!r}"[:200]) from None


def instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Fatal(f"Enable Banking answered a time that is not one: {value!r}"[:200]) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _money(raw: Any, what: str) -> tuple[Decimal, str]:
    if not isinstance(raw, dict) or not isinstance(raw.get("currency"), str):
        raise Fatal(f"Enable Banking answered {what} without an amount and currency")
    return _amount(raw.get("amount"), what), raw["currency"]


def account_record(raw: dict[str, Any]) -> Record:
    info, balances = raw["account"], raw.get("balances")
    listed = (
        [b for b in (balances or {}).get("balances", []) if isinstance(b, dict)] if isinstance(balances, dict) else []
    )
    by_type = {b.get("balance_type"): b for b in listed}
    booked = next((by_type[t] for t in BOOKED_BALANCES if t in by_type), None)
    available = next((by_type[t] for t in AVAILABLE_BALANCES if t in by_type), None)
    currency = info.get("currency")
    values: dict[str, Decimal | None] = {"balance": None, "available_balance": None}
    at: datetime | None = None
    for name, balance in (("balance", booked), ("available_balance", available)):
        if balance is None:
            continue
        amount, cur = _money(balance.get("balance_amount"), "a balance")
        if currency and currency != "XXX" and cur != currency:
            raise Fatal(
                f"Enable Banking answered a balance in {cur} for account {info['account_id']} kept in {currency}"
            )
        currency, values[name] = currency if currency and currency != "XXX" else cur, amount
        when = instant(balance.get("last_change_date_time"))
        day = _day(balance.get("reference_date"))
        at = at or when or (datetime.combine(day, time(), UTC) if day else None)
    if not currency:
        raise Fatal(f"Enable Banking gives no currency for account {info['account_id']}")
    data = datasets.BankAccount.make(
        account_id=info["account_id"],
        institution=info.get("institution"),
        name=info.get("name"),
        iban=info.get("iban"),
        currency=currency,
        kind=info.get("kind"),
        balance=values["balance"],
        available_balance=values["available_balance"],
        balance_at=at,
    )
    if at is None and "seen" not in raw:
        raise Fatal(f"Enable Banking gives no time for the balances of account {info['account_id']}")
    return Record("bank.account", info["account_id"], at or datetime.fromisoformat(raw["seen"]), data)


def transaction_record(raw: dict[str, Any]) -> Record:
    account, txn = raw["account"], raw["transaction"]
    amount, currency = _money(txn.get("transaction_amount"), "a transaction")
    expected = account.get("currency")
    if expected and expected != "XXX" and currency != expected:
        raise Fatal(
            f"Enable Banking answered a transaction in {currency} for account {account['id']} kept in {expected}"
        )
    sign = {"DBIT": -1, "CRDT": 1}.get(str(txn.get("credit_debit_indicator")))
    if sign is None:
        raise Fatal("Enable Banking answered a transaction without credit_debit_indicator (CRDT or DBIT)")
    status = STATUSES[txn["status"]]
    booked_on, value_on = _day(txn.get("booking_date")), _day(txn.get("value_date"))
    day = booked_on or _day(txn.get("transaction_date")) or value_on
    if day is None:
        raise Fatal("Enable Banking answered a transaction without any date")
    remittance = txn.get("remittance_information")
    lines = [str(x) for x in remittance if x] if isinstance(remittance, list) else []
    code = txn.get("bank_transaction_code") if isinstance(txn.get("bank_transaction_code"), dict) else {}
    description = " ".join(lines) or code.get("description") or txn.get("note")
    party = txn.get("creditor" if sign < 0 else "debtor")
    counterparty = party.get("name") if isinstance(party, dict) else None
    data = datasets.BankTransaction.make(
        account_id=account["id"],
        booked_on=booked_on if status == "booked" else None,
        value_on=value_on,
        amount=sign * abs(amount),
        currency=currency,
        description=sanitize(description) if description else None,
        counterparty=sanitize(counterparty) if counterparty else None,
        status=status,
    )
    return Record("bank.transaction", raw["key"], datetime.combine(day, time(), UTC), data)
