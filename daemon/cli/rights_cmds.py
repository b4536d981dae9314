"""The user's rights from the terminal: export, decrypt-export, erase."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import passphrases
from ..operations import rights as ops
from ..operations.registry import NoParams
from ..session import read_secret_file
from . import render
from .base import cli, invoke
from .vault import progress_bar

if TYPE_CHECKING:  # restic loads only for the commands that use it
    from ..rights.restic import Restic


def _export_passphrase(path: Path | None, confirm: bool) -> str:
    """The export passphrase; `confirm` for a new export, which warns when it is weak."""
    if path is not None:
        chosen = read_secret_file(path)
    elif not sys.stdin.isatty():
        raise click.UsageError("no terminal to type the export passphrase on: give --export-passphrase-file FILE")
    else:
        chosen = str(click.prompt("Export passphrase", hide_input=True, confirmation_prompt=confirm))
    said = passphrases.warning(chosen, "the encrypted export") if confirm and chosen else None
    if said:
        click.secho(f"warning: {said}", fg="yellow", err=True)
    return chosen


@cli.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "sqlite"]),
    required=True,
    help="jsonl and csv write a folder; sqlite writes one plain SQLite file.",
)
@click.option("--dataset", help="Only this dataset.")
@click.option("--source", help="Only this source.")
@click.option("--encrypt", is_flag=True, help="Write one file encrypted to a passphrase instead.")
@click.option(
    "--export-passphrase-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="With --encrypt: the passphrase on this file's first line.",
)
@click.pass_context
def export(
    ctx: click.Context,
    out: Path,
    fmt: str,
    dataset: str | None,
    source: str | None,
    encrypt: bool,
    export_passphrase_file: Path | None,
) -> None:
    """Export everything (or a dataset or a source) to OUT, with a manifest; never credentials."""
    passphrase = _export_passphrase(export_passphrase_file, confirm=True) if encrypt else None
    params = ops.Export(str(out.absolute()), fmt, dataset, source, passphrase)
    with progress_bar(f"Exporting to {out.name}") as update:
        result = invoke(
            ctx,
            ops.export,
            params,
            on_event=lambda e: update(e["done"], e["total"]) if e.get("type") == "progress" else None,
        )
    kinds = ", ".join(f"{d}: {n:,}" for d, n in result["counts"].items()) or "nothing"
    what = "an encrypted file" if result["encrypted"] else ("a SQLite file" if fmt == "sqlite" else "a folder")
    click.echo(f"Exported {result['records']:,} records ({kinds}) to {what}: {out}")
    if result.get("rescued"):
        _rescued(result["rescued"], 'the manifest\'s "unreadable"')
    if result["encrypted"]:
        click.echo(f"Open it with: selfdata decrypt-export {out} FOLDER")


@cli.command("decrypt-export")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--export-passphrase-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The passphrase on this file's first line.",
)
def decrypt_export(file: Path, out: Path, export_passphrase_file: Path | None) -> None:
    """Open an export made with --encrypt into the new folder OUT."""
    from ..rights.sealed import SealedError, unseal

    if out.exists():
        raise click.UsageError(f"{out} already exists")
    try:
        names = unseal(file, out, _export_passphrase(export_passphrase_file, confirm=False))
    except SealedError as err:
        click.secho(f"error: {err}", fg="red", err=True)
        sys.exit(1)
    click.echo(f"Decrypted {len(names)} files into {out}: {', '.join(names)}")


@cli.command()
@click.option("--source", help="Erase this source: its records, credentials and stored files.")
@click.option("--dataset", help="Erase this dataset (of every source, or of --source only).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def erase(ctx: click.Context, source: str | None, dataset: str | None, yes: bool) -> None:
    """Erase a source or a dataset from the vault, for good (backups taken before keep it)."""
    if not source and not dataset:
        raise click.UsageError("say what to erase: --source NAME and/or --dataset NAME")
    what = " and ".join(x for x in (f"source {source}" if source else "", f"dataset {dataset}" if dataset else "") if x)
    if not yes and not click.confirm(f"Erase {what} for good? Backups taken before still hold it.", default=False):
        raise click.Abort()
    r = invoke(ctx, ops.erase, ops.Erase(source, dataset))
    extra = f", {r['secrets']} credentials, {r['files']} stored files" if source and not dataset else ""
    click.echo(f"Erased {r['records']:,} records{extra} ({what}). Apps see the deletions in the changes feed.")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def erasures(ctx: click.Context, as_json: bool) -> None:
    """What was erased and when (never the erased data)."""
    rows = invoke(ctx, ops.erasure_log, NoParams())
    if as_json:
        render.print_json(rows)
        return
    if not rows:
        click.echo("Nothing erased yet.")
        return
    render.table(
        None,
        ["when", "source", "dataset", "records", "credentials", "files"],
        [
            (
                render.local(r["at"], "second"),
                r["source"] or "",
                r["dataset"] or "",
                r["records"],
                r["secrets"],
                r["files"],
            )
            for r in rows
        ],
    )


@cli.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path), required=False)
@click.option(
    "--to", "to", metavar="restic[:REPO]", help="Hand the copy to restic: a repository, or the configured one."
)
@click.option("--init", "init_repo", is_flag=True, help="With --to: create the restic repository first.")
@click.pass_context
def backup(ctx: click.Context, out: Path | None, to: str | None, init_repo: bool) -> None:
    """Copy the encrypted vault and its key slots to the new folder OUT (or to restic), safely while the daemon runs."""
    from ..rights.backup import record_last

    if (out is None) == (to is None):
        raise click.UsageError("give either a new folder OUT or --to restic:REPO")
    if init_repo and to is None:
        raise click.UsageError("--init goes with --to restic:REPO")
    if to is not None:
        _backup_restic(ctx, to, init_repo)
        return
    assert out is not None
    r = invoke(ctx, ops.backup, ops.Backup(str(out.absolute())))
    record_last(_state_dir(ctx), str(out.absolute()), r["records"], r["size_bytes"])
    click.echo(f"Backed up {r['records']:,} records ({render.human_bytes(r['size_bytes'])}, still encrypted) to {out}.")
    if r.get("rescued"):
        _rescued(r["rescued"], r["unreadable"])
    click.echo(f"It opens with the same passphrase, key file or recovery key. Restore it with: selfdata restore {out}")


def _state_dir(ctx: click.Context) -> Path:
    from .base import session

    return session(ctx).paths.state_dir


def _restic(ctx: click.Context, to: str) -> Restic:
    import os

    from ..rights import restic
    from .base import session

    config = session(ctx).config
    repo = restic.target(to, config.backup_restic_repository, os.environ)
    return restic.Restic(repo, binary=config.backup_restic, password_file=config.backup_restic_password_file)


def _backup_restic(ctx: click.Context, to: str, init_repo: bool) -> None:
    import shutil
    import socket

    from ..rights.backup import record_last

    repo = _restic(ctx, to)
    if init_repo:
        repo.init()
        click.echo(f"Created the restic repository {repo.repository}.")
    else:
        repo.check()
    # One fixed folder: restic takes the previous snapshot of the same path as its parent
    staging = _state_dir(ctx) / "backup-staging"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        r = invoke(ctx, ops.backup, ops.Backup(str(staging)))
        if r.get("rescued"):
            _rescued(r["rescued"], r["unreadable"])
        snapshot = repo.backup(staging, socket.gethostname())
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    record_last(_state_dir(ctx), f"restic:{repo.repository}", r["records"], r["size_bytes"], snapshot)
    click.echo(
        f"Backed up {r['records']:,} records ({render.human_bytes(r['size_bytes'])}, still encrypted) to restic"
        f" {repo.repository}, snapshot {snapshot}."
    )
    click.echo(
        "It opens with the same passphrase, key file or recovery key. Restore it with:"
        f" selfdata restore --from restic:{repo.repository}"
    )


@cli.command()
@click.argument("backup", type=click.Path(file_okay=False, exists=True, path_type=Path), required=False)
@click.option(
    "--from", "source", metavar="restic[:REPO]", help="Restore from restic: a repository, or the configured one."
)
@click.option("--snapshot", default="latest", show_default=True, help="With --from: the restic snapshot to restore.")
@click.option("--list", "list_only", is_flag=True, help="With --from: list selfdata's snapshots and restore nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def restore(
    ctx: click.Context, backup: Path | None, source: str | None, snapshot: str, list_only: bool, yes: bool
) -> None:
    """Put a backup back as the vault (the folder BACKUP, or a restic snapshot); the replaced vault is kept aside."""
    import shutil
    import tempfile

    from ..files import ensure_private_dir
    from ..rights.restic import find_vault
    from ..rights.restore import backup_folder
    from ..rights.restore import restore as do_restore
    from .base import session

    if (backup is None) == (source is None):
        raise click.UsageError("give either a backup folder BACKUP or --from restic:REPO")
    if list_only and source is None:
        raise click.UsageError("--list goes with --from restic:REPO")
    s = session(ctx)
    scratch = None
    try:
        if source is not None:
            repo = _restic(ctx, source)
            snaps = repo.snapshots()
            if list_only:
                if not snaps:
                    click.echo(f"No selfdata snapshot in {repo.repository}.")
                for snap in snaps:
                    click.echo(f"{snap.id}  {render.local(snap.time.isoformat())}  {snap.host}")
                return
            if not snaps:
                raise click.ClickException(f"{repo.repository} holds no selfdata snapshot; nothing was changed")
            ensure_private_dir(s.paths.state_dir)
            scratch = Path(tempfile.mkdtemp(prefix=".restic-restore-", dir=s.paths.state_dir))
            repo.restore(snapshot, scratch)
            backup = find_vault(scratch)
            where = f"restic {repo.repository}, snapshot {snapshot}"
        else:
            assert backup is not None
            backup_folder(backup)  # not a backup: said before asking anything
            where = str(backup)
        if not yes:
            click.confirm(
                f"Replace the vault in {s.paths.vault_dir} with the backup in {where}? (the current one is kept aside)",
                abort=True,
            )
        r = do_restore(s, backup)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    click.echo(f"Restored {r.records:,} records into {r.vault_dir}.")
    if r.replaced:
        click.echo(f"The vault it replaced is kept in {r.replaced}; remove it once all is well.")


def _rescued(rescued: dict[str, Any], where: str) -> None:
    """A damaged vault: what was saved anyway, and where the rest is listed."""
    lost = rescued["records_unreadable"]
    named = "" if rescued["all_lost_records_named"] else " (at least; not every one could be named)"
    tables = ", ".join(t for t in rescued["unreadable_tables"] if t != "records")
    click.secho(
        f"warning: the vault is damaged: {lost:,} record(s){named} could not be read and were skipped"
        + (f", and rows of {tables}" if tables else "")
        + f"; {where} lists them. Everything else was saved.",
        fg="yellow",
        err=True,
    )
