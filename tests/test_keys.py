from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.files import InsecurePermissions
from daemon.vault import keys


def test_recovery_key_round_trip_and_forgiving_input() -> None:
    key = os.urandom(32)
    text = keys.format_recovery_key(key)
    groups = text.split("-")
    assert len(groups) == 14 and all(len(g) == 4 for g in groups)
    assert keys.parse_recovery_key(text) == key
    assert keys.parse_recovery_key(text.lower().replace("-", " ")) == key


@given(st.binary(min_size=32, max_size=32), st.integers(min_value=0, max_value=55))
def test_a_typo_in_a_recovery_key_is_caught(key: bytes, position: int) -> None:
    text = keys.format_recovery_key(key).replace("-", "")
    wrong = "A" if text[position] != "A" else "B"
    typo = text[:position] + wrong + text[position + 1 :]
    with pytest.raises(keys.RecoveryKeyError):
        keys.parse_recovery_key(typo)


def test_garbage_is_not_a_recovery_key() -> None:
    with pytest.raises(keys.RecoveryKeyError, match="not a recovery key"):
        keys.parse_recovery_key("hello")


def test_key_file_created_private_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "k" / "selfdata.key"
    key, created = keys.create_or_read_key_file(path)
    assert created and oct(path.stat().st_mode & 0o777) == "0o600"
    text = path.read_text()
    assert len(text) == 65 and text.endswith("\n") and bytes.fromhex(text.strip()) == key
    again, created2 = keys.create_or_read_key_file(path)
    assert again == key and not created2


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_key_file_readable_by_others_is_refused_like_ssh(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "selfdata.key"
    keys.write_key_file(path, os.urandom(32))
    path.chmod(mode)
    with pytest.raises(InsecurePermissions, match=f"chmod 600 '{path}'"):
        keys.read_key_file(path)


@pytest.mark.parametrize("content", ["abc\n", "zz" * 32 + "\n", "00" * 31 + "\n", ""])
def test_malformed_key_file_names_the_problem(tmp_path: Path, content: str) -> None:
    path = tmp_path / "selfdata.key"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(keys.KeyFileError, match=str(path)):
        keys.read_key_file(path)


def test_wrapping_with_the_wrong_key_gives_nothing() -> None:
    blob = keys.wrap(b"k" * 32, b"payload")
    assert keys.unwrap(b"k" * 32, blob) == b"payload"
    assert keys.unwrap(b"x" * 32, blob) is None


def test_test_kdf_is_never_the_default() -> None:
    assert keys.DEFAULT_KDF.memlimit <= 256 * 1024 * 1024
    assert keys.DEFAULT_KDF.memlimit >= 64 * 1024 * 1024
    assert keys.INSECURE_TEST_KDF != keys.DEFAULT_KDF
