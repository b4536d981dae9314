"""The `:86:` field of an MT940 statement line: the information to the account owner.

Banks fill it in one of three ways, told apart by its first characters:

- German (DFÜ-Abkommen, used by most German and Austrian banks): a three-digit business
  transaction code (GVC), then sub-fields `?00` posting text, `?10` primanota, `?20`-`?29`
  and `?60`-`?63` the purpose, `?30` bank code, `?31` account, `?32`-`?33` the other
  party's name. SEPA payments tag the purpose: `EREF+` end-to-end id, `KREF+`, `MREF+`,
  `CRED+`, `SVWZ+` the purpose text itself. Some banks use another separator than `?`.
- Dutch (ABN AMRO, ING, Rabobank...): `/TAG/value` pairs: `/TRTP/`, `/IBAN/`, `/NAME/`,
  `/REMI/`, `/EREF/`, `/CNTP/iban/bic/name/city/`...
- Anything else: free text.

Lines of the field are cut at 65 characters (German sub-fields at 27) wherever the text
happens to be, so structured text is joined without a separator.
"""

from __future__ import annotations

import re
from typing import Any

LINE_WIDTH = 65
_GERMAN = re.compile(r"^(\d{3})([^A-Za-z0-9\s])(\d\d)")
_SEPA_TAG = re.compile(r"(EREF|KREF|MREF|CRED|DEBT|SVWZ|ABWA|ABWE|IBAN|BIC|COAM|OAMT|PURP)\+")
_DUTCH_TAGS = {
    "TRTP", "IBAN", "BIC", "NAME", "REMI", "EREF", "MARF", "CSID", "PREF", "RTRN", "ORDP", "BENM",
    "ULTC", "ULTD", "PURP", "CNTP", "ID", "ADDR", "ISDT", "FX", "SWOC", "EXCH", "CHGS", "MSGR",
}  # fmt: skip
_SPACES = re.compile(r"\s+")


def clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def join_lines(lines: list[str]) -> str:
    """The field's text: structured text joined as cut, free text with a space where a
    line ended before the full width (a line end the bank chose)."""
    if not lines:
        return ""
    first = lines[0]
    if _GERMAN.match(first) or first.startswith("/"):
        return "".join(lines)
    out = lines[0]
    for previous, line in zip(lines, lines[1:], strict=False):
        out += ("" if len(previous) >= LINE_WIDTH else " ") + line
    return out


def parse_info(text: str) -> dict[str, Any]:
    """What a transaction takes from `:86:`: description, counterparty, end_to_end_id,
    and the bank's codes (GVC, posting text) for `raw` readers. Never fails: text that fits
    no structure is the description."""
    german = _GERMAN.match(text)
    if german:
        return _german(text, german.group(2))
    if text.startswith("/") and text[1:5].rstrip("/") in _DUTCH_TAGS:
        return _dutch(text)
    return {"description": clean(text) or None}


def _german(text: str, separator: str) -> dict[str, Any]:
    parts = re.split(re.escape(separator) + r"(\d\d)", text[3:])
    fields: dict[str, str] = {}
    for number, value in zip(parts[1::2], parts[2::2], strict=False):
        fields[number] = fields.get(number, "") + value
    purpose = "".join(fields.get(f"{n:02d}", "") for n in (*range(20, 30), *range(60, 64)))
    tags = _sepa_tags(purpose)
    description = tags.get("SVWZ") or (clean(purpose) if purpose else None) or clean(fields.get("00", "")) or None
    out: dict[str, Any] = {
        "code": text[:3],
        "description": description,
        "counterparty": clean(fields.get("32", "") + fields.get("33", "")) or None,
    }
    if fields.get("00"):
        out["posting_text"] = clean(fields["00"])
    if fields.get("31"):
        out["counterparty_account"] = clean(fields["31"]).replace(" ", "")
    if fields.get("30"):
        out["counterparty_bank"] = clean(fields["30"])
    e2e = tags.get("EREF")
    if e2e and e2e.upper() != "NOTPROVIDED":
        out["end_to_end_id"] = e2e
    return out


def _sepa_tags(purpose: str) -> dict[str, str]:
    """`EREF+...KREF+...SVWZ+...` split at each tag; a purpose without tags gives {}."""
    found = list(_SEPA_TAG.finditer(purpose))
    if not found or found[0].start() != 0:
        return {}
    tags: dict[str, str] = {}
    for m, end in zip(found, [f.start() for f in found[1:]] + [len(purpose)], strict=True):
        value = clean(purpose[m.end() : end])
        if value:
            tags.setdefault(m.group(1), value)
    return tags


def _dutch(text: str) -> dict[str, Any]:
    fields: dict[str, str] = {}
    tag: str | None = None
    value: list[str] = []
    for part in text.split("/")[1:]:
        if part in _DUTCH_TAGS:
            if tag is not None:
                fields.setdefault(tag, "/".join(value).strip("/"))
            tag, value = part, []
        else:
            value.append(part)
    if tag is not None:
        fields.setdefault(tag, "/".join(value).strip("/"))
    remittance = fields.get("REMI", "")
    for prefix in ("USTD//", "USTD/", "STRD/CUR/", "STRD//"):
        if remittance.startswith(prefix):
            remittance = remittance[len(prefix) :]
    name = fields.get("NAME")
    account = fields.get("IBAN")
    if name is None and "CNTP" in fields:
        cntp = fields["CNTP"].split("/")
        account = account or (cntp[0] if cntp else None)
        name = cntp[2] if len(cntp) > 2 else None
    out: dict[str, Any] = {
        "description": clean(remittance) or clean(fields.get("TRTP", "")) or None,
        "counterparty": clean(name or "") or None,
    }
    if fields.get("TRTP"):
        out["posting_text"] = clean(fields["TRTP"])
    if account:
        out["counterparty_account"] = clean(account).replace(" ", "")
    e2e = clean(fields.get("EREF", ""))
    if e2e and e2e.upper() != "NOTPROVIDED":
        out["end_to_end_id"] = e2e
    return out
