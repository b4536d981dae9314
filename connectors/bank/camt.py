"""ISO 20022 cash-management files: camt.053 statements, camt.052 intraday reports and
camt.054 debit/credit notifications, schema versions .001.02 to .001.13.

Safety: the prolog (everything before the root element, where a DTD would have to be)
goes through defusedxml with DTDs, entity declarations and external references all
forbidden; a DOCTYPE cannot appear later in a well-formed document, so no entity is ever
expanded and nothing is ever fetched.

Reading: each complete `<Ntry>...</Ntry>` is cut out of the byte stream; an entry of the
common shape is read with one pattern (`quick_records`, `fast_entry`), any other by the
XML parser. The rest of the document, with a placeholder for each entry, is built by the
C ElementTree parser into a tree from which finished parts are taken and dropped between
two blocks of the file, so memory stays bounded whatever the file's size. A file with
comments, CDATA or instructions in its body is read wholly by the XML parser. `raw`
keeps each entry's XML text; `normalize` reads it again the same way.

Keys (`bank.transaction`): `ACCOUNT:AcctSvcrRef` (the bank's reference for the entry,
or of its only transaction); one `/n` or `/ref` per transaction of a batch; without
any bank reference, a hash of the booking date, value date, amount, currency, end-to-end
id, description and counterparty, numbered by occurrence within the file so that two
identical payments on the same day stay two. `bank.account` is keyed by the IBAN (or
the bank's other account id) and carries the latest booked and available balances.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException

from connectors.sdk import Field, Fragment, Importer, ImportFailed, InvalidRecord, Record, datasets, decimal_text

from .amounts import (
    fingerprint,
    is_iban,
    midnight_utc,
    parse_iso_date,
    parse_iso_datetime,
    parse_xml_decimal,
    zone,
    zone_problem,
)

CHUNK = 1 << 20
PROLOG = 1 << 16
MESSAGES = {
    "BkToCstmrStmt": ("053", "Stmt"),
    "BkToCstmrAcctRpt": ("052", "Rpt"),
    "BkToCstmrDbtCdtNtfctn": ("054", "Ntfctn"),
}
_NAMESPACE = re.compile(rb"urn:iso:std:iso:20022:tech:xsd:camt\.05[234]\.001\.\d\d")
_ROOTS = re.compile(rb"<(?:\w+:)?(?:BkToCstmrStmt|BkToCstmrAcctRpt|BkToCstmrDbtCdtNtfctn)[\s>]")
LEDGER = ("CLBD", "ITBD", "OPBD", "PRCD")  # by preference on the same date
AVAILABLE = ("CLAV", "ITAV", "OPAV")
KINDS = {"CACC": "checking", "CASH": "checking", "SVGS": "savings", "CARD": "credit_card", "LOAN": "loan"}
STATUSES = {"BOOK": "booked", "PDNG": "pending", "FUTR": "pending"}
_CURRENCY = re.compile(r"[A-Z]{3}")
_CURRENCIES = {"EUR", "USD", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "JPY"}


class CamtImporter(Importer):
    name = "camt"
    title = "ISO 20022 camt.052 / camt.053 / camt.054 bank statements"
    category = "bank"
    datasets = ("bank.account", "bank.transaction")
    extensions = (".xml", ".camt", ".053", ".052", ".054")
    description = "Statements, intraday reports and notifications in ISO 20022 XML, as European banks provide."
    fields = (
        Field("timezone", "Time zone of times the file gives without an offset", default="UTC", check=zone_problem),
    )

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        return _NAMESPACE.search(head) is not None or _ROOTS.search(head) is not None

    def read(self, path: Path, settings: dict[str, Any]) -> Iterator[Record | Fragment]:
        problem = zone_problem(settings.get("timezone") or "UTC")
        if problem:
            raise ImportFailed(f"{path.name}: setting timezone: {problem}")
        yield from _Reader(path, str(settings.get("timezone") or "UTC")).records()

    def normalize(self, fragment: Fragment) -> Record | list[Record] | None:
        if fragment.dataset == "bank.account":
            return account_record(fragment.raw)
        return entry_records(fragment.raw)


# --- from elements to plain data (the `raw` kept with each record) ---------------------

_LOCAL: dict[str, str] = {}


def _local(tag: str) -> str:
    name = _LOCAL.get(tag)
    if name is None:
        name = _LOCAL[tag] = tag[tag.rfind("}") + 1 :]
    return name


def to_data(element: ET.Element) -> dict[str, Any]:
    """An element's children as a dict: leaves as their text (stripped), attributes as
    "@name" next to "#text", repeated elements as lists."""
    out: dict[str, Any] = {}
    local = _LOCAL
    for child in element:
        tag = child.tag
        name = local.get(tag) or _local(tag)
        attrs = child.items()
        value: Any
        if len(child):
            value = to_data(child)
            for key, attr in attrs:
                value["@" + key] = attr
        else:
            text = child.text
            value = text.strip() if text else ""
            if attrs:
                value = {"#text": value, **{"@" + k: v for k, v in attrs}}
        old = out.get(name)
        if old is None:
            out[name] = value
        elif type(old) is list:
            old.append(value)
        else:
            out[name] = [old, value]
    return out


def _all(node: Any, name: str) -> list[Any]:
    value = node.get(name) if isinstance(node, dict) else None
    return [] if value is None else value if type(value) is list else [value]


def _one(node: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(node, dict):
            return None
        node = node.get(name)
        if type(node) is list:
            node = node[0]
    return node


def _text(node: Any, *path: str) -> str | None:
    for name in path:
        if type(node) is not dict:
            return None
        node = node.get(name)
        if type(node) is list:
            node = node[0]
    if type(node) is dict:
        node = node.get("#text")
    return (node or None) if type(node) is str else None


# --- the common shape of an entry, read with one pattern ----------------------------------

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
        ref = _str(_get(details.get("Refs"), "AcctSvcrRef")) or ""
        if not ref:
            return None  # keyed by its content: the general path numbers identical entries
    currency = t(ccy).upper()
    if currency not in _CURRENCIES and not _CURRENCY.fullmatch(currency):
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
        "description": _description(details, {"AddtlNtryInf": t(addtl)} if addtl is not None else {}),
        "counterparty": _party(details, "Cdtr" if amount < 0 else "Dbtr"),
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
    e2e = _str(_get(details.get("Refs"), "EndToEndId"))
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


# --- the mapping: pure functions of the raw fragments ----------------------------------


def _money(node: Any, where: str) -> tuple[Decimal, str]:
    """(amount, currency) of an `Amt` element: never negative, currency required."""
    if not isinstance(node, dict) or "@Ccy" not in node:
        raise ValueError(f"{where}: an amount without its currency (Amt Ccy=...)")
    currency = str(node["@Ccy"]).strip().upper()
    if currency not in _CURRENCIES and not _CURRENCY.fullmatch(currency):
        raise ValueError(f"{where}: {currency!r} is not an ISO 4217 currency code")
    return parse_xml_decimal(str(node.get("#text") or "")), currency


def _sign(node: Any, where: str, default: int | None = None) -> int:
    indicator = _str(_get(node, "CdtDbtInd"))
    if indicator == "CRDT":
        return 1
    if indicator == "DBIT":
        return -1
    if indicator is None and default is not None:
        return default
    raise ValueError(f"{where}: CdtDbtInd is {indicator!r}, not CRDT or DBIT")


def _get(node: Any, key: str) -> Any:
    """A child of a data node (the first one when repeated); None if there is none."""
    if type(node) is dict:
        value = node.get(key)
        return value[0] if type(value) is list else value
    return None


def _str(value: Any) -> str | None:
    """The text of a leaf (of "#text" when it has attributes); None when empty or absent."""
    if type(value) is dict:
        value = value.get("#text")
    return (value or None) if type(value) is str else None


def _day(node: Any, where: str) -> date | None:
    """A date choice (Dt or DtTm): the calendar day as written."""
    if type(node) is not dict:
        return None
    day = _str(_get(node, "Dt"))
    if day:
        return parse_iso_date(day)
    moment = _str(_get(node, "DtTm"))
    return parse_iso_datetime(moment).date() if moment else None


def _status(entry: dict[str, Any]) -> str | None:
    status = _get(entry, "Sts")
    code = (_str(_get(status, "Cd")) or _str(_get(status, "Prtry"))) if type(status) is dict else _str(status)
    code = (code or "").upper()
    if code == "INFO":
        return None  # for information only: never booked on the account
    if code in STATUSES:
        return STATUSES[code]
    return "booked" if _one(entry, "BookgDt") else "pending"


def _party(tx: Any, role: str) -> str | None:
    """A related party's name: RltdPties/<role>/Nm, or /Pty/Nm from version .08 on."""
    parties = _get(tx, "RltdPties")
    if parties is None:
        return None
    for name in (role, "Ultmt" + role):
        node = _get(parties, name)
        found = _str(_get(node, "Nm")) or _str(_get(_get(node, "Pty"), "Nm"))
        if found:
            return found
    return None


def _description(tx: Any, entry: dict[str, Any]) -> str | None:
    info = _get(tx, "RmtInf")
    ustrd = info.get("Ustrd") if type(info) is dict else None
    if type(ustrd) is str and ustrd:
        return ustrd
    unstructured = [u for u in _all(info, "Ustrd") if u and isinstance(u, str)]
    if unstructured:
        return " ".join(unstructured)
    return (
        _str(_get(_get(_get(info, "Strd"), "CdtrRefInf"), "Ref"))
        or _str(_get(tx, "AddtlTxInf"))
        or _str(_get(entry, "AddtlNtryInf"))
    )


def _tx_amount(tx: Any, currency: str, sign: int, where: str) -> Decimal | None:
    """A transaction's own signed amount in the entry's currency, if it gives one."""
    node = _one(tx, "Amt") or _one(tx, "AmtDtls", "TxAmt", "Amt")
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
    return [tx for details in _all(entry, "NtryDtls") for tx in _all(details, "TxDtls")]


def _type(code: Any) -> str | None:
    """The bank transaction code: domain/family/sub-family, or the proprietary code."""
    domain = _get(code, "Domn")
    if domain:
        family = _get(domain, "Fmly")
        parts = (_str(_get(domain, "Cd")), _str(_get(family, "Cd")), _str(_get(family, "SubFmlyCd")))
        return "/".join(x for x in parts if x)
    return _str(_get(_get(code, "Prtry"), "Cd"))


def identity(account: dict[str, Any], entry: dict[str, Any]) -> str | None:
    """The fingerprint keying an entry the bank gives no reference for (None if it has one)."""
    txs = _transactions(entry)
    if _text(entry, "AcctSvcrRef") or (len(txs) == 1 and _text(txs[0], "Refs", "AcctSvcrRef")):
        return None
    tx = txs[0] if txs else {}
    e2e = _text(tx, "Refs", "EndToEndId")
    return fingerprint(
        account["id"],
        _text(entry, "BookgDt", "Dt") or _text(entry, "BookgDt", "DtTm") or "",
        _text(entry, "ValDt", "Dt") or _text(entry, "ValDt", "DtTm") or "",
        _text(entry, "CdtDbtInd") or "",
        _text(entry, "Amt") or "",
        str(_one(entry, "Amt", "@Ccy") or ""),
        "" if e2e in (None, "NOTPROVIDED") else e2e,
        _description(tx, entry) or "",
        _party(tx, "Cdtr") or "",
        _party(tx, "Dbtr") or "",
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
    amount, currency = _money(_get(entry, "Amt"), "entry")
    sign = _sign(entry, "entry")
    booked = _day(_get(entry, "BookgDt"), "BookgDt")
    value_on = _day(_get(entry, "ValDt"), "ValDt")
    day = booked or value_on or (parse_iso_date(raw["as_of"][:10]) if raw.get("as_of") else None)
    if day is None:
        raise ValueError("an entry with neither booking nor value date")
    occurrence = int(raw.get("occurrence", 1))
    ref = _str(_get(entry, "AcctSvcrRef"))
    txs = _transactions(entry)
    if not ref and len(txs) == 1:
        ref = _str(_get(_get(txs[0], "Refs"), "AcctSvcrRef"))
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
    if "RvslInd" in entry and (_str(_get(entry, "RvslInd")) or "").lower() == "true":
        extra["reversal"] = True
    ts = midnight_utc(day)
    total = amount * sign
    parts = [_tx_amount(tx, currency, sign, f"transaction {i + 1}") for i, tx in enumerate(txs)] if len(txs) > 1 else []
    if parts and None not in parts and sum(p for p in parts if p is not None) == total:
        refs = [_text(tx, "Refs", "AcctSvcrRef") for tx in txs]
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
        "description": _description(tx, entry),
        "counterparty": _party(tx, "Cdtr" if amount < 0 else "Dbtr"),
        **extra,
    }
    e2e = _str(_get(_get(tx, "Refs"), "EndToEndId"))
    if e2e and e2e != "NOTPROVIDED":
        data["end_to_end_id"] = e2e
    return data


def _balance(node: Any, tz: tzinfo) -> tuple[str, Decimal, str, datetime] | None:
    code = _text(node, "Tp", "CdOrPrtry", "Cd")
    if code is None or _one(node, "Tp", "SubTp"):
        return None
    amount, currency = _money(_one(node, "Amt"), f"balance {code}")
    when = _one(node, "Dt")
    if _text(when, "DtTm"):
        at = parse_iso_datetime(_text(when, "DtTm") or "", tz)
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


class _Block:
    """A statement (report, notification) being read: its header, then its entries."""

    def __init__(self) -> None:
        self.header: dict[str, Any] = {}
        self.account: dict[str, Any] | None = None


_DECLARED = re.compile(rb"""^(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_SINGLE_BYTE = {b"iso-8859-1", b"iso8859-1", b"latin1", b"latin-1", b"windows-1252", b"cp1252", b"iso-8859-15"}


def _honest_encoding(head: bytes) -> bytes:
    """A file declared Latin-1 whose bytes are UTF-8 (an export tool that lies) is read as
    UTF-8: real Latin-1 text is almost never valid UTF-8. Anything else is left to the
    parser, which refuses bytes invalid in the declared encoding with their position."""
    m = _DECLARED.match(head)
    if m is None or m.group(1).lower() not in _SINGLE_BYTE or head.isascii():
        return head
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 3:  # not just a character cut at the end of the block
            return head
    return head[: m.start(1)] + b"UTF-8" + head[m.end(1) :]


_PLACEHOLDER = b"<SelfdataNtry/>"
_ASCII_COMPATIBLE = {
    "utf-8",
    "utf8",
    "us-ascii",
    "ascii",
    "iso-8859-1",
    "latin-1",
    "latin1",
    "windows-1252",
    "cp1252",
    "iso-8859-15",
}


class _RootStarted(Exception):
    pass


class _RootSeen:
    """A parser target that stops the prolog check at the root element's start."""

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        raise _RootStarted

    def end(self, tag: str) -> None:
        return None

    def data(self, data: str) -> None:
        return None

    def close(self) -> None:
        return None


class _Reader:
    def __init__(self, path: Path, timezone: str) -> None:
        self.path, self.timezone = path, timezone
        self.message: tuple[str, str] | None = None
        self.block: _Block | None = None
        self.accounts: dict[str, Record] = {}
        self.seen: dict[str, int] = {}
        self.entries = 0
        self.queue: deque[tuple[int, bytes]] = deque()
        self.codec = "utf-8"
        self.splicing = False
        self.offset = self.skip = 0

    def fail(self, message: str) -> ImportFailed:
        return ImportFailed(f"{self.path.name}: {message}")

    def records(self) -> Iterator[Record | Fragment]:
        builder = ET.TreeBuilder()
        # Everything the parser builds goes under this element, which the reader holds:
        # finished entries are taken from the tree (and dropped) between two chunks.
        holder = builder.start("holder", {})
        parser = ET.XMLParser(target=builder)
        with self.path.open("rb") as f:
            data = _honest_encoding(f.read(PROLOG))
            self._check_prolog(data)
            self._encoding(data)
            carry, eof = b"", False
            while not eof:
                buf = carry + data
                data = f.read(CHUNK)
                eof = not data
                feed, carry = self._splice(buf, eof)
                try:
                    parser.feed(feed)
                except ET.ParseError as err:
                    raise self._parse_error(err) from None
                yield from self._drain(holder, final=False)
            try:
                parser.close()
            except ET.ParseError as err:
                raise self._parse_error(err) from None
        yield from self._drain(holder, final=True)
        if self.message is None:
            raise self.fail("no camt.052, camt.053 or camt.054 message in the file")
        if self.entries == 0 and not self.accounts:
            raise self.fail("the message holds no account, balance or entry")
        yield from self.accounts.values()

    def _encoding(self, head: bytes) -> None:
        declared = _DECLARED.match(head)
        name = declared.group(1).decode("ascii").lower() if declared else "utf-8"
        self.codec = name
        # The XML declaration is the one instruction allowed: scanning starts after it.
        self.skip = head.find(b"?>") + 2 if declared else 0
        body = head[self.skip :]
        # Entries are cut out of the byte stream, which needs an ASCII-compatible encoding
        # and no markup that could hide a "<Ntry>" (comments, CDATA, instructions).
        self.splicing = name.replace("_", "-") in _ASCII_COMPATIBLE and b"<!" not in body and b"<?" not in body
        self.offset = 0

    def _splice(self, buf: bytes, eof: bool) -> tuple[bytes, bytes]:
        """The bytes to give the XML parser, with each complete `<Ntry>...</Ntry>` replaced
        by a placeholder (as many line ends, so positions in errors stay right) and queued
        for the entry reader; and the bytes to keep for the next block."""
        base, skip = self.offset, self.skip
        self.skip = 0
        if self.splicing and (buf.find(b"<!", skip) >= 0 or buf.find(b"<?", skip) >= 0):
            self.splicing = False
        if not self.splicing:
            self.offset += len(buf)
            return buf, b""
        out: list[bytes] = []
        pos = 0
        while True:
            start = buf.find(b"<Ntry>", pos)
            end = buf.find(b"</Ntry>", start) if start >= 0 else -1
            if end < 0:
                break
            block = buf[start : end + 7]
            out += (buf[pos:start], _PLACEHOLDER, b"\n" * block.count(b"\n"))
            self.queue.append((base + start, block))
            pos = end + 7
        cut = len(buf)
        if not eof:
            if start >= 0:
                cut = start  # an entry not complete yet
            else:
                lt = buf.rfind(b"<", pos)
                if lt >= 0 and b"<Ntry>".startswith(buf[lt:]):
                    cut = lt
        out.append(buf[pos:cut])
        self.offset += cut
        return b"".join(out), buf[cut:]

    def _parse_error(self, err: ET.ParseError) -> ImportFailed:
        line, column = getattr(err, "position", (0, 0))
        reason = str(err).split(":")[0]
        if "no element found" in str(err) or "unclosed token" in str(err):
            reason += " (the file is truncated)"
        return self.fail(f"line {line}, column {column}: malformed XML: {reason}")

    def _check_prolog(self, head: bytes) -> None:
        """Refuse DTDs, entity declarations and external references (defusedxml) before
        any byte reaches the main parser. They can only come before the root element."""
        seen = _RootSeen()
        parser = DET.XMLParser(target=seen, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        try:
            parser.feed(head)
        except _RootStarted:
            return
        except DefusedXmlException as err:
            raise self.fail(
                f"DTDs and entity declarations are not allowed in camt files ({type(err).__name__})"
            ) from None
        except ET.ParseError as err:
            raise self._parse_error(err) from None
        raise self.fail("no XML element in the first 64 KiB: this is not a camt file")

    def _drain(self, holder: ET.Element, final: bool) -> Iterator[Record | Fragment]:
        if not len(holder):
            return
        document = holder[0]
        if _local(document.tag) != "Document" and self.message is None:
            raise self.fail(f"the root element is <{_local(document.tag)}>, not a camt <Document>")
        if not len(document):
            return
        message = document[0]
        if self.message is None:
            known = MESSAGES.get(_local(message.tag))
            if known is None:
                raise self.fail(f"<{_local(message.tag)}> is not a camt.052, camt.053 or camt.054 message")
            self.message = known
        block_name = self.message[1]
        while len(message):
            block = message[0]
            done = final or len(message) > 1
            if _local(block.tag) == block_name:
                yield from self._block(block, done)
            if not done:
                return
            del message[0]

    def _block(self, element: ET.Element, done: bool) -> Iterator[Record | Fragment]:
        state = self.block = self.block or _Block()
        ready = len(element) if done else len(element) - 1
        for child in element[:ready]:
            name = _local(child.tag)
            if name == "SelfdataNtry":
                offset, block = self.queue.popleft()
                yield from self._entry(state, block, offset)
            elif name == "Ntry":
                yield from self._entry(state, ET.tostring(child, encoding="unicode"), -1, to_data(child))
            elif name == "Bal":
                state.header.setdefault("Bal", []).append(to_data(child))
            else:
                state.header[name] = to_data(child) if len(child) else (child.text or "")
        del element[:ready]
        if done:
            self._finish(state)
            self.block = None

    def _account(self, state: _Block) -> dict[str, Any]:
        if state.account is None:
            acct = state.header.get("Acct")
            if not isinstance(acct, dict):
                raise self.fail(
                    f"a <{self.message[1] if self.message else 'Stmt'}> without its <Acct> before the entries"
                )
            iban = _text(acct, "Id", "IBAN")
            other = _text(acct, "Id", "Othr", "Id")
            acct_id = (iban or other or "").replace(" ", "")
            if not acct_id:
                raise self.fail("an account without an IBAN or other id")
            account: dict[str, Any] = {"id": acct_id}
            if iban and is_iban(iban):
                account["iban"] = acct_id
            for key, value in (
                ("currency", (_text(acct, "Ccy") or "").upper() or None),
                ("name", _text(acct, "Nm")),
                ("servicer", _text(acct, "Svcr", "FinInstnId", "Nm") or _text(acct, "Svcr", "FinInstnId", "BIC")),
                ("kind", KINDS.get(_text(acct, "Tp", "Cd") or "")),
            ):
                if value:
                    account[key] = value
            state.account = account
        return state.account

    def _entry(
        self, state: _Block, block: bytes | str, offset: int, entry: dict[str, Any] | None = None
    ) -> list[Record]:
        self.entries += 1
        account = self._account(state)
        try:
            text = block if isinstance(block, str) else block.decode(self.codec)
        except UnicodeDecodeError:
            raise self.fail(
                f"line {self._line(offset)}: entry {self.entries}: bytes that are not {self.codec}"
            ) from None
        raw: dict[str, Any] = {"account": account, "entry": text}
        try:
            records = quick_records(raw) if entry is None else None
            if records is None:
                records = self._records(state, raw, entry, offset)
            elif records:
                records = self._apart(raw, records, None)
        except (ValueError, KeyError, TypeError, InvalidRecord) as err:
            raise self.fail(f"entry {self.entries} (account {account['id']}): {err}") from None
        return records

    def _records(self, state: _Block, raw: dict[str, Any], entry: dict[str, Any] | None, offset: int) -> list[Record]:
        if entry is None:
            entry = fast_entry(raw["entry"])
            if entry is None:
                try:
                    entry = to_data(ET.fromstring(raw["entry"]))
                except ET.ParseError as err:
                    line, column = getattr(err, "position", (1, 0))
                    at = self._line(offset) + line - 1
                    raise self.fail(f"line {at}, column {column}: malformed XML: {str(err).split(':')[0]}") from None
        if "BookgDt" not in entry and "ValDt" not in entry:
            raw["as_of"] = _text(state.header, "CreDtTm") or ""
        ident = identity(raw["account"], entry)
        if ident is not None:
            n = self.seen[ident] = self.seen.get(ident, 0) + 1
            if n > 1:
                raw["occurrence"] = n
        records = entry_records(raw, entry)
        return self._apart(raw, records, entry) if records and ident is None else records

    def _apart(self, raw: dict[str, Any], records: list[Record], entry: dict[str, Any] | None) -> list[Record]:
        """A bank reference reused for another entry: keep both, apart (`#2`)."""
        digest = (
            hash((records[0].data["amount"], records[0].data["booked_on"]))
            if len(records) == 1
            else hash(tuple((r.data["amount"], r.data["booked_on"]) for r in records))
        )
        if self.seen.setdefault(records[0].key, digest) == digest:
            return records
        n = 2
        while self.seen.setdefault(f"{records[0].key}#{n}", digest) != digest:
            n += 1
        raw["occurrence"] = n
        return entry_records(raw, entry)

    def _line(self, offset: int) -> int:
        """The line of byte `offset` of the file (read again: only for error messages)."""
        if offset < 0:
            return 0
        with self.path.open("rb") as f:
            return f.read(offset).count(b"\n") + 1

    def _finish(self, state: _Block) -> None:
        if not state.header.get("Acct"):
            raise self.fail(f"a <{self.message[1] if self.message else 'Stmt'}> without <Acct>")
        raw = {"account": self._account(state), "balances": state.header.get("Bal", []), "timezone": self.timezone}
        try:
            record = account_record(raw)
        except (ValueError, KeyError, TypeError, InvalidRecord) as err:
            raise self.fail(f"balances of account {raw['account']['id']}: {err}") from None
        if record is None:
            return
        known = self.accounts.get(record.key)
        if known is None or known.ts <= record.ts:
            self.accounts[record.key] = record
