"""Vault commands: init, status, keys, query, import-jsonl."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

from ..ops import jsonl as jsonl_ops
from ..ops import keys as key_ops
from ..ops.setup import init_vault
from ..ops.status import vault_status
from ..paths import resolve
from ..session import kdf_profile, read_secret_file
from ..times import iso, parse_instant
from ..vault import KeySlot, records
from . import cli, render, session


def _new_passphrase(passphrase_file: Path | None) -> str:
    if passphrase_file is not None:
        return read_secret_file(passphrase_file)
    if not sys.stdin.isatty():
        raise click.UsageError("no terminal to type a passphrase on: give --passphrase-file FILE")
    return str(click.prompt("New passphrase", hide_input=True, confirmation_prompt=True))


def _warn_weak_kdf() -> None:
    if kdf_profile().name == "insecure-test":
        click.secho("warning: using the insecure test KDF (SELFDATA_INSECURE_TEST_KDF=1)", fg="yellow", err=True)


@contextmanager
def progress_bar(label: str) -> Iterator[jsonl_ops.Progress]:
    con = render.console(stderr=True)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=con,
        disable=not con.is_terminal,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@cli.command()
@click.option(
    "--passphrase-file",
    "init_passphrase_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Set the passphrase from this file's first line instead of asking.",
)
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Add a machine key slot for this key file (created, mode 0600, if it does not exist).",
)
@click.option("--no-passphrase", is_flag=True, help="With --key-file: no passphrase slot at all.")
@click.pass_context
def init(ctx: click.Context, init_passphrase_file: Path | None, key_file: Path | None, no_passphrase: bool) -> None:
    """Create a new encrypted vault and the config file.

    Asks for a passphrase (or reads --passphrase-file); --key-file adds a machine key so the
    daemon can unlock without you. A recovery key is shown once: write it down.
    """
    system = ctx.find_root().obj["system"]
    paths = resolve(system)
    if system and key_file is None:
        key_file = paths.default_key_file
    if no_passphrase and key_file is None:
        raise click.UsageError("--no-passphrase needs --key-file: the vault must open some way")
    passphrase = None
    if not no_passphrase and (init_passphrase_file is not None or key_file is None):
        passphrase = _new_passphrase(init_passphrase_file)
    _warn_weak_kdf()
    result = init_vault(paths, passphrase=passphrase, key_file=key_file, kdf=kdf_profile())
    out = render.console()
    out.print(f"Created the vault in {paths.vault_dir}")
    out.print(f"Config file: {paths.config_file}")
    if result.key_file is not None:
        verb = "Created" if result.key_file_created else "Using"
        out.print(f"{verb} the machine key file {result.key_file} (mode 0600). Keep a copy somewhere safe.")
    for slot in result.slots:
        out.print(f"  key slot {slot.id}: {slot.kind} ({slot.label})")
    if result.recovery_key:
        out.print("\n[bold]Recovery key[/bold] (shown once; write it down and keep it away from this machine):")
        out.print(f"\n    [bold]{result.recovery_key}[/bold]\n")
        out.print(
            "It opens the vault if you lose the passphrase and the key file: selfdata --recovery-key-file FILE ..."
        )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Where the vault is, its key slots, and the records per dataset and source."""
    vault, unlocked = session(ctx).open()
    try:
        report = vault_status(vault, unlocked)
    finally:
        vault.close()
    if as_json:
        render.print_json(report.to_json())
        return
    out = render.console()
    out.print(f"selfdata {report.version}")
    out.print(
        f"vault    {report.vault_dir}  ({render.human_bytes(report.size_bytes)}, unlocked by {report.unlocked_by})"
    )
    out.print(f"config   {report.config_file}")
    out.print(f"key slots: {', '.join(s['id'] + ' ' + s['kind'] for s in report.slots)}")
    if not report.datasets:
        out.print("No records yet.")
        return
    render.table(
        None,
        ["dataset", "source", "records", "first", "last"],
        [(d["dataset"], d["source"], f"{d['records']:,}", d["first"], d["last"]) for d in report.datasets],
    )


@cli.group()
def keys() -> None:
    """Key slots: the ways the vault can be unlocked."""


def _slot_rows(slots: list[KeySlot]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for s in slots:
        d = s.describe()
        detail = d.get("kdf") or d.get("fingerprint") or ""
        if d.get("warning"):
            detail += f" ({d['warning']})"
        rows.append((s.id, s.kind, s.label, s.created_at, detail))
    return rows


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def keys_list(ctx: click.Context, as_json: bool) -> None:
    """List the key slots."""
    slots = key_ops.list_slots(session(ctx).unlock())
    if as_json:
        render.print_json([s.describe() for s in slots])
    else:
        render.table(None, ["id", "kind", "label", "created", "detail"], _slot_rows(slots))


@keys.command("add-passphrase")
@click.option(
    "--new-passphrase-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Read the new passphrase from this file instead of asking.",
)
@click.option("--label", default="passphrase", show_default=True)
@click.pass_context
def keys_add_passphrase(ctx: click.Context, new_passphrase_file: Path | None, label: str) -> None:
    """Add a passphrase slot."""
    unlocked = session(ctx).unlock()
    _warn_weak_kdf()
    slot = key_ops.add_passphrase(unlocked, _new_passphrase(new_passphrase_file), kdf_profile(), label)
    click.echo(f"Added key slot {slot.id} (passphrase).")


@keys.command("add-keyfile")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def keys_add_keyfile(ctx: click.Context, path: Path) -> None:
    """Add a machine key slot for the key file PATH (created, mode 0600, if missing)."""
    slot, created = key_ops.add_keyfile(session(ctx).unlock(), path)
    click.echo(f"{'Created' if created else 'Using'} key file {path}; added key slot {slot.id} (machine).")


@keys.command("add-keyring")
@click.pass_context
def keys_add_keyring(ctx: click.Context) -> None:
    """Add a machine key kept in the OS keyring (desktops; a headless Pi has none)."""
    slot = key_ops.add_keyring(session(ctx).unlock())
    click.echo(f"Added key slot {slot.id} (machine key in the OS keyring).")


@keys.command("add-recovery")
@click.pass_context
def keys_add_recovery(ctx: click.Context) -> None:
    """Add a new recovery key slot and show its key once."""
    slot, text = key_ops.add_recovery(session(ctx).unlock())
    click.echo(f"Added key slot {slot.id} (recovery). Write this key down; it is not shown again:\n\n    {text}\n")


@keys.command("remove")
@click.argument("slot_id")
@click.pass_context
def keys_remove(ctx: click.Context, slot_id: str) -> None:
    """Remove the key slot SLOT_ID (never the last one)."""
    slot = key_ops.remove(session(ctx).unlock(), slot_id)
    click.echo(f"Removed key slot {slot.id} ({slot.kind}).")


@keys.command("change-passphrase")
@click.argument("slot_id", required=False)
@click.option(
    "--new-passphrase-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Read the new passphrase from this file instead of asking.",
)
@click.pass_context
def keys_change_passphrase(ctx: click.Context, slot_id: str | None, new_passphrase_file: Path | None) -> None:
    """Change a passphrase: rewrites one key slot, never the database."""
    unlocked = session(ctx).unlock()
    _warn_weak_kdf()
    slot = key_ops.change_passphrase(unlocked, slot_id, _new_passphrase(new_passphrase_file), kdf_profile())
    click.echo(f"Changed the passphrase; key slot is now {slot.id}.")


@cli.command()
@click.argument("dataset")
@click.option("--from", "start", help="Start (inclusive): ISO 8601 date-time with offset, or a date (midnight UTC).")
@click.option("--to", "end", help="End (exclusive), same forms as --from.")
@click.option("--source", help="Only this source.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--cursor", help="Continue after the page that printed this cursor.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: {records, next}.")
@click.pass_context
def query(
    ctx: click.Context,
    dataset: str,
    start: str | None,
    end: str | None,
    source: str | None,
    limit: int,
    cursor: str | None,
    as_json: bool,
) -> None:
    """Records of DATASET in time order."""
    vault, _ = session(ctx).open()
    try:
        page = records.query_page(
            vault.conn,
            dataset,
            limit=limit,
            cursor=cursor,
            source=source,
            start_ms=parse_instant(start) if start else None,
            end_ms=parse_instant(end) if end else None,
        )
    finally:
        vault.close()
    if as_json:
        render.print_json({"records": [r.to_json() for r in page.records], "next": page.next_cursor})
        return
    if not page.records:
        click.echo(f"No {dataset} records match.")
        return
    render.table(
        None,
        ["time", "source", "key", "data"],
        [(iso(r.ts), r.source, r.key, records.canonical_json(r.data)[:120]) for r in page.records],
    )
    if page.next_cursor:
        click.echo(f"More records: add --cursor {page.next_cursor}")


@cli.command("import-jsonl")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--source", help="Source of lines that do not name one.")
@click.option("--dataset", help="Dataset of lines that do not name one.")
@click.pass_context
def import_jsonl(ctx: click.Context, file: Path, source: str | None, dataset: str | None) -> None:
    """Import normalised records from a JSON Lines FILE (one bad line rejects the file)."""
    vault, _ = session(ctx).open()
    try:
        with progress_bar(f"Importing {file.name}") as update:
            result = jsonl_ops.import_jsonl(vault, file, source=source, dataset=dataset, progress=update)
    finally:
        vault.close()
    c = result.counts
    click.echo(
        f"Imported {result.records:,} records from {file}: "
        f"{c.new:,} new, {c.changed:,} changed, {c.unchanged:,} unchanged."
    )


@cli.command()
@click.option(
    "--home",
    "demo_home",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo in this folder (default: a temporary folder, removed afterwards).",
)
def demo(demo_home: Path | None) -> None:
    """Try selfdata with generated sample data in a throwaway vault."""
    import tempfile

    from ..ops.demo import run_demo

    with tempfile.TemporaryDirectory(prefix="selfdata-demo-") as tmp:
        home = (demo_home or Path(tmp)).absolute()
        vault, result = run_demo(home)
        try:
            out = render.console()
            out.print(
                f"[bold]selfdata demo[/bold] in {home} ({'new' if result.created else 'existing'} vault, "
                f"unlocked by the key file {result.key_file})"
            )
            for imp in result.imports:
                c = imp.counts
                out.print(
                    f"  imported {imp.file.name}: {imp.records:,} records ({c.new:,} new, "
                    f"{c.changed:,} changed, {c.unchanged:,} unchanged)"
                )
            render.table(
                "What the vault holds",
                ["dataset", "source", "records", "from", "to"],
                [
                    (c.dataset, c.source, f"{c.count:,}", iso(c.first_ts or 0)[:10], iso(c.last_ts or 0)[:10])
                    for c in vault.counts()
                ],
            )
            page = records.query_page(vault.conn, "bank.transaction", limit=5, start_ms=parse_instant("2026-10-01"))
            render.table(
                "selfdata query bank.transaction --from 2026-10-01 --limit 5",
                ["booked", "amount", "description", "category"],
                [
                    (
                        r.data["booked_on"],
                        f"{r.data['amount']} {r.data['currency']}",
                        r.data["description"],
                        r.data["category"],
                    )
                    for r in page.records
                ],
            )
            if demo_home:
                out.print(f"\nTry: selfdata --home {home} query energy.reading --from 2026-10-31 --limit 5")
        finally:
            vault.close()
