"""The unlock order: systemd credential, key file, keyring, passphrase on a TTY."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend

from daemon.paths import Paths
from daemon.vault import INSECURE_TEST_KDF, SlotSetup, UnlockFailed, Vault, unlock
from daemon.vault import keysources as unlock_mod
from daemon.vault.keys import write_key_file
from daemon.vault.keyslots import KeySlots

from .conftest import PASSPHRASE


class MemoryKeyring(KeyringBackend):
    priority = 5  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


class BrokenKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise RuntimeError("dbus went away")


@pytest.fixture
def keyfile_vault(paths: Paths, tmp_path: Path, machine_key: bytes) -> Path:
    v, _ = Vault.create(paths, SlotSetup(passphrase=PASSPHRASE, machine_key=machine_key, kdf=INSECURE_TEST_KDF))
    v.close()
    key_file = tmp_path / "selfdata.key"
    write_key_file(key_file, machine_key)
    return key_file


def test_systemd_credential_comes_first(
    paths: Paths, keyfile_vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    write_key_file(
        creds / "selfdata.key", keyfile_vault.read_text().strip() and bytes.fromhex(keyfile_vault.read_text().strip())
    )
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    monkeypatch.setenv("SELFDATA_KEY_FILE", str(tmp_path / "missing.key"))
    assert unlock(paths.keyslots_file).method == "systemd credential"


def test_env_key_file_then_config_key_file(paths: Paths, keyfile_vault: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELFDATA_KEY_FILE", str(keyfile_vault))
    assert unlock(paths.keyslots_file).method == "SELFDATA_KEY_FILE"
    monkeypatch.delenv("SELFDATA_KEY_FILE")
    assert unlock(paths.keyslots_file, config_key_file=keyfile_vault).method == "vault.key_file"


def test_a_broken_first_key_falls_through_to_a_working_one(
    paths: Paths, keyfile_vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.key"
    write_key_file(bad, os.urandom(32))
    monkeypatch.setenv("SELFDATA_KEY_FILE", str(bad))
    assert unlock(paths.keyslots_file, config_key_file=keyfile_vault).method == "vault.key_file"


def test_secure_keyring_unlocks(paths: Paths, keyfile_vault: Path, machine_key: bytes) -> None:
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    try:
        vault_id = KeySlots.load(paths.keyslots_file).vault_id
        ring.set_password("selfdata", vault_id, machine_key.hex())
        assert unlock(paths.keyslots_file, prompt=lambda _: "").method == "keyring"
    finally:
        keyring.set_keyring(keyring.backends.fail.Keyring())


@pytest.mark.parametrize("backend", ["plaintext", "broken", "fail"])
def test_insecure_or_failing_keyrings_are_quietly_skipped(
    paths: Paths, keyfile_vault: Path, machine_key: bytes, backend: str
) -> None:
    ring: Any
    if backend == "plaintext":
        from keyrings.alt.file import PlaintextKeyring  # type: ignore[import-not-found]

        ring = PlaintextKeyring()
    elif backend == "broken":
        ring = BrokenKeyring()
    else:
        ring = keyring.backends.fail.Keyring()
    keyring.set_keyring(ring)
    try:
        if backend == "plaintext":
            assert unlock_mod.secure_keyring() is None
        # Falls through to the passphrase prompt without an error from the keyring.
        assert unlock(paths.keyslots_file, prompt=lambda _: PASSPHRASE).method == "passphrase"
    finally:
        keyring.set_keyring(keyring.backends.fail.Keyring())


def test_nothing_to_unlock_with_lists_the_ways(paths: Paths, keyfile_vault: Path) -> None:
    with pytest.raises(UnlockFailed) as err:
        unlock(paths.keyslots_file)
    for way in ("systemd credential", "SELFDATA_KEY_FILE", "keyring", "passphrase"):
        assert way in str(err.value)


def test_passphrase_typed_on_a_terminal(paths: Paths, keyfile_vault: Path) -> None:
    prompts: list[str] = []
    got = unlock(paths.keyslots_file, prompt=lambda p: prompts.append(p) or PASSPHRASE)
    assert got.method == "passphrase" and prompts == ["Vault passphrase: "]


def test_no_vault_says_run_init(paths: Paths) -> None:
    from daemon.vault import VaultNotFound

    with pytest.raises(VaultNotFound, match="selfdata init"):
        unlock(paths.keyslots_file)
