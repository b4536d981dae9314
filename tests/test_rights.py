"""Export everything, erase anything: round trips, manifests, and nothing left on disk."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
import sqlite_utils

from daemon.paths import Paths, home_paths
from daemon.rights.erase import EraseError, erase, purge_tombstones
from daemon.rights.export import ExportError, export
from daemon.rights.sealed import SealedError, unseal
from daemon.sync.jsonl import import_jsonl
from daemon.vault import INSECURE_TEST_KDF, MasterKeys, RecordIn, SlotSetup, Vault, schema
from daemon.vault import records as rec
from daemon.vault.db import connect

from .conftest import Cli, Daemon, readings_jsonl

MARKER = "ERASE-ME-7Q2"
DAY = 86_400_000


def fill(vault: Vault, marker: str = "") -> None:
    vault.writer.upsert(
        [
            RecordIn(
                "bank",
                "bank.transaction",
                f"t{i}",
                1_767_225_600_000 + i * DAY,
                {
                    "account_id": "A",
                    "amount": f"-{i}.50",
                    "currency": "EUR",
                    "status": "booked",
                    "description": f"{marker} shop {i}",
                    "reference": "x",
                },
                {"vendor": {"id": i, "memo": marker}},
            )
            for i in range(300)
        ]
        + [
            RecordIn(
                "watch",
                "health.workout",
                f"w{i}",
                1_767_225_600_000 + i * DAY,
                {
                    "activity": "running",
                    "start": "2026-01-01T07:00:00+01:00",
                    "end": "2026-01-01T08:00:00+01:00",
                    "duration_s": 3600,
                    "distance": {"value": "10.2", "unit": "km"},
                },
            )
            for i in range(20)
        ]
        + [RecordIn("app-budget", "app.budget.goals", "g1", 1_767_225_600_000, {"goal": "bike", "tags": ["a", "b"]})]
    )
    vault.secrets.put("bank", "password", f"{marker}-password")


def snapshot(vault: Vault) -> list[tuple[str, str, str, int, str]]:
    rows = vault.conn.execute("SELECT source, dataset, key, ts, data FROM records WHERE deleted=0 ORDER BY 1, 2, 3")
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_jsonl_round_trip_into_a_fresh_vault(vault: Vault, tmp_path: Path, machine_key: bytes) -> None:
    fill(vault, MARKER)
    result = export(vault, tmp_path / "out", "jsonl")
    assert result.counts == {"app.budget.goals": 1, "bank.transaction": 300, "health.workout": 20}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["datasets"]["bank.transaction"]["records"] == 300
    assert manifest["datasets"]["health.workout"]["schema"]["properties"]["distance"]
    assert manifest["selfdata"] and manifest["credentials"] == "never exported"
    for f in (tmp_path / "out").iterdir():
        assert f"{MARKER}-password" not in f.read_text()  # credentials are never exported
    fresh, _ = Vault.create(
        home_paths(tmp_path / "fresh"), SlotSetup(machine_key=machine_key, recovery=False, kdf=INSECURE_TEST_KDF)
    )
    for f in sorted((tmp_path / "out").glob("*.jsonl")):
        import_jsonl(fresh, f)
    assert snapshot(fresh) == snapshot(vault)
    raw = fresh.conn.execute("SELECT raw FROM records WHERE key='t1'").fetchone()[0]
    assert json.loads(raw) == {"vendor": {"id": 1, "memo": MARKER}}
    fresh.close()


def test_csv_flattens_the_schema(vault: Vault, tmp_path: Path) -> None:
    fill(vault)
    export(vault, tmp_path / "out", "csv")
    with (tmp_path / "out" / "health.workout.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 20 and rows[0]["distance.value"] == "10.2" and rows[0]["distance.unit"] == "km"
    with (tmp_path / "out" / "bank.transaction.csv").open() as f:
        bank = list(csv.DictReader(f))
    assert bank[1]["amount"] == "-1.50" and json.loads(bank[1]["extra"]) == {"reference": "x"}
    with (tmp_path / "out" / "app.budget.goals.csv").open() as f:
        assert json.loads(next(csv.DictReader(f))["data"]) == {"goal": "bike", "tags": ["a", "b"]}


def test_sqlite_export_opens_with_sqlite_utils(vault: Vault, tmp_path: Path) -> None:
    fill(vault)
    export(vault, tmp_path / "x.db", "sqlite", source="bank")
    db = sqlite_utils.Database(tmp_path / "x.db")
    assert db["bank_transaction"].count == 300 and "health_workout" not in db.table_names()
    assert any(i.columns == ["ts"] for i in db["bank_transaction"].indexes)
    manifest = {r["name"]: json.loads(r["value"]) for r in db["_selfdata_manifest"].rows}
    assert manifest["filter"] == {"dataset": None, "source": "bank"}
    first = next(db.query("SELECT * FROM bank_transaction ORDER BY ts_ms LIMIT 1"))
    assert first["amount"] == "-0.50" and first["ts"] == "2026-01-01T00:00:00.000Z"
    # Amounts sort as numbers through their REAL twin; the exact text stays.
    assert db["bank_transaction"].columns_dict["amount_value"] is float
    by_value = [r["amount"] for r in db.query("SELECT amount FROM bank_transaction ORDER BY amount_value")]
    assert by_value == sorted(by_value, key=float)
    assert by_value != sorted(by_value)  # as text they would sort otherwise


def test_encrypted_export_round_trip_and_failures(vault: Vault, tmp_path: Path) -> None:
    fill(vault)
    out = tmp_path / "export.sdx"
    export(vault, out, "jsonl", dataset="health.workout", passphrase="a long passphrase", kdf=INSECURE_TEST_KDF)
    assert b"running" not in out.read_bytes()
    names = unseal(out, tmp_path / "opened", "a long passphrase")
    assert sorted(names) == ["health.workout.jsonl", "manifest.json"]
    assert len((tmp_path / "opened" / "health.workout.jsonl").read_text().splitlines()) == 20
    with pytest.raises(SealedError, match="wrong passphrase"):
        unseal(out, tmp_path / "nope", "not it")
    cut = tmp_path / "cut.sdx"
    cut.write_bytes(out.read_bytes()[:-40])
    with pytest.raises(SealedError):
        unseal(cut, tmp_path / "cut", "a long passphrase")
    assert list(vault.paths.state_dir.glob(".export-*")) == []  # no plaintext left behind


def test_export_refuses_to_overwrite_and_unknown_datasets(vault: Vault, tmp_path: Path) -> None:
    fill(vault)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep")
    with pytest.raises(ExportError, match="already exists"):
        export(vault, tmp_path / "out", "jsonl")
    with pytest.raises(ExportError, match="no records of"):
        export(vault, tmp_path / "o2", "jsonl", dataset="telecom.call")


def plaintext_vault(paths: Paths) -> Vault:
    """The same vault code on an unencrypted database, so the pages on disk can be searched."""
    paths.vault_dir.mkdir(parents=True, exist_ok=True)
    conn = connect(paths.vault_file, b"")
    schema.migrate(conn)
    conn.execute("INSERT INTO meta (name, value) VALUES ('vault_id', 'plain')")
    return Vault(paths, MasterKeys("plain", b"", os.urandom(32)), conn)


def disk_bytes(paths: Paths) -> bytes:
    return b"".join(p.read_bytes() for p in paths.vault_dir.iterdir() if p.is_file())


@pytest.mark.parametrize("scope", ["source", "dataset"])
def test_after_erase_the_data_is_in_no_file_on_disk(tmp_path: Path, scope: str) -> None:
    paths = home_paths(tmp_path / "plain")
    vault = plaintext_vault(paths)
    fill(vault, MARKER)
    vault.writer.upsert(
        [
            RecordIn(
                "watch",
                "health.workout",
                "keep",
                0,
                {"activity": "KEEP-ME-5", "start": "2026-01-01T07:00:00Z", "end": "2026-01-01T08:00:00Z"},
            )
        ]
    )
    assert MARKER.encode() in disk_bytes(paths)  # the check can fail: the marker is on disk now
    if scope == "source":
        result = erase(vault, source="bank")
        assert result.secrets == 1
    else:
        result = erase(vault, dataset="bank.transaction")
        vault.secrets.delete_source("bank")
        erase_check = vault.conn.execute("SELECT count(*) FROM secrets").fetchone()[0]
        assert erase_check == 0
    assert result.records == 300
    assert MARKER.encode() not in disk_bytes(paths)
    assert b"KEEP-ME-5" in disk_bytes(paths)
    vault.close()


def test_erase_reports_deletions_and_records_the_erasure(vault: Vault) -> None:
    fill(vault, MARKER)
    top = rec.changes(vault.conn, 0, limit=10_000)[-1].seq
    result = erase(vault, source="bank")
    assert result.datasets == ("bank.transaction",)
    feed = rec.changes(vault.conn, top, limit=10_000)
    assert len(feed) == 300 and all(r.deleted and r.data is None for r in feed)
    assert vault.secrets.names("bank") == []
    row = vault.conn.execute("SELECT source, dataset, records, secrets FROM erasures").fetchone()
    assert row == ("bank", None, 300, 1)
    with pytest.raises(EraseError):
        erase(vault)
    with pytest.raises(EraseError, match="no source"):
        erase(vault, source="nobody")
    assert purge_tombstones(vault, retention_days=30) == 0
    assert purge_tombstones(vault, retention_days=-1) == 300


def test_cli_export_erase_and_decrypt(initialised: Path, run: Cli, tmp_path: Path) -> None:
    f = tmp_path / "r.jsonl"
    f.write_text(
        "".join(json.dumps({"key": f"k{i}", "ts": "2026-01-01T00:00:00Z", "data": {"n": i}}) + "\n" for i in range(10))
    )
    run("import-jsonl", str(f), "--source", "notes", "--dataset", "app.notes.items")
    assert "Exported 10 records" in run("export", "--format", "csv", str(tmp_path / "c")).output
    pw = tmp_path / "pw"
    pw.write_text("export secret\n")
    out = run(
        "export", "--format", "sqlite", "--encrypt", "--export-passphrase-file", str(pw), str(tmp_path / "e.sdx")
    ).output
    assert "decrypt-export" in out
    assert (
        "Decrypted 1 files"
        in run(
            "decrypt-export", str(tmp_path / "e.sdx"), str(tmp_path / "d"), "--export-passphrase-file", str(pw)
        ).output
    )
    assert sqlite_utils.Database(tmp_path / "d" / "export.sqlite")["app_notes_items"].count == 10
    refused = run("erase", "--source", "notes", input="n\n", ok=False)
    assert refused.exit_code == 1
    assert "Erased 10 records" in run("erase", "--source", "notes", "--yes").output
    assert "notes" in run("erasures").output


def test_erasing_what_is_not_there_says_so(vault: Vault) -> None:
    fill(vault)
    with pytest.raises(EraseError, match="nothing to erase: no records of telecom.call"):
        erase(vault, dataset="telecom.call")
    assert vault.conn.execute("SELECT count(*) FROM erasures").fetchone()[0] == 0


def test_restore_puts_a_backup_back_and_keeps_the_replaced_vault(daemon: Daemon, tmp_path: Path) -> None:
    home = daemon.home
    daemon.cli("import-jsonl", str(readings_jsonl(tmp_path, 3)), "--source", "meter", "--dataset", "energy.reading")
    backup = tmp_path / "backup"
    daemon.cli("backup", str(backup))
    daemon.cli(
        "import-jsonl", str(readings_jsonl(tmp_path, 5, "later")), "--source", "meter", "--dataset", "energy.reading"
    )
    assert daemon.json("status")["datasets"][0]["records"] == 8
    # Not a backup, or while a daemon runs: refused, nothing changed.
    assert "is not a selfdata backup" in daemon.cli("restore", str(tmp_path), "--yes", ok=False).stderr
    daemon.start()
    refused = daemon.cli("restore", str(backup), "--yes", ok=False)
    assert refused.returncode == 1 and "a selfdata daemon is running" in refused.stderr
    daemon.stop()
    out = daemon.cli("restore", str(backup), "--yes").stdout
    assert "Restored 3 records" in out
    assert daemon.json("status")["datasets"][0]["records"] == 3
    [aside] = [p for p in home.iterdir() if p.name.startswith("vault.replaced-")]
    assert (aside / "vault.db").is_file() and (aside / "keyslots.json").is_file()
    assert not any(p.name.startswith(".restore-") for p in home.iterdir())


def test_restore_refuses_a_backup_this_machine_cannot_open(daemon: Daemon, tmp_path: Path) -> None:
    backup = tmp_path / "backup"
    daemon.cli("backup", str(backup))
    before = (daemon.home / "vault" / "vault.db").read_bytes()
    (backup / "vault" / "keyslots.json").write_text(
        (backup / "vault" / "keyslots.json").read_text().replace('"machine"', '"nothing"')
    )
    refused = daemon.cli("restore", str(backup), "--yes", ok=False)
    assert refused.returncode == 1 and "nothing was changed" in refused.stderr
    assert (daemon.home / "vault" / "vault.db").read_bytes() == before


def test_decrypt_export_on_a_python_without_tar_filters_and_a_retry_after_a_wrong_passphrase(
    initialised: Path, run: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tarfile

    # Debian 12's Python 3.11.2 has no tarfile.data_filter (it arrived in 3.11.4).
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    f = tmp_path / "r.jsonl"
    f.write_text(json.dumps({"key": "k", "ts": "2026-01-01T00:00:00Z", "data": {"n": 1}}) + "\n")
    run("import-jsonl", str(f), "--source", "notes", "--dataset", "app.notes.items")
    right, wrong = tmp_path / "pw", tmp_path / "wrong"
    right.write_text("export secret\n")
    wrong.write_text("not it\n")
    sealed = tmp_path / "e.sdx"
    run("export", "--format", "jsonl", "--encrypt", "--export-passphrase-file", str(right), str(sealed))
    out = tmp_path / "opened"
    failed = run("decrypt-export", str(sealed), str(out), "--export-passphrase-file", str(wrong), ok=False)
    print(failed.output)
    assert failed.exit_code == 1 and "wrong passphrase, or the file is damaged" in failed.output
    assert not out.exists() and [p.name for p in tmp_path.glob(".opened*")] == []
    opened = run("decrypt-export", str(sealed), str(out), "--export-passphrase-file", str(right))
    print(opened.output)
    assert "Decrypted 2 files" in opened.output
    assert json.loads((out / "app.notes.items.jsonl").read_text())["key"] == "k"
    assert oct(out.stat().st_mode & 0o777) == "0o700"
    assert oct((out / "manifest.json").stat().st_mode & 0o777) == "0o600"
