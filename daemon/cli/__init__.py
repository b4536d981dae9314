"""`selfdata`: a thin shell over the library functions in daemon.ops."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from connectors.scaffold import ScaffoldError
from connectors.sdk import ConnectorError, SettingsError

from .. import __version__
from ..config import ConfigError
from ..files import InsecurePermissions
from ..ops.jsonl import JsonlError
from ..plugins import UnknownConnector
from ..session import Session
from ..sources import SourceError
from ..sync.importing import UnknownFormat
from ..sync.schedule import ScheduleError
from ..times import TimeFormatError
from ..vault import VaultError
from ..vault.keys import KeyFileError, RecoveryKeyError
from ..vault.names import NameError_
from ..vault.records import CursorError

# Errors that mean "the user can fix this": one line, no traceback, exit 1.
USER_ERRORS: tuple[type[BaseException], ...] = (
    VaultError,
    ConfigError,
    KeyFileError,
    RecoveryKeyError,
    InsecurePermissions,
    JsonlError,
    TimeFormatError,
    CursorError,
    NameError_,
    SourceError,
    UnknownConnector,
    UnknownFormat,
    ScheduleError,
    ScaffoldError,
    ConnectorError,
    SettingsError,
)


class SelfdataGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except USER_ERRORS as err:
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
    help="Unlock with the recovery key in this file.",
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
    return Session.from_env(
        system=obj["system"], passphrase_file=obj["passphrase_file"], recovery_key_file=obj["recovery_key_file"]
    )


from . import sources as _sources  # noqa: E402,F401  (registers the commands)
from . import vault as _vault  # noqa: E402,F401


def main() -> None:
    cli(prog_name="selfdata")


if __name__ == "__main__":
    main()
