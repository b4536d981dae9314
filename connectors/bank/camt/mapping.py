"""The camt mapping: pure functions from the raw fragments to `bank.transaction` and
`bank.account` records (`normalize` and the reader share them)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, datetime, time, tzinfo
from decimal import Decimal
from typing import Any

from connectors.sdk import Record, datasets, decimal_text

from ..amounts import fingerprint, midnight_utc, parse_iso_date, parse_iso_datetime, parse_xml_decimal, zone
from .fast import fast_entry, quick_records
from .nodes import (
    AVAILABLE,
    COMMON_CURRENCIES,
    CURRENCY,
    LEDGER,
    STATUSES,
    all_of,
    child_of,
    description_of,
    leaf_text,
    node_at,
    party_name,
    text_at,
    to_data,
)


def _money(node: Any, where: str) -> tuple[Decimal, str]:
    """(amount, currency) of an `Amt` element: never negative, currency required."""
    if not isinstance(node, dict) or "@Ccy" not in node:
        raise ValueError(f"{where}: an amount without its currency (Amt Ccy=...)")
    currency = str(node["@Ccy"]).strip().upper()
    if currency not in COMMON_CURRENCIES and not CURRENCY.fullmatch(currency):
        raise ValueError(f"{where}: {currency!r} is not an ISO 4217 currency code")
    return parse_xml_decimal(str(node.get("#text") or "")), currency


def _sign(node: Any, where: str, default: int | None = None) -> int:
    indicator = leaf_text(child_of(node, "CdtDbtInd"))
    if indicator == "CRDT":
        return 1
    if indicator == "DBIT":
        return -1
    if indicator is None and default is not None:
        return default
    raise ValueError(f"{where}: CdtDbtInd is {indicator!r}, not CRDT or DBIT")


def _day(node: Any, where: str) -> date | None:
    """A date choice (Dt or DtTm): the calendar day as written."""
    if type(node) is not dict:
        return None
    day = leaf_text(child_of(node, "Dt"))
    if day:
        return parse_iso_date(day)
    moment = leaf_text(child_of(node, "DtTm"))
    return parse_iso_datetime(moment).date() if moment else None


def _status(entry: dict[str, Any]) -> str | None:
    status = child_of(entry, "Sts")
    code = (
        (leaf_text(child_of(status, "Cd")) or leaf_text(child_of(status, "Prtry")))
        if type(status) is dict
        else leaf_text(status)
    )
    code = (code or "").upper()
    if code == "INFO":
        return None  # for information only: never booked on the account
    if code in STATUSES:
        return STATUSES[code]
    return "booked" if node_at(entry, "BookgDt") else "pending"


def _tx_amount(tx: Any, currency: str, sign: int, where: str) -> Decimal | None:
    """A transaction's own signed amount in the entry's currency, if it gives one."""
    node = node_at(tx, "Amt") or node_at(tx, "AmtDtls", "TxAmt", "Amt")
    if node is None:
        return None
    amount, ccy = _money(node, where)
    return None if ccy != currency else amount * _sign(tx, where, default=sign)


def _transactions(entry: dict[str, Any]) -> list[Any]:
    details = entry.get("NtryDtls")
    if details is None:
        return []
    if type(details) is dict and type(details.get("TxDtls")) is dict:
        return [details["TxDtls"]]
    return [tx for details in all_of(entry, "NtryDtls") for tx in all_of(details, "TxDtls")]


def _type(code: Any) -> str | None:
    """The bank transaction code: domain/family/sub-family, or the proprietary code."""
    domain = child_of(code, "Domn")
    if domain:
        family = child_of(domain, "Fmly")
        parts = (
            leaf_text(child_of(domain, "Cd")),
            leaf_text(child_of(family, "Cd")),
            leaf_text(child_of(family, "SubFmlyCd")),
        )
        return "/".join(x for x in parts if x)
    return leaf_text(child_of(child_of(code, "Prtry"), "Cd"))


def identity(account: dict[str, Any], entry: dict[str, Any]) -> str | None:
    """The fingerprint keying an entry the bank gives no reference for (None if it has one)."""
    txs = _transactions(entry)
    if text_at(entry, "AcctSvcrRef") or (len(txs) == 1 and text_at(txs[0], "Refs", "AcctSvcrRef")):
        return None
    tx = txs[0] if txs else {}
    e2e = text_at(tx, "Refs", "EndToEndId")
    return fingerprint(
        account["id"],
        text_at(entry, "BookgDt", "Dt") or text_at(entry, "BookgDt", "DtTm") or "",
        text_at(entry, "ValDt", "Dt") or text_at(entry, "ValDt", "DtTm") or "",
        text_at(entry, "CdtDbtInd") or "",
        text_at(entry, "Amt") or "",
        str(node_at(entry, "Amt", "@Ccy") or ""),
        "" if e2e in (None, "NOTPROVIDED") else e2e,
        description_of(tx, entry) or "",
        party_name(tx, "Cdtr") or "",
        party_name(tx, "Dbtr") or "",
        str(len(txs)),
    )


def parse_entry(text: str) -> dict[str, Any]:
    """An `Ntry` element's XML text (as kept in `raw`) as data, the way `to_data` reads it."""
    if "<!" in text:
        raise ValueError("declarations, comments or CDATA inside an entry are not read")
    fast = fast_entry(text)
    return fast if fast is not None else to_data(ET.fromstring(text))


def entry_records(raw: dict[str, Any], entry: dict[str, Any] | None = None) -> list[Record]:
    """The `bank.transaction`s of one entry: one, or one per transaction of a batch when
    the transactions' own amounts add up to the entry's. `entry` is raw["entry"] already
    parsed, when the caller has it."""
    account = raw["account"]
    if entry is None:
        quick = quick_records(raw)
        if quick is not None:
            return quick
        entry = parse_entry(raw["entry"])
    status = _status(entry)
    if status is None:
        return []
    amount, currency = _money(child_of(entry, "Amt"), "entry")
    sign = _sign(entry, "entry")
    booked = _day(child_of(entry, "BookgDt"), "BookgDt")
    value_on = _day(child_of(entry, "ValDt"), "ValDt")
    day = booked or value_on or (parse_iso_date(raw["as_of"][:10]) if raw.get("as_of") else None)
    if day is None:
        raise ValueError("an entry with neither booking nor value date")
    occurrence = int(raw.get("occurrence", 1))
    ref = leaf_text(child_of(entry, "AcctSvcrRef"))
    txs = _transactions(entry)
    if not ref and len(txs) == 1:
        ref = leaf_text(child_of(child_of(txs[0], "Refs"), "AcctSvcrRef"))
    if ref:
        key = f"{account['id']}:{ref}" + (f"#{occurrence}" if occurrence > 1 else "")
    else:
        key = f"{account['id']}:{identity(account, entry)}:{occurrence}"
    common = {
        "account_id": account["id"],
        "booked_on": booked.isoformat() if booked else None,
        "value_on": value_on.isoformat() if value_on else None,
        "currency": currency,
        "status": status,
    }
    extra: dict[str, Any] = {}
    kind = _type(entry.get("BkTxCd"))
    if kind:
        extra["type"] = kind
    if "RvslInd" in entry and (leaf_text(child_of(entry, "RvslInd")) or "").lower() == "true":
        extra["reversal"] = True
    ts = midnight_utc(day)
    total = amount * sign
    parts = [_tx_amount(tx, currency, sign, f"transaction {i + 1}") for i, tx in enumerate(txs)] if len(txs) > 1 else []
    if parts and None not in parts and sum(p for p in parts if p is not None) == total:
        refs = [text_at(tx, "Refs", "AcctSvcrRef") for tx in txs]
        distinct = len(set(refs)) == len(refs) and None not in refs and ref not in refs
        out = []
        for i, (tx, part) in enumerate(zip(txs, parts, strict=True)):
            data = _transaction_data(common, part or Decimal(0), tx, entry, extra)
            out.append(Record("bank.transaction", f"{key}/{refs[i] if distinct else i + 1}", ts, data, raw))
        return out
    tx = txs[0] if len(txs) == 1 else {}
    data = _transaction_data(common, total, tx, entry, extra)
    if len(txs) > 1:
        data["description"] = data["description"] or f"{len(txs)} transactions"
        data["batch_size"] = len(txs)
    return [Record("bank.transaction", key, ts, data, raw)]


def _transaction_data(
    common: dict[str, Any], amount: Decimal, tx: Any, entry: dict[str, Any], extra: dict[str, Any]
) -> dict[str, Any]:
    # Built as BankTransaction.make would, without its per-call schema walk (the hot path of
    # a 100,000-entry file); the pipeline validates every record against the schema.
    data = {
        **common,
        "amount": decimal_text(amount),
        "description": description_of(tx, entry),
        "counterparty": party_name(tx, "Cdtr" if amount < 0 else "Dbtr"),
        **extra,
    }
    e2e = leaf_text(child_of(child_of(tx, "Refs"), "EndToEndId"))
    if e2e and e2e != "NOTPROVIDED":
        data["end_to_end_id"] = e2e
    return data


def _balance(node: Any, tz: tzinfo) -> tuple[str, Decimal, str, datetime] | None:
    code = text_at(node, "Tp", "CdOrPrtry", "Cd")
    if code is None or node_at(node, "Tp", "SubTp"):
        return None
    amount, currency = _money(node_at(node, "Amt"), f"balance {code}")
    when = node_at(node, "Dt")
    if text_at(when, "DtTm"):
        at = parse_iso_datetime(text_at(when, "DtTm") or "", tz)
    else:
        day = _day(when, f"balance {code}")
        if day is None:
            return None
        # A closing balance is true at the end of its day, an opening one at its start.
        clock = time(23, 59, 59) if code.startswith("CL") or code == "PRCD" else time(0)
        at = datetime.combine(day, clock, tz)
    return code, amount * _sign(node, f"balance {code}"), currency, at


def _pick(balances: list[tuple[str, Decimal, str, datetime]], codes: tuple[str, ...]) -> Any:
    found = [b for b in balances if b[0] in codes]
    return max(found, key=lambda b: (b[3], -codes.index(b[0])), default=None)


def account_record(raw: dict[str, Any]) -> Record | None:
    """The `bank.account` of a statement or report, with its latest booked and available
    balances in the account's currency (balances in another currency are left out)."""
    account = raw["account"]
    tz = zone(raw.get("timezone") or "UTC")
    balances = [b for b in (_balance(node, tz) for node in raw["balances"]) if b is not None]
    currency = account.get("currency") or next((b[2] for b in balances), None)
    balances = [b for b in balances if b[2] == currency]
    ledger, available = _pick(balances, LEDGER), _pick(balances, AVAILABLE)
    if currency is None or (ledger is None and available is None):
        return None
    at = (ledger or available)[3]
    data = datasets.BankAccount.make(
        account_id=account["id"],
        institution=account.get("servicer"),
        name=account.get("name"),
        iban=account.get("iban"),
        currency=currency,
        kind=account.get("kind"),
        balance=ledger[1] if ledger else None,
        available_balance=available[1] if available else None,
        balance_at=at,
    )
    return Record("bank.account", account["id"], at, data, raw)


# --- reading a file ----------------------------------------------------------------------
