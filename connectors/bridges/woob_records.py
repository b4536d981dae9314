"""What the woob runner's lines become: bank.account, bank.transaction, bill.subscription, bill.document."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from datetime import UTC, date, datetime, time
from typing import Any

from ..sdk import Fatal, Record, datasets

KINDS = {
    "checking": "checking",
    "savings": "savings",
    "card": "credit_card",
    "loan": "loan",
    "mortgage": "loan",
    "consumer_credit": "loan",
    "revolving_credit": "loan",
    "market": "investment",
    "pea": "investment",
    "life_insurance": "investment",
    "deposit": "savings",
    "livret_a": "savings",
    "joint": "checking",
}
# woob's DocumentTypes (capabilities/bill.py) as bill.document kinds
DOCUMENT_KINDS = {
    "bill": "bill",
    "statement": "statement",
    "contract": "contract",
    "certificate": "certificate",
    "notice": "notice",
    "report": "report",
    "payslip": "payslip",
    "rib": "rib",
    "kiid": "kiid",
    "identity": "identity",
}
_UNSAFE = re.compile(r"[^\w.,()+@ -]+")
_CURRENCY = re.compile(r"[A-Z]{3}")  # a module may leave a symbol (€): the amount stays, the currency not


def _day(text: Any) -> date | None:
    return date.fromisoformat(str(text)[:10]) if text else None


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12), UTC)


def account(module: str, msg: dict[str, Any], now: datetime) -> Record:
    acc = str(msg.get("id") or "")
    if not acc:
        raise Fatal(f"the woob module {module} listed an account without an id")
    data = datasets.BankAccount.make(
        account_id=acc,
        institution=msg.get("bank_name") or module,
        name=msg.get("label"),
        iban=msg.get("iban"),
        currency=str(msg.get("currency") or "EUR"),
        kind=KINDS.get(str(msg.get("kind") or "").lower(), "other"),
        balance=msg.get("balance"),
        balance_at=now,
    )
    return Record("bank.account", f"{module}:{acc}", now, data, raw=msg)


def transaction(module: str, msg: dict[str, Any], currencies: dict[str, str], seen: Counter[str]) -> Record | None:
    if msg.get("date") is None or msg.get("amount") is None:
        return None
    acc = str(msg.get("account"))
    day = date.fromisoformat(str(msg["date"])[:10])
    pending = bool(msg.get("coming"))
    status = "pending" if pending else "booked"
    if msg.get("id"):
        key = f"{module}:{acc}:{msg['id']}"
    else:  # most websites give no id: the same day, amount and text, numbered in the bank's order
        ident = f"{acc}|{day}|{msg['amount']}|{msg.get('raw') or msg.get('label') or ''}|{status}"
        seen[ident] += 1
        digest = hashlib.sha256(f"{ident}|{seen[ident]}".encode()).hexdigest()[:24]
        key = f"{module}:{acc}:{'pending:' if pending else ''}{digest}"
    data = datasets.BankTransaction.make(
        account_id=acc,
        booked_on=None if pending else day,
        value_on=_day(msg.get("vdate")),
        amount=str(msg["amount"]),
        currency=currencies.get(acc, "EUR"),
        description=msg.get("raw") or msg.get("label"),
        counterparty=msg.get("label") if msg.get("raw") and msg.get("label") != msg.get("raw") else None,
        status=status,
        category=msg.get("category"),
    )
    return Record("bank.transaction", key, noon(day), data, raw=msg)


def subscription(module: str, msg: dict[str, Any], first_seen: datetime) -> Record:
    sub = str(msg.get("id") or "")
    if not sub:
        raise Fatal(f"the woob module {module} listed a subscription without an id")
    data = datasets.BillSubscription.make(
        subscription_id=sub,
        issuer=module,
        label=msg.get("label"),
        subscriber=msg.get("subscriber"),
        valid_until=_day(msg.get("validity")),
        renews_on=_day(msg.get("renewdate")),
    )
    return Record("bill.subscription", f"{module}:{sub}", first_seen, data, raw=msg)


def document_key(module: str, msg: dict[str, Any]) -> str:
    return f"{module}:{msg.get('subscription')}:{msg.get('id')}"


def file_name(msg: dict[str, Any]) -> str:
    """A name for the kept file a person recognises: its date and label, e.g. 2026-11-05 Facture novembre.pdf."""
    stem = " ".join(str(p) for p in (str(msg.get("date") or "")[:10], msg.get("label") or msg.get("id")) if p)
    ext = _UNSAFE.sub("", str(msg.get("format") or "pdf"))[:8] or "pdf"
    return f"{_UNSAFE.sub('_', stem).strip(' ._')[:120] or 'document'}.{ext}"


def document(module: str, msg: dict[str, Any], kept: tuple[str, str] | None, fallback_ts: datetime) -> Record:
    """`kept` is the (SHA-256, name) of the document's file in the vault, when there is one."""
    if not msg.get("id"):
        raise Fatal(f"the woob module {module} listed a document without an id")
    day = _day(msg.get("date"))
    amount = msg.get("total_price")
    data = datasets.BillDocument.make(
        document_id=str(msg["id"]),
        subscription_id=str(msg["subscription"]) if msg.get("subscription") else None,
        issuer=module,
        issued_on=day,
        label=msg.get("label"),
        kind=DOCUMENT_KINDS.get(str(msg.get("kind") or "").lower(), "other"),
        number=msg.get("number"),
        amount=str(amount) if amount is not None else None,
        currency=currency if _CURRENCY.fullmatch(currency := str(msg.get("currency") or "")) else None,
        due_on=_day(msg.get("duedate")),
        period_start=_day(msg.get("startdate")),
        period_end=_day(msg.get("finishdate")),
        format=msg.get("format"),
        file_sha256=kept[0] if kept else None,
        file_name=kept[1] if kept else None,
    )
    # What this run downloaded (a local path, a hash) is not the vendor's: the raw stays the same each run
    raw = {k: v for k, v in msg.items() if k not in ("type", "file", "sha256", "size", "file_error")}
    return Record("bill.document", document_key(module, msg), noon(day) if day else fallback_ts, data, raw=raw)
