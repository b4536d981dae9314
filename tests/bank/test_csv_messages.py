"""What `selfdata import` tells a user whose bank CSV it does not read as it is: the
bank-csv settings to give, the header it read, the date_format a date looks written in;
and bank-csv chosen by its settings when no format is given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.bank.csvhints import date_formats_of, header_hint, parse_csv_date

from ..conftest import Cli

OWN_LAYOUT = "Datum;Text;Betrag;Saldo\n28.11.2026;Miete;-850,00;1200,00\n27.11.2026;Gehalt;2050,00;2050,00\n"
COLUMNS = "columns=date=Datum;amount=Betrag;description=Text;balance=Saldo"
CHASE = (
    "Details,Posting Date,Description,Amount,Type,Balance,Check or Slip #\n"
    'DEBIT,12/01/2025,"ZELLE PAYMENT TO J SMITH 1234",-16.00,QUICKPAY_DEBIT,1484.00,,\n'
)


def write(tmp_path: Path, text: str, name: str = "export.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_a_chase_export_imports_with_no_setting(initialised: Path, run: Cli, tmp_path: Path) -> None:
    out = run("import", str(write(tmp_path, CHASE, "Chase1234_Activity_20251201.CSV"))).output
    assert "(bank-csv) into bank-csv: 2 new" in out  # the transaction and the account's balance


def test_a_csv_of_its_own_layout_gets_the_settings_to_give(initialised: Path, run: Cli, tmp_path: Path) -> None:
    result = run("import", str(write(tmp_path, OWN_LAYOUT)), ok=False)
    assert result.exit_code == 1
    message = result.output
    assert "export.csv: no importer recognises this file" in message
    assert "'Datum;Text;Betrag;Saldo'" in message  # the header it read
    assert "--format bank-csv --set profile=custom --set 'columns=date=Datum;amount=Betrag;description=Text'" in message
    assert "--set delimiter=semicolon" in message and "--set 'date_format=%d.%m.%Y'" in message
    assert "--set decimal_separator=comma" in message and "currency=" in message


def test_profile_and_columns_without_format_select_bank_csv(initialised: Path, run: Cli, tmp_path: Path) -> None:
    f = write(tmp_path, OWN_LAYOUT)
    sets = ["--set", "profile=custom", "--set", COLUMNS, "--set", "delimiter=semicolon"]
    sets += ["--set", "decimal_separator=comma", "--set", "currency=EUR", "--set", "date_format=%d.%m.%Y"]
    out = run("import", str(f), "--source", "giro", *sets).output
    assert "Imported export.csv (bank-csv) into giro: 3 new" in out
    rows = json.loads(run("query", "bank.transaction", "--source", "giro", "--json").output)["records"]
    assert sorted(r["data"]["amount"] for r in rows) == ["-850.00", "2050.00"]


def test_settings_shared_by_several_importers_do_not_choose_one(initialised: Path, run: Cli, tmp_path: Path) -> None:
    result = run("import", str(write(tmp_path, OWN_LAYOUT)), "--set", "currency=EUR", ok=False)
    assert "no importer recognises this file" in result.output and "--format bank-csv" in result.output


def test_a_date_in_another_form_names_the_date_format_to_set(initialised: Path, run: Cli, tmp_path: Path) -> None:
    f = write(tmp_path, OWN_LAYOUT)
    sets = ["--set", "profile=custom", "--set", COLUMNS, "--set", "delimiter=semicolon", "--set", "currency=EUR"]
    result = run("import", str(f), "--source", "giro", *sets, ok=False)
    assert result.exit_code == 1
    assert (
        "export.csv: line 2: date: '28.11.2026' is not a date in the form YYYY-MM-DD; it looks written as "
        "%d.%m.%Y: import with --set date_format=%d.%m.%Y" in result.output
    )
    assert "Nothing from this file was stored." in result.output


@pytest.mark.parametrize(
    ("written", "formats"),
    [
        ("28.11.2026", ["%d.%m.%Y"]),
        ("28.11.26", ["%d.%m.%y"]),
        ("28/11/2026", ["%d/%m/%Y"]),
        ("11/28/2026", ["%m/%d/%Y"]),
        ("03/04/2026", ["%d/%m/%Y", "%m/%d/%Y"]),  # both read: both are named
        ("20261128", ["%Y%m%d"]),
        ("2026/11/28", ["%Y/%m/%d"]),
        ("2026-11-28 10:12:05", ["%Y-%m-%d %H:%M:%S"]),
        ("28 Nov 2026", ["%d %b %Y"]),
        ("2026-11-28", ["iso"]),
        ("tomorrow", []),
    ],
)
def test_date_forms_are_recognised(written: str, formats: list[str]) -> None:
    assert date_formats_of(written) == formats


def test_an_ambiguous_date_names_both_orders() -> None:
    with pytest.raises(ValueError, match="date_format=%d/%m/%Y or date_format=%m/%d/%Y"):
        parse_csv_date("03/04/2026", "iso")
    assert parse_csv_date("03/04/2026", "%d/%m/%Y").isoformat() == "2026-04-03"
    assert parse_csv_date("04.10.26", "%d.%m.%y|%d.%m.%Y").isoformat() == "2026-10-04"
    assert parse_csv_date("04.10.2026", "%d.%m.%y|%d.%m.%Y").isoformat() == "2026-10-04"


def test_no_hint_for_what_is_not_a_csv() -> None:
    assert header_hint(b"\x89PNG\r\n\x1a\n\x00\x00") is None
    assert header_hint(b"just some words\nand more\n") is None
    assert header_hint(b"1,2,3\n4,5,6\n") is None  # numbers, no header


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_date_text_is_read_or_refused_with_a_value_error(text: str) -> None:
    for fmt in ("iso", "%d.%m.%y|%d.%m.%Y", "%m/%d/%Y"):
        try:
            parse_csv_date(text, fmt)
        except ValueError:
            pass
    assert all(isinstance(f, str) for f in date_formats_of(text))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_give_a_hint_or_none(head: bytes) -> None:
    hint = header_hint(head)
    assert hint is None or "--format bank-csv" in hint
