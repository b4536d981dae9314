"""`selfdata keys`: the vault's key slots."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..services import Services
from ..vault import DEFAULT_KDF, INSECURE_TEST_KDF, KdfProfile
from ..vault import slotchanges as slots
from .registry import Emit, NoParams, Result, operation


def _kdf(insecure_test_kdf: bool) -> KdfProfile:
    return INSECURE_TEST_KDF if insecure_test_kdf else DEFAULT_KDF


@dataclass(frozen=True)
class AddPassphrase:
    passphrase: str
    label: str = "passphrase"
    insecure_test_kdf: bool = False


@dataclass(frozen=True)
class AddKeyFile:
    path: str


@dataclass(frozen=True)
class RemoveSlot:
    slot: str


@dataclass(frozen=True)
class ChangePassphrase:
    passphrase: str
    slot: str | None = None
    insecure_test_kdf: bool = False


@operation("keys.list", NoParams)
async def keys_list(services: Services, params: NoParams, emit: Emit) -> Result:
    """The key slots."""
    return [s.describe() for s in slots.list_slots(services.unlocked)]


@operation("keys.add_passphrase", AddPassphrase)
async def keys_add_passphrase(services: Services, params: AddPassphrase, emit: Emit) -> Result:
    """A new passphrase slot."""
    slot = slots.add_passphrase(
        services.unlocked, params.passphrase, _kdf(params.insecure_test_kdf), params.label or "passphrase"
    )
    return slot.describe()


@operation("keys.add_keyfile", AddKeyFile)
async def keys_add_keyfile(services: Services, params: AddKeyFile, emit: Emit) -> Result:
    """A machine-key slot held by a key file (created when absent)."""
    slot, created = slots.add_keyfile(services.unlocked, Path(params.path))
    return {**slot.describe(), "created": created}


@operation("keys.add_keyring", NoParams)
async def keys_add_keyring(services: Services, params: NoParams, emit: Emit) -> Result:
    """A machine-key slot held by the OS keyring."""
    return slots.add_keyring(services.unlocked).describe()


@operation("keys.add_recovery", NoParams)
async def keys_add_recovery(services: Services, params: NoParams, emit: Emit) -> Result:
    """A new recovery key, shown once."""
    slot, text = slots.add_recovery(services.unlocked)
    return {**slot.describe(), "recovery_key": text}


@operation("keys.remove", RemoveSlot)
async def keys_remove(services: Services, params: RemoveSlot, emit: Emit) -> Result:
    """Remove a key slot (never the last)."""
    return slots.remove(services.unlocked, params.slot).describe()


@operation("keys.change_passphrase", ChangePassphrase)
async def keys_change_passphrase(services: Services, params: ChangePassphrase, emit: Emit) -> Result:
    """Rewrite one passphrase slot."""
    slot = slots.change_passphrase(services.unlocked, params.slot, params.passphrase, _kdf(params.insecure_test_kdf))
    return slot.describe()


OPERATIONS = (
    keys_list,
    keys_add_passphrase,
    keys_add_keyfile,
    keys_add_keyring,
    keys_add_recovery,
    keys_remove,
    keys_change_passphrase,
)
