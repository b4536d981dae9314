"""The Singer message protocol (SCHEMA, RECORD, STATE) read from a tap's stdout, and its records mapped.

Pure functions of the lines and the source's settings, so they are tested on their own.
Numbers are read as Decimal (a tap's text kept exactly); a dataset of the tap's own keeps
them as JSON numbers, a mapped normalised dataset gets them as decimal text.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ..sdk import datasets
from ..sdk.errors import Fatal, InvalidRecord
from ..sdk.records import Record, outside_utc_years
from ..sdk.schema import Text

KEY_MAX = 200
_WORD = re.compile(r"[^a-z0-9_]+")


class BadMessage(Fatal):
    """A line of the tap's output is not a Singer message; the message names the line."""


def dataset_word(text: str) -> str:
    """A tap or stream name as one word of a dataset name: lowercase, `_` for the rest."""
    word = _WORD.sub("_", text.lower()).strip("_") or "stream"
    return word if word[0].isalpha() else f"s_{word}"


def tap_word(executable: str) -> str:
    """`/opt/taps/bin/tap-github` -> `github`."""
    base = executable.rstrip("/").rsplit("/", 1)[-1]
    base = base[4:] if base.startswith("tap-") or base.startswith("tap_") else base
    return dataset_word(base)


@dataclass(frozen=True)
class Message:
    type: str
    line: int
    stream: str = ""
    body: dict[str, Any] = field(default_factory=dict)


def parse_line(number: int, raw: bytes) -> Message | None:
    """One line of a tap's stdout; None for a blank line. BadMessage names the line, never its content."""
    text = raw.strip()
    if not text:
        return None
    try:
        body = json.loads(text, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as err:
        raise BadMessage(
            f"the tap's output line {number} is not JSON ({_reason(err)}); nothing after it was stored"
        ) from None
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        raise BadMessage(f'the tap\'s output line {number} is not a Singer message (no "type")')
    kind = body["type"].upper()
    stream = body.get("stream", "")
    if kind in ("SCHEMA", "RECORD", "ACTIVATE_VERSION", "BATCH") and (not isinstance(stream, str) or not stream):
        raise BadMessage(f"the tap's output line {number}: a {kind} message without its stream")
    if kind == "RECORD" and not isinstance(body.get("record"), dict):
        raise BadMessage(f'the tap\'s output line {number}: a RECORD of {stream!r} without an object in "record"')
    if kind == "SCHEMA" and not isinstance(body.get("schema"), dict):
        raise BadMessage(f"the tap's output line {number}: a SCHEMA of {stream!r} without its schema")
    if kind == "STATE" and not isinstance(body.get("value"), dict):
        raise BadMessage(f'the tap\'s output line {number}: a STATE without an object in "value"')
    return Message(kind, number, stream if isinstance(stream, str) else "", body)


def _reason(err: Exception) -> str:
    if isinstance(err, json.JSONDecodeError):
        return f"{err.msg} at column {err.colno}"
    return type(err).__name__


def plain(value: Any) -> Any:
    """Decimals back to JSON numbers: a tap's own dataset keeps the tap's types."""
    if isinstance(value, Decimal):  # only a JSON number with a fraction or an exponent is read as one
        return float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def path_value(record: Any, path: str) -> Any:
    """`a.b.0.c` in a record; None where it leads nowhere."""
    value = record
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time (a time without an offset is taken as UTC, as Singer taps mean it) or a date."""
    if not isinstance(value, str) or not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        dt = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    dt = dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
    return None if outside_utc_years(dt) else dt


@dataclass(frozen=True)
class StreamMap:
    """How a stream's records become selfdata records (the `mapping` setting of one stream)."""

    dataset: str | None = None  # None: singer.<tap>.<stream>
    ts: str | None = None  # a field path; None: the stream's replication key
    key: tuple[str, ...] = ()  # field paths; (): the stream's key_properties
    fields: dict[str, Any] = field(default_factory=dict)  # target field -> path or {"value": constant}


def parse_mapping(text: str | None) -> dict[str, StreamMap]:
    """The `mapping` setting: {"stream": {"dataset": ..., "ts": ..., "key": [...], "fields": {...}}}."""
    if not text:
        return {}
    try:
        doc = json.loads(text)
    except ValueError as err:
        raise Fatal(f"the mapping setting is not JSON: {err}") from None
    if not isinstance(doc, dict):
        raise Fatal('the mapping setting must be a JSON object: {"STREAM": {"dataset": ..., "fields": ...}}')
    out: dict[str, StreamMap] = {}
    for stream, spec in doc.items():
        if not isinstance(spec, dict) or set(spec) - {"dataset", "ts", "key", "fields"}:
            raise Fatal(f"mapping of {stream!r}: an object with dataset, ts, key and fields only")
        dataset, fields = spec.get("dataset"), spec.get("fields") or {}
        if dataset is not None and datasets.schema_of(dataset) is None:
            known = ", ".join(d.dataset for d in datasets.ALL)
            raise Fatal(f"mapping of {stream!r}: {dataset!r} is not a normalised dataset (one of {known})")
        if dataset is not None and not fields:
            raise Fatal(f'mapping of {stream!r}: {dataset} needs its fields, e.g. {{"amount": "amount"}}')
        if dataset is None and fields:
            raise Fatal(f'mapping of {stream!r}: fields are mapped only to a normalised dataset (give "dataset")')
        if not isinstance(fields, dict):
            raise Fatal(f"mapping of {stream!r}: fields must be an object of target field -> path")
        shape = datasets.schema_of(dataset) if dataset else None
        if shape is not None:
            unknown = set(fields) - set(shape.fields())
            if unknown:
                raise Fatal(f"mapping of {stream!r}: {dataset} has no field(s) {', '.join(sorted(unknown))}")
        for target, source in fields.items():
            if not isinstance(source, str) and not (isinstance(source, dict) and set(source) == {"value"}):
                raise Fatal(f'mapping of {stream!r}: field {target!r} takes a path or {{"value": constant}}')
        key = spec.get("key") or []
        key = [key] if isinstance(key, str) else key
        if not isinstance(key, list) or not all(isinstance(k, str) and k for k in key):
            raise Fatal(f"mapping of {stream!r}: key is a field path or a list of them")
        ts = spec.get("ts")
        if ts is not None and (not isinstance(ts, str) or not ts):
            raise Fatal(f"mapping of {stream!r}: ts is a field path")
        out[stream] = StreamMap(dataset, ts, tuple(key), dict(fields))
    return out


@dataclass
class Stream:
    """What the tap's last SCHEMA said of a stream."""

    name: str
    key_properties: tuple[str, ...]
    replication_key: str | None


def stream_of(message: Message, catalog_replication: dict[str, str]) -> Stream:
    body = message.body
    keys = body.get("key_properties") or []
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise BadMessage(f"the tap's output line {message.line}: key_properties of {message.stream!r} is not a list")
    bookmarks = body.get("bookmark_properties") or []
    replication = bookmarks[0] if isinstance(bookmarks, list) and bookmarks and isinstance(bookmarks[0], str) else None
    return Stream(message.stream, tuple(keys), replication or catalog_replication.get(message.stream))


class RecordMapper:
    """RECORD messages to selfdata records, for one run of one tap."""

    def __init__(self, tap: str, mapping: dict[str, StreamMap], fallback_ts: datetime) -> None:
        self.tap = tap
        self.mapping = mapping
        self.fallback_ts = fallback_ts
        self.untimed: set[str] = set()  # streams whose records got the run's time: said once

    def dataset(self, stream: str) -> str:
        spec = self.mapping.get(stream)
        return spec.dataset if spec and spec.dataset else f"singer.{self.tap}.{dataset_word(stream)}"

    def record(self, message: Message, stream: Stream) -> Record:
        row: dict[str, Any] = message.body["record"]
        spec = self.mapping.get(message.stream) or StreamMap()
        key = self._key(message, row, spec.key or stream.key_properties)
        ts_path = spec.ts or stream.replication_key
        ts = parse_time(path_value(row, ts_path)) if ts_path else None
        if ts is None:
            ts = parse_time(message.body.get("time_extracted")) or self.fallback_ts
            self.untimed.add(message.stream)
        dataset = self.dataset(message.stream)
        raw = plain(row)
        if spec.dataset is None:
            return Record(dataset, key, ts, raw, None)
        return Record(dataset, key, ts, self._mapped(message, row, spec), raw)

    def _key(self, message: Message, row: dict[str, Any], paths: tuple[str, ...]) -> str:
        if not paths:  # no primary key: the record's content is its identity
            canon = json.dumps(plain(row), sort_keys=True, separators=(",", ":"), default=str)
            return "h-" + hashlib.sha256(canon.encode()).hexdigest()[:32]
        values = []
        for p in paths:
            v = path_value(row, p)
            if v is None or v == "":
                raise BadMessage(
                    f"the tap's output line {message.line}: a RECORD of {message.stream!r} without its key {p!r}"
                )
            values.append(str(plain(v)))
        key = values[0] if len(values) == 1 else json.dumps(values, separators=(",", ":"))
        return key if len(key) <= KEY_MAX else "h-" + hashlib.sha256(key.encode()).hexdigest()[:32]

    def _mapped(self, message: Message, row: dict[str, Any], spec: StreamMap) -> dict[str, Any]:
        assert spec.dataset is not None
        shape = datasets.schema_of(spec.dataset)
        assert shape is not None
        kinds = shape.fields()
        values: dict[str, Any] = {}
        for target, source in spec.fields.items():
            value = source["value"] if isinstance(source, dict) else path_value(row, source)
            if isinstance(value, int | Decimal) and not isinstance(value, bool) and isinstance(kinds[target], Text):
                value = str(value)  # an account number sent as a number
            values[target] = value
        try:
            return shape.make(**values)
        except (InvalidRecord, TypeError, ValueError) as err:
            raise InvalidRecord(
                f"the tap's output line {message.line}: {message.stream!r} mapped to {spec.dataset}: {err}"
            ) from None
