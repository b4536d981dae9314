"""Bad keys, damaged files, kill -9 and plaintext on disk."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from daemon.paths import Paths
from daemon.vault import RecordIn, Vault, VaultCorrupt
from daemon.vault import records as rec
from daemon.vault.keyslots import KeySlots

from .conftest import PASSPHRASE, Cli

MARKER = "PLAINTEXT-MARKER-7f3a9c"


def tree_digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def fill(vault: Vault, n: int, marker: str = "") -> None:
    for lo in range(0, n, 1000):
        vault.writer.upsert(
            [
                RecordIn(
                    "bank",
                    "bank.transaction",
                    f"k{i:06d}",
                    i * 1000,
                    {"description": f"{marker} shop {i}", "amount": "1.00"},
                )
                for i in range(lo, min(n, lo + 1000))
            ]
        )


def test_wrong_passphrase_exits_nonzero_and_changes_nothing(
    initialised: Path, run: Cli, paths: Paths, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the passphrase\n")
    before = tree_digest(paths.vault_dir)
    os.environ.pop("SELFDATA_KEY_FILE", None)
    paths.config_file.write_text("")  # no key file to fall back on
    result = run("--passphrase-file", str(wrong), "status", ok=False)
    assert result.exit_code == 1
    assert "could not unlock the vault" in result.output
    assert tree_digest(paths.vault_dir) == before


def test_wrong_key_file_says_which_key_failed(
    initialised: Path, run: Cli, paths: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other.key"
    other.write_text(os.urandom(32).hex() + "\n")
    other.chmod(0o600)
    paths.config_file.write_text("")
    monkeypatch.setenv("SELFDATA_KEY_FILE", str(other))
    result = run("status", ok=False)
    assert result.exit_code == 1
    assert "SELFDATA_KEY_FILE" in result.output and "opens none of its key slots" in result.output


def test_group_readable_key_file_is_refused_with_the_fix(initialised: Path, run: Cli) -> None:
    initialised.chmod(0o640)
    result = run("status", ok=False)
    assert result.exit_code == 1
    assert "too open" in result.output and f"chmod 600 '{initialised}'" in result.output


def test_truncated_vault_is_reported_never_read(vault: Vault, paths: Paths, machine_key: bytes) -> None:
    fill(vault, 3000)
    vault.close()
    size = paths.vault_file.stat().st_size
    with paths.vault_file.open("r+b") as f:
        f.truncate(size // 2)
    master = KeySlots.load(paths.keyslots_file).unlock_machine_key(machine_key, "t")
    with pytest.raises(VaultCorrupt, match="damaged or truncated"):
        v = Vault.open(paths, master)
        list(rec.iter_records(v.conn, "bank.transaction"))


@pytest.mark.parametrize("where", [0.25, 0.5, 0.9])
def test_one_flipped_byte_is_detected_not_returned(
    vault: Vault, paths: Paths, machine_key: bytes, where: float
) -> None:
    fill(vault, 3000)
    vault.close()
    data = bytearray(paths.vault_file.read_bytes())
    data[int(len(data) * where)] ^= 0x01
    paths.vault_file.write_bytes(bytes(data))
    master = KeySlots.load(paths.keyslots_file).unlock_machine_key(machine_key, "t")
    with pytest.raises(VaultCorrupt):
        v = Vault.open(paths, master)
        # Read every page: the table scan, the time index and the identity index.
        for r in rec.iter_records(v.conn, "bank.transaction"):
            assert r.data["amount"] == "1.00"
        v.conn.execute("SELECT count(*) FROM records INDEXED BY records_identity").fetchone()
        if v.integrity_errors():
            raise VaultCorrupt("integrity check failed")


def test_no_plaintext_on_disk_while_open_and_after_close(vault: Vault, paths: Paths, tmp_path: Path) -> None:
    fill(vault, 2000, marker=MARKER)
    vault.secrets.put("bank", "password", MARKER)
    files = [paths.vault_file, Path(f"{paths.vault_file}-wal"), Path(f"{paths.vault_file}-shm")]
    assert files[1].exists() and files[1].stat().st_size > 0  # the WAL holds pages right now
    for f in files:
        assert MARKER.encode() not in f.read_bytes(), f
    vault.close()
    for f in files:
        if f.exists():
            assert MARKER.encode() not in f.read_bytes(), f
    # The check can fail: the same rows in a plain SQLite file show the marker.
    plain = sqlite3.connect(tmp_path / "plain.db")
    plain.execute("CREATE TABLE t (d TEXT)")
    plain.execute("INSERT INTO t VALUES (?)", (f"{MARKER} shop",))
    plain.commit()
    plain.close()
    assert MARKER.encode() in (tmp_path / "plain.db").read_bytes()


KILL_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from daemon.paths import home_paths
    from daemon.vault import RecordIn, Vault
    from daemon.vault.keyslots import KeySlots
    paths = home_paths(Path(sys.argv[1]))
    master = KeySlots.load(paths.keyslots_file).unlock_machine_key(bytes.fromhex(sys.argv[2]), "t")
    vault = Vault.open(paths, master)
    vault.conn.execute("PRAGMA cache_size = 50")  # spill dirty pages to the WAL mid-transaction
    batch_size, batches, mode = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    def inside(conn):
        if mode == "pause":
            print("inside", flush=True)
            time.sleep(60)
    for b in range(batches):
        recs = [RecordIn("bank", "bank.transaction", f"b{b}-{i}", i, {"description": "x" * 200, "n": i})
                for i in range(batch_size)]
        vault.writer.upsert(recs, within=inside)
        print(f"committed {b}", flush=True)
    """
)


def _spawn(paths: Paths, key: bytes, batch: int, batches: int, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", KILL_CHILD, str(paths.state_dir), key.hex(), str(batch), str(batches), mode],
        stdout=subprocess.PIPE,
        text=True,
    )


def _count(paths: Paths, key: bytes) -> int:
    master = KeySlots.load(paths.keyslots_file).unlock_machine_key(key, "t")
    v = Vault.open(paths, master)
    try:
        assert v.integrity_errors() == []
        return int(v.conn.execute("SELECT count(*) FROM records").fetchone()[0])
    finally:
        v.close()


def test_kill_9_inside_a_large_batch_leaves_none_of_it(vault: Vault, paths: Paths, machine_key: bytes) -> None:
    fill(vault, 500)
    vault.close()
    child = _spawn(paths, machine_key, 20_000, 1, "pause")
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "inside"
    assert Path(f"{paths.vault_file}-wal").stat().st_size > 1_000_000  # the batch's pages reached the WAL
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert _count(paths, machine_key) == 500


@pytest.mark.parametrize("commits_before_kill", [0, 1, 3])
def test_kill_9_at_random_points_keeps_whole_batches(
    vault: Vault, paths: Paths, machine_key: bytes, commits_before_kill: int
) -> None:
    vault.close()
    batch = 5000
    child = _spawn(paths, machine_key, batch, 50, "run")
    assert child.stdout is not None
    for _ in range(commits_before_kill):
        child.stdout.readline()
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    stored = _count(paths, machine_key)
    assert stored % batch == 0 and stored >= commits_before_kill * batch


def test_passphrase_never_reaches_the_vault_files(vault: Vault, paths: Paths) -> None:
    vault.close()
    for f in paths.vault_dir.iterdir():
        assert PASSPHRASE.encode() not in f.read_bytes()


def test_an_empty_vault_file_is_refused_and_left_as_it_is(initialised: Path, run: Cli, paths: Paths) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{paths.vault_file}{suffix}").write_bytes(b"")
    result = run("status", ok=False)
    assert result.exit_code == 1
    assert f"the vault database '{paths.vault_file}' is empty (0 bytes)" in result.output
    assert "Restore the vault folder from a backup" in result.output
    assert paths.vault_file.stat().st_size == 0  # no fresh schema written over it
