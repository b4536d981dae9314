"""Finding the key that opens the vault, in the order DESIGN gives.

1. the systemd credential `$CREDENTIALS_DIRECTORY/selfdata.key`
2. `SELFDATA_KEY_FILE`, then the config's `vault.key_file`
3. the OS keyring, only a secure backend that needs no prompt
4. a passphrase typed on a terminal
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import keys
from .errors import UnlockFailed, VaultNotFound
from .keyslots import KeySlots, MasterKeys

log = logging.getLogger("selfdata.vault")

KEYRING_SERVICE = "selfdata"
CREDENTIAL_NAME = "selfdata.key"

HOW_TO_UNLOCK = (
    "Ways to unlock: a systemd credential named selfdata.key (LoadCredential=), "
    "a key file in SELFDATA_KEY_FILE or the config's vault.key_file, "
    "the OS keyring (selfdata keys add-keyring), or a passphrase typed on a terminal."
)


@dataclass
class Unlocked:
    master: MasterKeys
    slots: KeySlots
    method: str


def load_slots(slots_file: Path) -> KeySlots:
    try:
        return KeySlots.load(slots_file)
    except FileNotFoundError as err:
        raise VaultNotFound(
            f"no vault at {slots_file.parent}: run `selfdata init` first (or set SELFDATA_HOME)"
        ) from err


def machine_key_candidates(config_key_file: Path | None) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir and (Path(cred_dir) / CREDENTIAL_NAME).exists():
        out.append(("systemd credential", Path(cred_dir) / CREDENTIAL_NAME))
    env_file = os.environ.get("SELFDATA_KEY_FILE")
    if env_file:
        out.append(("SELFDATA_KEY_FILE", Path(env_file)))
    if config_key_file is not None:
        out.append(("vault.key_file", config_key_file))
    return out


def unlock(
    slots_file: Path,
    *,
    config_key_file: Path | None = None,
    passphrase: str | None = None,
    recovery_key: str | None = None,
    prompt: Callable[[str], str] | None = None,
    use_keyring: bool = True,
) -> Unlocked:
    """Open the key slots with the first way that works; an explicit passphrase or recovery key wins."""
    slots = load_slots(slots_file)
    if recovery_key is not None:
        return Unlocked(slots.unlock_recovery(keys.parse_recovery_key(recovery_key)), slots, "recovery key")
    if passphrase is not None:
        return Unlocked(slots.unlock_passphrase(passphrase), slots, "passphrase")

    problems: list[str] = []
    for origin, path in machine_key_candidates(config_key_file):
        try:
            key = keys.read_key_file(path)
            return Unlocked(slots.unlock_machine_key(key, origin), slots, origin)
        except (keys.KeyFileError, UnlockFailed) as err:
            problems.append(f"{origin}: {err}")
    if use_keyring:
        ring_key = keyring_key(slots.vault_id)
        if ring_key is not None:
            try:
                return Unlocked(slots.unlock_machine_key(ring_key, "the OS keyring"), slots, "keyring")
            except UnlockFailed as err:
                problems.append(f"keyring: {err}")
    if prompt is None and sys.stdin.isatty() and slots.has("passphrase"):
        import getpass

        prompt = getpass.getpass
    if prompt is not None and slots.has("passphrase"):
        typed = prompt("Vault passphrase: ")
        return Unlocked(slots.unlock_passphrase(typed), slots, "passphrase")
    detail = ("; ".join(problems) + ". ") if problems else ""
    raise UnlockFailed(f"could not unlock the vault. {detail}{HOW_TO_UNLOCK}")


def secure_keyring() -> object | None:
    """The OS keyring backend if it is a secure one that works without prompting."""
    try:
        import keyring
        from keyring.backend import KeyringBackend

        backend = keyring.get_keyring()
        chain = list(getattr(backend, "backends", [backend]))
        if not chain:
            return None
        for b in chain:
            module = type(b).__module__
            if module.startswith(("keyrings.alt", "keyring.backends.fail", "keyring.backends.null")):
                return None
            if float(getattr(type(b), "priority", 0)) < 1:
                return None
        return backend if isinstance(backend, KeyringBackend) else None
    except Exception:  # any keyring trouble means "no keyring": a normal case on a headless Pi
        return None


def keyring_key(vault_id: str) -> bytes | None:
    backend = secure_keyring()
    if backend is None:
        return None
    try:
        value = backend.get_password(KEYRING_SERVICE, vault_id)  # type: ignore[attr-defined]
        return bytes.fromhex(value) if value else None
    except Exception:
        log.debug("keyring lookup failed", exc_info=False)
        return None


def store_in_keyring(vault_id: str, key: bytes) -> None:
    backend = secure_keyring()
    if backend is None:
        raise UnlockFailed(
            "no secure OS keyring is available here (a headless machine usually has none); use a key file"
        )
    backend.set_password(KEYRING_SERVICE, vault_id, key.hex())  # type: ignore[attr-defined]
