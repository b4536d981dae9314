"""The banks' own CSV layouts: each file is written here in the layout that bank's export
has (as recorded in open-source importers' tests and docs, see docs/sources/bank-files.md),
with made-up transactions, and must import without any setting."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connectors.bank.csvbanks import BANKS, PROFILES
from connectors.bank.csvfile import BankCsvImporter, _header_match
from connectors.sdk import Record
from connectors.testing.harness import read_file


@dataclass(frozen=True)
class Export:
    profile: str
    text: str
    rows: list[tuple[str, str, str]]  # (booked_on, amount, counterparty or description), in file order
    currency: str
    encoding: str = "utf-8"
    pending: int = 0
    balance: str | None = None
    extra: dict[str, Any] | None = None  # fields of the first transaction


EXPORTS = [
    Export(
        "chase",
        "Details,Posting Date,Description,Amount,Type,Balance,Check or Slip #\n"
        'DEBIT,12/01/2025,"ZELLE PAYMENT TO J SMITH 1234",-16.00,QUICKPAY_DEBIT, ,,\n'
        'CREDIT,11/28/2025,"PAYROLL ACME INC PPD ID: 123",2500.00,ACH_CREDIT,3512.79,,\n'
        'CHECK,11/27/2025,"CHECK 1043",-120.00,CHECK_PAID,1012.79,1043,\n',
        [
            ("2025-12-01", "-16.00", "ZELLE PAYMENT TO J SMITH 1234"),
            ("2025-11-28", "2500.00", "PAYROLL ACME INC PPD ID: 123"),
            ("2025-11-27", "-120.00", "CHECK 1043"),
        ],
        "USD",
        balance="3512.79",
        extra={"type": "QUICKPAY_DEBIT"},
    ),
    Export(
        "chase-card",
        "Transaction Date,Post Date,Description,Category,Type,Amount,Memo\n"
        "10/23/2025,10/24/2025,STARBUCKS STORE 05640,Food & Drink,Sale,-8.97,\n"
        "10/24/2025,10/24/2025,Payment Thank You - Web,,Payment,2519.13,\n",
        [("2025-10-24", "-8.97", "STARBUCKS STORE 05640"), ("2025-10-24", "2519.13", "Payment Thank You - Web")],
        "USD",
        extra={"transacted_on": "2025-10-23", "category": "Food & Drink", "type": "Sale"},
    ),
    Export(
        "bank-of-america",
        "Description,,Summary Amt.\n"
        'Beginning balance as of 11/01/2025,,"1,300.00"\n'
        'Total credits,,"1,000.00"\n'
        'Total debits,,"-150.00"\n'
        'Ending balance as of 11/30/2025,,"2,150.00"\n'
        "\n"
        "Date,Description,Amount,Running Bal.\n"
        '11/01/2025,Beginning balance as of 11/01/2025,,"1,300.00"\n'
        '11/03/2025,"BKOFAMERICA ATM 11/03 #000004905 WITHDRWL",-150.00,"1,150.00"\n'
        '11/06/2025,"ACME DES:PAYROLL ID:XXXXX",1000.00,"2,150.00"\n',
        [
            ("2025-11-03", "-150.00", "BKOFAMERICA ATM 11/03 #000004905 WITHDRWL"),
            ("2025-11-06", "1000.00", "ACME DES:PAYROLL ID:XXXXX"),
        ],
        "USD",
        balance="2150.00",
    ),
    Export(
        "capital-one-card",
        "Transaction Date,Posted Date,Card No.,Description,Category,Debit,Credit\n"
        "2025-12-30,2025-12-31,5158,ISLAND GRILL,Dining,15.98,\n"
        "2025-12-28,2025-12-29,5158,CAPITAL ONE MOBILE PYMT,Payment/Credit,,250.00\n",
        [("2025-12-31", "-15.98", "ISLAND GRILL"), ("2025-12-29", "250.00", "CAPITAL ONE MOBILE PYMT")],
        "USD",
        extra={"transacted_on": "2025-12-30", "category": "Dining"},
    ),
    Export(
        "amex",
        "Date,Description,Amount,Extended Details,Appears On Your Statement As,Address,City/State,Zip Code,"
        "Country,Reference,Category\n"
        '11/25/2025,UBER TRIP HELP.UBER.COM CA,23.41,"UBER TRIP\nHELP.UBER.COM",UBER TRIP HELP.UBER.COM,'
        '1455 MARKET ST,"SAN FRANCISCO\nCA",94103,UNITED STATES,320253290123456789,Travel-Ground Transportation\n'
        "11/20/2025,AUTOPAY PAYMENT - THANK YOU,-500.00,,AUTOPAY PAYMENT - THANK YOU,,,,,320253240987654321,"
        "Fees & Adjustments-Fees & Adjustments\n",
        [
            ("2025-11-25", "-23.41", "UBER TRIP HELP.UBER.COM CA"),  # charges are positive in the file
            ("2025-11-20", "500.00", "AUTOPAY PAYMENT - THANK YOU"),
        ],
        "USD",
        extra={"counterparty": "UBER TRIP HELP.UBER.COM", "category": "Travel-Ground Transportation"},
    ),
    Export(
        "monzo",
        "Transaction ID,Date,Time,Type,Name,Emoji,Category,Amount,Currency,Local amount,Local currency,"
        "Notes and #tags,Address,Receipt,Description,Category split,Money Out,Money In\n"
        "tx_0000A1,24/02/2026,17:44:34,Faster payment,Jane Doe,,Transfers,100.00,GBP,100.00,GBP,Rent share,,,"
        "Rent share,,,100.00\n"
        "tx_0000A2,25/02/2026,08:12:05,Card payment,Pret A Manger,\u2615,Eating out,-4.35,GBP,-4.35,GBP,,"
        "1 Main St,,PRET A MANGER LONDON GBR,,-4.35,\n",
        [("2026-02-24", "100.00", "Rent share"), ("2026-02-25", "-4.35", "PRET A MANGER LONDON GBR")],
        "GBP",
        extra={"counterparty": "Jane Doe", "type": "Faster payment", "category": "Transfers"},
    ),
    Export(
        "starling",
        "Date,Counter Party,Reference,Type,Amount (GBP),Balance (GBP),Spending Category,Notes\n"
        "01/03/2026,Acme Ltd,SALARY MARCH,FASTER PAYMENT,2000.00,2150.00,INCOME,\n"
        "02/03/2026,Tesco,TESCO STORES 3421,CONTACTLESS,-23.10,2126.90,GROCERIES,\n",
        [("2026-03-01", "2000.00", "SALARY MARCH"), ("2026-03-02", "-23.10", "TESCO STORES 3421")],
        "GBP",
        balance="2126.90",
        extra={"counterparty": "Acme Ltd", "category": "INCOME"},
    ),
    Export(
        "revolut",
        "Type,Product,Started Date,Completed Date,Description,Amount,Fee,Currency,State,Balance\n"
        "TOPUP,Current,2026-01-08 08:11:42,2026-01-08 08:12:12,Top-Up by *1234,500.00,0.00,EUR,COMPLETED,723.53\n"
        "CARD_PAYMENT,Current,2026-01-09 16:35:04,2026-01-10 14:51:42,Rimi,-21.58,0.00,EUR,COMPLETED,701.95\n"
        "CARD_PAYMENT,Current,2026-01-13 11:21:43,,store,-44.57,0.00,EUR,PENDING,\n"
        "CARD_PAYMENT,Current,2026-01-13 12:00:00,,declined shop,-10.00,0.00,EUR,DECLINED,\n",
        [
            ("2026-01-08", "500.00", "Top-Up by *1234"),
            ("2026-01-10", "-21.58", "Rimi"),
            ("2026-01-13", "-44.57", "store"),
        ],
        "EUR",
        pending=1,
        balance="701.95",
        extra={"transacted_on": "2026-01-08", "type": "TOPUP"},
    ),
    Export(
        "n26",
        '"Booking Date","Value Date","Partner Name","Partner Iban",Type,"Payment Reference","Account Name",'
        '"Amount (EUR)","Original Amount","Original Currency","Exchange Rate"\n'
        '2026-04-17,2026-04-17,"Bäckerei Schmidt",,Presentment,-,"Main Account",-3.20,3.20,EUR,1.0\n'
        '2026-04-18,2026-04-18,"ACME GmbH",DE89370400440532013000,"Credit Transfer","Gehalt April",'
        '"Main Account",2100.00,,,\n',
        [("2026-04-17", "-3.20", "-"), ("2026-04-18", "2100.00", "Gehalt April")],
        "EUR",
        extra={"counterparty": "Bäckerei Schmidt", "type": "Presentment", "value_on": "2026-04-17"},
    ),
    Export(
        "ing-nl",
        '"Datum","Naam / Omschrijving","Rekening","Tegenrekening","Code","Af Bij","Bedrag (EUR)","Mutatiesoort",'
        '"Mededelingen"\n'
        '"20260213","Albert Heijn 1234","NL99INGB0001234567","","BA","Af","12,34","Betaalautomaat",'
        '"Pasvolgnr: 001 13-02-2026 18:01"\n'
        '"20260212","J DE VRIES","NL99INGB0001234567","NL02ABNA0123456789","OV","Bij","1250,00","Overschrijving",'
        '"Naam: J DE VRIES Omschrijving: Huur"\n',
        [
            ("2026-02-13", "-12.34", "Pasvolgnr: 001 13-02-2026 18:01"),
            ("2026-02-12", "1250.00", "Naam: J DE VRIES Omschrijving: Huur"),
        ],
        "EUR",
        extra={"counterparty": "Albert Heijn 1234", "type": "Betaalautomaat"},
    ),
    Export(
        "dkb",
        '\ufeff"Girokonto";"DE12120300001020304050"\n'
        '""\n'
        '"Kontostand vom 24.09.2026:";"2.345,67 €"\n'
        '""\n'
        '"Buchungsdatum";"Wertstellung";"Status";"Zahlungspflichtige*r";"Zahlungsempfänger*in";"Verwendungszweck";'
        '"Umsatztyp";"IBAN";"Betrag (€)";"Gläubiger-ID";"Mandatsreferenz";"Kundenreferenz"\n'
        '"24.09.26";"24.09.26";"Gebucht";"Erika Musterfrau";"Muster Software GmbH";"Rechnung MS-10023";"Ausgang";'
        '"DE42500105175407324385";"-119,00 €";"";"";"MS-10023"\n'
        '"23.09.26";"23.09.26";"Vorgemerkt";"Beispiel Handel GmbH";"Erika Musterfrau";"Erstattung";"Eingang";'
        '"DE02120300000000202051";"1.250,50 €";"";"";""\n',
        [("2026-09-24", "-119.00", "Rechnung MS-10023"), ("2026-09-23", "1250.50", "Erstattung")],
        "EUR",
        pending=1,
        extra={"counterparty": "Muster Software GmbH", "type": "Ausgang"},
    ),
    Export(
        "dkb-legacy",
        '"Kontonummer:";"DE12120300001020304050 / Girokonto";\n'
        '"Von:";"01.12.2022";\n'
        '"Bis:";"31.12.2022";\n'
        '"Kontostand vom 31.12.2022:";"1.000,00 EUR";\n'
        '"Buchungstag";"Wertstellung";"Buchungstext";"Auftraggeber / Begünstigter";"Verwendungszweck";'
        '"Kontonummer";"BLZ";"Betrag (EUR)";"Gläubiger-ID";"Mandatsreferenz";"Kundenreferenz";\n'
        '"01.12.2022";"01.12.2022";"Lastschrift";"Stadtwerke Köln";"Abschlag Strom";"DE89370400440532013000";'
        '"COBADEFFXXX";"-85,00";"DE98ZZZ09999999999";"M-1";"";\n',
        [("2022-12-01", "-85.00", "Abschlag Strom")],
        "EUR",
        encoding="cp1252",
        extra={"counterparty": "Stadtwerke Köln", "type": "Lastschrift"},
    ),
    Export(
        "sparkasse",
        '"Auftragskonto";"Buchungstag";"Valutadatum";"Buchungstext";"Verwendungszweck";"Glaeubiger ID";'
        '"Mandatsreferenz";"Kundenreferenz (End-to-End)";"Sammlerreferenz";"Lastschrift Ursprungsbetrag";'
        '"Auslagenersatz Ruecklastschrift";"Beguenstigter/Zahlungspflichtiger";"Kontonummer/IBAN";'
        '"BIC (SWIFT-Code)";"Betrag";"Waehrung";"Info"\n'
        '"DE89370400440532013000";"02.10.26";"02.10.26";"KARTENZAHLUNG";"REWE SAGT DANKE 1234";"";"";'
        '"NOTPROVIDED";"";"";"";"REWE Markt GmbH";"DE02120300000000202051";"BYLADEM1001";"-23,45";"EUR";'
        '"Umsatz gebucht"\n'
        '"DE89370400440532013000";"01.10.2026";"01.10.2026";"GUTSCHR. UEBERWEISUNG";"Gehalt Oktober für Jürgen";"";'
        '"";"";"";"";"";"Arbeitgeber AG";"DE02500105170137075030";"INGDDEFFXXX";"3.210,00";"EUR";'
        '"Umsatz vorgemerkt"\n',
        [("2026-10-02", "-23.45", "REWE SAGT DANKE 1234"), ("2026-10-01", "3210.00", "Gehalt Oktober für Jürgen")],
        "EUR",
        encoding="cp1252",
        pending=1,
        extra={"counterparty": "REWE Markt GmbH", "type": "KARTENZAHLUNG"},
    ),
    Export(
        "commerzbank",
        "Buchungstag;Wertstellung;Umsatzart;Buchungstext;Betrag;Währung;Auftraggeberkonto;"
        "Bankleitzahl Auftraggeberkonto;IBAN Auftraggeberkonto;Kategorie\n"
        "28.11.2026;28.11.2026;Lastschrift;Stadtwerke Abschlag;-85,00;EUR;1234567890;20040000;"
        "DE89200400001234567890;Wohnen\n"
        "27.11.2026;27.11.2026;Gutschrift;Gehalt November;2.050,00;EUR;1234567890;20040000;"
        "DE89200400001234567890;Einnahmen\n",
        [("2026-11-28", "-85.00", "Stadtwerke Abschlag"), ("2026-11-27", "2050.00", "Gehalt November")],
        "EUR",
        extra={"type": "Lastschrift", "category": "Wohnen"},
    ),
]


def recognised_by(text: str) -> str | None:
    lines = text.lstrip("\ufeff").splitlines()[:30]
    return next((p.name for p in PROFILES.values() if _header_match(p, lines) is not None), None)


def test_every_bank_profile_has_an_export_here() -> None:
    assert {p.name for p in BANKS} == {e.profile for e in EXPORTS}


@pytest.mark.parametrize("export", EXPORTS, ids=[e.profile for e in EXPORTS])
def test_a_bank_export_imports_without_settings(tmp_path: Path, export: Export) -> None:
    path = tmp_path / f"{export.profile}.csv"
    data = export.text.encode(export.encoding)
    path.write_bytes(data)
    assert BankCsvImporter.sniff(data[:65536], "download.csv")
    assert recognised_by(export.text) == export.profile
    got = [r for r in read_file(BankCsvImporter(), path) if isinstance(r, Record)]
    trns = [r.data for r in got if r.dataset == "bank.transaction"]
    assert [(d["booked_on"], d["amount"], d["description"] or d["counterparty"]) for d in trns] == export.rows
    assert {d["currency"] for d in trns} == {export.currency}
    assert sum(d["status"] == "pending" for d in trns) == export.pending
    assert {k: trns[0].get(k) for k in export.extra or {}} == (export.extra or {})
    accounts = [r.data for r in got if r.dataset == "bank.account"]
    assert [a["balance"] for a in accounts] == ([export.balance] if export.balance else [])
    keys = [r.key for r in got if r.dataset == "bank.transaction"]
    assert len(set(keys)) == len(keys)


def test_monzo_keys_are_its_transaction_ids(tmp_path: Path) -> None:
    monzo = next(e for e in EXPORTS if e.profile == "monzo")
    path = tmp_path / "monzo.csv"
    path.write_text(monzo.text, encoding="utf-8")
    keys = [r.key for r in read_file(BankCsvImporter(), path) if isinstance(r, Record)]
    assert keys == ["csv-account:tx_0000A1", "csv-account:tx_0000A2"]


def test_a_bank_profile_can_be_chosen_and_overridden(tmp_path: Path) -> None:
    chase = next(e for e in EXPORTS if e.profile == "chase")
    path = tmp_path / "c.csv"
    path.write_text(chase.text, encoding="utf-8")
    got = [r.data for r in read_file(BankCsvImporter(), path, {"profile": "chase", "currency": "CAD"})]
    assert {d["currency"] for d in got} == {"CAD"}
    with pytest.raises(Exception, match="no header with the columns of profile monzo"):
        read_file(BankCsvImporter(), path, {"profile": "monzo"})


def test_ing_nl_semicolon_export_with_an_extra_column(tmp_path: Path) -> None:
    path = tmp_path / "ing.csv"
    path.write_text(
        "Datum;Naam / Omschrijving;Rekening;Tegenrekening;Code;Af Bij;Bedrag (EUR);Mutatiesoort;Mededelingen;Tag\n"
        "20260301;Jumbo;NL99INGB0001234567;;BA;Af;7,89;Betaalautomaat;Pasvolgnr: 002;boodschappen\n"
        "20260302;Werkgever BV;NL99INGB0001234567;NL02ABNA0123456789;OV;Bij;1800,00;Overschrijving;Salaris maart;\n",
        encoding="utf-8",
    )
    data = [r.data for r in read_file(BankCsvImporter(), path) if isinstance(r, Record)]
    assert [(d["booked_on"], d["amount"], d["counterparty"]) for d in data] == [
        ("2026-03-01", "-7.89", "Jumbo"),
        ("2026-03-02", "1800.00", "Werkgever BV"),
    ]
