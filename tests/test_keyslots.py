from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.pwhash
import pytest

from daemon.paths import Paths
from daemon.vault import INSECURE_TEST_KDF, KeySlots, RecordIn, SlotError, SlotSetup, UnlockFailed, Vault, keys
from daemon.vault.errors import SlotDamaged
from daemon.vault.keys import parse_recovery_key

from .conftest import PASSPHRASE, Cli


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_slot_opens_the_same_vault(paths: Paths, machine_key: bytes) -> None:
    setup = SlotSetup(passphrase=PASSPHRASE, machine_key=machine_key, kdf=INSECURE_TEST_KDF)
    vault, slots = Vault.create(paths, setup)
    vault.writer.upsert([RecordIn("s", "bank.transaction", "k1", 0, {"amount": "1.00"})])
    vault.close()
    assert setup.recovery_key is not None
    loaded = KeySlots.load(paths.keyslots_file)
    masters = [
        loaded.unlock_passphrase(PASSPHRASE),
        loaded.unlock_machine_key(machine_key, "test"),
        loaded.unlock_recovery(parse_recovery_key(setup.recovery_key)),
    ]
    assert len({m.db_key for m in masters}) == 1 and len({m.secrets_key for m in masters}) == 1
    reopened = Vault.open(paths, masters[2])
    assert reopened.counts()[0].count == 1
    reopened.close()


def test_wrong_passphrase_and_wrong_machine_key_fail_clearly(vault: Vault, paths: Paths) -> None:
    slots = KeySlots.load(paths.keyslots_file)
    with pytest.raises(UnlockFailed, match="wrong passphrase"):
        slots.unlock_passphrase("not it")
    with pytest.raises(UnlockFailed, match="opens none of its key slots"):
        slots.unlock_machine_key(b"\0" * 32, "the test")


def test_changing_the_passphrase_rewrites_one_slot_never_the_database(
    vault: Vault, paths: Paths, machine_key: bytes
) -> None:
    vault.close()
    before_db = digest(paths.vault_file)
    slots = KeySlots.load(paths.keyslots_file)
    master = slots.unlock_passphrase(PASSPHRASE)
    others = [s for s in slots.slots if s.kind != "passphrase"]
    slots.change_passphrase(master, None, "new passphrase", INSECURE_TEST_KDF)
    slots.save()
    assert digest(paths.vault_file) == before_db
    after = KeySlots.load(paths.keyslots_file)
    assert [s for s in after.slots if s.kind != "passphrase"] == others
    with pytest.raises(UnlockFailed):
        after.unlock_passphrase(PASSPHRASE)
    assert after.unlock_passphrase("new passphrase").db_key == master.db_key


def test_the_last_slot_cannot_be_removed(paths: Paths, machine_key: bytes) -> None:
    vault, slots = Vault.create(paths, SlotSetup(machine_key=machine_key, recovery=False, kdf=INSECURE_TEST_KDF))
    vault.close()
    with pytest.raises(SlotError, match="last key slot"):
        slots.remove(slots.slots[0].id)


def test_slots_can_be_added_and_removed(vault: Vault, paths: Paths) -> None:
    slots = KeySlots.load(paths.keyslots_file)
    master = slots.unlock_passphrase(PASSPHRASE)
    extra = slots.add_passphrase(master, "second", INSECURE_TEST_KDF, label="partner")
    slots.save()
    assert KeySlots.load(paths.keyslots_file).unlock_passphrase("second").vault_id == master.vault_id
    slots.remove(extra.id)
    slots.save()
    with pytest.raises(UnlockFailed):
        KeySlots.load(paths.keyslots_file).unlock_passphrase("second")
    with pytest.raises(SlotError, match="no key slot"):
        slots.remove("nope")


def test_slot_file_is_private_and_holds_no_key_material(vault: Vault, paths: Paths, machine_key: bytes) -> None:
    assert oct(paths.keyslots_file.stat().st_mode & 0o777) == "0o600"
    assert oct(paths.vault_dir.stat().st_mode & 0o777) == "0o700"
    text = paths.keyslots_file.read_text()
    assert machine_key.hex() not in text and PASSPHRASE not in text


def test_weak_test_kdf_is_flagged(vault: Vault, paths: Paths) -> None:
    slot = next(s for s in KeySlots.load(paths.keyslots_file).slots if s.kind == "passphrase")
    assert slot.describe()["warning"] == "insecure test KDF"


def test_a_damaged_slot_file_is_reported(vault: Vault, paths: Paths) -> None:
    from daemon.vault import VaultCorrupt

    paths.keyslots_file.write_text('{"format": "selfdata-keyslots", "version": 1, "slots": [')
    with pytest.raises(VaultCorrupt, match="key slot file .* is damaged"):
        KeySlots.load(paths.keyslots_file)


def test_slots_of_another_vault_are_refused(paths: Paths, tmp_path: Path, machine_key: bytes) -> None:
    from daemon.paths import home_paths
    from daemon.vault import VaultCorrupt

    v1, s1 = Vault.create(paths, SlotSetup(machine_key=machine_key, recovery=False, kdf=INSECURE_TEST_KDF))
    v1.close()
    other = home_paths(tmp_path / "other")
    v2, s2 = Vault.create(other, SlotSetup(machine_key=machine_key, recovery=False, kdf=INSECURE_TEST_KDF))
    v2.close()
    # Swap in the other vault's slots: the key opens its slot, but it is not this database's key.
    other.keyslots_file.replace(paths.keyslots_file)
    master = KeySlots.load(paths.keyslots_file).unlock_machine_key(machine_key, "t")
    with pytest.raises(VaultCorrupt):
        Vault.open(paths, master)


def edit_passphrase_slot(paths: Paths, edit: Callable[[dict[str, Any]], None]) -> None:
    doc = json.loads(paths.keyslots_file.read_text())
    edit(next(s for s in doc["slots"] if s["kind"] == "passphrase"))
    paths.keyslots_file.write_text(json.dumps(doc))


def flip_a_character(slot: dict[str, Any]) -> None:
    w = slot["wrapped"]
    slot["wrapped"] = w[:20] + ("A" if w[20] != "A" else "B") + w[21:]  # still base64, same length


@pytest.mark.parametrize(
    ("edit", "damage"),
    [
        (flip_a_character, "its fields no longer match their checksum"),
        (lambda s: s.update(wrapped=s["wrapped"][:40]), "its wrapped keys are 30 bytes, not 104"),
        (lambda s: s.update(wrapped="not base64!"), "its wrapped keys are not base64"),
        (lambda s: s["kdf"].update(salt="c2hvcnQ="), "its salt is 5 bytes, not 16"),
        (lambda s: s["kdf"].update(opslimit="two"), "its opslimit 'two' is not a whole number"),
        (lambda s: s.pop("kdf"), "its KDF settings are missing"),
    ],
)
def test_a_damaged_passphrase_slot_is_called_damaged_not_a_wrong_passphrase(
    vault: Vault, paths: Paths, edit: Callable[[dict[str, Any]], None], damage: str
) -> None:
    if edit is not flip_a_character:  # a slot made before checksums: its structure still tells
        edit_passphrase_slot(paths, lambda s: s.pop("check"))
    edit_passphrase_slot(paths, edit)
    slots = KeySlots.load(paths.keyslots_file)
    for attempt in (PASSPHRASE, "not it"):
        with pytest.raises(SlotDamaged, match=r"key slot \w+ \(passphrase\) is damaged: " + re.escape(damage)) as err:
            slots.unlock_passphrase(attempt)
        assert "wrong passphrase" not in str(err.value) and "restore" in str(err.value)
    (described,) = [s.describe() for s in slots.slots if s.kind == "passphrase"]
    assert described["warning"].startswith(f"damaged: {damage}")  # keys list and status say it too


def test_the_cli_says_damaged_and_how_to_get_in(
    initialised: Path, run: Cli, paths: Paths, passphrase_file: Path
) -> None:
    edit_passphrase_slot(paths, flip_a_character)
    result = run("--passphrase-file", str(passphrase_file), "status", ok=False)
    assert result.exit_code == 1 and "is damaged" in result.output and "wrong passphrase" not in result.output
    listed = json.loads(run("keys", "list", "--json").output)  # the key file still opens it
    assert [s["warning"] for s in listed if s["kind"] == "passphrase"] == [
        "damaged: its fields no longer match their checksum"
    ]


def test_a_wrong_passphrase_beside_a_damaged_slot_says_both(vault: Vault, paths: Paths) -> None:
    slots = KeySlots.load(paths.keyslots_file)
    slots.add_passphrase(slots.unlock_passphrase(PASSPHRASE), "second one", INSECURE_TEST_KDF, label="partner")
    slots.save()
    edit_passphrase_slot(paths, flip_a_character)
    with pytest.raises(SlotDamaged, match="the passphrase opens none of the others"):
        KeySlots.load(paths.keyslots_file).unlock_passphrase("not it")
    assert KeySlots.load(paths.keyslots_file).unlock_passphrase("second one").vault_id == vault.vault_id


GIB = 1 << 30


@pytest.mark.parametrize("memlimit", [64 * GIB, nacl.pwhash.argon2id.MEMLIMIT_MAX])
def test_a_slot_asking_for_more_memory_than_there_is_is_a_clear_error(
    initialised: Path, run: Cli, paths: Paths, passphrase_file: Path, memlimit: int
) -> None:
    limit = keys.memory_limit()
    assert limit is not None and limit > 0
    if memlimit <= limit:
        pytest.skip("this machine has that much memory")  # never run Argon2id at 64 GiB for real
    edit_passphrase_slot(paths, lambda s: (s.pop("check"), s["kdf"].update(memlimit=memlimit)))  # an older slot
    result = run("--passphrase-file", str(passphrase_file), "status", ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"Argon2id is asked for {memlimit >> 20:,} MiB of memory, more than selfdata has here" in result.output
    assert "cannot be opened here" in result.output and "was it edited?" in result.output


def test_argon2id_failing_to_get_its_memory_is_a_clear_error(
    vault: Vault, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fails(*args: Any, **kwargs: Any) -> bytes:
        raise nacl.exceptions.RuntimeError("Unexpected failure in key derivation")

    monkeypatch.setattr(nacl.pwhash.argon2id, "kdf", fails)
    with pytest.raises(SlotDamaged, match=r"Argon2id could not get \d+ MiB of memory \(RuntimeError\)"):
        KeySlots.load(paths.keyslots_file).unlock_passphrase(PASSPHRASE)
