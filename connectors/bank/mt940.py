"""SWIFT MT940 customer statements, the `.sta` files German, Dutch, Swiss and Polish banks
offer for download (and the same messages inside a SWIFT envelope `{1:...}{4: ... -}`).

A file holds one or more messages, each ended by a line `-`: `:20:` reference, `:25:`
account, `:28C:` statement number, `:60F:`/`:60M:` opening balance, then for each
transaction a `:61:` statement line and usually an `:86:` with the details (see
mt940_info.py), and `:62F:`/`:62M:` closing balance, `:64:` closing available balance.
Read line by line, one message in memory at a time.

`:61:` is `YYMMDD[MMDD](C|D|RC|RD)[funds code]amount type reference[//bank reference]`,
amounts with a decimal comma. RC (a reversed credit) takes money out, RD puts it back;
both are marked `reversal`.

Keys (`bank.transaction`): `ACCOUNT:BANKREF` when the line carries a bank reference
(`#2`... when a reference comes back with other content); otherwise a hash of the dates,
amount, type, reference and details, numbered by occurrence in the file so that two
identical payments on one day stay two and a re-import adds nothing.

A truncated file is refused: every message needs its closing balance, and a file whose
last message is not ended by `-` is accepted only when its balances add up.
"""

from __future__ import annotations

import calendar
import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from connectors.sdk import (
    Field,
    Fragment,
    Importer,
    ImportFailed,
    InvalidRecord,
    Notice,
    Record,
    datasets,
    decimal_text,
)
from connectors.sdk.limits import bounded

from .amounts import decode_text, fingerprint, is_iban, midnight_utc, zone, zone_problem
from .mt940_info import clean, join_lines, parse_info
from .settings import file_settings

_FIELD = re.compile(r":(\d\d[A-Z]?|NS):(.*)", re.S | re.A)  # NS: the non-SWIFT fields of some German banks
_BALANCE = re.compile(r"([CD])(\d{6})([A-Z]{3})?(\d[\d,]*)", re.A)
_AMOUNT = re.compile(r"([0-9]+)(?:,([0-9]*))?")
_LINE = re.compile(
    r"(?P<value>\d{6})(?P<entry>\d{4})?(?P<mark>RC|RD|C|D)(?P<funds>[A-Z])?(?P<amount>\d[\d,]*)"
    r"(?P<type>[NFS][A-Z0-9]{3}|S[A-Z0-9 ]{3})(?P<ref>.*?)(?://(?P<bankref>.*))?",
    re.A,  # ASCII digits only: other scripts' digits are no MT940 amount
)
_SNIFF_FIELDS = (re.compile(rb"(?m)^:(20|28C?):"), re.compile(rb"(?m)^:25:"), re.compile(rb"(?m)^:6[01][FM]?:"))
_CONTROL = b"\r\n\x1a\x03"  # line ends, DOS end of file, ETX; SOH starts the next message
NOTICES = 3  # statements that do not add up, named one by one; the rest are counted
_ZERO_DECIMALS = {"JPY", "KRW", "ISK", "CLP", "VND", "XOF", "XAF", "UGX", "PYG"}
_NO_REFERENCE = {"", "NONREF", "NOTPROVIDED"}
CENTS = Decimal("0.01")


class Mt940Importer(Importer):
    name = "mt940"
    title = "SWIFT MT940 bank statements (.sta)"
    category = "bank"
    datasets = ("bank.account", "bank.transaction")
    extensions = (".sta", ".mt940", ".940", ".txt")
    description = "Statements in SWIFT MT940, as German, Dutch, Swiss and Polish banks offer them for download."
    fields = (
        Field("timezone", "Time zone of the statement dates", default="UTC", check=zone_problem),
        Field(
            "encoding",
            "Character set of names and details (UTF-8 is recognised by itself)",
            default="cp1252",
            check=lambda name: None if _known_encoding(str(name)) else f"{name!r} is not a known character set",
        ),
    )

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        return all(p.search(head) for p in _SNIFF_FIELDS)

    def read(self, path: Path, settings: dict[str, Any]) -> Iterator[Record | Fragment | Notice]:
        given = file_settings(self, path, settings)
        with path.open("rb") as raw, bounded(raw, path.name, "lines") as f:
            yield from _Reader(path, f, given["timezone"], given["encoding"]).records()

    def normalize(self, fragment: Fragment) -> Record | None:
        if fragment.dataset == "bank.account":
            return account_record(fragment.raw)
        return transaction_record(fragment.raw)


def _known_encoding(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


# --- the mapping: pure functions of `raw` ------------------------------------------------


def parse_amount(text: str, where: str) -> Decimal:
    """An MT940 amount: digits with a decimal comma ("15000," and "1125250,4" included), as
    banks write them also with leading zeros ("0000000001000,89") or no comma at all ("500")."""
    m = _AMOUNT.fullmatch(text)
    if m is None or len(text.lstrip("0")) > 15:
        raise ValueError(f"{where}: {text!r} is not an MT940 amount (digits with a decimal comma)")
    return Decimal(f"{m[1]}.{m[2] or '0'}")


def complete_amount(text: str, currency: str) -> bool:
    """Whether an amount shows every decimal of its currency: a file cut inside one rarely does."""
    whole, comma, cents = text.partition(",")
    return bool(comma) and (len(cents) >= 2 or currency in _ZERO_DECIMALS)


def money_text(amount: Decimal, currency: str) -> str:
    exponent = amount.as_tuple().exponent
    if currency not in _ZERO_DECIMALS and isinstance(exponent, int) and exponent > -2:
        amount = amount.quantize(CENTS)
    return decimal_text(amount)


def _calendar_day(year: int, month: int, day: int) -> date:
    """A day past its month's end (30 February, written by real banks) is the month's last day,
    as established MT940 parsers read it; day 0 or month 13 is no date."""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise ValueError(f"month {month}, day {day}")
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _day(text: str, where: str) -> date:
    try:
        year = int(text[:2])
        return _calendar_day(2000 + year if year < 80 else 1900 + year, int(text[2:4]), int(text[4:6]))
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a date (YYMMDD)") from None


def _entry_day(value_on: date, text: str, where: str) -> date:
    """The booking date MMDD in the year that puts it nearest the value date."""
    candidates = []
    for exact in (True, False):  # 29 February exists in one year of three at most
        for year in (value_on.year - 1, value_on.year, value_on.year + 1):
            try:
                month, day = int(text[:2]), int(text[2:])
                candidates.append(date(year, month, day) if exact else _calendar_day(year, month, day))
            except ValueError:
                continue
        if candidates:
            return min(candidates, key=lambda d: abs(d - value_on))
    raise ValueError(f"{where}: {text!r} is not a booking date (MMDD)")


def mapped_dates(line: dict[str, Any]) -> str | None:
    """What `raw` says of dates written as no calendar day has them (160230), or None."""
    notes = []
    if line["value_on"].strftime("%y%m%d") != line["value_text"]:
        notes.append(f"value date {line['value_text']} read as {line['value_on']}")
    if line["entry_text"] and line["booked_on"].strftime("%m%d") != line["entry_text"]:
        notes.append(f"booking date {line['entry_text']} read as {line['booked_on']}")
    return "; ".join(notes) + " (past the month's end: its last day)" if notes else None


def parse_line(text: str) -> dict[str, Any]:
    """A `:61:` field (its first line; the second is supplementary details) as parts."""
    first, _, details = text.partition("\n")
    m = _LINE.fullmatch(first.strip(" \r\t"))
    if m is None:
        raise ValueError(f":61: {first.strip()!r} is not an MT940 statement line")
    value_on = _day(m["value"], ":61: value date")
    booked_on = _entry_day(value_on, m["entry"], ":61: booking date") if m["entry"] else value_on
    amount = parse_amount(m["amount"], ":61: amount")
    mark = m["mark"]
    return {
        "value_on": value_on,
        "booked_on": booked_on,
        "amount": -amount if mark in ("D", "RC") else amount,
        "reversal": mark in ("RC", "RD"),
        "type": m["type"],
        "reference": m["ref"].strip(),
        "bank_reference": (m["bankref"] or "").strip(),
        "details": clean(details),
        "value_text": m["value"],
        "entry_text": m["entry"],
    }


def parse_balance(text: str, where: str, currency: str | None = None) -> tuple[Decimal, date, str]:
    """C/D, date, currency, amount; a balance written without its currency (some German banks'
    :62M:) is in `currency`, the statement's."""
    m = _BALANCE.fullmatch(text.strip())
    if m is None or (m.group(3) or currency) is None:
        raise ValueError(f"{where}: {text.strip()!r} is not an MT940 balance (C/D, YYMMDD, currency, amount)")
    amount = parse_amount(m.group(4), where)
    return (-amount if m.group(1) == "D" else amount), _day(m.group(2), where), m.group(3) or str(currency)


def transaction_key(account_id: str, line: dict[str, Any], info: str) -> str:
    """The key before any occurrence number (see `transaction_record`)."""
    if line["bank_reference"].upper() not in _NO_REFERENCE:
        return f"{account_id}:{line['bank_reference']}"
    return f"{account_id}:" + fingerprint(
        line["value_on"].isoformat(),
        line["booked_on"].isoformat(),
        str(line["amount"]),
        line["type"],
        line["reference"],
        line["details"],
        clean(info),
    )


def transaction_record(raw: dict[str, Any], line: dict[str, Any] | None = None) -> Record:
    """`line` is raw["line"] already parsed, when the caller has it."""
    account = raw["account"]
    line = line or parse_line(raw["line"])
    info_text = raw.get("info") or ""
    info = parse_info(info_text) if info_text else {}
    currency = account["currency"]
    data: dict[str, Any] = {
        "account_id": account["id"],
        "booked_on": line["booked_on"].isoformat(),
        "value_on": line["value_on"].isoformat(),
        "amount": money_text(line["amount"], currency),
        "currency": currency,
        "description": info.get("description") or line["details"] or line["reference"] or None,
        "counterparty": info.get("counterparty"),
        "status": "booked",
        "type": line["type"],
    }
    if line["reversal"]:
        data["reversal"] = True
    if info.get("end_to_end_id"):
        data["end_to_end_id"] = info["end_to_end_id"]
    key = transaction_key(account["id"], line, info_text)
    occurrence = int(raw.get("occurrence", 1))
    if occurrence > 1:
        key += f"#{occurrence}" if line["bank_reference"].upper() not in _NO_REFERENCE else f":{occurrence}"
    return Record("bank.transaction", key, midnight_utc(line["booked_on"]), data, raw)


def account_record(raw: dict[str, Any]) -> Record:
    account = raw["account"]
    tz = zone(raw.get("timezone") or "UTC")
    currency = account["currency"]
    balance, day, _ = parse_balance(raw["closing"], ":62F:", currency)
    available = parse_balance(raw["available"], ":64:", currency)[0] if raw.get("available") else None
    at = datetime.combine(day, time(23, 59, 59), tz)  # a closing balance is true at the end of its day
    data = datasets.BankAccount.make(
        account_id=account["id"],
        iban=account.get("iban"),
        currency=account["currency"],
        balance=money_text(balance, account["currency"]),
        available_balance=money_text(available, account["currency"]) if available is not None else None,
        balance_at=at,
    )
    return Record("bank.account", account["id"], at, data, raw)


# --- reading a file ----------------------------------------------------------------------


@dataclass
class _Field:
    tag: str
    lines: list[str]
    line_no: int

    @property
    def text(self) -> str:
        if len(self.lines) == 1:
            return self.lines[0]
        return "\n".join(self.lines) if self.tag == "61" else join_lines(self.lines)


@dataclass
class _Message:
    start: int
    fields: list[_Field] = field(default_factory=list)
    ended: bool = False


class _Reader:
    def __init__(self, path: Path, f: BinaryIO, timezone: str, encoding: str) -> None:
        self.path, self.f, self.timezone, self.encoding = path, f, timezone, encoding
        self.contents: dict[str, list[int]] = {}  # bank reference key -> hashes of the contents seen under it
        self.counts: dict[str, int] = {}  # content key -> occurrences
        self.latest: dict[str, tuple[date, dict[str, Any]]] = {}  # account id -> (closing day, raw)
        self.messages = 0
        self.unbalanced = 0  # statements whose balances do not add up

    def fail(self, line: int, message: str) -> ImportFailed:
        return ImportFailed(f"{self.path.name}: line {line}: {message}")

    def records(self) -> Iterator[Record | Fragment | Notice]:
        for message in self._messages():
            yield from self._statement(message)
        if self.messages == 0:
            raise ImportFailed(f"{self.path.name}: no MT940 statement in the file (no :20: ... :62F: message)")
        if self.unbalanced > NOTICES:
            more = self.unbalanced - NOTICES
            yield Notice(f"{self.path.name}: {more} more statement{'s' * (more > 1)} do not add up either")
        for _, raw in self.latest.values():
            yield account_record(raw)

    def _messages(self) -> Iterator[_Message]:
        message: _Message | None = None
        number = 0
        any_field = False
        encoding = self.encoding
        for number, raw_line in enumerate(self.f, 1):
            data = raw_line.rstrip(_CONTROL).lstrip(b"\x01")
            line = data.decode("ascii") if data.isascii() else decode_text(data, encoding)
            first = line[:1]
            if first == "{":  # a SWIFT envelope: the text block follows "{4:"
                at = line.find("{4:")
                if at < 0:
                    continue
                line = line[at + 3 :]
                first = line[:1]
            if first == "-" and (line.rstrip() == "-" or line.startswith("-}")):
                if message is not None and message.fields:
                    message.ended = True
                    yield message
                message = None
                continue
            m = _FIELD.match(line) if first == ":" else None
            if m is not None:
                any_field = True
                if message is None:
                    message = _Message(number)
                elif m.group(1) == "20" and message.fields:
                    # A new statement without a "-" before it: some banks write none.
                    message.ended = True
                    yield message
                    message = _Message(number)
                message.fields.append(_Field(m.group(1), [m.group(2)], number))
            elif message is not None and message.fields:
                message.fields[-1].lines.append(line)
            elif not any_field and number > 50:
                raise self.fail(number, "no MT940 field (:20:, :25:, ...) in the first 50 lines: not an MT940 file")
        if message is not None and message.fields:
            yield message  # not ended by "-": checked against its balances
        if number == 0:
            raise ImportFailed(f"{self.path.name}: the file is empty")

    def _statement(self, message: _Message) -> Iterator[Record | Fragment | Notice]:
        self.messages += 1
        by_tag: dict[str, _Field] = {}
        for f in message.fields:
            if f.tag != "61" and f.tag != "86":
                by_tag.setdefault(f.tag[:2], f)
        if "25" not in by_tag:  # a :20: is not needed: German savings banks write none
            raise self.fail(message.start, f"statement {self.messages} has no account :25:")
        if "60" not in by_tag and ("34" in by_tag or "13" in by_tag):
            yield from self._interim(message, by_tag)
            return
        if "60" not in by_tag:
            raise self.fail(message.start, f"statement {self.messages} has no opening balance :60F:")
        if "62" not in by_tag:
            raise self.fail(
                message.fields[-1].line_no,
                f"statement {self.messages} ends without its closing balance :62F: (the file is truncated?)",
            )
        try:
            opening, _, currency = parse_balance(by_tag["60"].text, ":60F:")
        except ValueError as err:
            raise self.fail(by_tag["60"].line_no, str(err)) from None
        try:
            closing, closed_on, closing_currency = parse_balance(by_tag["62"].text, ":62F:", currency)
            if "64" in by_tag:
                parse_balance(by_tag["64"].text, ":64:", currency)
        except ValueError as err:
            raise self.fail(by_tag["62"].line_no, str(err)) from None
        if closing_currency != currency:
            raise self.fail(by_tag["62"].line_no, f"closing balance in {closing_currency}, opening in {currency}")
        account = self._account(by_tag["25"], currency)
        out = self._lines(message, account)
        total = opening + sum((Decimal(r.data["amount"]) for r in out), Decimal(0))
        if total != closing:
            closing_amount = _BALANCE.fullmatch(by_tag["62"].text.strip())[4]  # type: ignore[index]
            if not message.ended and not complete_amount(closing_amount, currency):
                raise self.fail(
                    message.fields[-1].line_no,
                    f"the last statement is not ended by '-' and its balances do not add up "
                    f"(opening {opening} + lines = {total}, closing {closing}): the file looks truncated",
                )
            notice = self._does_not_add_up(account, closed_on, opening, len(out), total, closing)
            if notice is not None:
                yield notice
        yield from out
        self._balance(account, by_tag, closed_on)

    def _lines(self, message: _Message, account: dict[str, Any]) -> list[Record]:
        out: list[Record] = []
        fields = message.fields
        for i, f in enumerate(fields):
            if f.tag != "61":
                continue
            info = fields[i + 1].text if i + 1 < len(fields) and fields[i + 1].tag == "86" else None
            # Not the statement's :20: reference: some banks give each download its own.
            raw: dict[str, Any] = {"account": account, "line": f.text}
            if info:
                raw["info"] = info
            try:
                line = parse_line(raw["line"])
                mapped = mapped_dates(line)
                if mapped:
                    raw["dates_mapped"] = mapped  # the text stays in raw["line"]
                out.append(self._apart(raw, line))
            except (ValueError, InvalidRecord) as err:
                raise self.fail(f.line_no, f"statement {self.messages}: {err}") from None
        return out

    def _interim(self, message: _Message, by_tag: dict[str, _Field]) -> Iterator[Record | Notice]:
        """An MT942 interim report: lines since the last statement, no booked balance, so no
        account record. Without its closing '-' it must end with its :90D:/:90C: counts."""
        currency = by_tag["34"].text.strip()[:3] if "34" in by_tag else ""
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise self.fail(by_tag.get("34", message.fields[0]).line_no, "an MT942 report without its currency :34F:")
        if not message.ended and "90" not in by_tag:
            raise self.fail(
                message.fields[-1].line_no,
                "the last MT942 report is not ended by '-' nor by its :90D:/:90C: counts: the file looks truncated",
            )
        yield from self._lines(message, self._account(by_tag["25"], currency))

    def _does_not_add_up(
        self, account: dict[str, Any], closed_on: date, opening: Decimal, lines: int, total: Decimal, closing: Decimal
    ) -> Notice | None:
        self.unbalanced += 1
        if self.unbalanced > NOTICES:
            return None
        return Notice(
            f"{self.path.name}: statement {self.messages} (account {account['id']}, closing balance of "
            f"{closed_on}) does not add up: opening {opening} + its {lines} lines = {total}, but the closing "
            f"balance is {closing} (a difference of {closing - total}); its transactions were imported as written"
        )

    def _account(self, f: _Field, currency: str) -> dict[str, Any]:
        ident = clean(f.text).replace(" ", "")
        if ident.endswith(currency) and len(ident) > 3 and ident[-4].isdigit():
            ident = ident[:-3]  # "NL91ABNA0417164300EUR": the account and its currency
        if not ident:
            raise self.fail(f.line_no, "an empty account :25:")
        account: dict[str, Any] = {"id": ident, "currency": currency}
        if is_iban(ident):
            account["iban"] = ident.upper()
        return account

    def _apart(self, raw: dict[str, Any], line: dict[str, Any]) -> Record:
        """Lines without a bank reference that are identical stay apart by occurrence; a
        bank reference that comes back with other content becomes `#2`, `#3`..."""
        record = transaction_record(raw, line)
        if line["bank_reference"].upper() not in _NO_REFERENCE:
            content = hash((raw["line"], raw.get("info")))
            seen = self.contents.setdefault(record.key, [])
            if content not in seen:
                seen.append(content)
            n = seen.index(content) + 1
        else:
            n = self.counts[record.key] = self.counts.get(record.key, 0) + 1
        if n == 1:
            return record
        raw["occurrence"] = n
        return transaction_record(raw, line)

    def _balance(self, account: dict[str, Any], by_tag: dict[str, _Field], closed_on: date) -> None:
        """Keep the latest statement's balances; its record is made once, at the end."""
        known = self.latest.get(account["id"])
        if known is not None and known[0] > closed_on:
            return
        raw: dict[str, Any] = {"account": account, "closing": clean(by_tag["62"].text), "timezone": self.timezone}
        if "64" in by_tag:
            raw["available"] = clean(by_tag["64"].text)
        self.latest[account["id"]] = (closed_on, raw)


__all__ = ["Mt940Importer", "account_record", "parse_line", "transaction_record"]
