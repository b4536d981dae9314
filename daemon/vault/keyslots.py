"""Key slots, like LUKS: each slot wraps the vault's keys under one way of unlocking.

The slots live in `keyslots.json` beside the database, readable before the database is
decrypted. Changing a passphrase rewrites one slot; the database is never re-encrypted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from ..files import atomic_write
from . import keys
from .errors import SlotDamaged, SlotError, UnlockFailed, VaultCorrupt

SlotKind = Literal["passphrase", "machine", "recovery"]
FORMAT = "selfdata-keyslots"


@dataclass(frozen=True)
class MasterKeys:
    """The database key and the separate secrets key (connector credentials)."""

    vault_id: str
    db_key: bytes
    secrets_key: bytes

    def payload(self) -> bytes:
        return self.db_key + self.secrets_key

    def __repr__(self) -> str:  # never print key material
        return f"MasterKeys(vault_id={self.vault_id!r})"


@dataclass
class KeySlot:
    id: str
    kind: SlotKind
    label: str
    created_at: str
    wrapped: str
    kdf: dict[str, Any] | None = None
    fingerprint: str | None = None
    # A hash of the fields above, set when the slot is made: tells a damaged slot from a wrong key
    # (slots made before it have none).
    check: str | None = None

    @property
    def weak(self) -> bool:
        return bool(isinstance(self.kdf, dict) and self.kdf.get("profile") == keys.INSECURE_TEST_KDF.name)

    def digest(self) -> str:
        fields = {k: v for k, v in asdict(self).items() if k != "check"}
        return hashlib.blake2b(json.dumps(fields, sort_keys=True).encode(), digest_size=16).hexdigest()

    def damage(self) -> str | None:
        """What is wrong with the slot itself, whatever key is tried on it; None when nothing is."""
        if self.check is not None and self.check != self.digest():
            return "its fields no longer match their checksum"
        try:
            wrapped = base64.b64decode(self.wrapped, validate=True)
        except (ValueError, TypeError):
            return "its wrapped keys are not base64"
        if len(wrapped) != keys.WRAPPED_BYTES:
            return f"its wrapped keys are {len(wrapped)} bytes, not {keys.WRAPPED_BYTES}"
        return keys.kdf_damage(self.kdf) if self.kind == "passphrase" else None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "label": self.label, "created_at": self.created_at}
        damage = self.damage()
        if damage is not None:
            out["warning"] = f"damaged: {damage}"
        elif self.kdf:
            out["kdf"] = f"argon2id ops={self.kdf['opslimit']} mem={self.kdf['memlimit'] >> 20}MiB"
            if self.weak:
                out["warning"] = "insecure test KDF"
        if self.fingerprint:
            out["fingerprint"] = self.fingerprint
        return out


@dataclass
class KeySlots:
    path: Path
    vault_id: str
    slots: list[KeySlot] = field(default_factory=list)

    @classmethod
    def new(cls, path: Path, vault_id: str) -> KeySlots:
        return cls(path=path, vault_id=vault_id)

    @classmethod
    def load(cls, path: Path) -> KeySlots:
        try:
            doc = json.loads(path.read_bytes())
            if doc.get("format") != FORMAT or doc.get("version") != 1:
                raise ValueError("not a selfdata key slot file")
            slots = [KeySlot(**s) for s in doc["slots"]]
            return cls(path=path, vault_id=str(doc["vault_id"]), slots=slots)
        except FileNotFoundError:
            raise
        except (ValueError, KeyError, TypeError) as err:
            raise VaultCorrupt(
                f"the key slot file '{path}' is damaged ({err}); restore it from your backup of the vault folder"
            ) from err

    def save(self) -> None:
        doc = {"format": FORMAT, "version": 1, "vault_id": self.vault_id, "slots": [asdict(s) for s in self.slots]}
        atomic_write(self.path, json.dumps(doc, indent=2).encode("utf-8") + b"\n", mode=0o600)

    # adding slots

    def _add(self, kind: SlotKind, label: str, wrapping_key: bytes, master: MasterKeys, **extra: Any) -> KeySlot:
        slot = KeySlot(
            id=secrets.token_hex(3),
            kind=kind,
            label=label,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            wrapped=base64.b64encode(keys.wrap(wrapping_key, master.payload())).decode("ascii"),
            **extra,
        )
        slot.check = slot.digest()
        self.slots.append(slot)
        return slot

    def add_passphrase(
        self, master: MasterKeys, passphrase: str, profile: keys.KdfProfile, label: str = "passphrase"
    ) -> KeySlot:
        if not passphrase:
            raise SlotError("an empty passphrase protects nothing; choose one")
        salt = keys.new_salt()
        kdf = {
            "alg": "argon2id",
            "salt": base64.b64encode(salt).decode("ascii"),
            "opslimit": profile.opslimit,
            "memlimit": profile.memlimit,
            "profile": profile.name,
        }
        return self._add("passphrase", label, keys.passphrase_key(passphrase, salt, profile), master, kdf=kdf)

    def add_machine(self, master: MasterKeys, machine_key: bytes, label: str = "machine key") -> KeySlot:
        fpr = keys.fingerprint(machine_key)
        if any(s.fingerprint == fpr for s in self.slots):
            raise SlotError("that machine key already has a slot")
        return self._add("machine", label, keys.derive(machine_key, b"selfdata-machine"), master, fingerprint=fpr)

    def add_recovery(self, master: MasterKeys) -> tuple[KeySlot, str]:
        key = keys.random_key()
        slot = self._add("recovery", "recovery key", keys.derive(key, b"selfdata-recover"), master)
        return slot, keys.format_recovery_key(key)

    def remove(self, slot_id: str) -> KeySlot:
        slot = self.find(slot_id)
        if len(self.slots) == 1:
            raise SlotError("this is the last key slot: removing it would lock the vault forever; add another first")
        self.slots.remove(slot)
        return slot

    def change_passphrase(
        self, master: MasterKeys, slot_id: str | None, passphrase: str, profile: keys.KdfProfile
    ) -> KeySlot:
        candidates = [s for s in self.slots if s.kind == "passphrase" and (slot_id is None or s.id == slot_id)]
        if not candidates:
            raise SlotError("no passphrase slot to change" + (f" with id {slot_id}" if slot_id else ""))
        if len(candidates) > 1:
            raise SlotError("several passphrase slots: say which one with its id (selfdata keys list)")
        old = candidates[0]
        new = self.add_passphrase(master, passphrase, profile, label=old.label)
        self.slots.remove(new)
        self.slots[self.slots.index(old)] = new
        return new

    def find(self, slot_id: str) -> KeySlot:
        for s in self.slots:
            if s.id == slot_id:
                return s
        raise SlotError(f"no key slot with id {slot_id!r}; `selfdata keys list` shows them")

    # unlocking

    def _open(self, slot: KeySlot, wrapping_key: bytes) -> MasterKeys | None:
        payload = keys.unwrap(wrapping_key, base64.b64decode(slot.wrapped))
        if payload is None:
            return None
        return MasterKeys(self.vault_id, payload[: keys.KEY_BYTES], payload[keys.KEY_BYTES :])

    def _unlock(self, candidates: list[KeySlot], wrapping_key: Callable[[KeySlot], bytes], wrong: str) -> MasterKeys:
        """The keys from the first intact candidate `wrapping_key` opens; damaged ones are named, not tried."""
        damaged = []
        for slot in candidates:
            damage = slot.damage()
            if damage is not None:
                damaged.append(f"key slot {slot.id} ({slot.label}) is damaged: {damage}")
                continue
            try:
                master = self._open(slot, wrapping_key(slot))
            except keys.KdfUnaffordable as err:
                damaged.append(f"key slot {slot.id} ({slot.label}) cannot be opened here: {err}; was it edited?")
                continue
            if master:
                return master
        if damaged:
            others = f"; {wrong} opens none of the others" if len(damaged) < len(candidates) else ""
            raise SlotDamaged(
                f"could not unlock the vault: {'; '.join(damaged)}{others}. Unlock another way (a key file, "
                f"the recovery key) and replace that slot, or restore '{self.path}' from a backup"
            )
        raise UnlockFailed(f"could not unlock the vault: {wrong} opens none of its key slots")

    def unlock_passphrase(self, passphrase: str) -> MasterKeys:
        def wrapping_key(slot: KeySlot) -> bytes:
            assert slot.kdf is not None  # an intact passphrase slot has its KDF settings
            profile = keys.KdfProfile(slot.kdf["opslimit"], slot.kdf["memlimit"])
            return keys.passphrase_key(passphrase, base64.b64decode(slot.kdf["salt"]), profile)

        candidates = [s for s in self.slots if s.kind == "passphrase"]
        try:
            return self._unlock(candidates, wrapping_key, "the passphrase")
        except SlotDamaged:
            raise
        except UnlockFailed:
            raise UnlockFailed("could not unlock the vault: wrong passphrase") from None

    def unlock_machine_key(self, machine_key: bytes, origin: str) -> MasterKeys:
        fpr = keys.fingerprint(machine_key)
        candidates = [s for s in self.slots if s.kind == "machine" and s.fingerprint == fpr]
        return self._unlock(
            candidates, lambda _: keys.derive(machine_key, b"selfdata-machine"), f"the key from {origin}"
        )

    def unlock_recovery(self, recovery_key: bytes) -> MasterKeys:
        candidates = [s for s in self.slots if s.kind == "recovery"]
        return self._unlock(candidates, lambda _: keys.derive(recovery_key, b"selfdata-recover"), "that recovery key")

    def has(self, kind: SlotKind) -> bool:
        return any(s.kind == kind for s in self.slots)
