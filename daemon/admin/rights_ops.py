"""Export and erase: the operations behind `selfdata export` and `selfdata erase`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ..events import RecordsChanged
from ..rights.erase import erase as do_erase
from ..rights.erase import erasures
from ..rights.export import export as do_export
from ..services import Services
from ..vault import DEFAULT_KDF, INSECURE_TEST_KDF
from .ops import Emit, op


@op("export")
async def export(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    kdf = INSECURE_TEST_KDF if params.get("insecure_test_kdf") else DEFAULT_KDF
    result = await asyncio.to_thread(
        do_export,
        services.vault,
        Path(params["out"]),
        params["format"],
        dataset=params.get("dataset"),
        source=params.get("source"),
        passphrase=params.get("passphrase"),
        kdf=kdf,
        progress=lambda done, total: emit({"type": "progress", "done": done, "total": total}),
    )
    return result.to_json()


@op("erase")
async def erase(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    result = await asyncio.to_thread(
        do_erase, services.vault, source=params.get("source"), dataset=params.get("dataset")
    )
    if result.records:
        services.events.publish(RecordsChanged(result.source or "", tuple(result.datasets), deleted=result.records))
    return result.to_json()


@op("erasures")
async def erasure_log(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    return erasures(services.vault)


@op("backup")
async def backup(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    from ..rights.backup import backup as do_backup

    result = await asyncio.to_thread(do_backup, services.vault, Path(params["out"]))
    return result.to_json()
