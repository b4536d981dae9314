"""The common shape of a camt entry, read with one pattern instead of the XML parser.

`fast_entry` gives exactly the data `nodes.to_data` would; `quick_records` the records
`mapping.entry_records` would, straight from the pattern's groups. Any entry not of that
shape gives None and goes the general way (the tests hold both ways to the same records).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from connectors.sdk import Record

from ..amounts import midnight_utc, parse_iso_date, parse_iso_datetime, parse_xml_decimal
from .nodes import COMMON_CURRENCIES, CURRENCY, STATUSES, child_of, description_of, leaf_text, party_name

_FAST_ENTRY = re.compile(
    r"<Ntry>\s*"
    r"(?:<NtryRef>([^<]*)</NtryRef>\s*)?"
    r"<Amt\s+Ccy\s*=\s*[\"']([^\"'<>]*)[\"']\s*>([^<]*)</Amt>\s*"
    r"<CdtDbtInd>([^<]*)</CdtDbtInd>\s*"
    r"(?:<RvslInd>([^<]*)</RvslInd>\s*)?"
    r"<Sts>(?:([^<]*)|\s*<Cd>([^<]*)</Cd>\s*)</Sts>\s*"
    r"(?:<BookgDt>\s*<(Dt|DtTm)>([^<]*)</(?:Dt|DtTm)>\s*</BookgDt>\s*)?"
    r"(?:<ValDt>\s*<(Dt|DtTm)>([^<]*)</(?:Dt|DtTm)>\s*</ValDt>\s*)?"
    r"(?:<AcctSvcrRef>([^<]*)</AcctSvcrRef>\s*)?"
    r"(?:<BkTxCd>\s*"
    r"(?:<Domn>\s*<Cd>([^<]*)</Cd>\s*<Fmly>\s*<Cd>([^<]*)</Cd>\s*<SubFmlyCd>([^<]*)</SubFmlyCd>\s*</Fmly>\s*</Domn>\s*)?"
    r"(?:<Prtry>\s*<Cd>([^<]*)</Cd>\s*(?:<Issr>([^<]*)</Issr>\s*)?</Prtry>\s*)?"
    r"</BkTxCd>\s*)?"
    r"(?:<NtryDtls>\s*<TxDtls>(.*?)</TxDtls>\s*</NtryDtls>\s*)?"
    r"(?:<AddtlNtryInf>([^<]*)</AddtlNtryInf>\s*)?"
    r"</Ntry>",
    re.S,
)
_FAST_REFS = re.compile(r"<Refs>((?:\s*<[A-Za-z]+>[^<]*</[A-Za-z]+>)*)\s*</Refs>")
_FAST_LEAF = re.compile(r"<([A-Za-z]+)>([^<]*)</\1>")
_FAST_PARTY = re.compile(r"<(Dbtr|Cdtr|UltmtDbtr|UltmtCdtr)>\s*(<Pty>\s*)?<Nm>([^<]*)</Nm>")
_FAST_RMTINF = re.compile(r"<RmtInf>(.*?)</RmtInf>", re.S)
_FAST_USTRD = re.compile(r"<Ustrd>([^<]*)</Ustrd>")
_FAST_CDTRREF = re.compile(r"<CdtrRefInf>.*?<Ref>([^<]*)</Ref>", re.S)
_FAST_ADDTL = re.compile(r"<AddtlTxInf>([^<]*)</AddtlTxInf>")
_ENTITY = re.compile(r"&(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);")


def _xml_text(text: str) -> str:
    """Character data as the XML parser reads it (entities resolved), stripped like `to_data`."""
    if "&" in text:
        if len(_ENTITY.findall(text)) != text.count("&"):
            raise _NotFast
        text = html.unescape(text)
    return text.strip()


class _NotFast(Exception):
    """The entry is not of the common shape: it is read by the XML parser instead."""


def fast_entry(text: str) -> dict[str, Any] | None:
    """The data `to_data` would give for an entry of the common shape (one transaction or
    none, the usual elements in schema order), read with regular expressions; None for
    any other entry, which the XML parser then reads. Exactly what the mapping reads is
    produced, so both ways give the same records (the tests hold them to it)."""
    m = _FAST_ENTRY.fullmatch(text)
    if m is None:
        return None
    try:
        return _fast_fields(m)
    except _NotFast:
        return None


def quick_records(raw: dict[str, Any]) -> list[Record] | None:
    """The records of an entry of the common shape that carries a bank reference, mapped
    straight from the pattern's groups: the same records `entry_records` gives from the
    entry's data (the tests hold them to it), without building that data. None for any
    other entry."""
    m = _FAST_ENTRY.fullmatch(raw["entry"])
    if m is None:
        return None
    try:
        return _quick(raw, m)
    except _NotFast:
        return None


def _quick(raw: dict[str, Any], m: re.Match[str]) -> list[Record] | None:
    (_, ccy, amt, ind, rvsl, sts, sts_cd, bk_kind, bk, val_kind, val, svcr, domn, fmly, sub, prtry, _, tx, addtl) = (
        m.groups()
    )
    # Without a single "&" in the entry its texts need no entity resolved: strip is enough.
    t: Callable[[str], str] = str.strip if "&" not in raw["entry"] else _xml_text
    code = t(sts_cd if sts_cd is not None else sts).upper()
    if code == "INFO":
        return []
    status = STATUSES.get(code) or ("booked" if bk is not None else "pending")
    booked = _quick_day(bk_kind, bk, t)
    value_on = _quick_day(val_kind, val, t)
    if booked is None and value_on is None:
        return None
    details = _fast_transaction(tx, t) if tx is not None else {}
    account = raw["account"]
    ref = t(svcr) if svcr is not None else ""
    if not ref:
        ref = leaf_text(child_of(details.get("Refs"), "AcctSvcrRef")) or ""
        if not ref:
            return None  # keyed by its content: the general path numbers identical entries
    currency = t(ccy).upper()
    if currency not in COMMON_CURRENCIES and not CURRENCY.fullmatch(currency):
        raise ValueError(f"entry: {currency!r} is not an ISO 4217 currency code")
    amount = parse_xml_decimal(t(amt))
    indicator = t(ind) or None
    if indicator == "DBIT":
        amount = -amount
    elif indicator != "CRDT":
        raise ValueError(f"entry: CdtDbtInd is {indicator!r}, not CRDT or DBIT")
    occurrence = int(raw.get("occurrence", 1))
    data: dict[str, Any] = {
        "account_id": account["id"],
        "booked_on": booked.isoformat() if booked else None,
        "value_on": value_on.isoformat() if value_on else None,
        "currency": currency,
        "status": status,
        "amount": _plain(amount),
        "description": description_of(details, {"AddtlNtryInf": t(addtl)} if addtl is not None else {}),
        "counterparty": party_name(details, "Cdtr" if amount < 0 else "Dbtr"),
    }
    kind = (
        "/".join(x for x in (t(domn), t(fmly), t(sub)) if x)
        if domn is not None
        else t(prtry)
        if prtry is not None
        else ""
    )
    if kind:
        data["type"] = kind
    if rvsl is not None and t(rvsl).lower() == "true":
        data["reversal"] = True
    e2e = leaf_text(child_of(details.get("Refs"), "EndToEndId"))
    if e2e and e2e != "NOTPROVIDED":
        data["end_to_end_id"] = e2e
    key = f"{account['id']}:{ref}" + (f"#{occurrence}" if occurrence > 1 else "")
    return [Record("bank.transaction", key, midnight_utc(booked or value_on), data, raw)]


def _plain(amount: Decimal) -> str:
    """`decimal_text` for an amount read from a file (finite): no exponent, no minus zero."""
    text = format(amount, "f")
    return text[1:] if text[0] == "-" and not amount else text


def _quick_day(kind: str | None, text: str | None, t: Callable[[str], str]) -> date | None:
    value = t(text) if text is not None else ""
    if not value:
        return None
    return parse_iso_date(value) if kind == "Dt" else parse_iso_datetime(value).date()


def _fast_fields(m: re.Match[str]) -> dict[str, Any]:
    (
        ref,
        ccy,
        amt,
        ind,
        rvsl,
        sts,
        sts_cd,
        bk_kind,
        bk,
        val_kind,
        val,
        svcr,
        domn,
        fmly,
        sub,
        prtry,
        issr,
        tx,
        addtl,
    ) = m.groups()
    entry: dict[str, Any] = {}
    if ref is not None:
        entry["NtryRef"] = _xml_text(ref)
    entry["Amt"] = {"#text": _xml_text(amt), "@Ccy": _xml_text(ccy)}
    entry["CdtDbtInd"] = _xml_text(ind)
    if rvsl is not None:
        entry["RvslInd"] = _xml_text(rvsl)
    entry["Sts"] = {"Cd": _xml_text(sts_cd)} if sts_cd is not None else _xml_text(sts)
    if bk is not None:
        entry["BookgDt"] = {bk_kind: _xml_text(bk)}
    if val is not None:
        entry["ValDt"] = {val_kind: _xml_text(val)}
    if svcr is not None:
        entry["AcctSvcrRef"] = _xml_text(svcr)
    if domn is not None or prtry is not None:
        code: dict[str, Any] = {}
        if domn is not None:
            code["Domn"] = {"Cd": _xml_text(domn), "Fmly": {"Cd": _xml_text(fmly), "SubFmlyCd": _xml_text(sub)}}
        if prtry is not None:
            code["Prtry"] = {"Cd": _xml_text(prtry), **({"Issr": _xml_text(issr)} if issr is not None else {})}
        entry["BkTxCd"] = code
    elif "<BkTxCd>" in m.group(0):
        entry["BkTxCd"] = ""
    if tx is not None:
        entry["NtryDtls"] = {"TxDtls": _fast_transaction(tx)}
    if addtl is not None:
        entry["AddtlNtryInf"] = _xml_text(addtl)
    return entry


def _fast_transaction(tx: str, t: Callable[[str], str] | None = None) -> dict[str, Any]:
    t = t or _xml_text
    if "<TxDtls" in tx or "<Btch" in tx or tx.count("<Refs>") > 1 or tx.count("<RmtInf>") > 1:
        raise _NotFast
    out: dict[str, Any] = {}
    refs = _FAST_REFS.search(tx)
    if refs is not None:
        leaves = _FAST_LEAF.findall(refs.group(1))
        if len({name for name, _ in leaves}) != len(leaves):
            raise _NotFast
        out["Refs"] = {name: t(value) for name, value in leaves}
    elif "<Refs>" in tx:
        raise _NotFast
    if "<RltdPties>" in tx:
        parties: dict[str, Any] = {}
        for role, pty, name in _FAST_PARTY.findall(tx):
            if role in parties:
                raise _NotFast
            parties[role] = {"Pty": {"Nm": t(name)}} if pty else {"Nm": t(name)}
        out["RltdPties"] = parties
    info = _FAST_RMTINF.search(tx)
    if info is not None:
        inner = info.group(1)
        remittance: dict[str, Any] = {}
        unstructured = [t(u) for u in _FAST_USTRD.findall(inner)]
        if unstructured:
            remittance["Ustrd"] = unstructured if len(unstructured) > 1 else unstructured[0]
        if "<Strd>" in inner:
            if inner.count("<Strd>") > 1:
                raise _NotFast
            ref = _FAST_CDTRREF.search(inner)
            remittance["Strd"] = {"CdtrRefInf": {"Ref": t(ref.group(1))}} if ref else {}
        out["RmtInf"] = remittance
    addtl = _FAST_ADDTL.findall(tx)
    if len(addtl) > 1:
        raise _NotFast
    if addtl:
        out["AddtlTxInf"] = t(addtl[0])
    return out
