"""What a command needs before it runs: the paths, the config, and an unlocked vault."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import config as config_mod
from .config import Config
from .errors import SelfdataError
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


def typed_recovery_key() -> str:
    """`--recovery-key-file -`: typed on the terminal (hidden), or the first line of stdin."""
    import sys

    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("Recovery key: ").strip()
    return sys.stdin.readline().strip()


@dataclass(frozen=True)
class KeyFileUse:
    origin: str
    path: Path
    slot: str | None  # the slot it opens
    problem: str | None  # why it opens none


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
        recovery = None
        if recovery_key_file is not None:
            recovery = typed_recovery_key() if str(recovery_key_file) == "-" else read_secret_file(recovery_key_file)
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

    def key_files(self) -> list[KeyFileUse]:
        """The key files this session would unlock with (systemd credential, SELFDATA_KEY_FILE,
        vault.key_file) and the machine-key slot each opens, found by its fingerprint."""
        from .vault import keys
        from .vault.keysources import load_slots, machine_key_candidates

        slots = load_slots(self.paths.keyslots_file)
        out = []
        for origin, path in machine_key_candidates(self.config.key_file):
            try:
                fpr = keys.fingerprint(keys.read_key_file(path))
            except (SelfdataError, OSError) as err:
                out.append(KeyFileUse(origin, path, None, str(err)))
                continue
            slot = next((s.id for s in slots.slots if s.kind == "machine" and s.fingerprint == fpr), None)
            problem = None if slot else "it opens no key slot of this vault (was its slot removed?)"
            out.append(KeyFileUse(origin, path, slot, problem))
        return out

    def open(self, *, check: bool = False) -> tuple[Vault, Unlocked]:
        """The unlocked vault; with `check`, refused when its pages do not read back (`Vault.open`)."""
        unlocked = self.unlock()
        return Vault.open(self.paths, unlocked.master, check=check), unlocked
