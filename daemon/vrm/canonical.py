"""The JSON Canonicalization Scheme (RFC 8785) for the JSON a disclosure holds, and base58btc.

A disclosure holds strings, whole numbers, booleans, null, lists and objects: decimals are
strings (selfdata never puts money or a measurement in a float), so the only number form
JCS needs here is a whole number. A float is refused rather than serialised in a way
another verifier might not reproduce.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import SelfdataError

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
MAX_SAFE_INTEGER = 2**53 - 1  # I-JSON: the integers every JSON reader holds exactly


class CanonicalError(SelfdataError, ValueError):
    """A value that has no canonical JSON form here (a float, a huge integer, a non-text key)."""


def canonical(value: Any) -> bytes:
    """`value` as RFC 8785 canonical JSON, UTF-8."""
    return "".join(_parts(value, "$")).encode("utf-8")


def _parts(value: Any, where: str) -> list[str]:
    if value is None or isinstance(value, bool):
        return [json.dumps(value)]
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise CanonicalError(f"{where}: {value} is too large to be read exactly by every JSON reader")
        return [str(value)]
    if isinstance(value, float):
        raise CanonicalError(f"{where}: {value!r} is a float; a disclosure carries decimals as strings")
    if isinstance(value, str):
        _check_text(value, where)
        return [json.dumps(value, ensure_ascii=False)]
    if isinstance(value, list | tuple):
        out = ["["]
        for i, item in enumerate(value):
            if i:
                out.append(",")
            out.extend(_parts(item, f"{where}[{i}]"))
        out.append("]")
        return out
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise CanonicalError(f"{where}: the key {key!r} is not text")
            _check_text(key, where)
        out = ["{"]
        # JCS orders members by their names' UTF-16 code units, not by code points.
        for i, key in enumerate(sorted(value, key=lambda k: k.encode("utf-16-be"))):
            if i:
                out.append(",")
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            out.extend(_parts(value[key], f"{where}.{key}"))
        out.append("}")
        return out
    raise CanonicalError(f"{where}: a {type(value).__name__} has no JSON form")


def _check_text(text: str, where: str) -> None:
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise CanonicalError(f"{where}: the text holds a lone surrogate, which JSON cannot carry")


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def b58decode(text: str) -> bytes:
    n = 0
    for c in text:
        i = _B58.find(c)
        if i < 0:
            raise ValueError(f"{c!r} is not a base58 character")
        n = n * 58 + i
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body
