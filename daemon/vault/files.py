"""Original files kept inside the encrypted vault, so an import can be checked or re-read later.

A content is stored once (by SHA-256) in 1 MiB rows, written a few rows per transaction
so a 1 GB export never sits in memory or in one huge transaction; it counts only once
its last row is in (`complete`). A file entry lists that content once per source it
went to, with its name, importer and run.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SelfdataError
from ..times import iso, now_ms
from .db import Connection
from .store import Vault

CHUNK_BYTES = 1 << 20
CHUNKS_PER_TRANSACTION = 4

Progress = Callable[[int], None]  # bytes stored so far


class FileStoreError(SelfdataError, ValueError):
    """A stored file cannot be given back (unknown id, damaged content, target exists)."""


class FileChanged(FileStoreError):
    """The file changed while it was being stored; nothing of it was kept."""


@dataclass(frozen=True)
class StoredFile:
    id: int
    name: str
    size: int
    sha256: str
    importer: str | None
    source: str
    added_at: int
    run_id: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "size": self.size,
            "sha256": self.sha256,
            "importer": self.importer,
            "source": self.source,
            "added_at": iso(self.added_at),
            "run": self.run_id,
        }


_SELECT = (
    "SELECT f.id, f.name, c.size, c.sha256, f.importer, f.source, f.added_at, f.run_id"
    " FROM files f JOIN file_contents c ON c.id = f.content_id"
)


class FileStore:
    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def add(
        self,
        path: Path,
        *,
        source: str,
        importer: str | None = None,
        name: str | None = None,
        run_id: int | None = None,
        progress: Progress | None = None,
    ) -> tuple[int, bool]:
        """Keep `path`'s content for `source`; `new` is False when that source already had it."""
        digest, size = file_sha256(path)
        with self.vault.writer.transaction() as conn:
            content_id = _complete_content(conn, digest)
            if content_id is not None:
                found = conn.execute(
                    "SELECT id FROM files WHERE source=? AND content_id=?", (source, content_id)
                ).fetchone()
                if found is not None:
                    return int(found[0]), False
                return _insert_file(conn, content_id, name or path.name, importer, source, run_id), True
            # A partial copy of this content (left by a crash) is replaced.
            _drop_contents(conn, "sha256=? AND complete=0", (digest,))
            cur = conn.execute("INSERT INTO file_contents (sha256, size) VALUES (?,?)", (digest, size))
            content_id = int(cur.lastrowid or 0)
        try:
            self._write_chunks(path, content_id, digest, progress)
            with self.vault.writer.transaction() as conn:
                conn.execute("UPDATE file_contents SET complete=1 WHERE id=?", (content_id,))
                return _insert_file(conn, content_id, name or path.name, importer, source, run_id), True
        except BaseException:
            with self.vault.writer.transaction() as conn:
                _drop_contents(conn, "id=?", (content_id,))
            raise

    def _write_chunks(self, path: Path, content_id: int, digest: str, progress: Progress | None) -> None:
        h = hashlib.sha256()
        n = stored = 0
        with path.open("rb") as f:
            while True:
                batch = []
                for _ in range(CHUNKS_PER_TRANSACTION):
                    data = f.read(CHUNK_BYTES)
                    if not data:
                        break
                    h.update(data)
                    batch.append((content_id, n, data))
                    n += 1
                    stored += len(data)
                if not batch:
                    break
                with self.vault.writer.transaction() as conn:
                    conn.executemany("INSERT INTO file_chunks (content_id, n, data) VALUES (?,?,?)", batch)
                if progress is not None:
                    progress(stored)
        if h.hexdigest() != digest:
            raise FileChanged(f"{path.name} changed while it was being stored")

    def list(self, source: str | None = None) -> list[StoredFile]:
        where = "" if source is None else " WHERE f.source=?"
        with self.vault.writer.lock:
            cur = self.vault.conn.execute(f"{_SELECT}{where} ORDER BY f.id", () if source is None else (source,))
            rows = cur.fetchall()
        return [StoredFile(*row) for row in rows]

    def find(self, file_id: int) -> StoredFile | None:
        with self.vault.writer.lock:
            row = self.vault.conn.execute(_SELECT + " WHERE f.id=?", (file_id,)).fetchone()
        return StoredFile(*row) if row else None

    def get(self, file_id: int, out: Path) -> StoredFile:
        """Write stored file `file_id` to `out` (a new file, or a new file named after it in a folder)."""
        reader = self.vault.reader()
        try:
            row = reader.execute(_SELECT + " WHERE f.id=?", (file_id,)).fetchone()
            if row is None:
                raise FileStoreError(f"no stored file with id {file_id} (see: selfdata files list)")
            stored = StoredFile(*row)
            target = out / stored.name if out.is_dir() else out
            if target.exists():
                raise FileStoreError(f"{target} already exists; choose another name")
            content_id = reader.execute("SELECT content_id FROM files WHERE id=?", (file_id,)).fetchone()[0]
            chunks = reader.execute("SELECT data FROM file_chunks WHERE content_id=? ORDER BY n", (content_id,))
            _write_new(target, (row[0] for row in chunks), stored)
        finally:
            reader.close()
        return stored

    def delete_source(self, source: str) -> int:
        """Forget `source`'s files; contents no other source lists are deleted (zeroed on disk)."""
        with self.vault.writer.transaction() as conn:
            cur = conn.execute("DELETE FROM files WHERE source=?", (source,))
            _drop_contents(conn, "complete=1 AND id NOT IN (SELECT content_id FROM files)", ())
            return int(cur.rowcount)

    def discard_partial(self) -> int:
        """Contents a crash left half-written; call only when no `add` runs."""
        with self.vault.writer.transaction() as conn:
            return _drop_contents(conn, "complete=0", ())


def file_sha256(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while data := f.read(CHUNK_BYTES):
            h.update(data)
            size += len(data)
    return h.hexdigest(), size


def _complete_content(conn: Connection, digest: str) -> int | None:
    row = conn.execute("SELECT id FROM file_contents WHERE sha256=? AND complete=1", (digest,)).fetchone()
    return int(row[0]) if row else None


def _insert_file(
    conn: Connection, content_id: int, name: str, importer: str | None, source: str, run_id: int | None
) -> int:
    cur = conn.execute(
        "INSERT INTO files (content_id, name, importer, source, added_at, run_id) VALUES (?,?,?,?,?,?)",
        (content_id, name, importer, source, now_ms(), run_id),
    )
    return int(cur.lastrowid or 0)


def _drop_contents(conn: Connection, where: str, params: tuple[Any, ...]) -> int:
    ids = [row[0] for row in conn.execute(f"SELECT id FROM file_contents WHERE {where}", params)]
    for content_id in ids:
        conn.execute("DELETE FROM file_chunks WHERE content_id=?", (content_id,))
        conn.execute("DELETE FROM file_contents WHERE id=?", (content_id,))
    return len(ids)


def _write_new(target: Path, chunks: Any, stored: StoredFile) -> None:
    """Write to a temporary file, check size and hash, then link it in place (never over a file)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{stored.name}.", dir=target.parent)
    try:
        h = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as f:
            for data in chunks:
                h.update(data)
                size += len(data)
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if size != stored.size or h.hexdigest() != stored.sha256:
            raise FileStoreError(f"stored file {stored.id} ({stored.name}) is damaged: its content does not match")
        os.link(tmp, target)
    finally:
        os.unlink(tmp)
