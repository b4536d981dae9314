"""The OFX/QFX importer against files written by the project's OFX generator."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.bank import ofx
from connectors.bank.ofx import OfxImporter
from connectors.sdk import Delete, Fragment, ImportFailed, Record
from connectors.testing.contract import ImporterContract, head_of
from connectors.testing.generators.ofx import Account, write_ofx
from connectors.testing.harness import import_file, read_file
from connectors.testing.memory import MemoryStore

from .invest_statements import brokerage_statement, investment_file

SGML_HEADER = (
    "OFXHEADER:100\r\nDATA:OFXSGML\r\nVERSION:102\r\nSECURITY:NONE\r\nENCODING:USASCII\r\n"
    "CHARSET:{charset}\r\nCOMPRESSION:NONE\r\nOLDFILEUID:NONE\r\nNEWFILEUID:NONE\r\n\r\n"
)
SIGNON = (
    "<SIGNONMSGSRSV1><SONRS><STATUS><CODE>0<SEVERITY>INFO</STATUS>"
    "<DTSERVER>20260131120000<LANGUAGE>ENG<FI><ORG>Test Bank<FID>1</FI></SONRS></SIGNONMSGSRSV1>"
)


def statement(transactions: str, acct: str = "1234", currency: str = "EUR", extra: str = "") -> str:
    return (
        "<BANKMSGSRSV1><STMTTRNRS><TRNUID>1<STATUS><CODE>0<SEVERITY>INFO</STATUS><STMTRS>"
        f"<CURDEF>{currency}<BANKACCTFROM><BANKID>99<ACCTID>{acct}<ACCTTYPE>CHECKING</BANKACCTFROM>"
        f"<BANKTRANLIST><DTSTART>20260101<DTEND>20260131\r\n{transactions}</BANKTRANLIST>"
        "<LEDGERBAL><BALAMT>100.00<DTASOF>20260131</LEDGERBAL>"
        f"{extra}</STMTRS></STMTTRNRS></BANKMSGSRSV1>"
    )


def trn(fitid: str, amount: str, name: str = "SHOP", posted: str = "20260115", extra: str = "") -> str:
    return (
        f"<STMTTRN>\r\n<TRNTYPE>DEBIT\r\n<DTPOSTED>{posted}\r\n<TRNAMT>{amount}\r\n"
        f"<FITID>{fitid}\r\n<NAME>{name}\r\n{extra}</STMTTRN>\r\n"
    )


def sgml(body: str, charset: str = "1252", encoding: str = "cp1252") -> bytes:
    return (SGML_HEADER.format(charset=charset) + "<OFX>" + SIGNON + body + "</OFX>\r\n").encode(encoding)


def write(tmp_path: Path, data: bytes, name: str = "statement.ofx") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def records(path: Path, settings: dict[str, Any] | None = None) -> list[Record]:
    return [i for i in read_file(OfxImporter(), path, settings) if isinstance(i, Record)]


def transactions(path: Path, settings: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    return {r.key: r.data for r in records(path, settings) if r.dataset == "bank.transaction"}


class TestOfxContract(ImporterContract):
    importer = OfxImporter

    def samples(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        return [
            write_ofx(folder / "sgml-1252.ofx", version=1, charset="1252", seed=1).path,
            write_ofx(folder / "xml.ofx", version=2, seed=2).path,
            write_ofx(folder / "sgml-utf8.qfx", version=1, charset="UTF-8", seed=3).path,
            write_ofx(folder / "card.ofx", accounts=(Account("5500XXXX0004", "CREDITCARD", "GBP"),), seed=4).path,
            investment_file(folder / "broker.ofx", [brokerage_statement()]),
            investment_file(folder / "retirement.ofx", [brokerage_statement("401K-0001")], xml=True),
        ]


@pytest.mark.parametrize(("version", "charset"), [(1, "1252"), (1, "ISO-8859-1"), (1, "NONE"), (1, "UTF-8"), (2, "")])
def test_every_transaction_and_balance_is_read_exactly(tmp_path: Path, version: int, charset: str) -> None:
    written = write_ofx(tmp_path / "s.ofx", version=version, charset=charset or "1252", per_account=30)
    got = records(written.path)
    trns = {r.key: r for r in got if r.dataset == "bank.transaction"}
    assert len(trns) == written.count == 90
    for acct, expected in written.transactions.items():
        for t in expected:
            r = trns[f"{acct}:{t['fitid']}"]
            assert r.data["amount"] == t["amount"]
            assert r.data["booked_on"] == t["posted"]
            assert r.data["transacted_on"] == t["user"]
            assert r.data["counterparty"] == t["name"]
            assert r.data["description"] == (t["memo"] or t["name"])
            assert r.data["currency"] == "USD" and r.data["status"] == "booked"
            assert r.ts.isoformat() == f"{t['posted']}T00:00:00+00:00"
            assert r.raw["trn"]["FITID"] == t["fitid"]
    accounts = {r.key: r.data for r in got if r.dataset == "bank.account"}
    assert {k: v["kind"] for k, v in accounts.items()} == {
        "000123456789": "checking",
        "000987654321": "savings",
        "4111XXXXXXXX1111": "credit_card",
    }
    for acct, data in accounts.items():
        assert Decimal(data["balance"]) == written.ledger[acct]
        assert Decimal(data["available_balance"]) == written.available[acct]
        assert data["balance_at"] == "2026-05-31T23:59:59-05:00"
        assert data["institution"] == "First Example Bank"
    assert accounts["4111XXXXXXXX1111"]["balance"].startswith("-")  # a card's debt is negative


def test_names_with_accents_and_escaped_characters(tmp_path: Path) -> None:
    written = write_ofx(tmp_path / "s.ofx", per_account=40, seed=5)
    names = {d["counterparty"] for d in transactions(written.path).values()}
    assert {"Café Rouge Islington", "Müller Drogerie", "M&S SIMPLY FOOD", "AMAZON MKTPLACE <UK>"} <= names


@pytest.mark.parametrize(("declared", "actual"), [("NONE", "utf-8"), ("1252", "utf-8"), ("1252", "cp1252")])
def test_a_lying_or_missing_charset_still_reads_names_right(tmp_path: Path, declared: str, actual: str) -> None:
    p = write(tmp_path, sgml(statement(trn("1", "-4.50", "Café Zürich")), charset=declared, encoding=actual))
    (data,) = transactions(p).values()
    assert data["counterparty"] == "Café Zürich" and data["amount"] == "-4.50"


def test_invalid_utf8_declared_as_utf8_falls_back_without_touching_amounts(tmp_path: Path) -> None:
    body = statement(trn("1", "-4.50", "Caf\u00e9"))
    p = write(tmp_path, sgml(body, encoding="cp1252").replace(b"ENCODING:USASCII", b"ENCODING:UTF-8"))
    (data,) = transactions(p).values()
    assert data["counterparty"] == "Café" and data["amount"] == "-4.50"


def test_signon_error_is_reported_as_such(tmp_path: Path) -> None:
    p = write_ofx(tmp_path / "refused.ofx", signon_error=True).path
    with pytest.raises(ImportFailed) as err:
        read_file(OfxImporter(), p)
    message = str(err.value)
    assert "refused.ofx" in message and "sign-on" in message and "15500" in message
    assert "Invalid user ID or password" in message


def test_statement_error_status_is_reported(tmp_path: Path) -> None:
    body = (
        "<BANKMSGSRSV1><STMTTRNRS><TRNUID>1<STATUS><CODE>2003<SEVERITY>ERROR"
        "<MESSAGE>No such account</STATUS></STMTTRNRS></BANKMSGSRSV1>"
    )
    p = write(tmp_path, sgml(body))
    with pytest.raises(ImportFailed, match=r"statement.ofx: line 11 .*2003 \(account not found\): No such account"):
        read_file(OfxImporter(), p)


def test_a_file_without_statements_is_refused(tmp_path: Path) -> None:
    p = write(tmp_path, sgml(""))
    with pytest.raises(ImportFailed, match="no bank, credit-card or investment statement"):
        read_file(OfxImporter(), p)


@pytest.mark.parametrize("cut_at", ["<TRNAMT>-12.5", "</STMTTRN>", "<LEDGERBAL>", "<DTPOSTED>2026"])
def test_truncated_files_fail_naming_file_and_line(tmp_path: Path, cut_at: str) -> None:
    data = sgml(statement(trn("1", "-12.50") + trn("2", "-3.00")))
    cut = data.index(cut_at.encode()) + len(cut_at)
    p = write(tmp_path, data[:cut], "cut.ofx")
    with pytest.raises(ImportFailed, match=r"cut\.ofx: line \d+ \(byte \d+\): .*(truncated|no DTPOSTED|OFX date)"):
        read_file(OfxImporter(), p)


def test_truncated_header_fails(tmp_path: Path) -> None:
    p = write(tmp_path, SGML_HEADER.format(charset="1252")[:60].encode(), "head.ofx")
    with pytest.raises(ImportFailed, match="head.ofx"):
        read_file(OfxImporter(), p)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (statement(trn("1", "-1.00")).replace("</BANKTRANLIST>", "</BANKTRANLIST></FOO>"), "</FOO> closes no open"),
        (statement(trn("1", "-1.00")).replace("</BANKACCTFROM>", "</BANKACCTFROM>stray"), "after </BANKACCTFROM>"),
        (statement(trn("1", "-1.00")).replace("<FITID>1", "<FITID 1"), "malformed tag"),
        (statement(trn("1", "-1.00")).replace("<FITID>1\r\n", ""), "no FITID"),
        (statement(trn("1", "one euro")), "not an OFX amount"),
        (statement(trn("1", "-1.00", posted="2026-01-15")), "not an OFX date"),
        (statement(trn("1", "-1.00"), currency="euro"), "not an ISO 4217 currency"),
        (statement(trn("1", "-1.00", extra="<CURRENCY><CURRATE>1<CURSYM>$$$</CURRENCY>")), "CURSYM '$$$'"),
    ],
)
def test_malformed_files_fail_with_the_position(tmp_path: Path, body: str, message: str) -> None:
    p = write(tmp_path, sgml(body), "bad.ofx")
    with pytest.raises(ImportFailed, match=r"bad\.ofx: line \d+") as err:
        read_file(OfxImporter(), p)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("written", "amount"),
    [("-12,50", "-12.50"), ("+1234.5", "1234.5"), (".99", "0.99"), ("-0.00", "0.00"), ("1000", "1000")],
)
def test_amount_forms_ofx_allows(tmp_path: Path, written: str, amount: str) -> None:
    (data,) = transactions(write(tmp_path, sgml(statement(trn("1", written))))).values()
    assert data["amount"] == amount


@pytest.mark.parametrize("written", ["-1,234.56", "1.234,56", "1 23,4", "12.5.1", "1e3", "--1"])
def test_amounts_ofx_does_not_allow_are_refused_not_guessed(tmp_path: Path, written: str) -> None:
    with pytest.raises(ImportFailed, match="not an OFX amount"):
        read_file(OfxImporter(), write(tmp_path, sgml(statement(trn("1", written)))))


XML_PROLOG = '<?xml version="1.0" encoding="UTF-8"?>\n<?OFX OFXHEADER="200" VERSION="220"?>\n'


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE OFX [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
        '<!DOCTYPE OFX [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE OFX SYSTEM "http://127.0.0.1:9/ofx.dtd">',
    ],
)
def test_xml_bombs_and_external_entities_are_refused(tmp_path: Path, doctype: str) -> None:
    body = statement(trn("1", "-1.00", name="&b;&xxe;"))
    p = write(tmp_path, (XML_PROLOG + doctype + "<OFX>" + SIGNON + body + "</OFX>").encode(), "bomb.ofx")
    with pytest.raises(ImportFailed, match=r"bomb\.ofx: line \d+ .*declarations"):
        read_file(OfxImporter(), p)


def test_undeclared_entities_are_kept_as_text_never_expanded(tmp_path: Path) -> None:
    p = write(tmp_path, sgml(statement(trn("1", "-1.00", name="A &xxe; &#65;&#x42; &amp;"))))
    (data,) = transactions(p).values()
    assert data["counterparty"] == "A &xxe; AB &"


def test_a_file_of_another_format_is_refused(tmp_path: Path) -> None:
    p = write(tmp_path, b"Date,Amount\n2026-01-01,12.00\n", "export.ofx")
    assert not OfxImporter.sniff(head_of(p), p.name)
    with pytest.raises(ImportFailed, match="export.ofx.*not an OFX"):
        read_file(OfxImporter(), p)


def test_empty_elements_in_sgml_do_not_swallow_their_siblings(tmp_path: Path) -> None:
    p = write(tmp_path, sgml(statement(trn("1", "-2.00", extra="<MEMO>\r\n<CHECKNUM>1001\r\n"))))
    (record,) = [r for r in records(p) if r.dataset == "bank.transaction"]
    assert record.data["description"] == "SHOP" and record.data["amount"] == "-2.00"
    assert record.raw["trn"]["CHECKNUM"] == "1001" and record.raw["trn"]["MEMO"] == ""


def test_payee_aggregate_currency_and_dates(tmp_path: Path) -> None:
    extra = (
        "<DTAVAIL>20260117\r\n<PAYEE><NAME>Hotel Lutetia<ADDR1>45 bd Raspail<CITY>Paris"
        "<POSTALCODE>75006<PHONE>0</PAYEE><CURRENCY><CURRATE>1.17<CURSYM>USD</CURRENCY>\r\n"
    )
    body = statement(trn("9", "-230.00", extra=extra).replace("<NAME>SHOP\r\n", ""))
    (data,) = transactions(write(tmp_path, sgml(body))).values()
    assert data["counterparty"] == "Hotel Lutetia" and data["currency"] == "USD"
    assert (data["booked_on"], data["value_on"]) == ("2026-01-15", "2026-01-17")


def test_several_statements_of_one_account_keep_the_latest_balance(tmp_path: Path) -> None:
    older = statement(trn("1", "-1.00")).replace("<BALAMT>100.00<DTASOF>20260131", "<BALAMT>50.00<DTASOF>20260101")
    newer = statement(trn("2", "-2.00"))
    got = records(write(tmp_path, sgml(newer + older)))
    (account,) = [r for r in got if r.dataset == "bank.account"]
    assert account.data["balance"] == "100.00" and account.data["balance_at"] == "2026-01-31T00:00:00+00:00"
    assert len([r for r in got if r.dataset == "bank.transaction"]) == 2


def test_reused_fitid_keeps_two_different_transactions_apart(tmp_path: Path) -> None:
    p = write(tmp_path, sgml(statement(trn("7", "-1.00") + trn("7", "-2.00") + trn("7", "-1.00"))))
    got = transactions(p)
    assert {k: v["amount"] for k, v in got.items()} == {"1234:7": "-1.00", "1234:7#2": "-2.00"}
    store = MemoryStore()
    import_file(OfxImporter(), p, store)
    assert (import_file(OfxImporter(), p, store).new, len(store.records)) == (0, 3)


def test_corrections_replace_and_delete_earlier_transactions(tmp_path: Path) -> None:
    store = MemoryStore()
    first = write(tmp_path, sgml(statement(trn("1", "-10.00") + trn("2", "-20.00"))), "jan.ofx")
    import_file(OfxImporter(), first, store)
    fixes = trn("1b", "-11.00", extra="<CORRECTFITID>1\r\n<CORRECTACTION>REPLACE\r\n") + trn(
        "2c", "0", extra="<CORRECTFITID>2\r\n<CORRECTACTION>DELETE\r\n"
    )
    second = write(tmp_path, sgml(statement(fixes)), "feb.ofx")
    items = read_file(OfxImporter(), second)
    assert [i.keys for i in items if isinstance(i, Delete)] == [("1234:1",), ("1234:2",)]
    import_file(OfxImporter(), second, store)
    left = {k[1]: v for k, v in store.records.items() if k[0] == "bank.transaction"}
    assert set(left) == {"1234:1b"} and '"-11.00"' in left["1234:1b"][1]


def test_overlapping_downloads_add_only_new_transactions(tmp_path: Path) -> None:
    store = MemoryStore()
    early = write_ofx(tmp_path / "early.ofx", per_account=40, window=(0, 25)).path
    late = write_ofx(tmp_path / "late.ofx", per_account=40, window=(15, 40)).path
    import_file(OfxImporter(), early, store)
    counts = import_file(OfxImporter(), late, store)
    assert counts.new == 3 * 15  # transactions 25..39 of each of the three accounts
    assert len([k for k in store.records if k[0] == "bank.transaction"]) == 3 * 40


def test_header_less_sgml_and_xml_with_comments(tmp_path: Path) -> None:
    bare = write(tmp_path, ("<OFX>" + SIGNON + statement(trn("1", "-1.00")) + "</OFX>").encode(), "bare.ofx")
    assert OfxImporter.sniff(head_of(bare), bare.name)
    assert len(transactions(bare)) == 1
    xml = write_ofx(tmp_path / "x.ofx", version=2, per_account=5).path
    text = xml.read_text().replace("<BANKTRANLIST>", "<!-- list < of > transactions --><BANKTRANLIST>")
    commented = write(tmp_path, text.encode(), "commented.ofx")
    assert transactions(commented) == transactions(xml)


def test_chunk_boundaries_do_not_change_the_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    xml = write_ofx(tmp_path / "x.ofx", version=2, per_account=12).path
    text = xml.read_text().replace("<BANKTRANLIST>", "<!-- a comment that spans chunks --><BANKTRANLIST>")
    xml.write_text(text)
    sgml_file = write_ofx(tmp_path / "s.ofx", version=1, per_account=12).path
    expected = [records(xml), records(sgml_file)]
    for size in (7, 64, 1000):
        monkeypatch.setattr(ofx.reader, "CHUNK", size)
        assert [records(xml), records(sgml_file)] == expected


def test_settings_timezone_and_inverted_amounts(tmp_path: Path) -> None:
    p = write(tmp_path, sgml(statement(trn("1", "12.00"))))
    got = records(p, {"timezone": "America/New_York", "invert_amounts": True})
    account = next(r for r in got if r.dataset == "bank.account")
    assert account.data["balance_at"] == "2026-01-31T00:00:00-05:00" and account.data["balance"] == "-100.00"
    assert next(r for r in got if r.dataset == "bank.transaction").data["amount"] == "-12.00"
    as_text = records(p, {"invert_amounts": "false"})  # settings typed from text
    assert next(r for r in as_text if r.dataset == "bank.transaction").data["amount"] == "12.00"
    with pytest.raises(ImportFailed, match="timezone"):
        read_file(OfxImporter(), p, {"timezone": "Mars/Olympus"})
    with pytest.raises(ImportFailed, match="invert_amounts must be true or false"):
        read_file(OfxImporter(), p, {"invert_amounts": "maybe"})


def test_normalize_is_pure_over_the_stored_raw(tmp_path: Path) -> None:
    for r in records(write_ofx(tmp_path / "s.ofx", per_account=5).path):
        again = OfxImporter().normalize(Fragment(r.dataset, r.raw))
        assert again is not None and (again.key, again.ts, again.data) == (r.key, r.ts, r.data)


def test_sniff_needs_ofx_content_not_an_extension(tmp_path: Path) -> None:
    assert OfxImporter.sniff(b"\xef\xbb\xbf\r\nOFXHEADER:100\r\nDATA:OFXSGML", "download.txt")
    assert OfxImporter.sniff(XML_PROLOG.encode() + b"<OFX>", "x")
    assert not OfxImporter.sniff(b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022"/>', "x.ofx")
    assert not OfxImporter.sniff(b"Date,Type,Merchant/Description,Debit/Credit,Balance\r\n", "x.ofx")
