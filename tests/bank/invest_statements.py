"""OFX investment statements in the shapes brokers write them (OFX 2.1.1 chapter 13: INVSTMTRS
with INVTRANLIST, INVPOSLIST, INVBAL, then a SECLIST), as SGML (1.x, elements left open,
as Fidelity and TD Ameritrade download them) or XML (2.x, every element closed, as Vanguard
and retirement-plan providers write them). Written here, never copied from anyone's files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

SGML_HEADER = (
    "OFXHEADER:100\r\nDATA:OFXSGML\r\nVERSION:102\r\nSECURITY:NONE\r\nENCODING:USASCII\r\n"
    "CHARSET:1252\r\nCOMPRESSION:NONE\r\nOLDFILEUID:NONE\r\nNEWFILEUID:NONE\r\n\r\n"
)
XML_HEADER = (
    '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
    '<?OFX OFXHEADER="200" VERSION="211" SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>\n'
)


@dataclass(frozen=True)
class Security:
    cusip: str
    ticker: str
    name: str
    info: str = "STOCKINFO"  # STOCKINFO, MFINFO, OTHERINFO...
    price: str = "10.00"


@dataclass(frozen=True)
class Trade:
    """One INVTRANLIST entry: `tag` is the aggregate (BUYSTOCK, SELLMF, INCOME, REINVEST, TRANSFER)."""

    tag: str
    fitid: str
    traded: str
    security: Security
    units: str = ""
    price: str = ""
    total: str = ""
    commission: str = ""
    fees: str = ""
    subtype: str = ""  # BUYTYPE / SELLTYPE / INCOMETYPE / TFERACTION
    memo: str = ""
    settled: str = ""


@dataclass(frozen=True)
class Cash:
    """An INVBANKTRAN: a cash movement of the investment account."""

    fitid: str
    posted: str
    amount: str
    name: str
    trntype: str = "CREDIT"


@dataclass(frozen=True)
class Holding:
    tag: str  # POSSTOCK, POSMF...
    security: Security
    units: str
    price: str
    value: str
    held: str = "CASH"


@dataclass
class Statement:
    account: str
    broker: str = "broker.example.com"
    currency: str = "USD"
    as_of: str = "20260131160000.000[-5:EST]"
    trades: list[Trade] = field(default_factory=list)
    cash: list[Cash] = field(default_factory=list)
    holdings: list[Holding] = field(default_factory=list)
    available_cash: str | None = "1500.25"


def _leaf(tag: str, value: str, xml: bool) -> str:
    return f"<{tag}>{value}</{tag}>" if xml else f"<{tag}>{value}\r\n"


def _secid(security: Security, xml: bool) -> str:
    return f"<SECID>{_leaf('UNIQUEID', security.cusip, xml)}{_leaf('UNIQUEIDTYPE', 'CUSIP', xml)}</SECID>"


def _trade(t: Trade, xml: bool) -> str:
    leaf = lambda tag, value: _leaf(tag, value, xml) if value else ""  # noqa: E731
    invtran = f"<INVTRAN>{leaf('FITID', t.fitid)}{leaf('DTTRADE', t.traded)}{leaf('DTSETTLE', t.settled)}"
    invtran += f"{leaf('MEMO', t.memo)}</INVTRAN>"
    amounts = (
        f"{leaf('UNITS', t.units)}{leaf('UNITPRICE', t.price)}{leaf('COMMISSION', t.commission)}"
        f"{leaf('FEES', t.fees)}{leaf('TOTAL', t.total)}"
    )
    if t.tag.startswith(("BUY", "SELL")):
        inner = "INVBUY" if t.tag.startswith("BUY") else "INVSELL"
        body = (
            f"<{inner}>{invtran}{_secid(t.security, xml)}{amounts}{leaf('SUBACCTSEC', 'CASH')}"
            f"{leaf('SUBACCTFUND', 'CASH')}</{inner}>"
        )
        kind = "BUYTYPE" if t.tag.startswith("BUY") else "SELLTYPE"
        return f"<{t.tag}>{body}{leaf(kind, t.subtype or kind[:-4])}</{t.tag}>"
    if t.tag in ("INCOME", "REINVEST"):
        return (
            f"<{t.tag}>{invtran}{_secid(t.security, xml)}{leaf('INCOMETYPE', t.subtype or 'DIV')}"
            f"{leaf('TOTAL', t.total)}{leaf('SUBACCTSEC', 'CASH')}{leaf('UNITS', t.units)}"
            f"{leaf('UNITPRICE', t.price)}{leaf('SUBACCTFUND', 'CASH') if t.tag == 'INCOME' else ''}</{t.tag}>"
        )
    if t.tag == "TRANSFER":
        return (
            f"<TRANSFER>{invtran}{_secid(t.security, xml)}{leaf('SUBACCTSEC', 'CASH')}{leaf('UNITS', t.units)}"
            f"{leaf('TFERACTION', t.subtype or 'IN')}{leaf('POSTYPE', 'LONG')}{leaf('UNITPRICE', t.price)}</TRANSFER>"
        )
    raise ValueError(t.tag)


def _cash(c: Cash, xml: bool) -> str:
    leaf = lambda tag, value: _leaf(tag, value, xml)  # noqa: E731
    return (
        f"<INVBANKTRAN><STMTTRN>{leaf('TRNTYPE', c.trntype)}{leaf('DTPOSTED', c.posted)}{leaf('TRNAMT', c.amount)}"
        f"{leaf('FITID', c.fitid)}{leaf('NAME', c.name)}</STMTTRN>{leaf('SUBACCTFUND', 'CASH')}</INVBANKTRAN>"
    )


def _holding(h: Holding, as_of: str, xml: bool) -> str:
    leaf = lambda tag, value: _leaf(tag, value, xml)  # noqa: E731
    return (
        f"<{h.tag}><INVPOS>{_secid(h.security, xml)}{leaf('HELDINACCT', h.held)}{leaf('POSTYPE', 'LONG')}"
        f"{leaf('UNITS', h.units)}{leaf('UNITPRICE', h.price)}{leaf('MKTVAL', h.value)}"
        f"{leaf('DTPRICEASOF', as_of)}</INVPOS></{h.tag}>"
    )


def _statement(s: Statement, xml: bool) -> str:
    leaf = lambda tag, value: _leaf(tag, value, xml)  # noqa: E731
    items = "".join(_trade(t, xml) for t in s.trades) + "".join(_cash(c, xml) for c in s.cash)
    positions = "".join(_holding(h, s.as_of, xml) for h in s.holdings)
    balance = (
        f"<INVBAL>{leaf('AVAILCASH', s.available_cash)}{leaf('MARGINBALANCE', '+00000000000.00')}"
        f"{leaf('SHORTBALANCE', '+00000000000.00')}</INVBAL>"
        if s.available_cash is not None
        else ""
    )
    return (
        f"<INVSTMTTRNRS>{leaf('TRNUID', '1')}<STATUS>{leaf('CODE', '0')}{leaf('SEVERITY', 'INFO')}</STATUS>"
        f"<INVSTMTRS>{leaf('DTASOF', s.as_of)}{leaf('CURDEF', s.currency)}"
        f"<INVACCTFROM>{leaf('BROKERID', s.broker)}{leaf('ACCTID', s.account)}</INVACCTFROM>"
        f"<INVTRANLIST>{leaf('DTSTART', '20260101')}{leaf('DTEND', s.as_of)}{items}</INVTRANLIST>"
        f"{'<INVPOSLIST>' + positions + '</INVPOSLIST>' if positions else ''}{balance}</INVSTMTRS></INVSTMTTRNRS>"
    )


def _seclist(securities: list[Security], xml: bool) -> str:
    leaf = lambda tag, value: _leaf(tag, value, xml)  # noqa: E731
    infos = "".join(
        f"<{s.info}><SECINFO>{_secid(s, xml)}{leaf('SECNAME', s.name)}{leaf('TICKER', s.ticker)}"
        f"{leaf('UNITPRICE', s.price)}{leaf('DTASOF', '20260131')}</SECINFO>"
        f"{ {'MFINFO': leaf('MFTYPE', 'OPENEND'), 'STOCKINFO': leaf('STOCKTYPE', 'COMMON')}.get(s.info, '') }"
        f"</{s.info}>"
        for s in securities
    )
    return f"<SECLISTMSGSRSV1><SECLIST>{infos}</SECLIST></SECLISTMSGSRSV1>"


def investment_file(
    path: Path, statements: list[Statement], *, xml: bool = False, securities: list[Security] | None = None
) -> Path:
    """Write a brokerage download: a sign-on, the statements, the securities they name."""
    leaf = lambda tag, value: _leaf(tag, value, xml)  # noqa: E731
    named = securities
    if named is None:
        seen: dict[str, Security] = {}
        for s in statements:
            for t in s.trades:
                seen.setdefault(t.security.cusip, t.security)
            for h in s.holdings:
                seen.setdefault(h.security.cusip, h.security)
        named = list(seen.values())
    body = (
        f"<OFX><SIGNONMSGSRSV1><SONRS><STATUS>{leaf('CODE', '0')}{leaf('SEVERITY', 'INFO')}</STATUS>"
        f"{leaf('DTSERVER', '20260201083000.000[-5:EST]')}{leaf('LANGUAGE', 'ENG')}"
        f"<FI>{leaf('ORG', 'Example Brokerage')}{leaf('FID', '7776')}</FI></SONRS></SIGNONMSGSRSV1>"
        f"<INVSTMTMSGSRSV1>{''.join(_statement(s, xml) for s in statements)}</INVSTMTMSGSRSV1>"
        f"{_seclist(named, xml) if named else ''}</OFX>\r\n"
    )
    path.write_text((XML_HEADER if xml else SGML_HEADER) + body, encoding="utf-8", newline="")
    return path


STOCK = Security("458140100", "INTC", "INTEL CORP", price="24.19")
ETF = Security("78462F103", "SPY", "SPDR S&P 500 ETF TRUST", price="137.16")
FUND = Security("922908728", "VTSAX", "Vanguard Total Stock Market Index Fund Admiral Shares", "MFINFO", "101.27")


def brokerage_statement(account: str = "X12345678") -> Statement:
    """A month of a brokerage account: buys, a sell, a dividend, a reinvested dividend, a
    transfer in, cash movements, positions and balances."""
    return Statement(
        account=account,
        trades=[
            Trade("BUYSTOCK", "T1", "20260105", STOCK, "100.00000", "25.635000000", "-2571.4500", "7.9500", "0.0000"),
            Trade("SELLSTOCK", "T2", "20260112", ETF, "-8.00000", "137.160000000", "1089.3000", "7.9500", "0.0300"),
            Trade("INCOME", "T3", "20260115", ETF, total="5.53", subtype="DIV", memo="DIVIDEND RECEIVED"),
            Trade("REINVEST", "T4", "20260120", FUND, "0.04812", "101.10", "-4.8650", subtype="DIV"),
            Trade("BUYMF", "T5", "20260125", FUND, "9.87654", "101.2500", "-1000.00", settled="20260126"),
            Trade("TRANSFER", "T6", "20260128", STOCK, "3.000", "24.50", subtype="IN"),
        ],
        cash=[
            Cash("C1", "20260102", "5000.00", "ELECTRONIC FUNDS TRANSFER RCVD"),
            Cash("C2", "20260131", "-0.97", "LATE SETTLEMENT FEE", "OTHER"),
        ],
        holdings=[
            Holding("POSSTOCK", STOCK, "103.00000", "24.1900000", "2491.57"),
            Holding("POSSTOCK", ETF, "42.00000", "137.1600000", "5760.72"),
            Holding("POSMF", FUND, "9.92466", "101.27", "1005.07", held="OTHER"),
        ],
    )
