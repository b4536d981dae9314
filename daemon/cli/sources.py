"""Connectors, sources, syncs, runs, imports."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from connectors.scaffold import write as write_scaffold
from connectors.sdk import Connector, Importer

from .. import sourcesetup as source_ops
from ..operations import runs as run_ops
from ..operations import sources as ops
from ..operations.registry import NoParams
from ..plugins import Registry
from ..sources import SourceError
from ..vault.names import check_source
from . import render
from .base import cli, invoke, session


def _report_problems(registry: Registry) -> None:
    for problem in registry.problems:
        click.secho(f"warning: {problem}", fg="yellow", err=True)


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def connectors(ctx: click.Context, as_json: bool) -> None:
    """List the connectors and importers installed (and write new ones: connectors new)."""
    if ctx.invoked_subcommand is not None:
        return
    registry = session(ctx).registry()
    _report_problems(registry)
    plugins = registry.all()
    if as_json:
        render.print_json([p.manifest() for p in plugins])
        return
    if not plugins:
        click.echo("No connectors installed.")
        return
    rows = []
    for p in plugins:
        fields = ", ".join(f.name + ("*" if f.secret else "") for f in p.fields)
        rows.append((p.name, p.kind, p.category, ", ".join(p.datasets), fields, p.title))
    render.table(None, ["name", "kind", "category", "datasets", "settings (* secret)", "title"], rows)


@connectors.command("new")
@click.argument("name")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path), default=".", show_default=True)
def connectors_new(name: str, folder: Path) -> None:
    """Write a working connector NAME and its test (using the test kit) into --dir."""
    made = write_scaffold(name, folder)
    click.echo(f"Wrote {made.connector_file} and {made.test_file}.")
    click.echo(f"Run its tests: python -m pytest {made.test_file}")
    click.echo("Package and install it: see docs/connectors.md")


@cli.group()
def source() -> None:
    """Sources: configured instances of a connector (my-bank, octopus-home)."""


def _on_terminal() -> bool:
    return sys.stdin.isatty()


def _prompt_values(cls: type[Connector] | type[Importer], given: dict[str, str], keep: bool = False) -> dict[str, str]:
    """Ask for the fields not given with --set (on a terminal only); secrets are typed hidden."""
    values = dict(given)
    if not _on_terminal():
        return values
    for f in cls.fields:
        if f.name in values:
            continue
        hint = f" ({f.help})" if f.help else ""
        if keep:
            hint += " [Enter keeps the current value]"
        default = "" if f.secret or keep else (f.default if f.default is not None else "")
        answer = click.prompt(
            f"{f.name}{hint}", default=default, hide_input=f.secret, show_default=not f.secret, type=str
        )
        if answer != "":
            values[f.name] = answer
    return values


@source.command("add")
@click.argument("name")
@click.argument("connector")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE", help="A setting (repeatable).")
@click.option(
    "--schedule",
    help="every 6h, hourly, daily, weekly, a cron expression, or manual (default: the connector's own).",
)
@click.option("--no-check", is_flag=True, help="Save without trying the credentials.")
@click.pass_context
def source_add(
    ctx: click.Context, name: str, connector: str, assignments: tuple[str, ...], schedule: str | None, no_check: bool
) -> None:
    """Add source NAME using CONNECTOR; asks for its settings and tries them before saving."""
    cls = session(ctx).registry().get(connector)
    check_source(name)  # before any prompt: a bad or taken name is said at once
    if _on_terminal() and any(s["name"] == name for s in invoke(ctx, ops.source_list, NoParams())):
        raise SourceError(f"a source named {name!r} already exists (selfdata source edit {name} changes it)")
    values = _prompt_values(cls, source_ops.parse_assignments(assignments))
    added = invoke(ctx, ops.source_add, ops.AddSource(name, connector, values, schedule, not no_check))
    if added["health"] == "needs_authorization":
        click.echo(f"Added {name}. It needs your consent in a browser: selfdata source authorize {name}")
    elif added["health"] == "needs_action":
        click.echo(f"Added {name}. {added['health_message']}")
    else:
        click.echo(f"Added {name} ({connector}). Sync it now with: selfdata sync {name}")


@source.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def source_list(ctx: click.Context, as_json: bool) -> None:
    """List the sources with their health."""
    sources = invoke(ctx, ops.source_list, NoParams())
    if as_json:
        render.print_json(sources)
        return
    if not sources:
        click.echo("No sources yet: selfdata source add NAME CONNECTOR (selfdata connectors lists them).")
        return
    render.table(
        None,
        ["name", "connector", "schedule", "enabled", "health", "to do"],
        [
            (
                src["name"],
                src["connector"],
                src["schedule"] or "",
                "yes" if src["enabled"] else "no",
                src["health"],
                src["action"],
            )
            for src in sources
        ],
    )


@source.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def source_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """A source's settings (secrets by name only), health and last runs."""
    doc = invoke(ctx, ops.source_show, ops.SourceName(name))
    if as_json:
        render.print_json(doc)
        return
    out = render.console()
    out.print(f"[bold]{doc['name']}[/bold] ({doc['connector']}, {doc['kind']})")
    for key, value in doc["settings"].items():
        out.print(f"  {key} = {value}")
    for key in doc["secrets"]:
        out.print(f"  {key} = (secret, stored encrypted)")
    out.print(f"  schedule: {doc['schedule'] or 'manual'}; enabled: {'yes' if doc['enabled'] else 'no'}")
    out.print(f"  health: {doc['health']}" + (f" — {doc['health_message']}" if doc["health_message"] else ""))
    if doc["action"]:
        out.print(f"  to do: {doc['action']}")
    if doc["warning"]:
        out.print(f"  warning: {doc['warning']}")
    for r in doc["runs"]:
        out.print(
            f"  run {r['id']}: {r['kind']} {r['status']} at {render.local(r['started_at'], 'second')} — "
            f"{r['new']} new, {r['changed']} changed" + (f"; {r['error']}" if r["error"] else "")
        )


@source.command("edit")
@click.argument("name")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE", help="A setting (repeatable).")
@click.option("--schedule", help="every 6h, hourly, daily, weekly, a cron expression, or manual (only selfdata sync).")
@click.option("--no-check", is_flag=True, help="Save without trying the credentials.")
@click.pass_context
def source_edit(
    ctx: click.Context, name: str, assignments: tuple[str, ...], schedule: str | None, no_check: bool
) -> None:
    """Change a source's settings or credentials (asks for each when none is given)."""
    given = source_ops.parse_assignments(assignments)
    if not given and not schedule:
        connector = invoke(ctx, ops.source_show, ops.SourceName(name))["connector"]
        given = _prompt_values(session(ctx).registry().get(connector), {}, keep=True)
    invoke(ctx, ops.source_edit, ops.EditSource(name, given, schedule, not no_check))
    click.echo(f"Updated {name}.")


@source.command("authorize")
@click.argument("name")
@click.option("--redirect-uri", default=source_ops.DEFAULT_REDIRECT_URI, show_default=True)
@click.option("--code", "code_or_url", help="The code, or the whole URL your browser was sent to.")
@click.option("--answer", help="The answer to the website's question (a 2FA code), instead of a prompt.")
@click.pass_context
def source_authorize(
    ctx: click.Context, name: str, redirect_uri: str, code_or_url: str | None, answer: str | None
) -> None:
    """Give a source your consent in a browser (OAuth, PSD2) and bring the code back, or answer what
    its website asks during a login (a code sent by SMS) and run it with the answer."""
    if code_or_url is None:
        asked = invoke(ctx, ops.source_question, ops.SourceName(name))
        if asked["asks"]:
            _answer_questions(ctx, name, asked["question"], answer)
            return
        url = invoke(ctx, ops.source_authorization_url, ops.AuthorizationUrl(name, redirect_uri))["url"]
        click.echo(f"Open this address, log in and consent:\n\n    {url}\n")
        code_or_url = click.prompt("Then paste the address your browser was sent to (or the code)")
    invoke(ctx, ops.source_authorize, ops.Authorize(name, redirect_uri, code_or_url))
    click.echo(f"Authorised {name}. Sync it now with: selfdata sync {name}")


ANSWER_TRIES = 3  # then the user tries later: a bank may lock the account after a few wrong codes


def _answer_questions(ctx: click.Context, name: str, question: dict[str, Any] | None, answer: str | None) -> None:
    """Ask the website's question, run the source with the answer; a refused answer is asked again."""
    for attempt in range(ANSWER_TRIES):
        if question is None:
            click.echo(f"{name}: the website asks nothing now. Sync it with: selfdata sync {name}")
            return
        given = answer if attempt == 0 else None
        while question is not None:  # the website may ask several values at once: each in turn
            text = given if given is not None else _ask(question)
            given = None
            with _LiveProgress(name).bar:
                result = invoke(ctx, ops.source_answer, ops.Answer(name, question["id"], text))
            question = result["question"]
        r = result["run"]
        if r["status"] == "ok":
            click.echo(f"{name}: logged in; {r['new']:,} new, {r['changed']:,} changed, {r['unchanged']:,} unchanged.")
            return
        click.secho(f"{name}: {r['error']}", fg="red", err=True)
        if result["health"] != "needs_action" or attempt == ANSWER_TRIES - 1:
            break
        question = invoke(ctx, ops.source_question, ops.SourceName(name))["question"]
    if result["action"]:
        click.echo(f"To do: {result['action']}", err=True)
    ctx.exit(1)


def _ask(question: dict[str, Any]) -> str:
    if question["confirm_only"]:
        click.prompt(f"{question['text']}\nPress Enter once done", default="", show_default=False)
        return "yes"
    return str(click.prompt(question["text"], hide_input=question["secret"]))


@source.command("enable")
@click.argument("name")
@click.pass_context
def source_enable(ctx: click.Context, name: str) -> None:
    """Let a source run on its schedule again."""
    invoke(ctx, ops.source_enable, ops.EnableSource(name, True))
    click.echo(f"Enabled {name}.")


@source.command("disable")
@click.argument("name")
@click.pass_context
def source_disable(ctx: click.Context, name: str) -> None:
    """Stop a source's scheduled runs (its data stays)."""
    invoke(ctx, ops.source_enable, ops.EnableSource(name, False))
    click.echo(f"Disabled {name}.")


@source.command("remove")
@click.argument("name")
@click.option("--keep-records", is_flag=True, help="Keep the records it fetched.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def source_remove(ctx: click.Context, name: str, keep_records: bool, yes: bool) -> None:
    """Remove a source, its credentials and (unless --keep-records) its records."""
    what = "its credentials" if keep_records else "its credentials and all its records"
    if not yes and not click.confirm(f"Remove {name} with {what}?", default=False):
        raise click.Abort()
    result = invoke(ctx, ops.source_remove, ops.RemoveSource(name, keep_records))
    click.echo(f"Removed {name}" + ("" if keep_records else f" and {result['deleted']:,} records") + ".")


class _LiveProgress:
    def __init__(self, name: str) -> None:
        con = render.console(stderr=True)
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=con,
            disable=not con.is_terminal,
            transient=True,
        )
        self.task = self.bar.add_task(name)
        self.name = name
        self.stored = 0

    def __call__(self, event: dict[str, Any]) -> None:
        if event["type"] == "run.committed":
            self.stored += event["new"] + event["changed"] + event["unchanged"]
        elif event["type"] == "run.retrying":
            click.echo(f"{self.name}: {event['error']}; retrying in {event['wait_s']:.0f} s", err=True)
        message = event.get("message") or ""
        self.bar.update(self.task, description=f"{self.name}: {self.stored:,} records {message}")


@cli.command()
@click.argument("name")
@click.pass_context
def sync(ctx: click.Context, name: str) -> None:
    """Run source NAME now, with progress, then print a summary (through the daemon if it runs)."""
    started = time.monotonic()
    live = _LiveProgress(name)
    with live.bar:
        result = invoke(ctx, run_ops.sync, run_ops.Sync(name), on_event=live)
    r = result["run"]
    took = time.monotonic() - started
    summary = f"{r['new']:,} new, {r['changed']:,} changed, {r['unchanged']:,} unchanged, {r['deleted']:,} deleted"
    if r["status"] == "ok":
        click.echo(f"{name}: {summary} in {took:.1f} s.")
        return
    click.secho(f"{name}: run {r['status']}: {r['error']}", fg="red", err=True)
    click.echo(f"Stored before it stopped: {summary}.", err=True)
    if result["action"]:
        click.echo(f"To do: {result['action']}", err=True)
    ctx.exit(1)


@cli.command()
@click.argument("name", required=False)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def runs(ctx: click.Context, name: str | None, limit: int, as_json: bool) -> None:
    """The last runs (syncs, imports, renormalizations), newest first."""
    recent = invoke(ctx, run_ops.runs, run_ops.Runs(name, limit))
    if as_json:
        render.print_json(recent)
        return
    if not recent:
        click.echo("No runs yet.")
        return
    render.table(
        None,
        ["id", "source", "kind", "started", "status", "new", "changed", "unchanged", "deleted", "error"],
        [
            (
                r["id"],
                r["source"],
                r["kind"],
                render.local(r["started_at"], "second"),
                r["status"],
                r["new"],
                r["changed"],
                r["unchanged"],
                r["deleted"],
                r["error"] or "",
            )
            for r in recent
        ],
    )


@cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--source", "source_name", help="Source to import into (default: named after the format).")
@click.option(
    "--format",
    "fmt",
    help="Importer to use when several recognise the file, or none does (bank-csv: a CSV read with --set columns=...).",
)
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE", help="An importer setting (repeatable).")
@click.pass_context
def import_(
    ctx: click.Context, file: Path, source_name: str | None, fmt: str | None, assignments: tuple[str, ...]
) -> None:
    """Import an exported FILE (its format is recognised by content) as one atomic run."""
    _report_problems(session(ctx).registry())
    con = render.console(stderr=True)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=con,
        disable=not con.is_terminal,
        transient=True,
    ) as bar:
        task = bar.add_task(f"Reading {file.name}")

        def on_event(event: dict[str, Any]) -> None:
            if event.get("type") == "progress":
                bar.update(task, description=f"Reading {file.name}: {event['records']:,} records")

        result = invoke(
            ctx,
            run_ops.import_file,
            run_ops.ImportFile(
                str(file), source=source_name, format=fmt, values=source_ops.parse_assignments(assignments)
            ),
            upload=file,
            on_event=on_event,
        )
    r = result["run"]
    if r["status"] != "ok":
        click.secho(f"error: {r['error']}", fg="red", err=True)
        click.echo("Nothing from this file was stored.", err=True)
        ctx.exit(1)
    if result.get("already"):
        click.echo(
            f"{file.name} was already imported into {result['source']} on {result['already']}, nothing to do: "
            f"0 new, 0 changed, {r['unchanged']:,} unchanged (the same bytes; none of its records changed since)."
        )
        return
    click.echo(
        f"Imported {file.name} ({result['importer']}) into {result['source']}: {r['new']:,} new, "
        f"{r['changed']:,} changed, {r['unchanged']:,} unchanged, {r['deleted']:,} deleted."
    )
    for notice in result.get("notices", []):
        click.secho(f"notice: {notice}", fg="yellow")


@cli.command()
@click.argument("name")
@click.pass_context
def renormalize(ctx: click.Context, name: str) -> None:
    """Re-map source NAME's stored vendor data with its connector's current mapping."""
    r = invoke(ctx, run_ops.renormalize, run_ops.Renormalize(name))
    if r["status"] != "ok":
        click.secho(f"error: {r['error']}", fg="red", err=True)
        ctx.exit(1)
    click.echo(
        f"Renormalized {name}: {r['changed']:,} changed, {r['unchanged']:,} unchanged, {r['new']:,} new, "
        f"{r['deleted']:,} removed."
    )
