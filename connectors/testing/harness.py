"""Run a connector or an importer the way the daemon's runner does, into a MemoryStore."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..sdk.connector import Connector, Importer
from ..sdk.context import Context
from ..sdk.pipeline import to_records
from ..sdk.records import MAX_ORIGINAL_BYTES, Checkpoint, Delete, Notice, Original, Record
from .memory import Counts, MemoryStore


@dataclass
class Outcome:
    store: MemoryStore
    state: dict[str, Any]
    checkpoints: int = 0
    counts: Counts = field(default_factory=Counts)
    yielded: list[Record] = field(default_factory=list)
    originals: dict[str, bytes] = field(default_factory=dict)  # the files handed over, by name
    completed: bool = True


def _commit(store: MemoryStore, pending: list[Record | Delete], counts: Counts) -> None:
    records: list[Record] = []
    for item in pending:
        if isinstance(item, Delete):
            c = store.upsert(records)
            records = []
            _add(counts, c)
            store.delete(item.dataset, item.keys)
        else:
            records.append(item)
    _add(counts, store.upsert(records))
    pending.clear()


def _add(total: Counts, c: Counts) -> None:
    total.new += c.new
    total.changed += c.changed
    total.unchanged += c.unchanged


async def run_connector(
    connector: Connector,
    ctx: Context,
    state: dict[str, Any] | None = None,
    store: MemoryStore | None = None,
    *,
    stop_after_checkpoints: int | None = None,
) -> Outcome:
    """Fetch into `store`; records count only once a checkpoint (or the end) commits them.

    With `stop_after_checkpoints=n` the run is cancelled right after its n-th checkpoint,
    as a daemon stopped mid-sync would be.
    """
    out = Outcome(store=store if store is not None else MemoryStore(), state=dict(state or {}))
    pending: list[Record | Delete] = []
    agen = connector.fetch(ctx, dict(out.state))
    try:
        async for item in agen:
            if isinstance(item, Checkpoint):
                _commit(out.store, pending, out.counts)
                out.state = dict(item.state)
                out.checkpoints += 1
                if stop_after_checkpoints is not None and out.checkpoints >= stop_after_checkpoints:
                    out.completed = False
                    return out
            elif isinstance(item, Delete):
                pending.append(item)
            elif isinstance(item, Original):  # read before the connector goes on, as the runner does
                assert item.path.stat().st_size <= MAX_ORIGINAL_BYTES, f"{item.name} is too large to keep"
                out.originals[item.name] = item.path.read_bytes()
            else:
                recs = to_records(connector, item)
                out.yielded.extend(recs)
                pending.extend(recs)
        _commit(out.store, pending, out.counts)
        return out
    finally:
        await agen.aclose()  # type: ignore[attr-defined]


def read_file(importer: Importer, path: Path, settings: dict[str, Any] | None = None) -> list[Record | Delete]:
    """Everything an importer yields for `path`, normalised and validated; raises on a bad file."""
    return read_with_notices(importer, path, settings)[0]


def read_with_notices(
    importer: Importer, path: Path, settings: dict[str, Any] | None = None
) -> tuple[list[Record | Delete], list[str]]:
    """`read_file` and the notices the importer gave about the file."""
    items: list[Record | Delete] = []
    notices: list[str] = []
    for item in importer.read(path, dict(settings or {})):
        if isinstance(item, Delete):
            items.append(item)
        elif isinstance(item, Notice):
            notices.append(item.message)
        else:
            items.extend(to_records(importer, item))
    return items, notices


def import_file(importer: Importer, path: Path, store: MemoryStore, settings: dict[str, Any] | None = None) -> Counts:
    """All or nothing, like `selfdata import`: a file that fails stores nothing."""
    items = read_file(importer, path, settings)
    counts = Counts()
    _commit(store, items, counts)
    return counts
