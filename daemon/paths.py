"""Where selfdata keeps its files.

`SELFDATA_HOME` overrides everything (tests, the demo, several installs side by side).
Otherwise a user install follows XDG and the system service uses /etc/selfdata and
/var/lib/selfdata.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SYSTEM_CONFIG_DIR = Path("/etc/selfdata")
SYSTEM_STATE_DIR = Path("/var/lib/selfdata")


@dataclass(frozen=True)
class Paths:
    config_file: Path
    state_dir: Path
    system: bool = False

    @property
    def vault_dir(self) -> Path:
        return self.state_dir / "vault"

    @property
    def vault_file(self) -> Path:
        return self.vault_dir / "vault.db"

    @property
    def keyslots_file(self) -> Path:
        return self.vault_dir / "keyslots.json"

    @property
    def admin_socket(self) -> Path:
        return self.state_dir / "admin.sock"

    @property
    def default_inbox(self) -> Path:
        return self.state_dir / "inbox"

    @property
    def default_key_file(self) -> Path:
        return self.config_file.parent / "selfdata.key"


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / fallback


def home_paths(home: Path) -> Paths:
    home = home.absolute()
    return Paths(config_file=home / "config.toml", state_dir=home)


def user_paths() -> Paths:
    return Paths(
        config_file=_xdg("XDG_CONFIG_HOME", ".config") / "selfdata" / "config.toml",
        state_dir=_xdg("XDG_DATA_HOME", ".local/share") / "selfdata",
    )


def system_paths() -> Paths:
    return Paths(config_file=SYSTEM_CONFIG_DIR / "config.toml", state_dir=SYSTEM_STATE_DIR, system=True)


def resolve(system: bool = False) -> Paths:
    """The paths in force: SELFDATA_HOME, else --system, else the user's, else the system's."""
    home = os.environ.get("SELFDATA_HOME")
    if home:
        return home_paths(Path(home))
    if system:
        return system_paths()
    user = user_paths()
    if not user.config_file.exists() and system_paths().config_file.exists():
        return system_paths()
    return user
