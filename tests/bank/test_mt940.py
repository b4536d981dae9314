"""The SWIFT MT940 importer against files written by the project's MT940 generator and the
real sample in shared/samples/bank when it is present."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.bank.mt940 import Mt940Importer, parse_amount, parse_line
from connectors.bank.mt940_info import join_lines, parse_info
from connectors.sdk import Fragment, ImportFailed, Record
from connectors.testing.contract import ImporterContract, head_of
from connectors.testing.generators.mt940 import DEFAULT_ACCOUNTS, Account, write_mt940
from connectors.testing.harness import import_file, read_file
from connectors.testing.memory import MemoryStore

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "bank"
PLAIN = Account("DE44500105175407324931", "DE44500105175407324931", style="plain")


def records(path: Path, settings: dict[str, Any] | None = None) -> list[Record]:
    return [i for i in read_file(Mt940Importer(), path, settings) if isinstance(i, Record)]


def write(tmp_path: Path, text: str, name: str = "statement.sta", encoding: str = "cp1252") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def statement(lines: str, opening: str = "C260504EUR100,00", closing: str = "C260504EUR87,50") -> str:
    return f":20:STMT1\n:25:DE89370400440532013000\n:28C:1/1\n:60F:{opening}\n{lines}:62F:{closing}\n-\n"


class TestMt940Contract(ImporterContract):
    importer = Mt940Importer

    def samples(self, folder: Path) -> list[Path]:
        return [
            write_mt940(folder / "german.sta", accounts=DEFAULT_ACCOUNTS[:1], seed=1).path,
            write_mt940(folder / "dutch.940", accounts=DEFAULT_ACCOUNTS[1:], seed=2, crlf=True).path,
            write_mt940(folder / "swift.mt940", accounts=(PLAIN,), seed=3, envelope=True, encoding="utf-8").path,
        ]


@pytest.mark.parametrize("style", ["german", "dutch", "plain"])
@pytest.mark.parametrize(("envelope", "crlf", "encoding"), [(False, False, "cp1252"), (True, True, "utf-8")])
def test_every_transaction_and_balance_is_read_exactly(
    tmp_path: Path, style: str, envelope: bool, crlf: bool, encoding: str
) -> None:
    account = {"german": DEFAULT_ACCOUNTS[0], "dutch": DEFAULT_ACCOUNTS[1], "plain": PLAIN}[style]
    written = write_mt940(
        tmp_path / "s.sta", accounts=(account,), days=21, envelope=envelope, crlf=crlf, encoding=encoding
    )
    got = records(written.path)
    trns = [r.data for r in got if r.dataset == "bank.transaction"]
    assert len(trns) == written.count > 20
    fields = ("booked_on", "value_on", "amount", "description", "counterparty", "end_to_end_id")
    expected = written.transactions[account.account_id]
    assert [tuple(d.get(f) for f in fields) for d in trns] == [tuple(t[f] for f in fields) for t in expected]
    assert [d.get("reversal", False) for d in trns] == [t["reversal"] for t in expected]
    assert all(d["currency"] == "EUR" and d["status"] == "booked" and d["type"] == "NTRF" for d in trns)
    [acct] = [r.data for r in got if r.dataset == "bank.account"]
    truth = written.balances[account.account_id]
    assert (Decimal(acct["balance"]), Decimal(acct["available_balance"])) == (truth["balance"], truth["available"])
    assert acct["balance_at"] == f"{truth['on']}T23:59:59+00:00"
    assert acct["account_id"] == account.account_id
    assert acct["iban"] == (account.account_id if style != "german" else None)


def test_identical_payments_without_reference_stay_two_and_reimport_adds_nothing(tmp_path: Path) -> None:
    written = write_mt940(tmp_path / "s.sta", accounts=DEFAULT_ACCOUNTS[:1], days=14)
    store = MemoryStore()
    first = import_file(Mt940Importer(), written.path, store)
    assert first.new == written.count + 1  # and the account
    fares = [k for k, (_, data, _) in store.records.items() if json.loads(data).get("amount") == "-3.80"]
    assert len(fares) == 4  # two Fridays, two identical payments each
    again = import_file(Mt940Importer(), written.path, store)
    assert (again.new, again.changed) == (0, 0)


def test_an_overlapping_newer_download_adds_only_the_new_days(tmp_path: Path) -> None:
    store = MemoryStore()
    ident = DEFAULT_ACCOUNTS[0].account_id
    old = write_mt940(tmp_path / "old.sta", accounts=DEFAULT_ACCOUNTS[:1], days=10, end=date(2026, 5, 20))
    new = write_mt940(tmp_path / "new.sta", accounts=DEFAULT_ACCOUNTS[:1], days=10, end=date(2026, 5, 27))
    import_file(Mt940Importer(), old.path, store)
    counts = import_file(Mt940Importer(), new.path, store)
    new_days = [t for t in new.transactions[ident] if str(t["booked_on"]) > "2026-05-20"]
    assert new_days and counts.new == len(new_days) and counts.changed == 1  # and the account's balance
    stored = [k for (dataset, k) in store.records if dataset == "bank.transaction"]
    assert len(stored) == len(old.transactions[ident]) + len(new_days)


def test_the_real_sample(tmp_path: Path) -> None:
    sample = SAMPLES / "mt940_sepa_snippet.sta"
    if not sample.exists():
        pytest.skip("shared/samples is not present")
    assert Mt940Importer.sniff(head_of(sample), sample.name)
    got = records(sample)
    trns = {r.key: r.data for r in got if r.dataset == "bank.transaction"}
    assert len(trns) == 11
    first = trns["50880050/0194787400888:0724710333343453"]
    assert (first["amount"], first["booked_on"], first["value_on"]) == ("50990.05", "2007-09-04", "2007-09-07")
    assert (first["counterparty"], first["end_to_end_id"]) == ("KARL KAUFMANN", "EndToEndId TFNR 22 004 00001")
    assert first["description"] == "Verw CTSc-01 BC-PPP TFNr 22 004"
    assert trns["50880050/0194791600888:0724710345316110"]["amount"] == "15000.00"  # written "15000,"
    assert sum(Decimal(d["amount"]) for d in trns.values() if d["type"] == "NMSC") == Decimal("-3572569.03")
    accounts = {r.key: r.data for r in got if r.dataset == "bank.account"}
    assert accounts["50880050/0194787400888"]["balance"] == "1125250.40"  # written "1125250,4"
    assert accounts["50880050/0194787400888"]["available_balance"] == "559614.51"
    assert accounts["50880050/0194791600888"]["balance"] == "-4472049.09"  # a debit balance
    for other in SAMPLES.glob("camt*.xml"):
        assert not Mt940Importer.sniff(head_of(other), other.name)


def test_statement_lines_in_every_form() -> None:
    line = parse_line("0709070904CR50990,05NTRFNONREF//0724710333343453\nsupplementary text")
    assert (line["value_on"], line["booked_on"], line["amount"]) == (
        date(2007, 9, 7),
        date(2007, 9, 4),
        Decimal("50990.05"),
    )
    assert (line["reference"], line["bank_reference"], line["details"]) == (
        "NONREF",
        "0724710333343453",
        "supplementary text",
    )
    assert parse_line("260105D12,NMSCKREF+")["amount"] == Decimal("-12")  # no booking date, no funds code
    reversed_credit = parse_line("2605040504RC5,00NTRFNONREF")
    assert (reversed_credit["amount"], reversed_credit["reversal"]) == (Decimal("-5.00"), True)
    reversed_debit = parse_line("2605040504RDR5,00NTRFNONREF")
    assert (reversed_debit["amount"], reversed_debit["reversal"]) == (Decimal("5.00"), True)
    # A booking on 31 December for a value date in January belongs to the year before.
    assert parse_line("2701021231DR1,00NTRFNONREF")["booked_on"] == date(2026, 12, 31)
    assert parse_line("2612310102CR1,00NTRFNONREF")["booked_on"] == date(2027, 1, 2)
    assert parse_line("2802290229CR1,00NTRFNONREF")["booked_on"] == date(2028, 2, 29)  # a leap day


@pytest.mark.parametrize(
    "bad",
    ["2605040504CR1.234,56NTRF", "2605040504CR12,34,5NTRF", "2602320504CR1,00NTRF", "2605041399CR1,00NTRF",
     "2605040504XR1,00NTRF", "2605040504CR1,00", "260504", "2605040504CR\u0663,00NTRF"],
)  # fmt: skip
def test_malformed_statement_lines_are_refused_not_guessed(bad: str) -> None:
    with pytest.raises(ValueError, match=":61:"):
        parse_line(bad)


@given(st.decimals(min_value=0, max_value=Decimal("999999999999.99"), places=2), st.integers(0, 2))
def test_amounts_round_trip_with_a_decimal_comma(value: Decimal, trim: int) -> None:
    text = f"{value:.2f}".replace(".", ",")
    if trim and text.endswith("0" * trim):
        text = text[:-trim]
    assert parse_amount(text, "x") == value


@given(st.text(max_size=20))
def test_any_amount_text_is_refused_or_read_exactly(text: str) -> None:
    try:
        value = parse_amount(text, "x")
    except ValueError:
        return
    whole, _, cents = text.partition(",")
    assert value == Decimal(whole + "." + (cents or "0")) and whole.isascii() and whole.isdigit()


def test_german_and_dutch_details_and_free_text() -> None:
    german = parse_info(
        "166?00GUTSCHRIFT?109310?20EREF+E2E-1?21SVWZ+Miete Mai?30COBADEFFXXX?31DE02 1203 0000 0000 2020 51"
        "?32Anna Beispiel?33mann"
    )
    assert german == {
        "code": "166",
        "description": "Miete Mai",
        "counterparty": "Anna Beispielmann",
        "posting_text": "GUTSCHRIFT",
        "counterparty_account": "DE02120300000000202051",
        "counterparty_bank": "COBADEFFXXX",
        "end_to_end_id": "E2E-1",
    }
    other_separator = parse_info("105@00LASTSCHRIFT@20Beitrag 2026@32Sportverein")
    assert (other_separator["description"], other_separator["counterparty"]) == ("Beitrag 2026", "Sportverein")
    dutch = parse_info("/CNTP/NL91ABNA0417164300/ABNANL2A/J. Jansen/Utrecht/REMI/USTD//Huur mei/EREF/NOTPROVIDED")
    assert dutch == {
        "description": "Huur mei",
        "counterparty": "J. Jansen",
        "counterparty_account": "NL91ABNA0417164300",
    }
    assert parse_info("KARTENZAHLUNG 12.05. 10:22 REWE SAGT DANKE") == {
        "description": "KARTENZAHLUNG 12.05. 10:22 REWE SAGT DANKE"
    }
    assert join_lines(["a" * 65, "bc"]) == "a" * 65 + "bc"  # cut at the full width: one word
    assert join_lines(["short line", "next"]) == "short line next"


def test_a_truncated_file_is_refused_naming_the_line(tmp_path: Path) -> None:
    full = write_mt940(tmp_path / "full.sta", accounts=DEFAULT_ACCOUNTS[:1], days=6).path.read_text(encoding="cp1252")
    lines = full.splitlines(keepends=True)
    cut_at_62 = next(i for i, line in enumerate(lines) if line.startswith(":62F:") and i > len(lines) // 2)
    for n, text in (
        ("mid-statement", "".join(lines[:cut_at_62])),
        ("mid-amount", "".join(lines[:cut_at_62]) + lines[cut_at_62][:-4] + "\n"),
        ("mid-line", full[: len(full) // 2]),
    ):
        bad = write(tmp_path, text, f"{n}.sta")
        store = MemoryStore()
        with pytest.raises(ImportFailed, match=rf"{n}\.sta: line \d+"):
            import_file(Mt940Importer(), bad, store)
        assert store.records == {}


def test_a_last_statement_without_its_dash_is_taken_when_it_adds_up(tmp_path: Path) -> None:
    written = write_mt940(tmp_path / "s.sta", accounts=DEFAULT_ACCOUNTS[:1], days=5, terminate=False)
    assert not written.path.read_text(encoding="cp1252").rstrip().endswith("-")
    assert len([r for r in records(written.path) if r.dataset == "bank.transaction"]) == written.count
    # The same statement cut inside the closing balance still ends in a valid-looking amount.
    text = statement(":61:2605040504DR12,50NTRFNONREF//B1\n:86:Shop\n", closing="C260504EUR87,5")
    assert len(records(write(tmp_path, text.rstrip("-\n") + "\n"))) == 2
    with pytest.raises(ImportFailed, match="do not add up.*truncated"):
        records(write(tmp_path, text.rstrip("-\n").replace("87,5", "87,") + "\n"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (statement(":61:2605040504DR12,5ONTRFNONREF\n"), "line 5: statement 1: :61:"),
        (statement("", opening="C260504EUR10,00,0"), "not an MT940 amount"),
        (statement("", opening="C260504EUR1.000,00"), "not an MT940 balance"),
        (statement("", opening="X260504EUR100,00"), "not an MT940 balance"),
        (statement("", closing="C260504USD100,00"), "closing balance in USD, opening in EUR"),
        (statement("").replace(":25:DE89370400440532013000\n", ""), "no account :25:"),
        (statement("").replace(":60F:C260504EUR100,00\n", ""), "no opening balance"),
        (":20:X\n:25:Y\n-\n", "no opening balance"),
        ("", "the file is empty"),
        ("hello\n" * 60, "not an MT940 file"),
    ],
)
def test_bad_files_fail_naming_file_line_and_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ImportFailed) as err:
        records(write(tmp_path, text, "bad.sta"))
    assert "bad.sta" in str(err.value) and message in str(err.value)


def test_a_lying_charset_still_reads_names_right(tmp_path: Path) -> None:
    written = write_mt940(tmp_path / "utf8.sta", accounts=DEFAULT_ACCOUNTS[:1], days=8, encoding="utf-8")
    names = {
        r.data["counterparty"] for r in records(written.path, {"encoding": "cp1252"}) if r.dataset == "bank.transaction"
    }
    assert "BÄCKEREI KAMPS" in names and not any("Ã" in (n or "") for n in names)


def test_bad_settings_fail_clearly(tmp_path: Path) -> None:
    path = write_mt940(tmp_path / "s.sta", days=2).path
    with pytest.raises(ImportFailed, match="s.sta: setting encoding: 'klingon' is not a known character set"):
        records(path, {"encoding": "klingon"})
    with pytest.raises(ImportFailed, match="s.sta: setting timezone"):
        records(path, {"timezone": "Mars/Olympus"})


def test_reused_bank_reference_keeps_both_apart(tmp_path: Path) -> None:
    lines = ":61:2605040504DR12,50NTRFNONREF//B1\n:86:Shop\n:61:2605040504CR0,00NTRFNONREF//B1\n:86:Other\n"
    keys = [r.key for r in records(write(tmp_path, statement(lines))) if r.dataset == "bank.transaction"]
    assert keys == ["DE89370400440532013000:B1", "DE89370400440532013000:B1#2"]


def test_normalize_is_pure_over_the_stored_raw(tmp_path: Path) -> None:
    written = write_mt940(tmp_path / "s.sta", days=8)
    for r in records(written.path):
        again = Mt940Importer().normalize(Fragment(r.dataset, r.raw))
        assert again is not None and (again.key, again.ts, again.data) == (r.key, r.ts, r.data)


def test_sniff_needs_mt940_content_not_an_extension(tmp_path: Path) -> None:
    written = write_mt940(tmp_path / "export.txt", days=2)
    assert Mt940Importer.sniff(head_of(written.path), "export.txt")
    assert not Mt940Importer.sniff(b"Date,Amount\n2026-05-01,1.00\n", "statement.sta")
