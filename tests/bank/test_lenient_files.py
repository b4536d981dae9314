"""What real banks write that the format's letter does not allow, read as established parsers
read it (see docs/sources/bank-files.md, "What real banks write"); a file cut inside a record
is still refused. Every file here is written by the test, in the shape a bank writes."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.bank.mt940 import Mt940Importer
from connectors.bank.ofx import OfxImporter
from connectors.bank.qif import QifImporter
from connectors.sdk import ImportFailed, Record
from connectors.testing.harness import read_with_notices

from ..conftest import Cli

IBAN = "DE89370400440532013000"


def write(tmp_path: Path, text: str, name: str = "statement.sta") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode("cp1252"))
    return p


def transactions(items: list) -> list[dict]:
    return [r.data for r in items if isinstance(r, Record) and r.dataset == "bank.transaction"]


def mt940(tmp_path: Path, text: str) -> tuple[list, list[str]]:
    return read_with_notices(Mt940Importer(), write(tmp_path, text))


# --- MT940 ---------------------------------------------------------------------------------


def test_mt940_amounts_with_leading_zeros_or_without_a_decimal_comma(tmp_path: Path) -> None:
    # Rabobank pads balances with zeros; Knab writes whole amounts without a comma.
    text = (
        f":20:940S260504\n:25:{IBAN}\n:28C:1/1\n:60F:C260504EUR0000000001000,89\n"
        ":61:2605040504D500NTRFNONREF//B1\n:86:Rent\n:62F:C260504EUR0000000000500,89\n-\n"
    )
    items, notices = mt940(tmp_path, text)
    assert [t["amount"] for t in transactions(items)] == ["-500.00"] and notices == []
    [account] = [r.data for r in items if r.dataset == "bank.account"]
    assert account["balance"] == "500.89"


def test_mt940_etx_trailer_after_the_closing_balance(tmp_path: Path) -> None:
    # mBank (Poland) ends each message with "-" and an ETX byte, and starts the next with SOH.
    one = f":20:ST1\n:25:{IBAN}\n:28C:1/1\n:60F:C260504PLN10,00\n:61:2605040504C0,43NTRFNONREF//M1\n"
    two = f":20:ST2\n:25:{IBAN}\n:28C:2/1\n:60F:C260505PLN10,43\n:61:2605050505D0,43NTRFNONREF//M2\n"
    text = one + ":62F:C260504PLN10,43\n:64:C260504PLN10,43\n-\x03\n\x01\n" + two + ":62F:C260505PLN10,00\n-\x03\n"
    items, notices = mt940(tmp_path, text)
    assert [t["amount"] for t in transactions(items)] == ["0.43", "-0.43"] and notices == []


def test_mt940_statement_without_a_reference_field(tmp_path: Path) -> None:
    # German savings banks' downloads start at :25:.
    text = f":25:{IBAN}\n:28C:1/1\n:60F:C260504EUR10,00\n:61:2605040504D2,50NTRFNONREF//S1\n:62F:C260504EUR7,50\n-\n"
    assert [t["amount"] for t in transactions(mt940(tmp_path, text)[0])] == ["-2.50"]


def test_mt942_interim_report_without_balances(tmp_path: Path) -> None:
    text = (
        f":20:ST260504CYC/1\n:25:{IBAN}\n:28C:1/1\n:34F:PLN0\n:13D:2605041815+0100\n"
        ":61:2605040504CN0,01NTRFNONREF//MB1\n:86:911 TRANSAKCJA\n:90D:0PLN0,00\n:90C:1PLN0,01\n-\n"
    )
    items, _ = mt940(tmp_path, text)
    assert [(t["amount"], t["currency"]) for t in transactions(items)] == [("0.01", "PLN")]
    assert not [r for r in items if r.dataset == "bank.account"]  # no booked balance in an MT942
    cut = text[: text.index(":90D:")]
    with pytest.raises(ImportFailed, match="MT942 report is not ended"):
        mt940(tmp_path, cut)


def test_mt940_value_date_past_the_months_end_is_its_last_day_and_raw_says_so(tmp_path: Path) -> None:
    text = f":20:S\n:25:{IBAN}\n:28C:1\n:60F:C160229EUR10,00\n:61:1602300301D1,00NMSCNONREF\n:62F:C160301EUR9,00\n-\n"
    items, _ = mt940(tmp_path, text)
    [record] = [r for r in items if r.dataset == "bank.transaction"]
    assert (record.data["value_on"], record.data["booked_on"]) == ("2016-02-29", "2016-03-01")
    assert "160230" in record.raw["line"] and "160230 read as 2016-02-29" in record.raw["dates_mapped"]


def test_mt940_statement_that_does_not_add_up_is_imported_with_a_notice(tmp_path: Path) -> None:
    text = (
        f":20:S1\n:25:{IBAN}\n:28C:7/1\n:60F:C260504EUR100,00\n"
        ":61:2605040504D12,50NTRFNONREF//B1\n:62F:C260504EUR90,00\n-\n"
    )
    items, notices = mt940(tmp_path, text)
    assert [t["amount"] for t in transactions(items)] == ["-12.50"]
    [notice] = notices
    assert f"statement 1 (account {IBAN}, closing balance of 2026-05-04) does not add up" in notice
    assert "difference of 2.50" in notice


def test_mt940_last_statement_without_its_dash_is_taken_when_complete(tmp_path: Path) -> None:
    body = f":20:S1\n:25:{IBAN}\n:28C:1\n:60F:C260504EUR100,00\n:61:2605040504D12,50NTRFNONREF//B1\n"
    items, notices = mt940(tmp_path, body + ":62F:C260504EUR90,00\n")  # does not add up, but whole
    assert len(transactions(items)) == 1 and "does not add up" in notices[0]
    with pytest.raises(ImportFailed, match="looks truncated"):  # cut inside the closing amount
        mt940(tmp_path, body + ":62F:C260504EUR90,0")
    with pytest.raises(ImportFailed, match="without its closing balance"):  # cut before it
        mt940(tmp_path, body)


def test_mt940_statement_line_with_funds_code_and_space_padded_type(tmp_path: Path) -> None:
    # A Hungarian bank: funds code F, type "S" padded with spaces, non-SWIFT :NS: fields.
    text = (
        f":20:STARTUMS\n:25:{IBAN}\n:28:00046\n:NS:22JOHN DOE\n:60F:C171011HUF627311,30\n"
        ":61:1710111011DF2402,00S   X\n:NS:01526715\n:62F:C171011HUF624909,30\n-\n"
    )
    items, notices = mt940(tmp_path, text)
    assert [t["amount"] for t in transactions(items)] == ["-2402.00"] and notices == []


def test_mt940_closing_balance_without_currency(tmp_path: Path) -> None:
    text = f":20:S\n:25:{IBAN}\n:28:1/1\n:60F:C020315DEM0,00\n:61:020322CM20000,00NCHG\n:62M:C02031520000,00\n-\n"
    items, notices = mt940(tmp_path, text)
    assert [t["amount"] for t in transactions(items)] == ["20000.00"] and notices == []
    [account] = [r.data for r in items if r.dataset == "bank.account"]
    assert (account["balance"], account["currency"]) == ("20000.00", "DEM")


# --- OFX -----------------------------------------------------------------------------------

OFX_HEAD = "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nSECURITY:NONE\nENCODING:USASCII\nCHARSET:1252\n"
OFX_HEAD += "COMPRESSION:NONE\nOLDFILEUID:NONE\nNEWFILEUID:NONE\n\n"


def ofx_statement(trn: str, start: str = "20260501", balance: str = "100.00") -> str:
    return (
        OFX_HEAD + "<OFX><SIGNONMSGSRSV1><SONRS><STATUS><CODE>0<SEVERITY>INFO</STATUS><DTSERVER>20260504"
        "<LANGUAGE>ENG</SONRS></SIGNONMSGSRSV1><BANKMSGSRSV1><STMTTRNRS><TRNUID>1<STATUS><CODE>0<SEVERITY>INFO"
        "</STATUS><STMTRS><CURDEF>EUR<BANKACCTFROM><BANKID>30004<ACCTID>0001<ACCTTYPE>CHECKING</BANKACCTFROM>"
        f"<BANKTRANLIST><DTSTART>{start}<DTEND>20260504{trn}</BANKTRANLIST>"
        f"<LEDGERBAL><BALAMT>{balance}<DTASOF>20260504</LEDGERBAL></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n"
    )


def stmttrn(amount: str, name: str = "SHOP", posted: str = "20260503") -> str:
    return f"<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>{posted}<TRNAMT>{amount}<FITID>F{amount}<NAME>{name}</STMTTRN>"


def ofx(tmp_path: Path, text: str) -> list:
    return read_with_notices(OfxImporter(), write(tmp_path, text, "s.ofx"))[0]


def test_ofx_amount_with_plus_sign_space_thousands_and_decimal_comma(tmp_path: Path) -> None:
    # A French bank's Money export: "+1 006,60".
    items = ofx(tmp_path, ofx_statement(stmttrn("+1 006,60") + stmttrn("-12,5"), balance="+1 006,60"))
    assert [t["amount"] for t in transactions(items)] == ["1006.60", "-12.5"]
    [account] = [r.data for r in items if r.dataset == "bank.account"]
    assert Decimal(account["balance"]) == Decimal("1006.60")
    with pytest.raises(ImportFailed, match="not an OFX amount"):  # a space that groups nothing stays refused
        ofx(tmp_path, ofx_statement(stmttrn("1 00,60")))


def test_ofx_zero_date_means_no_date(tmp_path: Path) -> None:
    trn = stmttrn("-1.00").replace("<TRNAMT>", "<DTUSER>00000000<TRNAMT>")
    text = ofx_statement(trn, start="00000000").replace("<DTASOF>20260504", "<DTASOF>00000000")
    items = ofx(tmp_path, text.replace("<DTEND>20260504", "<DTEND>00000000"))
    assert [(t["booked_on"], t.get("transacted_on")) for t in transactions(items)] == [("2026-05-03", None)]
    [account] = [r for r in items if r.dataset == "bank.account"]
    assert account.ts.date() == date(2026, 5, 4) and "balance_at" not in account.data  # as of the server's date
    with pytest.raises(ImportFailed, match="DTPOSTED"):  # a transaction still needs its own date
        ofx(tmp_path, ofx_statement(stmttrn("-1.00", posted="00000000")))


def test_ofx_cdata_is_character_data_and_doctype_stays_refused(tmp_path: Path) -> None:
    # An Australian bank's OFX 2 file wraps NAME and MEMO in CDATA sections.
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<?OFX OFXHEADER="200" VERSION="211" SECURITY="NONE" '
        'OLDFILEUID="NONE" NEWFILEUID="NONE"?>\n<OFX><BANKMSGSRSV1><STMTTRNRS><TRNUID>1</TRNUID><STATUS><CODE>0'
        "</CODE><SEVERITY>INFO</SEVERITY></STATUS><STMTRS><CURDEF>AUD</CURDEF><BANKACCTFROM><BANKID>484799"
        "</BANKID><ACCTID>123456789</ACCTID><ACCTTYPE>CHECKING</ACCTTYPE></BANKACCTFROM><BANKTRANLIST>"
        "<DTSTART>20260501</DTSTART><DTEND>20260504</DTEND><STMTTRN><TRNTYPE>DEBIT</TRNTYPE>"
        "<DTPOSTED>20260503</DTPOSTED><TRNAMT>-24.10</TRNAMT><FITID>9001</FITID>"
        "<NAME><![CDATA[EFTPOS WDL ALDI & CO <GEELONG>]]></NAME><MEMO><![CDATA[WEST VIC AU]]></MEMO>"
        "</STMTTRN></BANKTRANLIST><LEDGERBAL><BALAMT>75.90</BALAMT><DTASOF>20260504</DTASOF></LEDGERBAL>"
        "</STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n"
    )
    [trn] = transactions(ofx(tmp_path, xml))
    assert trn["amount"] == "-24.10" and trn["counterparty"] == "EFTPOS WDL ALDI & CO <GEELONG>"
    assert trn["description"] == "WEST VIC AU"
    with pytest.raises(ImportFailed, match="DOCTYPE"):
        ofx(tmp_path, xml.replace("<OFX>", '<!DOCTYPE OFX [<!ENTITY x "y">]><OFX>', 1))
    with pytest.raises(ImportFailed):  # a CDATA section left open is a cut file
        ofx(tmp_path, xml[: xml.index("]]></MEMO>")])


# --- QIF -----------------------------------------------------------------------------------


def test_qif_transactions_before_any_type_header_are_a_bank_register(tmp_path: Path) -> None:
    text = "D01/05/2026\nT-12.50\nPCorner shop\n^\nD01/06/2026\nT100.00\nPSalary\n^\n"
    p = write(tmp_path, text, "s.qif")
    items, _ = read_with_notices(QifImporter(), p, {"currency": "USD", "date_format": "mdy"})
    assert [(t["booked_on"], t["amount"], t["account_id"]) for t in transactions(items)] == [
        (date(2026, 1, 5).isoformat(), "-12.50", "qif-bank"),
        (date(2026, 1, 6).isoformat(), "100.00", "qif-bank"),
    ]
    with pytest.raises(ImportFailed, match="line 1"):  # text that is no QIF record is still refused
        read_with_notices(QifImporter(), write(tmp_path, "hello world\n" * 3, "t.qif"), {"currency": "USD"})


# --- What selfdata tells of notices --------------------------------------------------------

UNBALANCED = (
    f":20:S1\n:25:{IBAN}\n:28C:7/1\n:60F:C260504EUR100,00\n"
    ":61:2605040504D12,50NTRFNONREF//B1\n:62F:C260504EUR90,00\n-\n"
)
BALANCED = (
    f":20:S2\n:25:{IBAN}\n:28C:8/1\n:60F:C260505EUR87,50\n:61:2605050505D7,50NTRFNONREF//B2\n:62F:C260505EUR80,00\n-\n"
)


def test_notices_reach_the_import_output_the_run_and_the_sources_warning(
    initialised: Path, run: Cli, tmp_path: Path
) -> None:
    out = run("import", str(write(tmp_path, UNBALANCED)), "--source", "giro").output
    assert "2 new" in out and "notice: statement.sta: statement 1" in out and "does not add up" in out
    [latest] = json.loads(run("runs", "giro", "--json").output)[:1]
    assert latest["status"] == "ok" and "difference of 2.50" in latest["detail"]["notices"][0]
    warning = json.loads(run("source", "show", "giro", "--json").output)["warning"]
    assert warning.startswith("statement.sta: statement 1") and "does not add up" in warning
    [giro] = [s for s in json.loads(run("status", "--json").output)["sources"] if s["name"] == "giro"]
    assert giro["warning"] == warning and giro["health"] == "ok"
    # A later file whose balances add up ends the warning; its run has no notices
    out = run("import", str(write(tmp_path, BALANCED, "may.sta")), "--source", "giro").output
    assert "notice:" not in out
    assert json.loads(run("source", "show", "giro", "--json").output)["warning"] is None
    assert "notices" not in json.loads(run("runs", "giro", "--json").output)[0].get("detail", {})


def test_a_file_with_many_notices_keeps_the_first_and_counts_the_rest(tmp_path: Path) -> None:
    from connectors.sdk import Notice
    from daemon.sync.importing import NOTICES_KEPT, Reading

    read = Reading()
    for i in range(NOTICES_KEPT + 5):
        read.notice(Notice(f"s.sta: statement {i} does not add up\x1b[2J"), "s.sta")
    told = read.told()
    assert len(told) == NOTICES_KEPT + 1 and told[-1] == "and 5 more notices" and "\x1b" not in told[0]
    warning = read.warning("s.sta") or ""
    assert warning.startswith("s.sta: statement 0 does not add up") and f"(and {NOTICES_KEPT + 4} more:" in warning


def test_qif_bytes_that_are_not_utf8_are_read_as_windows_1252_and_said(tmp_path: Path) -> None:
    p = tmp_path / "a.qif"
    p.write_bytes(
        b"!Type:Bank\nD01/02/2026\nT-1.00\nPcaf\xe9\nLFood:\xc3\x28bad\n^\nD01/03/2026\nT-2.00\nPcr\xc3\xa8me\n^\n"
    )
    items, notices = read_with_notices(QifImporter(), p, {"currency": "EUR", "date_format": "mdy"})
    assert [t["counterparty"] for t in transactions(items)] == ["café", "crème"]  # valid UTF-8 stays UTF-8
    assert transactions(items)[0]["category"] == "Food:Ã(bad"
    assert notices == [
        "a.qif: 2 lines (the first: line 4) were not valid UTF-8 and were read as Windows-1252: check the accents"
        " of those payees and categories"
    ]
    again, _ = read_with_notices(QifImporter(), p, {"currency": "EUR", "date_format": "mdy"})
    assert [r.key for r in again] == [r.key for r in items]  # the same keys: a re-import adds nothing
