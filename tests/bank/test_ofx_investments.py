"""OFX investment statements (INVSTMTRS): trades, income, positions, balances and the
securities list, from statements written in the shapes brokers download them."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.bank.ofx import OfxImporter
from connectors.sdk import Fragment, ImportFailed, Record, datasets
from connectors.testing.harness import import_file, read_file
from connectors.testing.memory import MemoryStore

from ..conftest import Cli
from .invest_statements import (
    ETF,
    FUND,
    STOCK,
    Holding,
    Security,
    Statement,
    Trade,
    brokerage_statement,
    investment_file,
)
from .test_ofx import statement, trn


def records(path: Path) -> list[Record]:
    return [r for r in read_file(OfxImporter(), path) if isinstance(r, Record)]


def by_dataset(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for r in records(path):
        out.setdefault(r.dataset, {})[r.key] = r.data
    return out


@pytest.mark.parametrize("xml", [False, True], ids=["sgml-1.x", "xml-2.x"])
def test_trades_income_and_transfers_are_read_exactly_with_their_security(tmp_path: Path, xml: bool) -> None:
    got = by_dataset(investment_file(tmp_path / "broker.ofx", [brokerage_statement()], xml=xml))
    trades = got["invest.transaction"]
    assert set(trades) == {f"X12345678:T{n}" for n in range(1, 7)}
    buy = trades["X12345678:T1"]
    assert buy == {
        **buy,
        "kind": "buy",
        "action": "BUYSTOCK/BUY",
        "security_id": "458140100",
        "id_type": "CUSIP",
        "ticker": "INTC",
        "name": "INTEL CORP",
        "units": "100.00000",  # decimals exactly as written
        "unit_price": "25.635000000",
        "commission": "7.9500",
        "fees": "0.0000",
        "total": "-2571.4500",
        "currency": "USD",
        "traded_on": "2026-01-05",
        "held_in": "CASH",
    }
    sell = trades["X12345678:T2"]
    assert (sell["kind"], sell["action"], sell["units"], sell["total"], sell["ticker"]) == (
        "sell",
        "SELLSTOCK/SELL",
        "-8.00000",
        "1089.3000",
        "SPY",
    )
    income = trades["X12345678:T3"]
    assert (income["kind"], income["income_type"], income["total"], income["description"]) == (
        "income",
        "dividend",
        "5.53",
        "DIVIDEND RECEIVED",
    )
    reinvest = trades["X12345678:T4"]
    assert (reinvest["kind"], reinvest["units"], reinvest["unit_price"], reinvest["name"]) == (
        "reinvest",
        "0.04812",
        "101.10",
        FUND.name,
    )
    fund = trades["X12345678:T5"]
    assert (fund["action"], fund["settled_on"], fund["ticker"]) == ("BUYMF/BUY", "2026-01-26", "VTSAX")
    transfer = trades["X12345678:T6"]
    assert (transfer["kind"], transfer["action"], transfer["units"], transfer["total"]) == (
        "transfer",
        "TRANSFER/IN",
        "3.000",
        None,
    )
    for data in trades.values():
        datasets.InvestTransaction.validate(data)


@pytest.mark.parametrize("xml", [False, True], ids=["sgml-1.x", "xml-2.x"])
def test_positions_balances_and_securities(tmp_path: Path, xml: bool) -> None:
    got = by_dataset(investment_file(tmp_path / "broker.ofx", [brokerage_statement()], xml=xml))
    positions = got["invest.position"]
    assert len(positions) == 3
    intel = positions["X12345678:2026-01-31:CUSIP:458140100:CASH:LONG"]
    assert intel == {
        "account_id": "X12345678",
        "security_id": "458140100",
        "id_type": "CUSIP",
        "ticker": "INTC",
        "name": "INTEL CORP",
        "kind": "stock",
        "held_in": "cash",
        "position": "long",
        "units": "103.00000",
        "unit_price": "24.1900000",
        "market_value": "2491.57",
        "currency": "USD",
        "as_of": "2026-01-31",
        "priced_at": "2026-01-31T16:00:00-05:00",
    }
    fund = next(p for p in positions.values() if p["ticker"] == "VTSAX")
    assert (fund["kind"], fund["held_in"]) == ("mutual_fund", "other")
    account = got["invest.account"]["X12345678"]
    assert account["cash_balance"] == "1500.25"
    assert Decimal(account["market_value"]) == Decimal("2491.57") + Decimal("5760.72") + Decimal("1005.07")
    assert (account["institution"], account["broker_id"], account["margin_balance"]) == (
        "Example Brokerage",
        "broker.example.com",
        "0.00",
    )
    assert account["balance_at"] == "2026-01-31T16:00:00-05:00"
    securities = got["invest.security"]
    assert securities["CUSIP:922908728"] == {
        "security_id": "922908728",
        "id_type": "CUSIP",
        "ticker": "VTSAX",
        "name": FUND.name,
        "kind": "mutual_fund",
        "currency": None,
        "unit_price": "101.27",
        "price_at": "2026-01-31T00:00:00+00:00",
    }
    assert {s["kind"] for s in securities.values()} == {"stock", "mutual_fund"}


def test_cash_movements_are_bank_transactions_of_the_investment_account(tmp_path: Path) -> None:
    got = by_dataset(investment_file(tmp_path / "broker.ofx", [brokerage_statement()]))
    cash = got["bank.transaction"]
    assert {k: (v["amount"], v["booked_on"], v["counterparty"]) for k, v in cash.items()} == {
        "X12345678:C1": ("5000.00", "2026-01-02", "ELECTRONIC FUNDS TRANSFER RCVD"),
        "X12345678:C2": ("-0.97", "2026-01-31", "LATE SETTLEMENT FEE"),
    }
    account = got["bank.account"]["X12345678"]
    assert (account["kind"], account["balance"], account["currency"]) == ("investment", "1500.25", "USD")


def test_a_statement_without_securities_list_keeps_the_ids(tmp_path: Path) -> None:
    f = investment_file(tmp_path / "b.ofx", [brokerage_statement()], securities=[])
    got = by_dataset(f)
    assert "invest.security" not in got
    buy = got["invest.transaction"]["X12345678:T1"]
    assert (buy["security_id"], buy["ticker"], buy["name"]) == ("458140100", None, None)


def test_several_accounts_and_a_bank_statement_in_one_file(tmp_path: Path) -> None:
    ira = dataclasses.replace(brokerage_statement("IRA-998877"), available_cash=None, cash=[])
    f = investment_file(tmp_path / "two.ofx", [brokerage_statement(), ira], xml=True)
    got = by_dataset(f)
    assert set(got["invest.account"]) == {"X12345678", "IRA-998877"}
    assert got["invest.account"]["IRA-998877"]["cash_balance"] is None
    assert len(got["invest.transaction"]) == 12 and len(got["invest.position"]) == 6
    assert set(got["bank.account"]) == {"X12345678"}  # the IRA has no cash side in this file
    mixed = tmp_path / "mixed.ofx"
    text = f.read_bytes().decode()
    bank = statement(trn("B1", "-12.50")).replace("\r\n", "")
    # A bank statement in SGML shape inside an XML file would not close its leaves: keep to XML.
    mixed.write_text(text.replace("<INVSTMTMSGSRSV1>", _xml(bank) + "<INVSTMTMSGSRSV1>"))
    got = by_dataset(mixed)
    assert set(got["bank.account"]) == {"X12345678", "1234"} and "1234:B1" in got["bank.transaction"]


def _xml(sgml_body: str) -> str:
    """Close the leaves of a bank statement written in SGML shape."""
    import re

    return re.sub(r"<([A-Z0-9.]+)>([^<]+)", lambda m: f"<{m[1]}>{m[2]}</{m[1]}>", sgml_body)


def test_reimport_is_stable_and_normalize_is_pure(tmp_path: Path) -> None:
    f = investment_file(tmp_path / "b.ofx", [brokerage_statement()])
    store = MemoryStore()
    first = import_file(OfxImporter(), f, store)
    assert first.new == 6 + 3 + 1 + 3 + 2 + 1  # trades, positions, account, securities, cash moves, cash account
    again = import_file(OfxImporter(), f, store)
    assert (again.new, again.changed) == (0, 0)
    for r in records(f):
        back = OfxImporter().normalize(Fragment(r.dataset, r.raw))
        assert back is not None and (back.key, back.ts, back.data) == (r.key, r.ts, r.data)


def test_a_later_statement_adds_a_dated_snapshot_of_positions(tmp_path: Path) -> None:
    january = brokerage_statement()
    february = dataclasses.replace(
        january,
        as_of="20260227160000.000[-5:EST]",
        trades=[Trade("SELLSTOCK", "T9", "20260210", STOCK, "-103.00000", "26.00", "2670.05", "7.95")],
        holdings=[Holding("POSSTOCK", ETF, "42.00000", "140.00", "5880.00")],
    )
    store = MemoryStore()
    import_file(OfxImporter(), investment_file(tmp_path / "jan.ofx", [january]), store)
    counts = import_file(OfxImporter(), investment_file(tmp_path / "feb.ofx", [february]), store)
    assert counts.new == 2 + 0  # one trade, one position; the account and the securities change
    feb = by_dataset(tmp_path / "feb.ofx")
    assert list(feb["invest.position"]) == ["X12345678:2026-02-27:CUSIP:78462F103:CASH:LONG"]


def test_amounts_in_another_currency_and_a_reused_fitid(tmp_path: Path) -> None:
    f = investment_file(tmp_path / "b.ofx", [brokerage_statement()])
    text = f.read_bytes().decode()
    text = text.replace(
        "<TOTAL>-2571.4500\r\n",
        "<TOTAL>-2571.4500\r\n<CURRENCY><CURRATE>1.0850\r\n<CURSYM>EUR\r\n</CURRENCY>\r\n",
    )
    text = text.replace("<FITID>T2\r\n", "<FITID>T1\r\n")
    f.write_text(text, newline="")
    trades = by_dataset(f)["invest.transaction"]
    assert trades["X12345678:T1"]["currency"] == "EUR"
    assert trades["X12345678:T1#2"]["kind"] == "sell"  # the same FITID for another trade: both kept


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("<DTTRADE>20260105\r\n", ""), "investment transaction T1 has no DTTRADE"),
        (("<CURDEF>USD\r\n", ""), "<INVSTMTRS> has no account id or no CURDEF"),
        (("<UNITS>103.00000\r\n", "<UNITS>1.0.3\r\n"), "position in 458140100: '1.0.3' is not an OFX amount"),
        (("<TOTAL>-2571.4500\r\n", "<TOTAL>$2571\r\n"), "'\\$2571' is not an OFX amount"),
        (("</OFX>", ""), "the file ends inside <OFX>"),
    ],
)
def test_bad_investment_statements_fail_naming_the_problem(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    f = investment_file(tmp_path / "b.ofx", [brokerage_statement()])
    f.write_text(f.read_bytes().decode().replace(*change, 1), newline="")
    with pytest.raises(ImportFailed, match=rf"b.ofx: line \d+.*({message})"):
        records(f)


def test_splits_journals_and_expenses_are_kept(tmp_path: Path) -> None:
    f = investment_file(tmp_path / "b.ofx", [Statement("A1", trades=[], holdings=[])], securities=[])
    extra = (
        "<SPLIT><INVTRAN><FITID>S1<DTTRADE>20260110</INVTRAN><SECID><UNIQUEID>458140100<UNIQUEIDTYPE>CUSIP</SECID>"
        "<SUBACCTSEC>CASH<OLDUNITS>100<NEWUNITS>200<NUMERATOR>2<DENOMINATOR>1</SPLIT>"
        "<INVEXPENSE><INVTRAN><FITID>E1<DTTRADE>20260111<MEMO>ADR FEE</INVTRAN>"
        "<SECID><UNIQUEID>98417P105<UNIQUEIDTYPE>CUSIP</SECID><TOTAL>-1.25<SUBACCTSEC>CASH<SUBACCTFUND>CASH</INVEXPENSE>"
        "<MARGININTEREST><INVTRAN><FITID>M1<DTTRADE>20260131</INVTRAN><TOTAL>-3.10<SUBACCTFUND>MARGIN</MARGININTEREST>"
    )
    f.write_text(f.read_bytes().decode().replace("</INVTRANLIST>", extra + "</INVTRANLIST>"), newline="")
    trades = by_dataset(f)["invest.transaction"]
    assert (trades["A1:S1"]["kind"], trades["A1:S1"]["units"]) == ("split", "100")
    assert (trades["A1:E1"]["kind"], trades["A1:E1"]["total"], trades["A1:E1"]["description"]) == (
        "expense",
        "-1.25",
        "ADR FEE",
    )
    assert (trades["A1:M1"]["kind"], trades["A1:M1"]["security_id"]) == ("margin_interest", None)


def test_other_security_kinds_of_the_seclist(tmp_path: Path) -> None:
    bond = Security("912828ZZ0", "", "US TREASURY NOTE 2030", "DEBTINFO", "99.50")
    other = Security("TIAA-REAL", "QREARX", "TIAA Real Estate Account", "OTHERINFO", "475.12")
    s = Statement(
        "T1",
        holdings=[
            Holding("POSDEBT", bond, "10000", "99.50", "9950.00"),
            Holding("POSOTHER", other, "1.5", "475.12", "712.68"),
        ],
    )
    f = investment_file(tmp_path / "b.ofx", [s])
    f.write_text(f.read_bytes().decode().replace("<TICKER>\r\n", ""), newline="")
    got = by_dataset(f)
    assert {p["security_id"]: p["kind"] for p in got["invest.position"].values()} == {
        "912828ZZ0": "debt",
        "TIAA-REAL": "other",
    }
    assert got["invest.security"]["CUSIP:912828ZZ0"]["kind"] == "debt"
    assert got["invest.security"]["CUSIP:TIAA-REAL"]["ticker"] == "QREARX"


def test_selfdata_import_stores_the_investment_datasets(initialised: Path, run: Cli, tmp_path: Path) -> None:
    f = investment_file(tmp_path / "Fidelity_Download.qfx", [brokerage_statement()])
    out = run("import", str(f)).output
    assert "Imported Fidelity_Download.qfx (ofx) into ofx: 16 new" in out
    for dataset, count in (("invest.transaction", 6), ("invest.position", 3), ("invest.security", 3)):
        rows = json.loads(run("query", dataset, "--json").output)["records"]
        assert len(rows) == count, dataset
    [account] = json.loads(run("query", "invest.account", "--json").output)["records"]
    assert account["data"]["cash_balance"] == "1500.25"


def test_a_refused_investment_statement_request_names_the_error(tmp_path: Path) -> None:
    f = investment_file(tmp_path / "b.ofx", [brokerage_statement()])
    text = (
        f.read_bytes()
        .decode()
        .replace(
            "<CODE>0\r\n<SEVERITY>INFO\r\n</STATUS><INVSTMTRS>",
            "<CODE>2003\r\n<SEVERITY>ERROR\r\n<MESSAGE>Account not found\r\n</STATUS><INVSTMTRS>",
        )
    )
    f.write_text(text, newline="")
    with pytest.raises(ImportFailed, match=r"OFX error 2003 \(account not found\): Account not found"):
        records(f)
