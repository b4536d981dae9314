"""`selfdata mcp`: the MCP server over stdio, for desktop assistants."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..errors import SelfdataError
from .base import cli, session

TOKEN_ENV = "SELFDATA_TOKEN"


class McpNotReady(SelfdataError):
    pass


def _token(token_file: Path | None) -> str:
    if token_file is not None:
        lines = token_file.read_text().split()
        token = lines[0] if lines else ""
    else:
        token = os.environ.get(TOKEN_ENV, "")
    if not token:
        raise McpNotReady(
            f"give the grant's token in the {TOKEN_ENV} environment variable or with --token-file"
            " (never on the command line, where other users can see it)"
        )
    return token


@cli.command("mcp")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help=f"Read the grant's token from this file (else from ${TOKEN_ENV}).",
)
@click.pass_context
def mcp(ctx: click.Context, token_file: Path | None) -> None:
    """Serve MCP on stdin and stdout for an assistant, within the grant of a token."""
    from ..admin import client

    token = _token(token_file)
    sock = session(ctx).paths.admin_socket
    if not client.daemon_running(sock):
        raise McpNotReady("the daemon is not running: start it (selfdata run, or its service) first")
    url = client.call(sock, "status", {})["daemon"]["api_url"]
    try:
        from ..mcp import stdio
    except ImportError as err:
        raise McpNotReady(f"the MCP SDK is not installed here ({err}): pip install mcp") from None
    stdio.run(url, token)
