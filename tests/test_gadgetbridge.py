"""The Gadgetbridge importer against databases built from Gadgetbridge's own schema."""

from __future__ import annotations

import sqlite3
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.health.gadgetbridge import GadgetbridgeImporter
from connectors.sdk import Fragment, ImportFailed, Record
from connectors.testing.contract import ImporterContract, head_of
from connectors.testing.generators.gadgetbridge import DEVICES, write_database
from connectors.testing.harness import import_file, read_file
from connectors.testing.memory import MemoryStore
from daemon.plugins import Registry
from daemon.sync.importing import detect
from daemon.sync.importing import import_file as vault_import
from daemon.vault import Vault


def records(path: Path) -> list[Record]:
    return [i for i in read_file(GadgetbridgeImporter(), path) if isinstance(i, Record)]


class TestGadgetbridgeContract(ImporterContract):
    importer = GadgetbridgeImporter

    def samples(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        return [write_database(folder / "Gadgetbridge", days=1), write_database(folder / "gb.db", days=1, seed=4)]


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_database(tmp_path_factory.mktemp("gb") / "Gadgetbridge", days=2)


@pytest.fixture(scope="module")
def imported(database: Path) -> list[Record]:
    return records(database)


def test_steps_per_device_add_up_to_what_the_database_holds(database: Path, imported: list[Record]) -> None:
    conn = sqlite3.connect(database)
    for table in ("MI_BAND_ACTIVITY_SAMPLE", "XIAOMI_ACTIVITY_SAMPLE", "PINE_TIME_ACTIVITY_SAMPLE",
                  "HUAMI_EXTENDED_ACTIVITY_SAMPLE"):  # fmt: skip
        expected = conn.execute(f'SELECT DEVICE_ID, sum(STEPS) FROM "{table}" GROUP BY DEVICE_ID').fetchall()
        got = [r for r in imported if r.raw["table"] == table and r.data["code"] == "55423-8"]
        assert [(int(r.raw["row"]["DEVICE_ID"])) for r in got[:1]] == [expected[0][0]]
        assert sum(Decimal(r.data["value"]) for r in got) == expected[0][1]
        assert all(r.data["unit"] == "{count}" and r.data["start"].endswith("+00:00") for r in got)


def test_heart_rates_without_a_reading_are_left_out(database: Path, imported: list[Record]) -> None:
    conn = sqlite3.connect(database)
    valid = conn.execute(
        "SELECT count(*) FROM MI_BAND_ACTIVITY_SAMPLE WHERE HEART_RATE > 0 AND HEART_RATE < 255"
    ).fetchone()[0]
    got = [r for r in imported if r.raw["table"] == "MI_BAND_ACTIVITY_SAMPLE" and r.data["code"] == "8867-4"]
    assert len(got) == valid and all(0 < int(r.data["value"]) < 255 for r in got)
    assert {r.data["device"] for r in got} == {"Mi Smart Band 5"}  # no alias: the device's name


def test_spo2_sleep_and_resting_heart_rate(imported: list[Record]) -> None:
    by = Counter((r.raw["table"], r.data["code"]) for r in imported)
    assert by[("HUAMI_SPO2_SAMPLE", "59408-5")] == 48 and by[("COLMI_SPO2_SAMPLE", "59408-5")] == 24
    assert by[("XIAOMI_ACTIVITY_SAMPLE", "59408-5")] == 96  # the minutes that carry a reading
    assert by[("HUAMI_HEART_RATE_RESTING_SAMPLE", "40443-4")] == 2
    assert not [r for r in imported if r.raw["table"] == "HUAMI_STRESS_SAMPLE"]
    nights = [r for r in imported if r.data["code"] == "HKCategoryTypeIdentifierSleepAnalysis"]
    assert len(nights) == 2 and all(n.data["device"] == "Band" for n in nights)  # the alias
    n = nights[0]
    parts = {c["code"]: Decimal(c["value"]) for c in n.data["components"]}
    assert Decimal(n.data["value"]) == pytest.approx(parts["deep"] + parts["light"] + parts["rem"], abs=Decimal("0.01"))
    assert n.data["start"] < n.data["end"] and n.data["unit"] == "h"
    stages = [r.data["value_text"] for r in imported if r.raw["table"] == "XIAOMI_SLEEP_STAGE_SAMPLE"][:6]
    assert stages == ["light", "deep", "rem", "light", "awake", "awake"]
    ring = next(r for r in imported if r.raw["table"] == "COLMI_SLEEP_STAGE_SAMPLE")
    assert ring.data["value_text"] == "stage 3" and "end" in ring.data  # ring stages carry a duration


def test_keys_do_not_depend_on_the_row_ids_of_one_phone(tmp_path: Path, imported: list[Record]) -> None:
    """The same band paired again on a new phone gets another DEVICE _id: its samples keep their keys."""
    moved = write_database(tmp_path / "Gadgetbridge", days=2)
    conn = sqlite3.connect(moved)
    conn.execute("PRAGMA foreign_keys=OFF")
    for table in [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE '%_SAMPLE'")]:
        conn.execute(f'UPDATE "{table}" SET DEVICE_ID = DEVICE_ID + 100')
    conn.execute('UPDATE "DEVICE" SET "_id" = "_id" + 100')
    conn.commit()
    conn.close()
    assert {r.key for r in records(moved)} == {r.key for r in imported}


def test_no_mac_address_reaches_a_record(imported: list[Record]) -> None:
    macs = [d[3] for d in DEVICES]
    assert not [r for r in imported[:2000] if any(m in str(r.data) + str(r.raw) for m in macs)]


def test_renormalize_maps_the_kept_row_again(imported: list[Record]) -> None:
    sample = imported[500]
    again = GadgetbridgeImporter().normalize(Fragment("health.observation", sample.raw))
    assert any((r.key, r.data) == (sample.key, sample.data) for r in again)


def test_files_that_are_not_gadgetbridge_databases(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE notes (x)").connection.commit()
    with pytest.raises(ImportFailed, match="has no DEVICE table"):
        import_file(GadgetbridgeImporter(), other, MemoryStore())
    text = tmp_path / "Gadgetbridge"
    text.write_text("not a database at all, but long enough to be read " * 20)
    with pytest.raises(ImportFailed, match="Gadgetbridge: not a readable Gadgetbridge database"):
        import_file(GadgetbridgeImporter(), text, MemoryStore())


def test_an_orphan_sample_fails_the_file_naming_the_table(tmp_path: Path) -> None:
    db = write_database(tmp_path / "Gadgetbridge", days=1)
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO PINE_TIME_ACTIVITY_SAMPLE VALUES (1740787200, 42, 1, 1, 10, 70)")
    conn.commit()
    conn.close()
    with pytest.raises(ImportFailed, match="PINE_TIME_ACTIVITY_SAMPLE has a sample of device 42"):
        import_file(GadgetbridgeImporter(), db, MemoryStore())


def test_the_inbox_recognises_the_export_and_a_failed_import_keeps_what_was_stored(
    tmp_path: Path, vault: Vault, registry: Registry, database: Path
) -> None:
    from daemon import plugins

    reg = plugins.load()
    assert detect(reg, database).name == "gadgetbridge"
    assert GadgetbridgeImporter.sniff(head_of(database), "export.db")
    first = vault_import(vault, reg, database)
    assert first.ok and first.run.new > 10_000
    broken = write_database(tmp_path / "Gadgetbridge", days=3)
    conn = sqlite3.connect(broken)
    conn.execute("INSERT INTO HUAMI_SPO2_SAMPLE VALUES (-5, 1, 1, 0, 97)")
    conn.commit()
    conn.close()
    failed = vault_import(vault, reg, broken, fmt="gadgetbridge")
    assert not failed.ok and "HUAMI_SPO2_SAMPLE at -5: TIMESTAMP -5 is not a time" in (failed.run.error or "")
    held = vault.conn.execute("SELECT count(*) FROM records WHERE source='gadgetbridge'").fetchone()[0]
    assert held == first.run.new
