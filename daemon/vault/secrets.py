"""Connector credentials, encrypted again under the separate secrets key.

No query, route or export reads this table's plaintext: only the runner, in memory,
for the source that owns the secret.
"""

from __future__ import annotations

import nacl.exceptions
import nacl.secret

from ..times import now_ms
from .errors import VaultCorrupt
from .records import RecordWriter


class SecretStore:
    def __init__(self, writer: RecordWriter, secrets_key: bytes) -> None:
        self._writer = writer
        self._box = nacl.secret.SecretBox(secrets_key)

    def __repr__(self) -> str:
        return "SecretStore()"

    def put(self, source: str, name: str, value: str) -> None:
        box = bytes(self._box.encrypt(value.encode("utf-8")))
        with self._writer.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO secrets (source, name, box, updated_at) VALUES (?,?,?,?)",
                (source, name, box, now_ms()),
            )

    def get(self, source: str, name: str) -> str | None:
        row = self._writer.conn.execute("SELECT box FROM secrets WHERE source=? AND name=?", (source, name)).fetchone()
        if row is None:
            return None
        try:
            return self._box.decrypt(row[0]).decode("utf-8")
        except nacl.exceptions.CryptoError as err:
            raise VaultCorrupt(f"the stored secret {name!r} of source {source!r} cannot be decrypted") from err

    def names(self, source: str) -> list[str]:
        rows = self._writer.conn.execute("SELECT name FROM secrets WHERE source=? ORDER BY name", (source,))
        return [r[0] for r in rows]

    def delete(self, source: str, name: str) -> bool:
        """Forget one secret (an answer used once); False when there was none."""
        with self._writer.transaction() as conn:
            cur = conn.execute("DELETE FROM secrets WHERE source=? AND name=?", (source, name))
            return bool(cur.rowcount)

    def delete_source(self, source: str) -> int:
        with self._writer.transaction() as conn:
            return int(conn.execute("DELETE FROM secrets WHERE source=?", (source,)).rowcount)
