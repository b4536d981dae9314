"""`selfdata import-jsonl`: normalised records, one JSON object a line.

A line is `{"key": ..., "ts": ISO-8601, "data": {...}, "raw": optional}` and may carry
its own `"source"` and `"dataset"` (the JSONL export writes them), so an export can be
restored; its `"seq"` and `"updated_at"` are ignored. The whole file is checked before
anything is stored: one bad line rejects it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from connectors.sdk.limits import FieldTooLarge, bounded

from ..errors import SelfdataError
from ..times import TimeFormatError, parse_instant
from ..vault import BatchCounts, RecordIn, Vault
from ..vault.names import NameError_, check_dataset, check_source

BATCH = 5000
# A line holds one record with its raw vendor fragment: a FHIR resource or a statement, never megabytes.
MAX_LINE_BYTES = 16 << 20
Progress = Callable[[int, int], None]  # bytes done, bytes total


class JsonlError(SelfdataError, ValueError):
    """A line of the file is not a record; the message names the file and line."""


@dataclass(frozen=True)
class ImportResult:
    file: Path
    records: int
    counts: BatchCounts
    streams: dict[tuple[str, str], int]


def _parse(path: Path, line_no: int, line: bytes, source: str | None, dataset: str | None) -> RecordIn:
    where = f"{path}, line {line_no}"
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError) as err:
        raise JsonlError(f"{where}: not valid JSON ({err})") from err
    except RecursionError:
        raise JsonlError(f"{where}: JSON nested too deep to be a record") from None
    if not isinstance(obj, dict):
        raise JsonlError(f"{where}: expected a JSON object, found {type(obj).__name__}")
    # `seq` and `updated_at` (the export and the API write them) belong to the vault that wrote them.
    unknown = set(obj) - {"key", "ts", "data", "raw", "source", "dataset", "seq", "updated_at"}
    if unknown:
        raise JsonlError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    src = obj.get("source", source)
    ds = obj.get("dataset", dataset)
    if src is None or ds is None:
        raise JsonlError(f"{where}: no source/dataset on the line and none given with --source/--dataset")
    try:
        check_source(src)
        check_dataset(ds)
    except NameError_ as err:
        raise JsonlError(f"{where}: {err}") from err
    key = obj.get("key")
    if not isinstance(key, str) or not key:
        raise JsonlError(f"{where}: 'key' must be a non-empty string")
    ts = obj.get("ts")
    if not isinstance(ts, str):
        raise JsonlError(f"{where}: 'ts' must be an ISO 8601 date-time string with an offset")
    try:
        ts_ms = parse_instant(ts)
    except TimeFormatError as err:
        raise JsonlError(f"{where}: 'ts': {err}") from err
    data = obj.get("data")
    if not isinstance(data, dict):
        raise JsonlError(f"{where}: 'data' must be a JSON object")
    return RecordIn(src, ds, key, ts_ms, data, obj.get("raw"))


def read_jsonl(path: Path, source: str | None, dataset: str | None) -> Iterator[tuple[int, RecordIn]]:
    """(byte offset after the line, record) for every non-blank line."""
    with path.open("rb") as raw, bounded(raw, str(path), "lines", MAX_LINE_BYTES) as f:
        offset = 0
        try:
            for line_no, line in enumerate(f, start=1):
                offset += len(line)
                if line.strip():
                    yield offset, _parse(path, line_no, line, source, dataset)
        except FieldTooLarge as err:
            raise JsonlError(str(err)) from None


def import_jsonl(
    vault: Vault,
    path: Path,
    *,
    source: str | None = None,
    dataset: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    total = path.stat().st_size
    # Pass 1: check every line, keep nothing.
    for offset, _ in read_jsonl(path, source, dataset):
        if progress:
            progress(offset // 2, total)
    # Pass 2: store in batches.
    counts = BatchCounts()
    streams: dict[tuple[str, str], int] = {}
    batch: list[RecordIn] = []
    n = 0

    def flush() -> None:
        counts.add(vault.writer.upsert(batch))
        batch.clear()

    for offset, rec in read_jsonl(path, source, dataset):
        batch.append(rec)
        n += 1
        streams[(rec.source, rec.dataset)] = streams.get((rec.source, rec.dataset), 0) + 1
        if len(batch) >= BATCH:
            flush()
            if progress:
                progress(total // 2 + offset // 2, total)
    if batch:
        flush()
    if progress:
        progress(total, total)
    return ImportResult(path, n, counts, streams)
