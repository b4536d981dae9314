"""Key material: KDF profiles, key wrapping, machine key files and recovery keys.

The database key and the secrets key are random and never typed by anyone. Key slots
(keyslots.py) wrap them under a passphrase, a machine key or a recovery key.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.pwhash
import nacl.secret

from ..errors import SelfdataError
from ..files import atomic_write, check_private_file

KEY_BYTES = 32
# What a slot wraps (the database key and the secrets key) as SecretBox gives it: nonce, MAC, keys.
WRAPPED_BYTES = nacl.secret.SecretBox.NONCE_SIZE + nacl.secret.SecretBox.MACBYTES + 2 * KEY_BYTES


class KeyFileError(SelfdataError):
    """A key file is missing, malformed or readable by others."""


class RecoveryKeyError(SelfdataError):
    """A recovery key was mistyped."""


class KdfUnaffordable(SelfdataError):
    """Argon2id limits this machine cannot meet: a slot or an export header was edited, or made elsewhere."""


@dataclass(frozen=True)
class KdfProfile:
    """Argon2id limits; recorded in each passphrase slot so they can change later."""

    opslimit: int
    memlimit: int
    name: str = "custom"


# About half a second here and within a 1 GB Raspberry Pi's means (256 MiB).
DEFAULT_KDF = KdfProfile(opslimit=2, memlimit=256 * 1024 * 1024, name="default")
# Only for the test suite, which picks it explicitly; slots made with it say so.
INSECURE_TEST_KDF = KdfProfile(
    opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN, memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN, name="insecure-test"
)


def random_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def kdf_damage(kdf: Any) -> str | None:
    """What is wrong with a passphrase slot's recorded Argon2id settings, or None."""
    if not isinstance(kdf, dict) or kdf.get("alg") != "argon2id":
        return "its KDF settings are missing or not argon2id"
    try:
        salt = base64.b64decode(str(kdf.get("salt")), validate=True)
    except ValueError:
        return "its salt is not base64"
    if len(salt) != nacl.pwhash.argon2id.SALTBYTES:
        return f"its salt is {len(salt)} bytes, not {nacl.pwhash.argon2id.SALTBYTES}"
    argon = nacl.pwhash.argon2id
    for name, lo, hi in (
        ("opslimit", argon.OPSLIMIT_MIN, argon.OPSLIMIT_MAX),
        ("memlimit", argon.MEMLIMIT_MIN, argon.MEMLIMIT_MAX),
    ):
        value = kdf.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            return f"its {name} {value!r} is not a whole number Argon2id accepts"
    return None


def memory_limit() -> int | None:
    """The memory this process may use: the machine's, or its cgroup's (a service's MemoryMax) if lower."""
    limits = []
    try:
        limits.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError):
        pass
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):  # cgroup v2, what systemd puts a service in
                text = (Path("/sys/fs/cgroup") / line[3:].lstrip("/") / "memory.max").read_text().strip()
                if text.isdigit():
                    limits.append(int(text))
    except OSError:
        pass
    return min(limits) if limits else None


def passphrase_key(passphrase: str, salt: bytes, profile: KdfProfile) -> bytes:
    # Asked for more than there is, Argon2id fails with a bare error or, under overcommit, is OOM-killed.
    mib = profile.memlimit >> 20
    limit = memory_limit()
    if limit is not None and profile.memlimit > limit:
        raise KdfUnaffordable(
            f"Argon2id is asked for {mib:,} MiB of memory, more than selfdata has here ({limit >> 20:,} MiB)"
        )
    try:
        return nacl.pwhash.argon2id.kdf(
            KEY_BYTES, passphrase.encode("utf-8"), salt, opslimit=profile.opslimit, memlimit=profile.memlimit
        )
    except (MemoryError, nacl.exceptions.RuntimeError) as err:
        raise KdfUnaffordable(f"Argon2id could not get {mib:,} MiB of memory ({type(err).__name__})") from None


def derive(key: bytes, purpose: bytes) -> bytes:
    """A wrapping key from a high-entropy key (machine or recovery key): no slow KDF needed."""
    return hashlib.blake2b(key, digest_size=KEY_BYTES, person=purpose.ljust(16, b"\0")[:16]).digest()


def fingerprint(key: bytes) -> str:
    """Names which slot a machine key opens, without revealing anything about it."""
    return hashlib.blake2b(key, digest_size=8, person=b"selfdata-fpr".ljust(16, b"\0")).hexdigest()


def wrap(wrapping_key: bytes, payload: bytes) -> bytes:
    return bytes(nacl.secret.SecretBox(wrapping_key).encrypt(payload))


def unwrap(wrapping_key: bytes, blob: bytes) -> bytes | None:
    """The payload, or None when this is not the right key."""
    try:
        return bytes(nacl.secret.SecretBox(wrapping_key).decrypt(blob))
    except nacl.exceptions.CryptoError:
        return None


# Machine key files: 64 hexadecimal characters and a newline, mode 0600.


def read_key_file(path: Path) -> bytes:
    try:
        check_private_file(path)
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError as err:
        raise KeyFileError(f"key file '{path}' does not exist") from err
    except UnicodeDecodeError as err:
        raise KeyFileError(f"key file '{path}' is not 64 hexadecimal characters") from err
    except PermissionError as err:
        raise KeyFileError(f"cannot read key file '{path}': permission denied") from err
    if len(text) != 2 * KEY_BYTES:
        raise KeyFileError(f"key file '{path}' must hold 64 hexadecimal characters, it holds {len(text)} characters")
    try:
        return bytes.fromhex(text)
    except ValueError as err:
        raise KeyFileError(f"key file '{path}' is not 64 hexadecimal characters") from err


def write_key_file(path: Path, key: bytes) -> None:
    atomic_write(path, (key.hex() + "\n").encode("ascii"), mode=0o600)


def create_or_read_key_file(path: Path) -> tuple[bytes, bool]:
    """The machine key at `path`, creating a new random one when none is there."""
    if path.exists():
        return read_key_file(path), False
    key = random_key()
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    write_key_file(path, key)
    return key, True


# Recovery keys: 32 random bytes and a 3-byte checksum as 56 base32 characters in
# groups of four, so a person can copy them to paper and typos are caught.

_CHECK = 3


def format_recovery_key(key: bytes) -> str:
    check = hashlib.blake2b(key, digest_size=_CHECK).digest()
    text = base64.b32encode(key + check).decode("ascii")
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def parse_recovery_key(text: str) -> bytes:
    cleaned = "".join(ch for ch in text.upper() if ch.isalnum())
    cleaned = cleaned.translate(str.maketrans("018", "OIB"))
    try:
        raw = base64.b32decode(cleaned)
    except ValueError as err:
        raise RecoveryKeyError("that is not a recovery key: it should be 14 groups of 4 letters and digits") from err
    if len(raw) != KEY_BYTES + _CHECK:
        raise RecoveryKeyError("that is not a recovery key: it should be 14 groups of 4 letters and digits")
    key, check = raw[:KEY_BYTES], raw[KEY_BYTES:]
    if hashlib.blake2b(key, digest_size=_CHECK).digest() != check:
        raise RecoveryKeyError("the recovery key has a typo: its checksum does not match")
    return key


def new_salt() -> bytes:
    return os.urandom(nacl.pwhash.argon2id.SALTBYTES)
