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
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def doctor(ctx: click.Context, as_json: bool) -> None:
    """Check the installation and explain what to do: vault, keys, clock, disk, daemon, API, sources."""
    from ..admin import client
    from ..doctor import run_checks, worst
    from ..operations import status as status_ops
    from ..operations.registry import NoParams
    from . import render
    from .base import invoke

    s = session(ctx)
    running = client.daemon_running(s.paths.admin_socket)
    checks = run_checks(s, lambda: invoke(ctx, status_ops.status, NoParams()), running)
    if as_json:
        render.print_json({"status": worst(checks), "checks": [c.to_json() for c in checks]})
    else:
        marks = {"ok": "[green]  ok[/green]", "warn": "[yellow]warn[/yellow]", "fail": "[red]FAIL[/red]"}
        out = render.console()
        for c in checks:
            out.print(f"{marks[c.status]}  {c.name}: {c.detail}" + (f"\n{'':>6}-> {c.action}" if c.action else ""))
    if worst(checks) == "fail":
        ctx.exit(1)
