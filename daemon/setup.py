"""`selfdata init`: a new vault, its key slots and the config file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import config
from .paths import Paths
from .vault import KdfProfile, KeySlot, SlotSetup, Vault, VaultExists
from .vault.keys import create_or_read_key_file


@dataclass(frozen=True)
class InitResult:
    paths: Paths
    vault_id: str
    slots: list[KeySlot]
    key_file: Path | None
    key_file_created: bool
    recovery_key: str | None


def init_vault(
    paths: Paths,
    *,
    passphrase: str | None,
    key_file: Path | None,
    kdf: KdfProfile,
    recovery: bool = True,
) -> InitResult:
    if paths.vault_file.exists() or paths.keyslots_file.exists():
        raise VaultExists(f"a vault already exists at {paths.vault_dir}; nothing was changed")
    machine_key, created = (None, False)
    if key_file is not None:
        # Stored absolute: the config file resolves a relative path against its own folder,
        # not against the folder `init` ran in.
        key_file = key_file.absolute()
        machine_key, created = create_or_read_key_file(key_file)
    setup = SlotSetup(passphrase=passphrase, machine_key=machine_key, recovery=recovery, kdf=kdf)
    vault, slots = Vault.create(paths, setup)
    vault.close()
    if not paths.config_file.exists():
        config.write_default(paths, key_file)
    return InitResult(paths, slots.vault_id, list(slots.slots), key_file, created, setup.recovery_key)
