"""`selfdata run`: the daemon in the foreground."""

from __future__ import annotations

import click

from .base import cli, session


@cli.command("run")
@click.pass_context
def run_daemon(ctx: click.Context) -> None:
    """Run the daemon in the foreground: scheduler, admin socket (and the API). Ctrl-C stops it."""
    from ..server import serve

    raise SystemExit(serve(session(ctx)))


@cli.command()
@click.option("--full", is_flag=True, help="Also read every page of the vault (its HMAC and SQLite's integrity check).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def doctor(ctx: click.Context, full: bool, as_json: bool) -> None:
    """Check the installation and explain what to do: vault, keys, clock, disk, daemon, API, sources."""
    from ..admin import client
    from ..doctor import run_checks, worst
    from ..operations import status as status_ops
    from ..operations.registry import NoParams
    from . import render
    from .base import invoke

    s = session(ctx)
    running = client.daemon_running(s.paths.admin_socket)
    pages = (lambda: invoke(ctx, status_ops.vault_check, status_ops.VaultCheck(full=True))) if full else None
    checks = run_checks(s, lambda: invoke(ctx, status_ops.status, NoParams()), running, pages)
    if as_json:
        render.print_json({"status": worst(checks), "checks": [c.to_json() for c in checks]})
    else:
        marks = {"ok": "[green]  ok[/green]", "warn": "[yellow]warn[/yellow]", "fail": "[red]FAIL[/red]"}
        out = render.console()
        for c in checks:
            out.print(f"{marks[c.status]}  {c.name}: {c.detail}" + (f"\n{'':>6}-> {c.action}" if c.action else ""))
    if worst(checks) == "fail":
        ctx.exit(1)


@cli.command()
@click.option("--sign-out-all", is_flag=True, help="End every dashboard session and unused sign-in link.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def dashboard(ctx: click.Context, sign_out_all: bool, as_json: bool) -> None:
    """A one-time link that signs you in to the dashboard in your browser (valid 15 minutes)."""
    from ..operations import dashboard as ops
    from ..operations.registry import NoParams
    from . import render
    from .base import invoke

    if sign_out_all:
        result = invoke(ctx, ops.dashboard_sign_out_all, NoParams())
        if as_json:
            render.print_json(result)
        else:
            click.echo(f"Signed out: {result['ended']} session(s) and link(s) ended.")
        return
    result = invoke(ctx, ops.dashboard_link, NoParams())
    if as_json:
        render.print_json(result)
        return
    click.echo("Open this link in your browser (it works once, for 15 minutes):")
    click.echo(f"  {result['url']}")
    if not result["daemon_running"]:
        click.echo("The daemon is not running: start it (selfdata run, or systemctl start selfdata) first.")
