"""A file dropped on a page: streamed into the inbox, as if copied there."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from pathlib import Path

from aiohttp import BodyPartReader, web

from ..errors import SelfdataError
from .common import back, dashboard_of
from .guard import page

UPLOAD_NAME = re.compile(r"[^\w.,()+ -]")  # letters of any script stay; separators and controls go


@page(change=True, upload=True)
async def upload(request: web.Request) -> web.StreamResponse:
    """A file dropped on the page goes into the inbox, as if copied there."""
    dash = dashboard_of(request)
    inbox = dash.services.config.inbox_dir
    saved: list[str] = []
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, BodyPartReader) and part.name == "file" and part.filename:
                saved.append(await _save_upload(part, inbox))
    except (SelfdataError, OSError, ValueError, web.HTTPException) as err:
        # ValueError and HTTPException: a body that is not the form's multipart.
        reason = err.text if isinstance(err, web.HTTPException) else str(err)
        kept = f" ({', '.join(saved)} reached the inbox)" if saved else ""
        dash.flash(request, "error", f"The upload failed: {reason}{kept}")
        return back(request, "/")
    if not saved:
        dash.flash(request, "error", "No file was sent: choose a file, then Import.")
    elif dash.services.inbox is None:
        dash.flash(request, "error", "The inbox is not watched right now, so the file waits there: " + ", ".join(saved))
    else:
        dash.flash(
            request, "ok", "In the inbox, importing now: " + ", ".join(saved) + ". The home page shows the result."
        )
    return back(request, "/")


CHUNK_S = 30.0  # a stalled upload is dropped, as a stalled API body is


async def _save_upload(part: BodyPartReader, inbox: Path) -> str:
    """Stream one file under a hidden name, then rename it into the inbox, complete."""
    name = UPLOAD_NAME.sub("_", Path(part.filename or "upload").name).lstrip(".-") or "upload"
    inbox.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=inbox)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await _chunk(part):
                await asyncio.to_thread(out.write, chunk)
        target = _free_name(inbox / name)
        os.replace(tmp, target)  # renamed into place: the inbox takes it as complete
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target.name


async def _chunk(part: BodyPartReader) -> bytes:
    try:
        async with asyncio.timeout(CHUNK_S):
            return await part.read_chunk(1 << 20)
    except TimeoutError:
        raise SelfdataError(f"the upload stalled: nothing arrived for {CHUNK_S:.0f} s") from None


def _free_name(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate
