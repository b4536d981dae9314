"""Syncs, imports, renormalising, and the run log."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import catalog
from ..events import import_events
from ..services import Services
from ..sources import SourceStore
from ..sync import runs as run_log
from ..times import iso
from .registry import Emit, Result, operation


@dataclass(frozen=True)
class Sync:
    name: str


@dataclass(frozen=True)
class Runs:
    name: str | None = None
    limit: int = 20


@dataclass(frozen=True)
class ImportFile:
    path: str
    filename: str | None = None
    source: str | None = None
    format: str | None = None
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Renormalize:
    name: str


@operation("sync", Sync)
async def sync(services: Services, params: Sync, emit: Emit) -> Result:
    """Run a source now."""
    result = await services.get_runner().sync(params.name, on_event=emit)
    src = SourceStore(services.vault).get(params.name)
    return {"run": result.run.to_json(), "health": result.health, "action": src.action if not result.ok else ""}


@operation("runs", Runs)
async def runs(services: Services, params: Runs, emit: Emit) -> Result:
    """The last runs, of one source or all."""
    if params.name is not None:
        catalog.check_source(services.vault, params.name)
    return [r.to_json() for r in run_log.recent(services.vault, params.name, params.limit)]


@operation("import", ImportFile)
async def import_file(services: Services, params: ImportFile, emit: Emit) -> Result:
    """Import a file with the importer that recognises it."""
    from ..sync.importing import import_file as do_import

    result = await asyncio.to_thread(
        do_import,
        services.vault,
        services.registry,
        Path(params.path),
        source=params.source,
        fmt=params.format,
        values=params.values or None,
        progress=lambda n: emit({"type": "progress", "records": n}),
    )
    for event in import_events(result, services.registry):
        services.events.publish(event)
    return {
        "file": params.filename or result.file.name,
        "importer": result.importer,
        "source": result.source.name,
        "run": result.run.to_json(),
        **({"already": iso(result.already.ended_at or result.already.started_at)} if result.already else {}),
        **({"notices": list(result.notices)} if result.notices else {}),
    }


@operation("renormalize", Renormalize)
async def renormalize(services: Services, params: Renormalize, emit: Emit) -> Result:
    """Re-run a connector's mapping over the stored raw fragments."""
    from ..sync.renormalize import renormalize as do_renormalize

    run = await asyncio.to_thread(
        do_renormalize, services.vault, services.registry, params.name, publish=services.events.publish
    )
    return run.to_json()


OPERATIONS = (sync, runs, import_file, renormalize)
