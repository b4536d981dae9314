"""camt elements as plain data (the `raw` kept with each record) and the accessors the
mapping and the pattern path share."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

LEDGER = ("CLBD", "ITBD", "OPBD", "PRCD")  # by preference on the same date
AVAILABLE = ("CLAV", "ITAV", "OPAV")
KINDS = {"CACC": "checking", "CASH": "checking", "SVGS": "savings", "CARD": "credit_card", "LOAN": "loan"}
STATUSES = {"BOOK": "booked", "PDNG": "pending", "FUTR": "pending"}
CURRENCY = re.compile(r"[A-Z]{3}")
COMMON_CURRENCIES = {"EUR", "USD", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "JPY"}


_LOCAL: dict[str, str] = {}


def local_name(tag: str) -> str:
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
        name = local.get(tag) or local_name(tag)
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


def all_of(node: Any, name: str) -> list[Any]:
    value = node.get(name) if isinstance(node, dict) else None
    return [] if value is None else value if type(value) is list else [value]


def node_at(node: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(node, dict):
            return None
        node = node.get(name)
        if type(node) is list:
            node = node[0]
    return node


def text_at(node: Any, *path: str) -> str | None:
    for name in path:
        if type(node) is not dict:
            return None
        node = node.get(name)
        if type(node) is list:
            node = node[0]
    if type(node) is dict:
        node = node.get("#text")
    return (node or None) if type(node) is str else None


def child_of(node: Any, key: str) -> Any:
    """A child of a data node (the first one when repeated); None if there is none."""
    if type(node) is dict:
        value = node.get(key)
        return value[0] if type(value) is list else value
    return None


def leaf_text(value: Any) -> str | None:
    """The text of a leaf (of "#text" when it has attributes); None when empty or absent."""
    if type(value) is dict:
        value = value.get("#text")
    return (value or None) if type(value) is str else None


def party_name(tx: Any, role: str) -> str | None:
    """A related party's name: RltdPties/<role>/Nm, or /Pty/Nm from version .08 on."""
    parties = child_of(tx, "RltdPties")
    if parties is None:
        return None
    for name in (role, "Ultmt" + role):
        node = child_of(parties, name)
        found = leaf_text(child_of(node, "Nm")) or leaf_text(child_of(child_of(node, "Pty"), "Nm"))
        if found:
            return found
    return None


def description_of(tx: Any, entry: dict[str, Any]) -> str | None:
    info = child_of(tx, "RmtInf")
    ustrd = info.get("Ustrd") if type(info) is dict else None
    if type(ustrd) is str and ustrd:
        return ustrd
    unstructured = [u for u in all_of(info, "Ustrd") if u and isinstance(u, str)]
    if unstructured:
        return " ".join(unstructured)
    return (
        leaf_text(child_of(child_of(child_of(info, "Strd"), "CdtrRefInf"), "Ref"))
        or leaf_text(child_of(tx, "AddtlTxInf"))
        or leaf_text(child_of(entry, "AddtlNtryInf"))
    )
