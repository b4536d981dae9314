"""`selfdata files`: the original files the inbox and `import` keep in the vault."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from ..services import Services
from ..vault.files import FileStore
from .registry import Emit, OperationError, Result, operation


@dataclass(frozen=True)
class ListFiles:
    source: str | None = None


@dataclass(frozen=True)
class GetFile:
    id: int
    out: str


@operation("files.list", ListFiles)
async def files_list(services: Services, params: ListFiles, emit: Emit) -> Result:
    """The stored files, of one source or all."""
    return [f.to_json() for f in FileStore(services.vault).list(params.source)]


@operation("files.get", GetFile)
async def files_get(services: Services, params: GetFile, emit: Emit) -> Result:
    """Write a stored file to `out`, an absolute path of a new file or of an existing folder."""
    out = Path(params.out)
    if not out.is_absolute():
        raise OperationError(f"files.get needs an absolute path, not {str(out)!r}")
    stored = await asyncio.to_thread(FileStore(services.vault).get, params.id, out)
    return {**stored.to_json(), "path": str(out / stored.name if out.is_dir() else out)}


OPERATIONS = (files_list, files_get)
