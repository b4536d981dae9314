"""The vault's pages as SQLCipher writes them, decrypted: to check what is on disk, free pages included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# SQLCipher 4's defaults, which the vault keeps: 4 KiB pages ending in a 16-byte IV and a
# 64-byte HMAC; page 1 starts with the 16-byte salt. A raw key is the AES-256 key itself.
PAGE = 4096
RESERVE = 80
SALT = 16
WAL_HEADER = 32
FRAME_HEADER = 24


def decrypt_page(page: bytes, key: bytes, first: bool) -> bytes:
    start = SALT if first else 0
    iv = page[PAGE - RESERVE : PAGE - RESERVE + 16]
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return decryptor.update(page[start : PAGE - RESERVE]) + decryptor.finalize()


def vault_pages(db: Path, key: bytes) -> Iterator[bytes]:
    """Every page of the database file, then every page image in its WAL, decrypted."""
    data = db.read_bytes()
    for n in range(len(data) // PAGE):
        yield decrypt_page(data[n * PAGE : (n + 1) * PAGE], key, n == 0)
    wal = Path(f"{db}-wal")
    frames = wal.read_bytes()[WAL_HEADER:] if wal.exists() else b""
    for offset in range(0, len(frames) - FRAME_HEADER - PAGE + 1, FRAME_HEADER + PAGE):
        number = int.from_bytes(frames[offset : offset + 4], "big")
        yield decrypt_page(frames[offset + FRAME_HEADER : offset + FRAME_HEADER + PAGE], key, number == 1)


def damage_page(db: Path, key: bytes, holding: bytes, lacking: tuple[bytes, ...] = ()) -> int:
    """Flip 16 bytes inside the middle one of the pages whose plaintext holds `holding` (and
    none of `lacking`), as a failing disk would; its number (SQLite counts pages from 1).
    SQLCipher's page HMAC then makes that page unreadable. Reads a page at a time."""
    found = []
    with db.open("rb") as f:
        f.seek(PAGE)  # page 1 holds the schema and the salt
        n = 1
        while len(page := f.read(PAGE)) == PAGE:
            plain = decrypt_page(page, key, False)
            if holding in plain and not any(other in plain for other in lacking):
                found.append(n)
            n += 1
    assert found, f"no page holds {holding!r}"
    n = found[len(found) // 2]
    with db.open("r+b") as f:
        f.seek(n * PAGE + 1000)
        flipped = bytes(b ^ 0xFF for b in f.read(16))
        f.seek(n * PAGE + 1000)
        f.write(flipped)
    return n + 1
