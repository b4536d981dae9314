"""A damaged page of a real vault file: found, refused for writing, reported, and rescued around."""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from daemon.paths import Paths, home_paths
from daemon.plugins import Registry
from daemon.rights.backup import backup
from daemon.rights.export import export
from daemon.services import local_services
from daemon.session import Session
from daemon.vault import RecordIn, Vault
from daemon.vault.damage import NAME as NOTE
from daemon.vault.db import DatabaseError
from daemon.vault.keys import read_key_file
from daemon.vault.keyslots import KeySlots, MasterKeys

from .conftest import Cli, Daemon
from .pages import damage_page
from .test_api import serve

N = 20_000  # about 1,000 pages: a record page in the middle of the table is far from its edges


def fill(vault: Vault, n: int = N) -> None:
    for lo in range(0, n, 5000):
        vault.writer.upsert(
            [
                RecordIn("bank", "bank.transaction", f"k{i:06d}", i * 1000, {"description": f"shop {i:06d}"})
                for i in range(lo, min(n, lo + 5000))
            ]
        )


def damage_records(vault: Vault) -> int:
    """Close the vault (its pages all in the main file), then damage a page of records mid-table."""
    key = vault._master.db_key
    vault.close()
    return damage_page(vault.paths.vault_file, key, b"shop 010500")


def master_of(paths: Paths, key_file: Path) -> MasterKeys:
    return KeySlots.load(paths.keyslots_file).unlock_machine_key(read_key_file(key_file), "test")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


ALL_KEYS = {f"k{i:06d}" for i in range(N)}


def test_a_damaged_record_page_makes_reads_fail_as_the_issue_says(vault: Vault, paths: Paths) -> None:
    """The premise: the page's HMAC fails, a full read of the records fails, and only that page is named."""
    fill(vault)
    master = vault._master
    page = damage_records(vault)
    v = Vault.open(paths, master)
    try:
        with pytest.raises(DatabaseError, match="malformed"):
            v.conn.execute("SELECT count(*) FROM records NOT INDEXED WHERE data IS NOT NULL").fetchone()
        problems = v.check(full=True)
        assert problems == [f"HMAC verification failed for page {page}"]
    finally:
        v.close()


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "sqlite"])
def test_export_skips_and_lists_the_unreadable_records(vault: Vault, paths: Paths, tmp_path: Path, fmt: str) -> None:
    fill(vault)
    master = vault._master
    damage_records(vault)
    v = Vault.open(paths, master)
    out = tmp_path / ("out.db" if fmt == "sqlite" else "out")
    try:
        result = export(v, out, fmt)
    finally:
        v.close()
    exported, manifest = _read_export(out, fmt)
    lost = {r["key"] for r in manifest["unreadable"]["lost_records"]}
    assert 0 < len(lost) < 100 and manifest["unreadable"]["all_lost_records_named"]
    assert "k010500" in lost
    assert exported | lost == ALL_KEYS and not exported & lost  # every other record, none twice
    assert result.records == len(exported) == N - len(lost)
    assert result.rescued == {
        "complete": False,
        "records_copied": N - len(lost),
        "records_unreadable": len(lost),
        "all_lost_records_named": True,
        "unreadable_tables": ["records"],
    }
    assert manifest["datasets"]["bank.transaction"]["records"] == len(exported)
    assert not [p for p in paths.state_dir.iterdir() if p.name.startswith((".rescue-", ".export-"))]
    assert (paths.vault_dir / NOTE).exists()  # status, doctor and /health say so from now on


def _read_export(out: Path, fmt: str) -> tuple[set[str], dict[str, Any]]:
    if fmt == "jsonl":
        lines = (out / "bank.transaction.jsonl").read_text().splitlines()
        return {json.loads(line)["key"] for line in lines}, json.loads((out / "manifest.json").read_text())
    if fmt == "csv":
        with (out / "bank.transaction.csv").open(newline="") as f:
            keys = {row["key"] for row in csv.DictReader(f)}
        return keys, json.loads((out / "manifest.json").read_text())
    db = sqlite3.connect(out)
    keys = {k for (k,) in db.execute("SELECT key FROM bank_transaction")}
    manifest = {n: json.loads(v) for n, v in db.execute("SELECT name, value FROM _selfdata_manifest")}
    db.close()
    return keys, manifest


def test_an_encrypted_export_of_a_damaged_vault_leaves_no_plaintext_behind(
    vault: Vault, paths: Paths, tmp_path: Path
) -> None:
    from daemon.rights.sealed import unseal
    from daemon.vault import INSECURE_TEST_KDF

    fill(vault)
    master = vault._master
    damage_records(vault)
    v = Vault.open(paths, master)
    try:
        result = export(v, tmp_path / "out.sdx", "jsonl", passphrase="export secret", kdf=INSECURE_TEST_KDF)
    finally:
        v.close()
    assert result.encrypted and result.rescued is not None and result.rescued["records_unreadable"] > 0
    assert not [p for p in paths.state_dir.iterdir() if p.name.startswith((".rescue-", ".export-"))]
    unseal(tmp_path / "out.sdx", tmp_path / "opened", "export secret")
    manifest = json.loads((tmp_path / "opened" / "manifest.json").read_text())
    assert len(manifest["unreadable"]["lost_records"]) == result.rescued["records_unreadable"]


def test_only_an_index_page_damaged_still_exports_every_record(vault: Vault, paths: Paths, tmp_path: Path) -> None:
    """The export reads through the (dataset, ts, seq) index; the rescue reads the table itself."""
    fill(vault)
    master = vault._master
    key = vault._master.db_key
    vault.close()
    damage_page(paths.vault_file, key, b"bank.transaction", lacking=(b"shop", b"k0"))  # records_dataset_ts
    v = Vault.open(paths, master)
    try:
        with pytest.raises(DatabaseError, match="malformed"):
            list(v.reader().execute("SELECT seq FROM records INDEXED BY records_dataset_ts"))
        result = export(v, tmp_path / "out", "jsonl")
    finally:
        v.close()
    assert result.records == N and result.rescued is not None and result.rescued["complete"]


def test_backup_of_a_damaged_vault_saves_the_rest_and_opens_whole(vault: Vault, paths: Paths, tmp_path: Path) -> None:
    fill(vault)
    master = vault._master
    damage_records(vault)
    v = Vault.open(paths, master)
    try:
        result = backup(v, tmp_path / "b")
    finally:
        v.close()
    listed = json.loads((tmp_path / "b" / "unreadable.json").read_text())
    lost = {r["key"] for r in listed["lost_records"]}
    assert result.rescued is not None and result.rescued["records_unreadable"] == len(lost) > 0
    assert result.records == N - len(lost)
    copy = Vault.open(home_paths(tmp_path / "b"), master, check=True)  # the copy is whole: the daemon starts on it
    try:
        assert copy.check(full=True) == []
        keys = {k for (k,) in copy.conn.execute("SELECT key FROM records")}
        assert keys == ALL_KEYS - lost
        assert [(c.dataset, c.count) for c in copy.counts()] == [("bank.transaction", N - len(lost))]
        last_seq = int(copy.conn.execute("SELECT value FROM meta WHERE name='last_seq'").fetchone()[0])
        assert last_seq >= N  # seq never goes back
    finally:
        copy.close()


def _damaged_cli_vault(initialised: Path, paths: Paths) -> int:
    with local_services(Session.from_env()) as svc:
        fill(svc.vault)
    return damage_page(paths.vault_file, master_of(paths, initialised).db_key, b"shop 010500")


def test_doctor_full_finds_the_damage_and_then_status_and_doctor_say_so(
    initialised: Path, run: Cli, paths: Paths
) -> None:
    page = _damaged_cli_vault(initialised, paths)
    assert run("doctor", "--json").exit_code == 0  # the quick doctor reads no pages: nothing known yet
    result = run("doctor", "--full", "--json", ok=False)
    assert result.exit_code == 1
    check = next(c for c in json.loads(result.stdout)["checks"] if c["check"] == "vault pages")
    assert check["status"] == "fail" and f"page {page}" in check["detail"] and "selfdata export" in check["action"]
    damage = json.loads(run("status", "--json").stdout)["vault"]["damage"]
    assert damage["by"] == "full" and damage["pages"] == [page]
    assert "DAMAGED" in run("status").stdout
    quick = run("doctor", "--json", ok=False)
    assert quick.exit_code == 1 and f"page {page}" in quick.stdout


def test_the_daemon_refuses_to_start_on_a_damaged_vault(
    daemon: Daemon, env: dict[str, str], paths: Paths, tmp_path: Path
) -> None:
    page = _damaged_cli_vault(tmp_path / "machine.key", paths)
    before = digest(paths.vault_file)
    daemon.start(wait=False)
    assert daemon.proc is not None
    assert daemon.proc.wait(30) == 1
    err = daemon.proc.stderr.read() if daemon.proc.stderr else ""
    assert f"is damaged: 1 page(s) fail their HMAC check (damaged on disk): page {page}" in err
    assert "The daemon does not start on it" in err and "selfdata export --format jsonl OUT" in err
    assert "Traceback" not in err and "ERROR CORE" not in err  # one clear message, no SQLCipher log lines
    assert digest(paths.vault_file) == before  # nothing written to it
    assert not (paths.state_dir / "admin.sock").exists()
    status = daemon.json("status")
    assert status["vault"]["damage"]["by"] == "quick" and status["vault"]["damage"]["pages"] == [page]
    rescued = daemon.cli("export", "--format", "jsonl", str(tmp_path / "rescued"))
    assert "could not be read and were skipped" in rescued.stderr


async def test_api_reads_of_a_damaged_page_answer_503_and_health_says_damaged(
    vault: Vault, paths: Paths, registry: Registry
) -> None:
    fill(vault)
    master = vault._master
    damage_records(vault)
    v = Vault.open(paths, master)  # a file damaged under a running daemon: nothing known yet
    try:
        async with serve(v, registry) as api:
            async with api.client.get("/api/v1/health") as r:
                assert r.status == 200 and await r.json() == {"ok": True, "version": _v(), "status": "ok"}
            _, token = api.grants.create_token("bank app", "reads my bank", ["read:bank.*"])
            statuses, cursor = [], None
            for _ in range(30):
                params = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
                status, body = await api.get("/api/v1/datasets/bank.transaction/records", token, params=params)
                statuses.append(status)
                if status != 200:
                    assert body["error"]["code"] == "vault_damaged" and "selfdata status" in body["error"]["message"]
                    break
                cursor = body["next"]
            assert statuses[-1] == 503 and 500 not in statuses
            async with api.client.get("/api/v1/health") as r:
                assert r.status == 503 and await r.json() == {"ok": False, "status": "damaged", "version": _v()}
            # What is not on the damaged page still reads: the API's connection was opened again.
            status, body = await api.get("/api/v1/datasets/bank.transaction/records", token, params={"limit": "5"})
            assert status == 200 and [r["key"] for r in body["records"]][0] == "k000000"
        assert (paths.vault_dir / NOTE).exists()
    finally:
        v.close()


def _v() -> str:
    from daemon import __version__

    return __version__
