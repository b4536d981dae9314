"""Original files kept in the vault: stored once, encrypted, given back intact, erased with their source."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from daemon.paths import Paths
from daemon.vault import Vault
from daemon.vault.files import CHUNK_BYTES, FileStore, FileStoreError

from .conftest import Cli

MARKER = b"FILESTORE-MARKER-7f3a9c"


def _original(path: Path, size: int = 2 * CHUNK_BYTES + 12345) -> Path:
    """Several chunks of incompressible bytes with a findable marker in each chunk."""
    data = bytearray(os.urandom(size))
    for at in range(0, size - len(MARKER), CHUNK_BYTES):
        data[at : at + len(MARKER)] = MARKER
    path.write_bytes(bytes(data))
    return path


def _chunk_rows(vault: Vault) -> int:
    return int(vault.conn.execute("SELECT count(*) FROM file_chunks").fetchone()[0])


def test_a_file_comes_back_byte_for_byte_with_its_details(vault: Vault, tmp_path: Path) -> None:
    original = _original(tmp_path / "export.zip")
    store = FileStore(vault)
    file_id, new = store.add(original, source="health", importer="apple-health", run_id=7)
    assert new
    [listed] = store.list()
    assert (listed.id, listed.name, listed.size, listed.source, listed.importer, listed.run_id) == (
        file_id,
        "export.zip",
        original.stat().st_size,
        "health",
        "apple-health",
        7,
    )
    out = tmp_path / "back" / "copy.zip"
    out.parent.mkdir()
    store.get(file_id, out)
    assert out.read_bytes() == original.read_bytes()
    assert out.stat().st_mode & 0o077 == 0
    store.get(file_id, out.parent)  # a folder: the file keeps its name
    assert (out.parent / "export.zip").read_bytes() == original.read_bytes()


def test_originals_are_encrypted_on_disk(vault: Vault, paths: Paths, tmp_path: Path) -> None:
    FileStore(vault).add(_original(tmp_path / "statement.ofx"), source="bank")
    vault.checkpoint()
    on_disk = b"".join(p.read_bytes() for p in paths.vault_dir.iterdir() if p.is_file())
    assert len(on_disk) > 2 * CHUNK_BYTES  # the content is in there...
    assert MARKER not in on_disk  # ...but never in the clear


def test_the_same_content_is_stored_once(vault: Vault, tmp_path: Path) -> None:
    store = FileStore(vault)
    first = _original(tmp_path / "a.ofx")
    again = tmp_path / "renamed.ofx"
    again.write_bytes(first.read_bytes())
    file_id, _ = store.add(first, source="bank")
    chunks = _chunk_rows(vault)
    assert store.add(again, source="bank") == (file_id, False)
    assert len(store.list()) == 1 and _chunk_rows(vault) == chunks
    other_id, new = store.add(again, source="joint-account")  # another source lists it, no second copy
    assert new and other_id != file_id
    assert [f.source for f in store.list()] == ["bank", "joint-account"] and _chunk_rows(vault) == chunks


def test_deleting_a_source_removes_its_files_but_not_shared_content(vault: Vault, tmp_path: Path) -> None:
    store = FileStore(vault)
    shared = _original(tmp_path / "shared.ofx", 1000)
    own = _original(tmp_path / "own.ofx", CHUNK_BYTES + 1)
    store.add(shared, source="bank")
    kept_id, _ = store.add(shared, source="joint-account")
    store.add(own, source="bank")
    assert store.delete_source("bank") == 2
    assert [f.source for f in store.list()] == ["joint-account"]
    assert _chunk_rows(vault) == 1  # the shared content's one chunk; the other file's chunks are gone
    store.get(kept_id, tmp_path / "kept.ofx")
    assert (tmp_path / "kept.ofx").read_bytes() == shared.read_bytes()
    assert store.delete_source("joint-account") == 1
    assert store.list() == [] and _chunk_rows(vault) == 0


def test_an_interrupted_store_leaves_nothing_half_written(vault: Vault, tmp_path: Path) -> None:
    original = _original(tmp_path / "big.xml", 9 * CHUNK_BYTES)
    store = FileStore(vault)

    def interrupt(stored: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.add(original, source="health", progress=interrupt)
    assert store.list() == [] and _chunk_rows(vault) == 0
    file_id, new = store.add(original, source="health")
    assert new and _chunk_rows(vault) == 9
    store.get(file_id, tmp_path / "out.xml")
    assert (tmp_path / "out.xml").read_bytes() == original.read_bytes()


def test_a_crash_mid_store_is_cleaned_up_at_the_next_start(vault: Vault, tmp_path: Path) -> None:
    with vault.writer.transaction() as conn:  # what a killed process leaves behind
        conn.execute("INSERT INTO file_contents (sha256, size) VALUES ('ab', 3)")
        conn.execute("INSERT INTO file_chunks (content_id, n, data) VALUES (last_insert_rowid(), 0, x'010203')")
    assert FileStore(vault).discard_partial() == 1
    assert _chunk_rows(vault) == 0


def test_getting_an_unknown_id_or_over_an_existing_file_is_refused(vault: Vault, tmp_path: Path) -> None:
    store = FileStore(vault)
    file_id, _ = store.add(_original(tmp_path / "a.csv", 10), source="bank")
    with pytest.raises(FileStoreError, match="no stored file with id 99"):
        store.get(99, tmp_path / "x")
    existing = tmp_path / "out" / "mine.csv"
    existing.parent.mkdir()
    existing.write_text("keep me")
    with pytest.raises(FileStoreError, match="already exists"):
        store.get(file_id, existing)
    assert existing.read_text() == "keep me"
    assert [p.name for p in existing.parent.iterdir()] == ["mine.csv"]


def test_cli_lists_and_gives_back_files(vault: Vault, run: Cli, passphrase_file: Path, tmp_path: Path) -> None:
    original = _original(tmp_path / "statement.qfx", 5000)
    FileStore(vault).add(original, source="my-bank", importer="ofx", run_id=3)
    unlock = ("--passphrase-file", str(passphrase_file))
    [listed] = json.loads(run(*unlock, "files", "list", "--json").output)
    assert (listed["name"], listed["size"], listed["source"], listed["importer"], listed["run"]) == (
        "statement.qfx",
        5000,
        "my-bank",
        "ofx",
        3,
    )
    table = run(*unlock, "files", "list").output
    assert "statement.qfx" in table and "my-bank" in table and "5.0 KB" in table
    out = tmp_path / "restored"
    out.mkdir()
    said = run(*unlock, "files", "get", str(listed["id"]), str(out)).output
    assert "Wrote statement.qfx" in said
    assert (out / "statement.qfx").read_bytes() == original.read_bytes()
    again = run(*unlock, "files", "get", str(listed["id"]), str(out / "statement.qfx"), ok=False)
    assert again.exit_code == 1 and "already exists" in again.output
    unknown = run(*unlock, "files", "get", "42", str(tmp_path / "nope"), ok=False)
    assert unknown.exit_code == 1 and "no stored file with id 42" in unknown.output
