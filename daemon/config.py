"""The daemon's settings: one TOML file. Sources live in the vault, not here."""

from __future__ import annotations

import ipaddress
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SelfdataError
from .files import atomic_write
from .paths import Paths


class ConfigError(SelfdataError):
    """The config file cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Config:
    paths: Paths
    key_file: Path | None = None
    api_bind: str = "127.0.0.1"
    api_port: int = 7350
    api_unix_socket: Path | None = None
    api_allowed_hosts: tuple[str, ...] = ()
    api_trusted_proxies: tuple[str, ...] = ()
    api_unsafe_allow_remote_bind: bool = False
    inbox: Path | None = None
    inbox_settle_seconds: float = 2.0
    notify_command: str = ""
    notify_webhook: str = ""
    notify_failures: int = 3
    log_level: str = "info"
    tombstone_retention_days: int = 30
    access_log_retention_days: int = 365
    backup_restic_repository: str = ""
    backup_restic_password_file: Path | None = None
    backup_restic: str = "restic"
    backup_warn_after_days: int = 7
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def inbox_dir(self) -> Path:
        return self.inbox or self.paths.default_inbox


# section -> key -> (attribute, type)
_SCHEMA: dict[str, dict[str, tuple[str, type]]] = {
    "vault": {
        "key_file": ("key_file", Path),
        "tombstone_retention_days": ("tombstone_retention_days", int),
        "access_log_retention_days": ("access_log_retention_days", int),
    },
    "api": {
        "bind": ("api_bind", str),
        "port": ("api_port", int),
        "unix_socket": ("api_unix_socket", Path),
        "allowed_hosts": ("api_allowed_hosts", list),
        "trusted_proxies": ("api_trusted_proxies", list),
        "unsafe_allow_remote_bind": ("api_unsafe_allow_remote_bind", bool),
    },
    "inbox": {"path": ("inbox", Path), "settle_seconds": ("inbox_settle_seconds", float)},
    "notifications": {
        "command": ("notify_command", str),
        "webhook": ("notify_webhook", str),
        "after_failures": ("notify_failures", int),
    },
    "log": {"level": ("log_level", str)},
    "backup": {
        "restic_repository": ("backup_restic_repository", str),
        "restic_password_file": ("backup_restic_password_file", Path),
        "restic": ("backup_restic", str),
        "warn_after_days": ("backup_warn_after_days", int),
    },
}

LOG_LEVELS = ("debug", "info", "warning", "error")


def load(paths: Paths) -> Config:
    """Read the config file; a missing file means all defaults."""
    try:
        text = paths.config_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config(paths=paths)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{paths.config_file}: not valid TOML: {err}") from err
    values: dict[str, Any] = {}
    for section, body in doc.items():
        keys = _SCHEMA.get(section)
        if keys is None or not isinstance(body, dict):
            raise ConfigError(f"{paths.config_file}: unknown section [{section}] (known: {', '.join(_SCHEMA)})")
        for key, value in body.items():
            if key not in keys:
                raise ConfigError(f"{paths.config_file}: unknown setting {section}.{key}")
            attr, kind = keys[key]
            values[attr] = _coerce(paths, f"{section}.{key}", value, kind)
    if values.get("log_level", "info") not in LOG_LEVELS:
        raise ConfigError(f"{paths.config_file}: log.level must be one of {', '.join(LOG_LEVELS)}")
    for entry in values.get("api_trusted_proxies", ()):
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(
                f"{paths.config_file}: api.trusted_proxies: {entry!r} is not an IP address or network"
            ) from None
    port = values.get("api_port", 7350)
    if not 0 <= port <= 65535:
        raise ConfigError(f"{paths.config_file}: api.port {port} is not a TCP port")
    return Config(paths=paths, **values)


def _coerce(paths: Paths, name: str, value: Any, kind: type) -> Any:
    if kind is Path:
        if not isinstance(value, str):
            raise ConfigError(f"{paths.config_file}: {name} must be a path string")
        if value == "":
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else (paths.config_file.parent / p)
    if kind is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{paths.config_file}: {name} must be a list of strings")
        return tuple(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"{paths.config_file}: {name} must be a {kind.__name__}, not {value!r}")
    return value


TEMPLATE = """\
# selfdata daemon settings. Sources (what to fetch, credentials) live in the
# encrypted vault, not here: see `selfdata source --help`.

[vault]
# Machine key file used to unlock the vault without a passphrase (mode 0600).
key_file = {key_file}
# Days that deletion markers (tombstones) stay in the changes feed.
tombstone_retention_days = 30
# Days that the access log (which app read what) is kept.
access_log_retention_days = 365

[api]
bind = "127.0.0.1"
port = 7350
# Also serve the API on a Unix socket (empty: no socket).
unix_socket = ""
# Extra Host names accepted besides localhost and loopback addresses.
allowed_hosts = []
# Proxies (addresses or networks) whose X-Forwarded-For names the client, for the limit
# on bad tokens; e.g. ["127.0.0.1", "::1"] behind a local TLS proxy (docs/remote-access.md).
trusted_proxies = []
# Binding anywhere but loopback exposes your data to the network. Use a TLS proxy instead.
unsafe_allow_remote_bind = false

[inbox]
# Folder watched for exported files to import (empty: <state dir>/inbox).
path = ""
# Seconds a dropped file must stay unchanged before it is imported (a rename into place is at once).
settle_seconds = 2.0

[notifications]
# A command to run with the event as JSON on stdin, and/or a webhook URL (ntfy works).
command = ""
webhook = ""
after_failures = 3

[log]
level = "info"

[backup]
# For `selfdata backup --to restic`: the restic repository (a folder, sftp:host:/path, s3:..., b2:...)
# and a file holding its password (keep a copy apart from the vault: without it the backups are lost).
restic_repository = ""
restic_password_file = ""
# The restic program: a name on PATH or a path.
restic = "restic"
# `selfdata doctor` warns when the last backup is older than this.
warn_after_days = 7
"""


def write_default(paths: Paths, key_file: Path | None) -> None:
    # JSON's string escapes are TOML's: a quote or backslash in the path stays the path
    text = TEMPLATE.format(key_file=json.dumps(str(key_file) if key_file else ""))
    atomic_write(paths.config_file, text.encode("utf-8"), mode=0o600)
