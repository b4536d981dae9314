"""Errors a user can fix: shown as one line (`error: ...`), never a traceback."""

from __future__ import annotations

from connectors.scaffold import ScaffoldError
from connectors.sdk import ConnectorError, SettingsError

from .admin.client import RemoteError
from .admin.ops import OpError
from .config import ConfigError
from .files import InsecurePermissions
from .grants import GrantError
from .ops.jsonl import JsonlError
from .plugins import UnknownConnector
from .rights.backup import BackupError
from .rights.erase import EraseError
from .rights.export import ExportError
from .sources import SourceError
from .sync.importing import UnknownFormat
from .sync.schedule import ScheduleError
from .times import TimeFormatError
from .vault import VaultError
from .vault.keys import KeyFileError, RecoveryKeyError
from .vault.names import NameError_
from .vault.records import CursorError

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
    RemoteError,
    OpError,
    GrantError,
    BackupError,
    EraseError,
    ExportError,
)
