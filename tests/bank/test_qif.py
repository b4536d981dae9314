"""The QIF importer against files written by the project's QIF generator."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from connectors.bank.qif import QifImporter, parse_qif_date
from connectors.sdk import Fragment, ImportFailed, Record
from connectors.testing.contract import ImporterContract, head_of
from connectors.testing.generators.qif import write_qif
from connectors.testing.harness import import_file, read_file
from connectors.testing.memory import MemoryStore

USD = {"currency": "USD"}


def records(path: Path, settings: dict[str, Any] | None = None) -> list[Record]:
    return [i for i in read_file(QifImporter(), path, {**USD, **(settings or {})}) if isinstance(i, Record)]


def write(tmp_path: Path, text: str, name: str = "export.qif") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode("cp1252"))
    return p


class TestQifContract(ImporterContract):
    importer = QifImporter
    import_settings = USD

    def samples(self, folder: Path) -> list[Path]:
        return [
            write_qif(folder / "us.qif", seed=1).path,
            write_qif(folder / "uk.qif", seed=2, dates="dmy", section="CCard", account=None, crlf=True).path,
            write_qif(folder / "quicken.qif", seed=3, dates="quicken", extras=False).path,
        ]


@pytest.mark.parametrize("dates", ["mdy", "dmy", "ymd", "quicken"])
def test_every_transaction_is_read_exactly(tmp_path: Path, dates: str) -> None:
    written = write_qif(tmp_path / "s.qif", days=40, dates=dates)
    got = [r.data for r in records(written.path)]
    fields = ("booked_on", "amount", "description", "counterparty", "category", "transfer_account")
    assert [tuple(d.get(f) for f in fields) for d in got] == [tuple(t[f] for f in fields) for t in written.transactions]
    assert all(d["currency"] == "USD" and d["account_id"] == "Checking" and d["status"] == "booked" for d in got)
    assert [d.get("split_count") for d in got if d["amount"] == "-1234.56"] == [2]


def test_identical_payments_stay_two_and_reimport_adds_nothing(tmp_path: Path) -> None:
    written = write_qif(tmp_path / "s.qif", days=14)
    store = MemoryStore()
    first = import_file(QifImporter(), written.path, store, USD)
    assert first.new == written.count
    assert len([k for (_, k) in store.records if k.endswith(":2")]) == 2  # two Fridays, a second bus fare each
    again = import_file(QifImporter(), written.path, store, USD)
    assert (again.new, again.changed) == (0, 0)


def test_an_overlapping_newer_export_adds_only_the_new_days(tmp_path: Path) -> None:
    store = MemoryStore()
    old = write_qif(tmp_path / "old.qif", days=20, end=date(2026, 5, 20))
    new = write_qif(tmp_path / "new.qif", days=20, end=date(2026, 5, 27))
    import_file(QifImporter(), old.path, store, USD)
    counts = import_file(QifImporter(), new.path, store, USD)
    added = [t for t in new.transactions if str(t["booked_on"]) > "2026-05-20"]
    assert added and (counts.new, counts.changed) == (len(added), 0)


def test_the_account_comes_from_the_setting_the_file_or_the_section(tmp_path: Path) -> None:
    named = write_qif(tmp_path / "a.qif", days=3, account="Joint Checking").path
    assert {r.data["account_id"] for r in records(named)} == {"Joint Checking"}
    assert {r.data["account_id"] for r in records(named, {"account": "chase-1234"})} == {"chase-1234"}
    card = write_qif(tmp_path / "b.qif", days=3, account=None, section="CCard").path
    assert {r.data["account_id"] for r in records(card)} == {"qif-ccard"}


def test_dates_in_every_form() -> None:
    assert parse_qif_date("12/31/2025", "mdy") == date(2025, 12, 31)
    assert parse_qif_date("31/12/25", "dmy") == date(2025, 12, 31)
    assert parse_qif_date("1/ 5'26", "mdy") == date(2026, 1, 5)
    assert parse_qif_date(" 2026-01-05 ", "dmy") == date(2026, 1, 5)
    assert parse_qif_date("12.31.99", "mdy") == date(1999, 12, 31)
    for bad in ("13/31/2025", "2/30/2025", "yesterday", "12/31", "1/5/26/7"):
        with pytest.raises(ValueError, match="date"):
            parse_qif_date(bad, "mdy")


def test_ambiguous_dates_need_the_setting(tmp_path: Path) -> None:
    text = "!Type:Bank\nD01/02/2026\nT-1.00\nPShop\n^\nD03/04/2026\nT-2.00\nPShop\n^\n"
    path = write(tmp_path, text)
    with pytest.raises(ImportFailed, match="export.qif: every date in the file reads both"):
        records(path)
    assert [r.data["booked_on"] for r in records(path, {"date_format": "dmy"})] == ["2026-02-01", "2026-04-03"]
    assert [r.data["booked_on"] for r in records(path, {"date_format": "mdy"})] == ["2026-01-02", "2026-03-04"]
    mixed = write(tmp_path, text + "D13/01/2026\nT-1.00\n^\nD01/13/2026\nT-1.00\n^\n", "mixed.qif")
    with pytest.raises(ImportFailed, match="mixed.qif: line 13: dates are written both"):
        records(mixed)


@pytest.mark.parametrize(
    ("text", "settings", "message"),
    [
        ("!Type:Bank\nD01/13/2026\nT-1.00\n^\n", {"currency": ""}, "QIF files carry no currency"),
        ("!Type:Bank\nD01/13/2026\nT-1,00\n^\n", {}, "line 2: '-1,00' is not an amount"),
        ("!Type:Bank\nD01/13/2026\nT12,50\n^\n", {}, "line 2: '12,50' is not an amount"),
        ("!Type:Bank\nD01/13/2026\nPShop\n^\n", {}, "line 2: a transaction without its amount"),
        ("!Type:Bank\nT-1.00\nPShop\n^\n", {}, "line 2: a transaction without its date"),
        ("!Type:Bank\nD01/13/2026\nT-1.00\n", {}, "line 2: the last record is not ended by ^"),
        ("!Type:Bank\nD01/13/2026\nT-1.00\n!Type:CCard\n", {}, "line 2: a record not ended by ^"),
        ("!Type:Spaceship\nD01/13/2026\n^\n", {}, "line 1: unknown QIF section"),
        ("T-1.00\nD01/13/2026\n^\n", {}, "line 1: QIF data before any !Type: header"),
        ("!Type:Bank\nD01/13/2026\nT-1.00\n^\n", {"currency": "dollars"}, "setting currency"),
        ("!Type:Bank\nD01/13/2026\nT-1.00\n^\n", {"date_format": "yyyy"}, "setting date_format"),
        ("!Type:Cat\nNGroceries\nE\n^\n", {}, "no bank, card, cash or asset register in the file"),
    ],
)
def test_bad_files_fail_naming_file_line_and_problem(
    tmp_path: Path, text: str, settings: dict[str, str], message: str
) -> None:
    store = MemoryStore()
    with pytest.raises(ImportFailed) as err:
        import_file(QifImporter(), write(tmp_path, text, "bad.qif"), store, {**USD, **settings})
    assert "bad.qif" in str(err.value) and message in str(err.value)
    assert store.records == {}


def test_a_european_file_with_decimal_commas(tmp_path: Path) -> None:
    text = "!Type:Bank\nD31.12.2025\nT-1.234,56\nPMiete\n^\nD02.01.2026\nT12,5\nPZinsen\n^\n"
    got = records(write(tmp_path, text), {"decimal_separator": "comma", "currency": "EUR"})
    assert [(r.data["booked_on"], r.data["amount"]) for r in got] == [
        ("2025-12-31", "-1234.56"),
        ("2026-01-02", "12.5"),
    ]


def test_normalize_is_pure_over_the_stored_raw(tmp_path: Path) -> None:
    for r in records(write_qif(tmp_path / "s.qif", days=10, dates="dmy").path):
        again = QifImporter().normalize(Fragment(r.dataset, r.raw))
        assert (again.key, again.ts, again.data) == (r.key, r.ts, r.data)


def test_sniff_needs_qif_content(tmp_path: Path) -> None:
    path = write_qif(tmp_path / "export.txt", days=2, extras=False).path
    assert QifImporter.sniff(head_of(path), "export.txt")
    assert not QifImporter.sniff(b"Date,Amount\n2026-05-01,1.00\n", "export.qif")
    assert not QifImporter.sniff(b"OFXHEADER:100\nDATA:OFXSGML\n", "export.qif")
