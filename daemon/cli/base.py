"""The `selfdata` group and `invoke`: how every command runs its operation.

Each command builds its operation's parameter class and calls `invoke`. When a daemon
runs, the operation runs inside it over the admin socket (the CLI needs no key then);
otherwise the CLI unlocks the vault and runs the same function itself.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .. import __version__
from ..errors import SelfdataError
from ..operations.registry import Operation
from ..session import Session, kdf_profile

P = TypeVar("P")


class SelfdataGroup(click.Group):
    lazy: dict[str, str] = {}  # command name -> the module that adds it, imported when it is asked for

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            importlib.import_module(self.lazy[cmd_name])
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        for module in sorted(set(self.lazy.values())):
            importlib.import_module(module)
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SelfdataError as err:
            click.secho(f"error: {err}", fg="red", err=True)
            ctx.exit(1)
        except OSError as err:
            click.secho(f"error: {err.strerror or err}: {err.filename or ''}".rstrip(": "), fg="red", err=True)
            ctx.exit(1)


@click.group(cls=SelfdataGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="selfdata")
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    help="Use this folder for everything (same as SELFDATA_HOME).",
)
@click.option("--system", is_flag=True, help="Use the system service's files (/etc/selfdata, /var/lib/selfdata).")
@click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Unlock with the passphrase on this file's first line.",
)
@click.option(
    "--recovery-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Unlock with the recovery key in this file ('-': type it on the terminal).",
)
@click.pass_context
def cli(
    ctx: click.Context, home: Path | None, system: bool, passphrase_file: Path | None, recovery_key_file: Path | None
) -> None:
    """selfdata: your own copy of the data organisations hold about you, encrypted, on your machine."""
    if home is not None:
        os.environ["SELFDATA_HOME"] = str(home.absolute())
    ctx.obj = {"system": system, "passphrase_file": passphrase_file, "recovery_key_file": recovery_key_file}


def session(ctx: click.Context) -> Session:
    obj = ctx.find_root().obj
    if "session" not in obj:
        obj["session"] = Session.from_env(
            system=obj["system"], passphrase_file=obj["passphrase_file"], recovery_key_file=obj["recovery_key_file"]
        )
    return obj["session"]  # type: ignore[no-any-return]


def _waiting(pid: str) -> None:
    click.echo(f"Waiting for the selfdata daemon (pid {pid}) to answer...", err=True)


def invoke(
    ctx: click.Context,
    operation: Operation[P],
    params: P,
    *,
    upload: Path | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> Any:
    """Run `operation` in the running daemon, or here when none runs; its JSON result.

    Never here while a daemon holds the vault: a daemon that does not answer is waited for,
    then reported (`DaemonUnreachable`).

    `upload` is a file the parameters name (their `path`): sent to the daemon, which may not
    see the CLI's files; read in place when the CLI runs the operation itself.
    """
    from .. import daemonlock
    from ..admin import client
    from ..operations import dispatch
    from ..services import local_services

    raw = Operation.encode(params)
    if "insecure_test_kdf" in raw and kdf_profile().name == "insecure-test":
        raw["insecure_test_kdf"] = True
    s = session(ctx)
    sock = s.paths.admin_socket
    if client.reach(sock, lambda: daemonlock.holder(s.paths.state_dir), _waiting):
        return client.call(sock, operation.name, raw, upload=upload, on_event=on_event)
    with local_services(s) as services:
        return asyncio.run(dispatch.run(services, operation.name, raw, on_event))
