"""The OFX text helpers the tokenizer needs: the header's charset, entities, CDATA
sections, repeated elements, and the status codes a downloaded file may carry."""

from __future__ import annotations

import re
from typing import Any

from .mapping import agg_of, text_of

_ENTITY = re.compile(r"&(amp|lt|gt|quot|apos|nbsp|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'", "nbsp": "\u00a0"}
# OFX status codes a user may meet in a downloaded file.
STATUS_CODES = {
    "2000": "general error",
    "2003": "account not found",
    "2019": "duplicate request",
    "2028": "requested element unknown",
    "15000": "must change user password",
    "15500": "sign-on invalid: wrong user id or password",
    "15501": "customer account already in use",
    "15502": "user id and password locked out",
    "15505": "country not supported",
    "15510": "client id invalid",
    "15511": "the bank requires you to authenticate again",
}


def charset_of(header: dict[str, str]) -> str:
    encoding = header.get("ENCODING", "").upper()
    charset = header.get("CHARSET", "").upper()
    if encoding in ("UTF-8", "UTF8", "UNICODE"):
        return "utf-8"
    if charset in ("1252", "WINDOWS-1252", "CP1252", "ISO-8859-1", "8859-1", "LATIN1", "LATIN-1", "ISO8859-1"):
        return "cp1252"  # files labelled Latin-1 are Windows-1252 in practice (as browsers assume)
    if charset in ("", "NONE", "USASCII", "US-ASCII"):
        return "ascii"
    return charset.lower()


def unescape(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name[0] == "#":
            code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
            return chr(code) if 0 < code < 0x110000 else m.group(0)
        return _ENTITIES[name]

    return _ENTITY.sub(one, text)


def cdata(buf: bytes) -> tuple[bytes, bool]:
    """CDATA sections (an Australian bank wraps NAME and MEMO in them) as the escaped text
    they stand for; False when one is not closed within `buf`."""
    at = buf.find(b"<![CDATA[")
    if at < 0:
        return buf, True
    out, start = [], 0
    while at >= 0:
        end = buf.find(b"]]>", at + 9)
        if end < 0:
            out.append(buf[start:])
            return b"".join(out), False
        text = buf[at + 9 : end].replace(b"&", b"&amp;").replace(b"<", b"&lt;").replace(b">", b"&gt;")
        out += [buf[start:at], text]
        start = end + 3
        at = buf.find(b"<![CDATA[", start)
    out.append(buf[start:])
    return b"".join(out), True


def add_child(parent: dict[str, Any], tag: str, value: Any) -> None:
    old = parent.get(tag)
    if old is None:
        parent[tag] = value
    elif isinstance(old, list):
        old.append(value)
    else:
        parent[tag] = [old, value]


def status_problem(node: dict[str, Any]) -> tuple[str, str, str] | None:
    """(code, meaning, message) of an aggregate's STATUS when it is an error, else None."""
    status = agg_of(node, "STATUS")
    code = text_of(status, "CODE") or "0"
    severity = (text_of(status, "SEVERITY") or "").upper()
    if code == "0" or severity != "ERROR":
        return None
    return code, STATUS_CODES.get(code, "error"), text_of(status, "MESSAGE") or ""
