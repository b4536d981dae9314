"""OFX investment statements (INVSTMTRS): pure functions from the statement's tree and
the securities list (SECLIST) to `invest.account`, `invest.position`,
`invest.transaction` and `invest.security` records.

A statement's transactions and positions name their security by id only (SECID: a
CUSIP, an ISIN or the broker's own id); its ticker and name are in the SECLIST that
follows the statement in the file. The reader keeps the statement's fragments until the
file ends, then each gets its security's SECINFO in its raw, so `normalize` stays a pure
function of the stored raw. Amounts, units and prices are kept exactly as written.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connectors.sdk import Fragment, Record, datasets, decimal_text

from ..amounts import midnight_utc, ofx_no_date, parse_ofx_amount, parse_ofx_date, parse_ofx_datetime, zone
from .mapping import CURRENCY, agg_of, text_of

# Transaction aggregate -> (kind, security kind, the sub-aggregate holding the amounts)
TRANSACTIONS: dict[str, tuple[str, str | None, str | None]] = {
    "BUYDEBT": ("buy", "debt", "INVBUY"),
    "BUYMF": ("buy", "mutual_fund", "INVBUY"),
    "BUYOPT": ("buy", "option", "INVBUY"),
    "BUYOTHER": ("buy", "other", "INVBUY"),
    "BUYSTOCK": ("buy", "stock", "INVBUY"),
    "SELLDEBT": ("sell", "debt", "INVSELL"),
    "SELLMF": ("sell", "mutual_fund", "INVSELL"),
    "SELLOPT": ("sell", "option", "INVSELL"),
    "SELLOTHER": ("sell", "other", "INVSELL"),
    "SELLSTOCK": ("sell", "stock", "INVSELL"),
    "INCOME": ("income", None, None),
    "REINVEST": ("reinvest", None, None),
    "TRANSFER": ("transfer", None, None),
    "INVEXPENSE": ("expense", None, None),
    "SPLIT": ("split", None, None),
    "RETOFCAP": ("return_of_capital", None, None),
    "MARGININTEREST": ("margin_interest", None, None),
    "JRNLFUND": ("journal", None, None),
    "JRNLSEC": ("journal", None, None),
    "CLOSUREOPT": ("option_closure", "option", None),
}
SUBTYPES = ("BUYTYPE", "SELLTYPE", "OPTBUYTYPE", "OPTSELLTYPE", "INCOMETYPE", "TFERACTION", "OPTACTION")
INCOME_TYPES = {
    "DIV": "dividend",
    "INTEREST": "interest",
    "CGLONG": "capital_gain_long",
    "CGSHORT": "capital_gain_short",
    "MISC": "other",
}
POSITIONS = {"POSSTOCK": "stock", "POSMF": "mutual_fund", "POSOPT": "option", "POSDEBT": "debt", "POSOTHER": "other"}
SECURITIES = {"STOCKINFO": "stock", "MFINFO": "mutual_fund", "OPTINFO": "option", "DEBTINFO": "debt"}
HELD_IN = {"CASH": "cash", "MARGIN": "margin", "SHORT": "short", "OTHER": "other"}


def nodes_of(parent: dict[str, Any], tag: str) -> list[dict[str, Any]]:
    """Every `tag` aggregate under `parent` (one is a dict, several a list)."""
    value = parent.get(tag)
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, dict)]


def security_ref(node: dict[str, Any]) -> tuple[str, str] | None:
    """(UNIQUEIDTYPE, UNIQUEID) of a node's SECID, or None when it has none."""
    secid = agg_of(node, "SECID")
    unique = text_of(secid, "UNIQUEID")
    return ((text_of(secid, "UNIQUEIDTYPE") or "").upper(), unique) if unique else None


def statement_fragments(node: dict[str, Any], context: dict[str, Any], common: dict[str, Any]) -> list[Fragment]:
    """The fragments of one INVSTMTRS (its cash movements are read as bank transactions
    while the file streams). `common` holds the institution, the file's time zone and
    server date."""
    out: list[Fragment] = []
    as_of = text_of(node, "DTASOF") or common.get("dtserver") or "19700101"
    tranlist = agg_of(node, "INVTRANLIST")
    for tag in TRANSACTIONS:
        for trn in nodes_of(tranlist, tag):
            out.append(Fragment("invest.transaction", {"account": context, "type": tag, "trn": trn}))
    values: list[str] = []
    poslist = agg_of(node, "INVPOSLIST")
    for tag in POSITIONS:
        for pos in nodes_of(poslist, tag):
            raw = {"account": context, "type": tag, "pos": pos, "as_of": as_of, "timezone": common["timezone"]}
            out.append(Fragment("invest.position", raw))
            invpos = agg_of(pos, "INVPOS")
            value = text_of(invpos, "MKTVAL")
            currency = text_of(agg_of(invpos, "CURRENCY"), "CURSYM") if "CURRENCY" in invpos else None
            if value is not None and (currency or context["currency"]).upper() == context["currency"]:
                values.append(value)  # a value in another currency is not added in
    account = {
        "account": context,
        "institution": common.get("institution"),
        "invbal": agg_of(node, "INVBAL"),
        "market_values": values,
        "as_of": as_of,
        "timezone": common["timezone"],
    }
    out.append(Fragment("invest.account", account))
    return out


def securities_of(seclist: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """SECINFO (with its kind) by (id type, id) from a SECLIST."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for tag in (*SECURITIES, "OTHERINFO"):
        for info in nodes_of(seclist, tag):
            secinfo = agg_of(info, "SECINFO")
            ref = security_ref(secinfo)
            if ref is not None:
                out[ref] = {"kind": SECURITIES.get(tag, "other"), "secinfo": secinfo}
    return out


def attach(fragment: Fragment, securities: dict[tuple[str, str], dict[str, Any]]) -> Fragment:
    """The fragment with its security's SECINFO from the file's SECLIST, when it has one."""
    raw = fragment.raw
    if fragment.dataset == "invest.transaction":
        ref = security_ref(_body(raw))
    elif fragment.dataset == "invest.position":
        ref = security_ref(agg_of(raw["pos"], "INVPOS"))
    else:
        return fragment
    security = securities.get(ref) if ref else None
    return Fragment(fragment.dataset, {**raw, "security": security}) if security else fragment


def _amount(node: dict[str, Any], tag: str) -> str | None:
    text = text_of(node, tag)
    return decimal_text(parse_ofx_amount(text)) if text is not None else None


def _currency(node: dict[str, Any], default: str, what: str) -> str:
    """CURRENCY: the amounts are in another currency; ORIGCURRENCY: converted into CURDEF."""
    if "CURRENCY" not in node:
        return default
    symbol = text_of(agg_of(node, "CURRENCY"), "CURSYM") or default
    if not CURRENCY.fullmatch(symbol.upper()):
        raise ValueError(f"{what}: CURSYM {symbol!r} is not an ISO 4217 currency code")
    return symbol.upper()


def _day(text: str | None) -> str | None:
    return parse_ofx_date(text).isoformat() if text and not ofx_no_date(text) else None


def _named(data: dict[str, Any], security: dict[str, Any] | None) -> None:
    if security:
        secinfo = security["secinfo"]
        data["ticker"] = text_of(secinfo, "TICKER")
        data["name"] = text_of(secinfo, "SECNAME")


def transaction_record(raw: dict[str, Any]) -> Record:
    """The `invest.transaction` of one investment transaction aggregate."""
    try:
        return _transaction(raw)
    except ValueError as err:
        fitid = text_of(agg_of(_body(raw), "INVTRAN"), "FITID")
        raise ValueError(
            f"investment transaction {fitid}: {err}" if fitid and fitid not in str(err) else str(err)
        ) from None


def _body(raw: dict[str, Any]) -> dict[str, Any]:
    inner = TRANSACTIONS[raw["type"]][2]
    return agg_of(raw["trn"], inner) if inner else raw["trn"]


def _transaction(raw: dict[str, Any]) -> Record:
    account, tag, trn = raw["account"], raw["type"], raw["trn"]
    kind, _, inner = TRANSACTIONS[tag]
    body = agg_of(trn, inner) if inner else trn
    invtran = agg_of(body, "INVTRAN")
    fitid = text_of(invtran, "FITID")
    if not fitid:
        raise ValueError(f"<{tag}> has no FITID")
    traded_text = text_of(invtran, "DTTRADE")
    if traded_text is None or ofx_no_date(traded_text):
        raise ValueError(f"investment transaction {fitid} has no DTTRADE")
    traded = parse_ofx_date(traded_text)
    subtype = next((text_of(trn, t) for t in SUBTYPES if text_of(trn, t)), None)
    ref = security_ref(body)
    income = text_of(trn, "INCOMETYPE")
    units = _amount(body, "UNITS")
    if tag == "SPLIT" and units is None:
        old, new = _amount(body, "OLDUNITS"), _amount(body, "NEWUNITS")
        units = decimal_text(Decimal(new) - Decimal(old)) if old is not None and new is not None else None
    data: dict[str, Any] = {
        "account_id": account["id"],
        "kind": kind,
        "action": f"{tag}/{subtype.upper()}" if subtype else tag,
        "security_id": ref[1] if ref else None,
        "id_type": ref[0] if ref else None,
        "ticker": None,
        "name": None,
        "units": units,
        "unit_price": _amount(body, "UNITPRICE"),
        "commission": _amount(body, "COMMISSION"),
        "fees": _amount(body, "FEES"),
        "taxes": _amount(body, "TAXES"),
        "total": _amount(body, "TOTAL"),
        "currency": _currency(body, account["currency"], f"investment transaction {fitid}"),
        "traded_on": traded.isoformat(),
        "settled_on": _day(text_of(invtran, "DTSETTLE")),
        "income_type": INCOME_TYPES.get(income.upper(), "other") if income else None,
        "description": text_of(invtran, "MEMO"),
    }
    _named(data, raw.get("security"))
    for extra, source in (("load", "LOAD"), ("withholding", "WITHHOLDING"), ("gain", "GAIN"), ("markup", "MARKUP")):
        value = _amount(body, source)
        if value is not None:
            data[extra] = value
    for extra, source in (("held_in", "SUBACCTSEC"), ("funded_from", "SUBACCTFUND"), ("source_401k", "INV401KSOURCE")):
        value = text_of(body, source) or text_of(trn, source)
        if value:
            data[extra] = value
    # Built as InvestTransaction.make would, without its schema walk per call: the pipeline
    # validates every record against the schema.
    key = f"{account['id']}:{fitid}" + (f"#{raw['occurrence']}" if "occurrence" in raw else "")
    return Record("invest.transaction", key, midnight_utc(traded), data, raw)


def position_record(raw: dict[str, Any]) -> Record:
    """The `invest.position` of one POSSTOCK/POSMF/... as of the statement's date."""
    try:
        return _position(raw)
    except ValueError as err:
        ref = security_ref(agg_of(raw["pos"], "INVPOS"))
        raise ValueError(f"position in {ref[1]}: {err}" if ref and ref[1] not in str(err) else str(err)) from None


def _position(raw: dict[str, Any]) -> Record:
    account, tag = raw["account"], raw["type"]
    invpos = agg_of(raw["pos"], "INVPOS")
    ref = security_ref(invpos)
    if ref is None:
        raise ValueError(f"<{tag}> has no SECID/UNIQUEID")
    units = _amount(invpos, "UNITS")
    if units is None:
        raise ValueError(f"position in {ref[1]} has no UNITS")
    tz = zone(raw.get("timezone") or "UTC")
    as_of_text = raw["as_of"] if not ofx_no_date(raw["as_of"]) else "19700101"
    as_of, at = parse_ofx_datetime(as_of_text, tz)
    priced = text_of(invpos, "DTPRICEASOF")
    held = (text_of(invpos, "HELDINACCT") or "").upper()
    side = (text_of(invpos, "POSTYPE") or "").upper()
    data: dict[str, Any] = {
        "account_id": account["id"],
        "security_id": ref[1],
        "id_type": ref[0],
        "ticker": None,
        "name": None,
        "kind": POSITIONS[tag],
        "held_in": HELD_IN.get(held) if held else None,
        "position": side.lower() if side in ("LONG", "SHORT") else None,
        "units": units,
        "unit_price": _amount(invpos, "UNITPRICE"),
        "market_value": _amount(invpos, "MKTVAL"),
        "currency": _currency(invpos, account["currency"], f"position in {ref[1]}"),
        "as_of": as_of.isoformat(),
        "priced_at": parse_ofx_datetime(priced, tz)[1].isoformat() if priced and not ofx_no_date(priced) else None,
    }
    _named(data, raw.get("security"))
    source = text_of(invpos, "INV401KSOURCE")
    if source:
        data["source_401k"] = source
    key = ":".join([account["id"], as_of.isoformat(), *ref, held, side, *([source] if source else [])])
    key += f"#{raw['occurrence']}" if "occurrence" in raw else ""
    return Record("invest.position", key, at, data, raw)


def account_record(raw: dict[str, Any]) -> Record:
    """The `invest.account` of a statement: cash, margin and short balances, market value."""
    account, invbal = raw["account"], raw["invbal"]
    tz = zone(raw.get("timezone") or "UTC")
    as_of_text = raw["as_of"] if not ofx_no_date(raw["as_of"]) else "19700101"
    at = parse_ofx_datetime(as_of_text, tz)[1]
    values = [parse_ofx_amount(v) for v in raw["market_values"]]
    data = datasets.InvestAccount.make(
        account_id=account["id"],
        institution=raw.get("institution") or account.get("broker_id"),
        broker_id=account.get("broker_id"),
        currency=account["currency"],
        cash_balance=_amount(invbal, "AVAILCASH"),
        market_value=decimal_text(sum(values, Decimal(0))) if values else None,
        margin_balance=_amount(invbal, "MARGINBALANCE"),
        short_balance=_amount(invbal, "SHORTBALANCE"),
        buying_power=_amount(invbal, "BUYPOWER"),
        balance_at=at,
    )
    return Record("invest.account", account["id"], at, data, raw)


def security_record(raw: dict[str, Any]) -> Record:
    """The `invest.security` of one SECINFO of the securities list."""
    secinfo = raw["secinfo"]
    ref = security_ref(secinfo)
    if ref is None:
        raise ValueError("a security of the SECLIST has no SECID/UNIQUEID")
    tz = zone(raw.get("timezone") or "UTC")
    when = text_of(secinfo, "DTASOF")
    price_at = parse_ofx_datetime(when, tz)[1] if when and not ofx_no_date(when) else None
    fallback = raw.get("dtserver")
    ts = price_at or parse_ofx_datetime(fallback if fallback and not ofx_no_date(fallback) else "19700101", tz)[1]
    currency = text_of(agg_of(secinfo, "CURRENCY"), "CURSYM") if "CURRENCY" in secinfo else None
    data = datasets.InvestSecurity.make(
        security_id=ref[1],
        id_type=ref[0],
        ticker=text_of(secinfo, "TICKER"),
        name=text_of(secinfo, "SECNAME"),
        kind=raw["kind"],
        currency=currency.upper() if currency and CURRENCY.fullmatch(currency.upper()) else None,
        unit_price=_amount(secinfo, "UNITPRICE"),
        price_at=price_at,
    )
    return Record("invest.security", f"{ref[0]}:{ref[1]}", ts, data, raw)


MAPPINGS = {
    "invest.transaction": transaction_record,
    "invest.position": position_record,
    "invest.account": account_record,
    "invest.security": security_record,
}
