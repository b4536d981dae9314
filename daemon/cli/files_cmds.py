"""`selfdata files`: the original files the inbox imported, kept encrypted in the vault."""

from __future__ import annotations

from pathlib import Path

import click

from ..operations import files as ops
from . import render
from .base import cli, invoke


@cli.group()
def files() -> None:
    """Original files imported from the inbox, kept encrypted in the vault."""


@files.command("list")
@click.option("--source", help="Only the files of this source.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def files_list(ctx: click.Context, source: str | None, as_json: bool) -> None:
    """Every stored original: id, name, size, source, importer, when it was added."""
    items = invoke(ctx, ops.files_list, ops.ListFiles(source))
    if as_json:
        render.print_json(items)
        return
    if not items:
        click.echo("No stored files. Files imported from the inbox are kept here (see docs/inbox.md).")
        return
    rows = [
        (
            f["id"],
            f["name"],
            render.human_bytes(f["size"]),
            f["source"],
            f["importer"] or "",
            render.local(f["added_at"]),
        )
        for f in items
    ]
    render.table(None, ["id", "name", "size", "source", "importer", "added"], rows)


@files.command("get")
@click.argument("file_id", metavar="ID", type=int)
@click.argument("out", type=click.Path(path_type=Path))
@click.pass_context
def files_get(ctx: click.Context, file_id: int, out: Path) -> None:
    """Write stored file ID to OUT (a new file, or a folder to put it in under its name)."""
    result = invoke(ctx, ops.files_get, ops.GetFile(file_id, str(out.absolute())))
    click.echo(f"Wrote {result['name']} ({render.human_bytes(result['size'])}) to {result['path']}")
