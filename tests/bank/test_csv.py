"""The bank CSV importer and its profiles against files written by the project's generators."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.bank.csvfile import BankCsvImporter
from connectors.sdk import Fragment, ImportFailed, Record
from connectors.testing.contract import ImporterContract, head_of
from connectors.testing.generators.bank_csv import (
    CONTINENTAL_SETTINGS,
    write_continental,
    write_generic,
    write_midata,
)
from connectors.testing.harness import import_file, read_file
from connectors.testing.memory import MemoryStore

MIDATA_HEADER = "Date,Type,Merchant/Description,Debit/Credit,Balance\r\n"


def records(path: Path, settings: dict[str, Any] | None = None) -> list[Record]:
    return [i for i in read_file(BankCsvImporter(), path, settings) if isinstance(i, Record)]


def transactions(path: Path, settings: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return [r.data for r in records(path, settings) if r.dataset == "bank.transaction"]


def write(tmp_path: Path, text: str, name: str = "export.csv", encoding: str = "utf-8") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


class TestBankCsvContract(ImporterContract):
    importer = BankCsvImporter

    def samples(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        return [
            write_midata(folder / "midata.csv", seed=1).path,
            write_midata(folder / "midata-1252.csv", seed=2, encoding="cp1252", newest_first=False).path,
            write_generic(folder / "generic.csv", seed=3).path,
        ]


def rows_of(data: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return sorted((d["booked_on"], d["amount"], d["description"] or d["counterparty"]) for d in data)


@pytest.mark.parametrize("newest_first", [True, False])
def test_midata_rows_and_balance_are_read_exactly(tmp_path: Path, newest_first: bool) -> None:
    written = write_midata(tmp_path / "m.csv", newest_first=newest_first)
    got = records(written.path)
    trns = [r.data for r in got if r.dataset == "bank.transaction"]
    assert rows_of(trns) == sorted((r["date"], r["amount"], r["description"]) for r in written.rows)
    assert {d["currency"] for d in trns} == {"GBP"} and {d["status"] for d in trns} == {"booked"}
    assert {d["type"] for d in trns} >= {"POS", "DD", "BP"}
    assert not any(d["description"].startswith("'") for d in trns)
    (account,) = [r.data for r in got if r.dataset == "bank.account"]
    assert Decimal(account["balance"]) == written.balance
    assert account["balance_at"] == f"{written.balance_on}T23:59:59+00:00"


def test_generic_and_a_custom_continental_profile(tmp_path: Path) -> None:
    generic = write_generic(tmp_path / "g.csv")
    data = transactions(generic.path)
    assert rows_of(data) == sorted((r["date"], r["amount"], r["description"]) for r in generic.rows)
    assert all(d["currency"] == "EUR" and d["value_on"] > d["booked_on"] for d in data)
    continental = write_continental(tmp_path / "c.csv")
    got = records(continental.path, CONTINENTAL_SETTINGS)
    trns = [r.data for r in got if r.dataset == "bank.transaction"]
    assert sorted((d["booked_on"], d["amount"], d["counterparty"]) for d in trns) == sorted(
        (r["date"], r["amount"], r["description"]) for r in continental.rows
    )
    assert "Café Nero 114" in {d["counterparty"] for d in trns}
    (account,) = [r.data for r in got if r.dataset == "bank.account"]
    assert Decimal(account["balance"]) == continental.balance


def test_identical_payments_on_one_day_stay_two_and_reimport_adds_nothing(tmp_path: Path) -> None:
    written = write_midata(tmp_path / "m.csv", days=14)
    fares = [d for d in transactions(written.path) if d["amount"] == "-2.80"]
    assert len(fares) == 2 * sum(1 for r in written.rows if r["amount"] == "-2.80") // 2 >= 2
    keys = [r.key for r in records(written.path) if r.data.get("amount") == "-2.80"]
    assert len(set(keys)) == len(keys)
    store = MemoryStore()
    first = import_file(BankCsvImporter(), written.path, store)
    again = import_file(BankCsvImporter(), written.path, store)
    assert first.new == len(written.rows) + 1 and (again.new, again.changed) == (0, 0)


def test_an_overlapping_newer_export_adds_only_the_new_rows(tmp_path: Path) -> None:
    store = MemoryStore()
    older = write_midata(tmp_path / "older.csv", window=(0, 40))
    newer = write_midata(tmp_path / "newer.csv", window=(20, 60), footer=False)
    import_file(BankCsvImporter(), older.path, store)
    counts = import_file(BankCsvImporter(), newer.path, store)
    new_rows = {(r["date"], r["amount"], r["description"], r["balance"]) for r in newer.rows} - {
        (r["date"], r["amount"], r["description"], r["balance"]) for r in older.rows
    }
    assert counts.new == len(new_rows) > 0 and counts.changed == 1  # the account's balance moved on
    assert len([k for k in store.records if k[0] == "bank.transaction"]) == len(older.rows) + len(new_rows)


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
@pytest.mark.parametrize("declared", [None, "utf-8", "cp1252"])
def test_a_wrong_or_lying_encoding_still_reads_names_right(tmp_path: Path, encoding: str, declared: str | None) -> None:
    p = write(tmp_path, MIDATA_HEADER + '01/05/2026,POS,Café Zürich,"-£1,204.50",£100.00\r\n', encoding=encoding)
    (data,) = transactions(p, {"encoding": declared} if declared else None)
    assert (data["description"], data["amount"]) == ("Café Zürich", "-1204.50")


@pytest.mark.parametrize(
    ("cut", "why"),
    [
        ("01/05/2026,POS,Shop,-£1.00,£101.00\r\n02/05/2026,POS,Shop,-£3.00,£9", "running balance"),
        ("01/05/2026,POS,Shop,-£1.00,£101.00\r\n02/05/2026,POS,Shop,-£3", "4 fields where the header has 5"),
        ('01/05/2026,POS,Shop,-£1.00,£101.00\r\n02/05/2026,POS,"Sh', "malformed CSV"),
        ("01/05/2026,POS,Shop,-£1.00,£101.00\r\n02/05/20", "1 fields where the header has 5"),
    ],
)
def test_truncated_files_fail_naming_file_and_line(tmp_path: Path, cut: str, why: str) -> None:
    with pytest.raises(ImportFailed, match=r"cut\.csv: line 3: .*") as err:
        read_file(BankCsvImporter(), write(tmp_path, MIDATA_HEADER + cut, "cut.csv"))
    assert why in str(err.value)


def test_a_last_line_without_line_end_is_accepted_when_it_is_whole(tmp_path: Path) -> None:
    text = MIDATA_HEADER + "01/05/2026,POS,Shop,-£1.00,£101.00\r\n02/05/2026,POS,Shop,-£3.00,£98.00"
    assert [d["amount"] for d in transactions(write(tmp_path, text))] == ["-1.00", "-3.00"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("31/02/2026,POS,Shop,-£1.00,£1.00", "not a date in the form %d/%m/%Y"),
        ("2026-05-01,POS,Shop,-£1.00,£1.00", "not a date"),
        ("01/05/2026,POS,Shop,,£1.00", "the amount is empty"),
        ("01/05/2026,POS,Shop,-12,50,£1.00", "6 fields where the header has 5"),
        ('01/05/2026,POS,Shop,"12,50",£1.00', "not an amount in the form 1,234.56"),
        ("01/05/2026,POS,Shop,-£1.00", "4 fields"),
        ("01/05/2026,POS,Shop,-£1.00,lots", "balance: 'lots' is not an amount"),
    ],
)
def test_malformed_rows_fail_with_their_line(tmp_path: Path, row: str, message: str) -> None:
    good = "01/05/2026,POS,Shop,-£1.00,£2.00\r\n"
    with pytest.raises(ImportFailed, match=r"bad\.csv: line 3: ") as err:
        read_file(BankCsvImporter(), write(tmp_path, MIDATA_HEADER + good + row + "\r\n", "bad.csv"))
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("text", "settings", "amounts"),
    [
        ('Date,Description,Amount\n2026-05-01,Shop,"1,234.50"\n', {}, ["1234.50"]),
        (
            "Date;Description;Amount\n2026-05-01;Shop;-1.234,50\n",
            {"decimal_separator": "comma", "thousands_separator": "period", "currency": "EUR"},
            ["-1234.50"],
        ),
        ("Date,Description,Amount\n2026-05-01,Card,12.00\n", {"sign": "inverted"}, ["-12.00"]),
        (
            "Date,Description,Amount,DC\n2026-05-01,A,12.00,DR\n2026-05-01,B,3.00,CR\n",
            {"sign": "indicator", "columns": "indicator=DC"},
            ["-12.00", "3.00"],
        ),
        (
            "Date,Description,Paid out,Paid in\n2026-05-01,A,12.00,\n2026-05-02,B,,3.00\n",
            {
                "profile": "custom",
                "columns": "date=Date;description=Description;debit=Paid out;credit=Paid in",
                "sign": "debit-credit",
            },
            ["-12.00", "3.00"],
        ),
    ],
)
def test_sign_conventions_and_separators(
    tmp_path: Path, text: str, settings: dict[str, Any], amounts: list[str]
) -> None:
    given = {"currency": "GBP", **settings}
    assert [d["amount"] for d in transactions(write(tmp_path, text), given)] == amounts


def test_comma_decimals_in_a_period_profile_are_refused_not_misread(tmp_path: Path) -> None:
    p = write(tmp_path, 'Date,Description,Amount\n2026-05-01,Shop,"12,50"\n')
    with pytest.raises(ImportFailed, match=r"export\.csv: line 2: '12,50' is not an amount"):
        read_file(BankCsvImporter(), p, {"currency": "EUR"})


def test_bank_ids_status_and_category_columns(tmp_path: Path) -> None:
    text = (
        "Id,Date,Description,Amount,Currency,Status,Category\n"
        "T1,2026-05-01,Shop,-1.00,EUR,Booked,food\nT2,2026-05-01,Shop,-1.00,EUR,Pending,food\n"
        "T2,2026-05-01,Other,-9.00,EUR,Booked,\n"
    )
    got = {r.key: r.data for r in records(write(tmp_path, text), {"account_id": "acc"})}
    assert {k: (v["status"], v["amount"]) for k, v in got.items() if k.startswith("acc:")} == {
        "acc:T1": ("booked", "-1.00"),
        "acc:T2": ("pending", "-1.00"),
        "acc:T2#2": ("booked", "-9.00"),
    }
    assert got["acc:T1"]["category"] == "food"


def test_other_formats_and_unknown_headers_are_refused(tmp_path: Path) -> None:
    p = write(tmp_path, "id,name,value\n1,apple,3\n", "table.csv")
    assert not BankCsvImporter.sniff(head_of(p), p.name)
    with pytest.raises(ImportFailed, match="table.csv: line 1: not a known bank CSV"):
        read_file(BankCsvImporter(), p)
    with pytest.raises(ImportFailed, match="table.csv: line 1: no header with the columns of profile uk-midata"):
        read_file(BankCsvImporter(), p, {"profile": "uk-midata"})
    ofx = write(tmp_path, "OFXHEADER:100\r\nDATA:OFXSGML\r\n\r\n<OFX>", "bank.csv")
    assert not BankCsvImporter.sniff(head_of(ofx), ofx.name)


def test_generic_without_a_currency_asks_for_the_setting(tmp_path: Path) -> None:
    p = write(tmp_path, "Date,Description,Amount\n2026-05-01,Shop,1.00\n")
    with pytest.raises(ImportFailed, match="set the source's currency setting"):
        read_file(BankCsvImporter(), p)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"columns": "when=Date"}, "columns"),
        ({"sign": "sideways"}, "sign must be one of"),
        ({"currency": "euro"}, "currency"),
        ({"profile": "custom"}, "no header with the columns of profile custom"),
    ],
)
def test_bad_settings_fail_clearly(tmp_path: Path, settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ImportFailed, match=message):
        read_file(BankCsvImporter(), write_midata(tmp_path / "m.csv", days=3).path, settings)


def test_normalize_is_pure_over_the_stored_raw(tmp_path: Path) -> None:
    for r in records(write_midata(tmp_path / "m.csv", days=20).path):
        again = BankCsvImporter().normalize(Fragment(r.dataset, r.raw))
        assert again is not None and (again.key, again.ts, again.data) == (r.key, r.ts, r.data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.decimals(min_value=Decimal("-99999.99"), max_value=Decimal("99999.99"), places=2), min_size=1, max_size=8
    )
)
def test_any_midata_amount_round_trips(tmp_path: Path, amounts: list[Decimal]) -> None:
    lines, balance = [MIDATA_HEADER], Decimal("10000.00")
    for a in amounts:
        balance += a
        sign = "-" if a < 0 else "+"
        lines.append(f'01/05/2026,POS,Shop,"{sign}£{abs(a):,.2f}","£{balance:,.2f}"\r\n'.replace("£-", "-£"))
    got = [Decimal(d["amount"]) for d in transactions(write(tmp_path, "".join(lines), "h.csv"))]
    assert got == amounts
