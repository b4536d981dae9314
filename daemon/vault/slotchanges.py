"""`selfdata keys`: list, add and remove key slots. The database is never re-encrypted."""

from __future__ import annotations

from pathlib import Path

from .keys import KdfProfile, create_or_read_key_file, random_key
from .keyslots import KeySlot
from .keysources import Unlocked, store_in_keyring


def list_slots(unlocked: Unlocked) -> list[KeySlot]:
    return list(unlocked.slots.slots)


def add_passphrase(unlocked: Unlocked, passphrase: str, kdf: KdfProfile, label: str = "passphrase") -> KeySlot:
    slot = unlocked.slots.add_passphrase(unlocked.master, passphrase, kdf, label=label)
    unlocked.slots.save()
    return slot


def add_keyfile(unlocked: Unlocked, path: Path, label: str | None = None) -> tuple[KeySlot, bool]:
    key, created = create_or_read_key_file(path)
    slot = unlocked.slots.add_machine(unlocked.master, key, label=label or f"key file {path}")
    unlocked.slots.save()
    return slot, created


def add_keyring(unlocked: Unlocked) -> KeySlot:
    key = random_key()
    store_in_keyring(unlocked.slots.vault_id, key)
    slot = unlocked.slots.add_machine(unlocked.master, key, label="OS keyring")
    unlocked.slots.save()
    return slot


def add_recovery(unlocked: Unlocked) -> tuple[KeySlot, str]:
    slot, text = unlocked.slots.add_recovery(unlocked.master)
    unlocked.slots.save()
    return slot, text


def remove(unlocked: Unlocked, slot_id: str) -> KeySlot:
    slot = unlocked.slots.remove(slot_id)
    unlocked.slots.save()
    return slot


def change_passphrase(unlocked: Unlocked, slot_id: str | None, passphrase: str, kdf: KdfProfile) -> KeySlot:
    slot = unlocked.slots.change_passphrase(unlocked.master, slot_id, passphrase, kdf)
    unlocked.slots.save()
    return slot
