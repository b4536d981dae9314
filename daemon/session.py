"""What a command needs before it runs: the paths, the config, and an unlocked vault."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import config as config_mod
from .config import Config
from .paths import Paths, resolve
from .plugins import Registry
from .vault import DEFAULT_KDF, INSECURE_TEST_KDF, KdfProfile, Unlocked, Vault, unlock
from .vault.keys import parse_recovery_key

# Read only by the test suite; slots made with it are flagged by `selfdata keys list`.
TEST_KDF_ENV = "SELFDATA_INSECURE_TEST_KDF"


def kdf_profile() -> KdfProfile:
    return INSECURE_TEST_KDF if os.environ.get(TEST_KDF_ENV) == "1" else DEFAULT_KDF


def read_secret_file(path: Path) -> str:
    """The first line of a file (a passphrase or a recovery key), without its newline."""
    text = path.read_text(encoding="utf-8")
    return text.splitlines()[0] if text else ""


@dataclass
class Session:
    paths: Paths
    config: Config
    passphrase: str | None = None
    recovery_key: str | None = None
    _registry: Registry | None = None

    @classmethod
    def from_env(
        cls, *, system: bool = False, passphrase_file: Path | None = None, recovery_key_file: Path | None = None
    ) -> Session:
        paths = resolve(system=system)
        cfg = config_mod.load(paths)
        passphrase = read_secret_file(passphrase_file) if passphrase_file else None
        recovery = read_secret_file(recovery_key_file) if recovery_key_file else None
        if recovery is not None:
            parse_recovery_key(recovery)  # a typo is reported before anything else
        return cls(paths, cfg, passphrase, recovery)

    def registry(self) -> Registry:
        from . import plugins

        if self._registry is None:
            self._registry = plugins.load()
        return self._registry

    def unlock(self) -> Unlocked:
        return unlock(
            self.paths.keyslots_file,
            config_key_file=self.config.key_file,
            passphrase=self.passphrase,
            recovery_key=self.recovery_key,
        )

    def open(self, *, check: bool = False) -> tuple[Vault, Unlocked]:
        """The unlocked vault; with `check`, refused when its pages do not read back (`Vault.open`)."""
        unlocked = self.unlock()
        return Vault.open(self.paths, unlocked.master, check=check), unlocked
