"""Export, erase and backup: the operations behind the user's rights."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from .. import catalog
from ..events import RecordsChanged
from ..rights.erase import erase as do_erase
from ..rights.erase import erasures
from ..rights.export import export as do_export
from ..services import Services
from ..vault import DEFAULT_KDF, INSECURE_TEST_KDF
from .registry import Emit, NoParams, Result, operation


@dataclass(frozen=True)
class Export:
    out: str
    format: str
    dataset: str | None = None
    source: str | None = None
    passphrase: str | None = None
    insecure_test_kdf: bool = False


@dataclass(frozen=True)
class Erase:
    source: str | None = None
    dataset: str | None = None


@dataclass(frozen=True)
class Backup:
    out: str


@operation("export", Export)
async def export(services: Services, params: Export, emit: Emit) -> Result:
    """Everything, a dataset or a source, as JSON Lines, CSV or SQLite, with a manifest."""
    if params.dataset is not None:
        catalog.check_dataset(services.vault, services.registry, params.dataset)
    if params.source is not None:
        catalog.check_source(services.vault, params.source)
    result = await asyncio.to_thread(
        do_export,
        services.vault,
        Path(params.out),
        params.format,
        dataset=params.dataset,
        source=params.source,
        passphrase=params.passphrase,
        kdf=INSECURE_TEST_KDF if params.insecure_test_kdf else DEFAULT_KDF,
        progress=lambda done, total: emit({"type": "progress", "done": done, "total": total}),
    )
    return result.to_json()


@operation("erase", Erase)
async def erase(services: Services, params: Erase, emit: Emit) -> Result:
    """Erase a source's records or a dataset, leaving nothing on disk."""
    result = await asyncio.to_thread(do_erase, services.vault, source=params.source, dataset=params.dataset)
    if result.records:
        services.events.publish(RecordsChanged(result.source or "", tuple(result.datasets), deleted=result.records))
    return result.to_json()


@operation("erasures", NoParams)
async def erasure_log(services: Services, params: NoParams, emit: Emit) -> Result:
    """What was erased, and when."""
    return erasures(services.vault)


@operation("backup", Backup)
async def backup(services: Services, params: Backup, emit: Emit) -> Result:
    """An encrypted copy of the vault, as it is on disk."""
    from ..rights.backup import backup as do_backup

    result = await asyncio.to_thread(do_backup, services.vault, Path(params.out))
    return result.to_json()


OPERATIONS = (export, erase, erasure_log, backup)
