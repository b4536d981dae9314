"""`selfdata run`: the daemon in the foreground."""

from __future__ import annotations

import click

from . import cli, session


@cli.command("run")
@click.pass_context
def run_daemon(ctx: click.Context) -> None:
    """Run the daemon in the foreground: scheduler, admin socket (and the API). Ctrl-C stops it."""
    from ..server import serve

    raise SystemExit(serve(session(ctx)))
