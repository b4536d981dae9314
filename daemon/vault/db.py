"""SQLCipher connections: every page of data, indexes and metadata is ciphertext on disk."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from sqlcipher3 import dbapi2 as sqlcipher

from .errors import VaultCorrupt

if TYPE_CHECKING:
    from sqlite3 import Connection as Connection  # sqlcipher3 mirrors the sqlite3 API and ships no types
else:
    Connection = sqlcipher.Connection
DatabaseError = sqlcipher.DatabaseError
IntegrityError = sqlcipher.IntegrityError
OperationalError = sqlcipher.OperationalError

BUSY_TIMEOUT_S = 30.0


def connect(path: Path, db_key: bytes, *, readonly: bool = False, cache_kib: int = 16000) -> Connection:
    """Open the vault database with its raw 256-bit key (no passphrase KDF: slots did that)."""
    if readonly:
        uri = f"file:{path}?mode=ro"
        conn = sqlcipher.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None)
    else:
        conn = sqlcipher.connect(str(path), timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None)
    try:
        if db_key:  # an empty key is the test suite's unencrypted build, to inspect pages on disk
            conn.execute(f"PRAGMA key = \"x'{db_key.hex()}'\"")
        # A damaged page is reported once, by selfdata, not as lines on stderr for every page read after it.
        conn.execute("PRAGMA cipher_log_level = NONE")
        # The first read checks the key and page 1's HMAC.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute(f"PRAGMA cache_size = -{int(cache_kib)}")  # 16 MB by default: fits a Pi
    except DatabaseError as err:
        conn.close()
        raise corrupt(path, err) from err
    return cast(Connection, conn)


def corrupt(path: Path, err: Exception) -> VaultCorrupt:
    return VaultCorrupt(
        f"the vault database '{path}' is damaged or truncated ({err}); nothing was read from it. "
        "selfdata export and selfdata backup save what is still readable; then restore the vault folder from "
        "a backup (docs/security.md)."
    )
