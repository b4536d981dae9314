"""Export and erase."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from ..errors import SelfdataError
from .common import EXPORT_FORMATS, dashboard_of, html, op
from .guard import page, secure_headers


@page()
async def rights(request: web.Request) -> web.StreamResponse:
    erasures = await op(request, "erasures")
    datasets = await op(request, "datasets")
    status = await op(request, "status")
    return html(
        request,
        "rights.html",
        title="Export and erase",
        erasures=erasures,
        datasets=datasets,
        sources=status["sources"],
        formats=EXPORT_FORMATS,
    )


@page(change=True)
async def export_download(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    fmt = str(form.get("format", "jsonl"))
    dataset = str(form.get("dataset", "")) or None
    source = str(form.get("source", "")) or None
    passphrase = str(form.get("passphrase", "")) or None
    dash = dashboard_of(request)
    if fmt not in EXPORT_FORMATS:
        dash.flash(request, "error", f"unknown export format {fmt!r}")
        return web.HTTPSeeOther("/rights")
    with tempfile.TemporaryDirectory(prefix="selfdata-export-") as tmp:
        out = Path(tmp) / "export"
        try:
            result = await op(
                request, "export", out=str(out), format=fmt, dataset=dataset, source=source, passphrase=passphrase
            )
        except SelfdataError as err:
            dash.flash(request, "error", str(err))
            return web.HTTPSeeOther("/rights")
        archive = await asyncio.to_thread(_archive, Path(result["out"]), Path(tmp))
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        label = "-".join(("selfdata", dataset or source or "all", fmt, stamp))
        suffix = "".join(archive.suffixes[-2:]) if archive.is_file() and archive != Path(tmp) / "export.tar" else ".tar"
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Disposition": f'attachment; filename="{label}{suffix}"',
            }
        )
        secure_headers(response)
        await response.prepare(request)
        with archive.open("rb") as f:
            while chunk := await asyncio.to_thread(f.read, 1 << 20):
                await response.write(chunk)
        await response.write_eof()
        return response


def _archive(path: Path, tmp: Path) -> Path:
    """One file to download: the export itself if it is one, else a tar of its folder."""
    import tarfile

    if path.is_file():
        return path
    target = tmp / "export.tar"
    with tarfile.open(target, "w") as tar:
        tar.add(path, arcname=path.name)
    return target


@page(change=True)
async def erase(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    dash = dashboard_of(request)
    what = str(form.get("what", ""))
    kind, _, name = what.partition(":")
    if kind not in ("source", "dataset") or not name:
        dash.flash(request, "error", "Choose a source or a dataset to erase.")
        return web.HTTPSeeOther("/rights")
    if str(form.get("confirm", "")) != name:
        dash.flash(request, "error", f"To erase {name}, type its name in the box: nothing was erased.")
        return web.HTTPSeeOther("/rights")
    try:
        result = await op(request, "erase", **{kind: name})
    except SelfdataError as err:
        dash.flash(request, "error", str(err))
        return web.HTTPSeeOther("/rights")
    dash.flash(
        request, "ok", f"Erased {result.get('records', 0):,} records of {name}; nothing of them is left on disk."
    )
    return web.HTTPSeeOther("/rights")
