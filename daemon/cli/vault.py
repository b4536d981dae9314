"""Vault commands: init, status, keys, query, import-jsonl."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

from .. import passphrases
from ..operations import keys as key_ops
from ..operations import records as record_ops
from ..operations import status as status_ops
from ..operations.registry import NoParams
from ..paths import resolve
from ..session import kdf_profile, read_secret_file
from ..setup import init_vault
from ..sync import jsonl as jsonl_ops
from ..times import parse_instant
from ..vault import records
from ..vault.damage import RESCUE
from . import render
from .base import cli, invoke, session


def _next_run(src: dict[str, Any]) -> str:
    if src["kind"] == "importer":
        return "when a file comes"
    if not src["schedule"]:
        return "manual (selfdata sync)"
    return render.local(src["next_run"]) if src["enabled"] else "disabled"


def _on_terminal() -> bool:
    return sys.stdin.isatty()


def _new_passphrase(passphrase_file: Path | None) -> str:
    if passphrase_file is not None:
        chosen = read_secret_file(passphrase_file)
    elif not _on_terminal():
        raise click.UsageError("no terminal to type a passphrase on: give --passphrase-file FILE")
    else:
        chosen = str(click.prompt("New passphrase", hide_input=True, confirmation_prompt=True))
    warn_if_weak(chosen)
    return chosen


def warn_if_weak(passphrase: str) -> None:
    said = passphrases.warning(passphrase)
    if said and passphrase:  # an empty one is refused by the command itself
        click.secho(f"warning: {said}", fg="yellow", err=True)


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
    if not no_passphrase and (init_passphrase_file is not None or key_file is None or _on_terminal()):
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
        lost = (
            "the passphrase and the key file"
            if passphrase and result.key_file
            else ("the passphrase" if passphrase else "the key file")
        )
        out.print(f"It opens the vault if you lose {lost}: selfdata --recovery-key-file FILE ...")
    if passphrase is None and not no_passphrase:
        out.print(
            "No passphrase slot: there was no terminal to type one on. Add one with: selfdata keys add-passphrase"
        )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """The daemon, the vault, its key slots, the inbox, what it holds, and each source's health."""
    report = invoke(ctx, status_ops.status, NoParams())
    if as_json:
        render.print_json(report)
        return
    out = render.console()
    vault = report["vault"]
    daemon = report["daemon"]
    out.print(f"selfdata {report['version']}")
    if daemon["running"]:
        api = f", API {daemon['api_url']}" if daemon.get("api_url") else ""
        out.print(f"daemon   running (pid {daemon['pid']}, up {_duration(daemon['uptime_s'])}{api})")
    else:
        out.print("daemon   not running (start it with: selfdata run)")
    out.print(
        f"vault    {vault['path']}  ({render.human_bytes(vault['size_bytes'])}, unlocked by {vault['unlocked_by']})"
    )
    if vault.get("damage"):
        out.print(f"         [red]DAMAGED[/red]: {escape(vault['damage']['detail'])}")
        out.print(f"         -> {escape(RESCUE)}")
    missing = "" if report.get("config_exists", True) else "  (no such file: the default settings apply)"
    out.print(f"config   {report['config_file']}{missing}")
    out.print(f"key slots: {', '.join(s['id'] + ' ' + s['kind'] for s in vault['slots'])}")
    inbox = report.get("inbox")
    if inbox:
        out.print(f"inbox    {inbox['path']}  ({_inbox_state(inbox, daemon['running'])})")
    if report["sources"]:
        rows = []
        for src in report["sources"]:
            last = src["last_run"]
            last_text = f"{last['status']} {render.local(last['started_at'])}" if last else "never"
            health = src["health"] + (f": {src['health_message']}" if src["health_message"] else "")
            rows.append(
                (
                    src["name"],
                    src["connector"],
                    last_text,
                    _next_run(src),
                    health,
                    src["action"] or src.get("warning") or "",
                )
            )
        render.table("Sources", ["source", "connector", "last run", "next run", "health", "to do"], rows)
    if not report["datasets"]:
        out.print("No records yet.")
        return
    render.table(
        "Records",
        ["dataset", "source", "records", "first", "last"],
        [
            (d["dataset"], d["source"], f"{d['records']:,}", render.local(d["first"]), render.local(d["last"]))
            for d in report["datasets"]
        ],
    )


def _inbox_state(inbox: dict[str, Any], running: bool) -> str:
    if inbox.get("problem"):
        state = ("watched, but " if inbox["watched"] else "NOT watched: ") + str(inbox["problem"])
    elif inbox["watched"]:
        state = "watched"
    elif running:
        state = "NOT watched: the daemon's log says why"
    else:
        state = "watched while the daemon runs"
    if inbox["waiting"]:
        state += f", {inbox['waiting']} file{'s' * (inbox['waiting'] != 1)} waiting"
    if inbox["failed"]:
        state += f", {inbox['failed']} failed: see {Path(inbox['path']) / 'failed'}"
    return state


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min" if s < 172800 else f"{s // 86400} days"


@cli.group()
def keys() -> None:
    """Key slots: the ways the vault can be unlocked."""


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def keys_list(ctx: click.Context, as_json: bool) -> None:
    """List the key slots."""
    slots = invoke(ctx, key_ops.keys_list, NoParams())
    if as_json:
        render.print_json(slots)
        return
    rows = []
    for s in slots:
        detail = s.get("kdf") or s.get("fingerprint") or ""
        if s.get("warning"):
            detail += f" ({s['warning']})"
        rows.append((s["id"], s["kind"], s["label"], render.local(s["created_at"]), detail))
    render.table(None, ["id", "kind", "label", "created", "detail"], rows)


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
    _warn_weak_kdf()
    slot = invoke(ctx, key_ops.keys_add_passphrase, key_ops.AddPassphrase(_new_passphrase(new_passphrase_file), label))
    click.echo(f"Added key slot {slot['id']} (passphrase).")


@keys.command("add-keyfile")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def keys_add_keyfile(ctx: click.Context, path: Path) -> None:
    """Add a machine key slot for the key file PATH (created, mode 0600, if missing)."""
    slot = invoke(ctx, key_ops.keys_add_keyfile, key_ops.AddKeyFile(str(path.absolute())))
    click.echo(f"{'Created' if slot['created'] else 'Using'} key file {path}; added key slot {slot['id']} (machine).")


@keys.command("add-keyring")
@click.pass_context
def keys_add_keyring(ctx: click.Context) -> None:
    """Add a machine key kept in the OS keyring (desktops; a headless Pi has none)."""
    slot = invoke(ctx, key_ops.keys_add_keyring, NoParams())
    click.echo(f"Added key slot {slot['id']} (machine key in the OS keyring).")


@keys.command("add-recovery")
@click.pass_context
def keys_add_recovery(ctx: click.Context) -> None:
    """Add a new recovery key slot and show its key once."""
    slot = invoke(ctx, key_ops.keys_add_recovery, NoParams())
    click.echo(
        f"Added key slot {slot['id']} (recovery). Write this key down; it is not shown again:\n\n"
        f"    {slot['recovery_key']}\n"
    )


@keys.command("remove")
@click.argument("slot_id")
@click.option("--yes", is_flag=True, help="Do not ask before removing a slot in use or the only recovery key.")
@click.pass_context
def keys_remove(ctx: click.Context, slot_id: str, yes: bool) -> None:
    """Remove the key slot SLOT_ID (never the last one)."""
    risk = _removal_risk(ctx, slot_id)
    if risk and not yes and not click.confirm(f"Key slot {slot_id} {risk}. Remove it?", default=False):
        raise click.Abort()
    slot = invoke(ctx, key_ops.keys_remove, key_ops.RemoveSlot(slot_id))
    click.echo(f"Removed key slot {slot['id']} ({slot['kind']}).")


def _removal_risk(ctx: click.Context, slot_id: str) -> str | None:
    """What removing the slot would cost, when it is more than one way in among several."""
    slots = invoke(ctx, key_ops.keys_list, NoParams())
    slot = next((s for s in slots if s["id"] == slot_id), None)
    if slot is None:
        return None  # the operation names the slots
    if slot["kind"] == "recovery" and sum(s["kind"] == "recovery" for s in slots) == 1:
        return "is the vault's only recovery key: without it, a lost passphrase and key file lose the vault"
    uses = [u for u in session(ctx).key_files() if u.slot == slot_id]
    if uses:
        held = ", ".join(f"{u.path} ({u.origin})" for u in uses)
        return f"is the one the key file {held} opens: the daemon and commands unlock with it"
    return None


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
    _warn_weak_kdf()
    slot = invoke(
        ctx,
        key_ops.keys_change_passphrase,
        key_ops.ChangePassphrase(_new_passphrase(new_passphrase_file), slot_id),
    )
    click.echo(f"Changed the passphrase; key slot is now {slot['id']}.")


@cli.command()
@click.argument("dataset")
@click.option("--from", "start", help="Start (inclusive): ISO 8601 date-time with offset, or a date (midnight UTC).")
@click.option("--to", "end", help="End (exclusive), same forms as --from.")
@click.option("--source", help="Only this source.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--cursor", help="Continue after the page that printed this cursor.")
@click.option(
    "--where",
    "where",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Only records whose field matches: code=8867-4, amount__lt=0 (also __gt, __gte, __lte); repeat a"
    " field for any of several values.",
)
@click.option(
    "--aggregate",
    "fn",
    type=click.Choice(["count", "sum", "avg", "min", "max"]),
    help="Instead of records: this aggregate of --field per --bucket and --group.",
)
@click.option("--field", help="The decimal or integer field to aggregate, e.g. quantity or amount.")
@click.option("--bucket", help="hour, day, week, month or year, in --zone (default: one total).")
@click.option("--zone", default="UTC", show_default=True, help="The time zone of the buckets, e.g. Europe/Paris.")
@click.option("--group", multiple=True, help="Group by this declared field (at most twice).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: {records, next}, or the aggregate's {rows}.")
@click.pass_context
def query(
    ctx: click.Context,
    dataset: str,
    start: str | None,
    end: str | None,
    source: str | None,
    limit: int,
    cursor: str | None,
    where: tuple[str, ...],
    fn: str | None,
    field: str | None,
    bucket: str | None,
    zone: str,
    group: tuple[str, ...],
    as_json: bool,
) -> None:
    """Records of DATASET in time order, or an aggregate of them (--aggregate)."""
    if start:
        parse_instant(start)  # a bad date is reported before anything is opened
    if end:
        parse_instant(end)
    if fn is not None:
        params = record_ops.AggregateParams(dataset, fn, field, bucket, zone, group, start, end, source, where)
        answer = invoke(ctx, record_ops.aggregate_records, params)
        if as_json:
            render.print_json(answer)
            return
        columns = list(answer["rows"][0]) if answer["rows"] else []
        if not columns:
            click.echo(f"No {dataset} records match.")
            return
        render.table(None, columns, [tuple(r[c] for c in columns) for r in answer["rows"]])
        return
    page = invoke(ctx, record_ops.query, record_ops.Query(dataset, start, end, source, limit, cursor, where))
    if as_json:
        render.print_json(page)
        return
    if not page["records"]:
        click.echo(f"No {dataset} records match.")
        return
    fields = main_fields(dataset, [r.get("data") or {} for r in page["records"]])
    render.table(
        None,
        ["time", "source", "key", *fields, "other"],
        [
            (
                render.local(r["ts"], "second"),
                r["source"],
                r["key"],
                *(_cell((r.get("data") or {}).get(f)) for f in fields),
                _cell({k: v for k, v in (r.get("data") or {}).items() if k not in fields} or None),
            )
            for r in page["records"]
        ],
    )
    if page["next"]:
        click.echo(f"More records: add --cursor {page['next']}")


MAIN_FIELDS = 6


def main_fields(dataset: str, data: list[dict[str, Any]]) -> list[str]:
    """The columns of the query table: the dataset's declared plain fields that these records fill,
    in the schema's order (the rest goes in `other`), at most MAIN_FIELDS."""
    from connectors.sdk import datasets as schemas
    from connectors.sdk.schema import AnyJson, ListOf, Nested

    shape = schemas.schema_of(dataset)
    declared = [n for n, k in shape.fields().items() if not isinstance(k, Nested | ListOf | AnyJson)] if shape else []
    if not declared:  # an app's own dataset: its first plain keys
        declared = list(dict.fromkeys(k for d in data for k, v in d.items() if not isinstance(v, dict | list)))
    filled = [n for n in declared if any(d.get(n) not in (None, "") for d in data)]
    return filled[:MAIN_FIELDS]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return records.canonical_json(value)
    return str(value)


@cli.command("import-jsonl")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--source", help="Source of lines that do not name one.")
@click.option("--dataset", help="Dataset of lines that do not name one.")
@click.pass_context
def import_jsonl(ctx: click.Context, file: Path, source: str | None, dataset: str | None) -> None:
    """Import normalised records from a JSON Lines FILE (one bad line rejects the file)."""
    with progress_bar(f"Importing {file.name}") as update:
        result = invoke(
            ctx,
            record_ops.import_jsonl,
            record_ops.ImportJsonl(str(file), source=source, dataset=dataset),
            upload=file,
            on_event=lambda e: update(e["done"], e["total"]) if e.get("type") == "progress" else None,
        )
    click.echo(
        f"Imported {result['records']:,} records from {file}: "
        f"{result['new']:,} new, {result['changed']:,} changed, {result['unchanged']:,} unchanged."
    )


@cli.command()
@click.option(
    "--home",
    "demo_home",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo in this folder (default: a temporary folder, removed afterwards).",
)
@click.option("--duration", type=float, help="Stop by itself this many seconds after the summary.")
@click.option("--port", type=click.IntRange(0, 65535), help="The API's port (default 7350 if free; 0: any free port).")
def demo(demo_home: Path | None, duration: float | None, port: int | None) -> None:
    """See selfdata work in a minute: fake vendors, one source per category, the daemon and its API."""
    import asyncio
    import tempfile

    from .. import logs
    from ..demo import run

    logs.configure("warning")
    with tempfile.TemporaryDirectory(prefix="selfdata-demo-") as tmp:
        home = (demo_home or Path(tmp)).absolute()
        raise SystemExit(asyncio.run(run(home, lambda text: click.echo(text), duration, port)))
