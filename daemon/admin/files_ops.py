"""Original files kept by the inbox: the operations behind `selfdata files`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ..services import Services
from ..vault.files import FileStore, FileStoreError
from .ops import Emit, OpError, op


@op("files.list")
async def files_list(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    return [f.to_json() for f in FileStore(services.vault).list(params.get("source"))]


@op("files.get")
async def files_get(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    """Write stored file `id` to `out`, an absolute path of a new file or of an existing folder."""
    try:
        file_id = int(params["id"])
    except (TypeError, ValueError):
        raise OpError(f"{params['id']!r} is not a stored file's id (see: selfdata files list)") from None
    out = Path(params["out"])
    if not out.is_absolute():
        raise OpError(f"files.get needs an absolute path, not {str(out)!r}")
    try:
        stored = await asyncio.to_thread(FileStore(services.vault).get, file_id, out)
    except FileStoreError as err:
        raise OpError(str(err)) from err
    return {**stored.to_json(), "path": str(out / stored.name if out.is_dir() else out)}
