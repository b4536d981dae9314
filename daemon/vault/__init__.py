"""The encrypted store: key slots, unlock, the SQLCipher database, records and secrets."""

from .errors import SlotError, UnlockFailed, VaultCorrupt, VaultError, VaultExists, VaultNotFound
from .keys import DEFAULT_KDF, INSECURE_TEST_KDF, KdfProfile
from .keyslots import KeySlot, KeySlots, MasterKeys
from .keysources import Unlocked, unlock
from .records import BatchCounts, RecordIn, StoredRecord
from .store import SlotSetup, Vault

__all__ = [
    "DEFAULT_KDF",
    "INSECURE_TEST_KDF",
    "BatchCounts",
    "KdfProfile",
    "KeySlot",
    "KeySlots",
    "MasterKeys",
    "RecordIn",
    "SlotError",
    "SlotSetup",
    "StoredRecord",
    "UnlockFailed",
    "Unlocked",
    "Vault",
    "VaultCorrupt",
    "VaultError",
    "VaultExists",
    "VaultNotFound",
    "unlock",
]
