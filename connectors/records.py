"""Normalised records as one JSON document: `{"records": [{"dataset", "key", "ts", "data"}, ...]}`.

What an app pushes when it already speaks selfdata's datasets (`POST /api/v1/push/SOURCE`),
and what `selfdata import --format records-json` reads. Each record is checked against its
dataset's schema; `key` may be left out where the dataset has identifying fields (an
observation's code, start, end and device...), which are then hashed into one, so pushing
the same records again stores nothing new; `ts` defaults to the dataset's own time field.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from connectors.sdk import Delete, Fragment, Importer, ImportFailed, Record, datasets
from connectors.sdk.limits import check_document_size

MAX_KEY = 200
_HEAD = re.compile(rb'^\s*\{\s*"records"\s*:')

# What identifies a record of each dataset when the sender gives no key, and its own time.
IDENTITY: dict[str, tuple[str, ...]] = {
    "health.observation": ("code", "code_system", "start", "end", "device"),
    "health.workout": ("activity", "start", "source_device"),
    "energy.reading": ("meter_id", "commodity", "direction", "start", "end"),
    "telecom.call": ("direction", "number", "started_at"),
    "telecom.message": ("direction", "number", "at", "kind", "body"),
    "telecom.usage": ("start", "end", "line"),
    "health.clinical": ("resource_type", "id"),
    "bank.account": ("account_id",),
}
TIME_FIELD: dict[str, str] = {
    "health.observation": "start",
    "health.workout": "start",
    "energy.reading": "start",
    "telecom.call": "started_at",
    "telecom.message": "at",
    "telecom.usage": "start",
    "health.clinical": "effective",
    "bank.account": "balance_at",
    "bank.transaction": "booked_on",
}


class RecordsJsonImporter(Importer):
    name = "records-json"
    title = 'Normalised records as JSON ({"records": [...]})'
    category = "other"
    datasets = tuple(d.dataset for d in datasets.ALL)
    extensions = (".json",)
    description = "Records already in selfdata's datasets, as an app pushes them."

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        return bool(_HEAD.match(head.removeprefix(b"\xef\xbb\xbf")))

    def read(self, path: Path, settings: dict[str, Any]) -> Iterator[Record | Fragment | Delete]:
        check_document_size(path.stat().st_size, path.name, "send the records in several files or pushes")
        try:
            body = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as err:
            raise ImportFailed(f"{path.name}: not valid JSON ({err})") from None
        items = body.get("records") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise ImportFailed(f'{path.name}: expected {{"records": [...]}}')
        for i, item in enumerate(items):
            try:
                record = map_item(item)
            except ValueError as err:
                raise ImportFailed(f"{path.name}: records[{i}]: {err}") from None
            yield Fragment(record.dataset, item)

    def normalize(self, fragment: Fragment) -> Record:
        return map_item(fragment.raw)


def map_item(item: Any) -> Record:
    """One pushed record, checked: the dataset is a normalised one, the key and time are usable."""
    if not isinstance(item, dict):
        raise ValueError("each record is an object {dataset, key, ts, data}")
    dataset, data = item.get("dataset"), item.get("data")
    if not isinstance(dataset, str) or datasets.schema_of(dataset) is None:
        known = ", ".join(d.dataset for d in datasets.ALL)
        raise ValueError(f"'dataset' must be one of {known}")
    if not isinstance(data, dict):
        raise ValueError("'data' must be an object")
    key = item.get("key")
    if key is None:
        key = derived_key(dataset, data)
    elif not isinstance(key, str) or not 0 < len(key) <= MAX_KEY:
        raise ValueError(f"'key' must be a string of 1 to {MAX_KEY} characters")
    return Record(dataset, key, _ts(dataset, item.get("ts"), data), data)


def derived_key(dataset: str, data: dict[str, Any]) -> str:
    """A hash of the fields that identify a record of `dataset`, instants compared in UTC."""
    fields = IDENTITY.get(dataset)
    if fields is None:
        raise ValueError(f"'key' is required for {dataset}: it has no fields that identify a record")
    if not any(data.get(f) is not None for f in fields):
        raise ValueError(f"'key' is missing and none of {', '.join(fields)} is set to derive one")
    parts = [_identity_part(data.get(f)) for f in fields]
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).hexdigest()


def _identity_part(value: Any) -> str:
    if isinstance(value, str) and len(value) >= 20 and value[10:11] == "T":
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if dt.tzinfo is not None:
            return str(int(dt.timestamp() * 1000))
    return "" if value is None else str(value)


def _ts(dataset: str, given: Any, data: dict[str, Any]) -> datetime:
    text = given if given is not None else data.get(TIME_FIELD.get(dataset, ""))
    if not isinstance(text, str):
        raise ValueError(f"'ts' is missing (and the record's {TIME_FIELD.get(dataset, 'time')} is not set)")
    if len(text) == 10:  # a date: midnight UTC, as the API reads dates
        text += "T00:00:00+00:00"
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"ts {text!r} is not an ISO 8601 date-time") from None
    if dt.tzinfo is None:
        raise ValueError(f"ts {text!r} has no offset: add Z or +hh:mm")
    return dt
