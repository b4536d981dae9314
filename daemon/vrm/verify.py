"""Checking a disclosure: its signature, its dates, and (where the vault that signed it is at
hand) whether its key was revoked. Needs nothing but the document and the clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from ..errors import SelfdataError
from . import signing

# What a vault knows of a key: None if it is not one of its own, else (revoked_at ms or None, reason).
KeyLookup = Callable[[str], tuple[int | None, str | None] | None]
MAX_BYTES = 1_000_000


class NotADisclosure(SelfdataError, ValueError):
    """A file that is not a disclosure at all (not JSON, not an object, far too large)."""


def _ms(text: Any) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp() * 1000)


def read(path: Path) -> bytes:
    """A disclosure file's bytes, refusing one far too large to be one before reading it whole."""
    with path.open("rb") as f:
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise NotADisclosure(f"{path.name} is far larger than a disclosure")
    return data


def parse(data: bytes) -> dict[str, Any]:
    """The JSON of a disclosure file; NotADisclosure naming the problem."""
    if len(data) > MAX_BYTES:
        raise NotADisclosure(f"{len(data)} bytes is far larger than a disclosure")
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as err:
        raise NotADisclosure(f"not JSON: {err}") from None
    if not isinstance(document, dict):
        raise NotADisclosure("not a JSON object: a disclosure is one")
    return document


def verify(document: dict[str, Any], now_ms: int, lookup: KeyLookup | None = None) -> dict[str, Any]:
    """A report: `status` is valid, tampered, revoked, expired, not_yet_valid or malformed;
    `problems` lists every one found, `signed` whether the signature holds."""
    problems: list[str] = []
    status = "valid"
    key = None
    try:
        key = signing.check(document)
        signed = True
    except (signing.BadProof, ValueError, RecursionError) as err:
        signed = False
        problems.append(str(err) if not isinstance(err, RecursionError) else "the document is nested far too deep")
        status = "tampered" if "changed after" in str(err) else "malformed"
    issuer = document.get("issuer")
    if signed and key is not None and issuer != f"did:key:{key}":
        problems.append("the proof's key is not the issuer's")
        status, signed = "malformed", False
    revoked = None
    known = None
    if key is not None and lookup is not None:
        found = lookup(key)
        known = found is not None
        if found is not None and found[0] is not None:
            revoked = {"at": signing.stamp(found[0]), "reason": found[1]}
            problems.append(f"the signing key was revoked on {revoked['at']} ({found[1]})")
            if status == "valid":
                status = "revoked"
    start, until = _ms(document.get("validFrom")), _ms(document.get("validUntil"))
    if until is None or start is None:
        problems.append("validFrom and validUntil must be date-times with a zone")
        if status == "valid":
            status = "malformed"
    elif now_ms >= until:
        problems.append(f"it expired on {document['validUntil']}")
        if status == "valid":
            status = "expired"
    elif now_ms < start:
        problems.append(f"it is valid only from {document['validFrom']}")
        if status == "valid":
            status = "not_yet_valid"
    found_subject = document.get("credentialSubject")
    subject: dict[str, Any] = found_subject if isinstance(found_subject, dict) else {}
    extracts = subject.get("extracts")
    return {
        "status": status,
        "valid": status == "valid",
        "signed": signed,
        "problems": problems,
        "issuer": issuer,
        "key": key,
        "key_known": known,
        "key_revoked": revoked,
        "id": document.get("id"),
        "valid_from": document.get("validFrom"),
        "valid_until": document.get("validUntil"),
        "recipient": subject.get("recipient"),
        "purpose": subject.get("purpose"),
        "extracts": [x.get("label") for x in extracts if isinstance(x, dict)] if isinstance(extracts, list) else [],
    }
