"""Quicken Interchange Format (QIF): the "Quicken / QIF" download many banks and card
issuers still offer (US, UK, Australia), and what GnuCash, KMyMoney and Quicken export.

A file is sections (`!Type:Bank`, `!Type:CCard`, `!Type:Cash`, `!Type:Oth A`, `!Type:Oth
L`), each a list of records ended by `^`, one field a line, its code the first letter: `D`
date, `T`/`U` amount, `P` payee, `M` memo, `N` number, `L` category (`[Account]` for a
transfer), `C` cleared, `A` address, `S`/`E`/`$` split lines. `!Account` blocks name the
account the next section belongs to. Investment, category, class and memorised-payee
sections are not transactions and are skipped.

QIF carries no currency, no balance and no transaction id: the currency is a setting,
there is no `bank.account` record, and keys are `ACCOUNT:DATE:hash:n` over the date,
amount, payee, memo, number and category, numbered by occurrence in the file (so two
identical payments on one day stay two, and a re-import adds nothing).

Dates come as `12/31/2025`, `12/31/25`, `12/31'25` (Quicken's apostrophe for 2000 on),
`31/12/2025` or `2025-12-31`. Month-first or day-first is the `date_format` setting; with
`auto` it is read off the file's own dates (a day over 12 tells), and a file whose every
date reads both ways is refused until the setting says which.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from connectors.sdk import Field, Fragment, Importer, ImportFailed, InvalidRecord, Notice, Record, decimal_text
from connectors.sdk.limits import bounded

from .amounts import decode_text, fingerprint, midnight_utc, parse_amount
from .settings import file_settings

_DATE = re.compile(r"(\d{1,4})\s*[/.-]\s*(\d{1,2})\s*([/.'-])\s*(\d{1,4})", re.A)
_SECTION = re.compile(r"!Type:\s*(.*)", re.I)
TRANSACTIONS = {"bank": "checking", "ccard": "credit_card", "cash": "other", "oth a": "other", "oth l": "loan"}
SKIPPED = {"invst", "cat", "class", "memorized", "prices", "security", "template"}
ORDERS = ("mdy", "dmy", "ymd")
_SNIFF = re.compile(rb"^(?:\xef\xbb\xbf)?\s*!(?:Type:|Account|Option:)", re.I)
_HEADLESS = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*D[0-9 ]{1,4}[/.'-][0-9 ]{1,2}[/.'-][0-9 ]{2,4}\r?\n(?:[A-Z$].*\r?\n)*?[TU]"
)


def _currency_problem(value: object) -> str | None:
    return None if isinstance(value, str) and re.fullmatch(r"[A-Za-z]{3}", value) else "is not an ISO 4217 code"


class QifImporter(Importer):
    name = "qif"
    title = "Quicken Interchange Format (QIF) statements"
    category = "bank"
    datasets = ("bank.transaction",)
    extensions = (".qif",)
    description = "The Quicken download of banks and card issuers, and what GnuCash or KMyMoney export."
    fields = (
        Field("currency", "Currency of the amounts (QIF files carry none)", required=False, check=_currency_problem),
        Field(
            "account",
            "Account id for the transactions (default: the file's !Account name, or qif-bank...)",
            required=False,
        ),
        Field(
            "date_format",
            "mdy, dmy or ymd; auto reads it off the file's dates",
            type="choice",
            default="auto",
            choices=("auto", *ORDERS),
        ),
        Field("decimal_separator", "period or comma", type="choice", default="period", choices=("period", "comma")),
    )

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        if _SNIFF.match(head) is not None:
            return True
        # A register without its !Type: header: a .qif file that starts with a dated record.
        return filename.lower().endswith(".qif") and _HEADLESS.match(head) is not None

    def read(self, path: Path, settings: dict[str, Any]) -> Iterator[Record | Fragment | Notice]:
        given = file_settings(self, path, settings)
        if not given.get("currency"):
            raise ImportFailed(
                f"{path.name}: QIF files carry no currency: set the source's currency "
                "(selfdata import FILE --set currency=USD, or selfdata source edit NAME --set currency=USD)"
            )
        order = str(given["date_format"])
        decimal = {"period": ".", "comma": ","}[str(given["decimal_separator"])]
        if order == "auto":
            with path.open("rb") as raw, bounded(raw, path.name, "lines") as f:
                order = _date_order(path, f)
        with path.open("rb") as raw, bounded(raw, path.name, "lines") as f:
            yield from _read(path, f, given, order, decimal)

    def normalize(self, fragment: Fragment) -> Record:
        return transaction_record(fragment.raw)


# --- the mapping: a pure function of `raw` -----------------------------------------------


def parse_qif_date(text: str, order: str) -> date:
    m = _DATE.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"{text.strip()!r} is not a QIF date (12/31/2025, 31/12/25, 12/31'25, 2025-12-31)")
    a, b, sep, c = m.groups()
    if len(a) == 4:
        year, month, day = int(a), int(b), int(c)
    else:
        month, day = (int(a), int(b)) if order == "mdy" else (int(b), int(a))
        year = int(c)
        if len(c) <= 2:
            year += 2000 if sep == "'" or year < 80 else 1900
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a date ({order})") from None


def _field(fields: list[list[str]], code: str) -> str | None:
    for c, value in fields:
        if c == code:
            return value.strip() or None
    return None


def transaction_record(raw: dict[str, Any]) -> Record:
    fields: list[list[str]] = raw["fields"]
    account = raw["account"]
    when = _field(fields, "D")
    if when is None:
        raise ValueError("a transaction without its date (D)")
    day = parse_qif_date(when, raw["date_format"])
    amount_text = _field(fields, "T") or _field(fields, "U")
    if amount_text is None:
        raise ValueError("a transaction without its amount (T)")
    decimal = raw.get("decimal", ".")
    amount = parse_amount(amount_text, decimal=decimal, thousands="," if decimal == "." else ".", symbols=False)
    payee, memo, number = _field(fields, "P"), _field(fields, "M"), _field(fields, "N")
    category = _field(fields, "L")
    data: dict[str, Any] = {
        "account_id": account["id"],
        "booked_on": day.isoformat(),
        "value_on": None,
        "amount": decimal_text(amount),
        "currency": account["currency"],
        "description": memo or payee,
        "counterparty": payee,
        "status": "booked",
    }
    if category and category.startswith("["):
        data["transfer_account"] = category.strip("[]")
    elif category:
        data["category"] = category
    if number:
        data["reference"] = number
    splits = sum(1 for c, _ in fields if c == "S")
    if splits > 1:
        data["split_count"] = splits
    digest = fingerprint(day.isoformat(), data["amount"], payee or "", memo or "", number or "", category or "")
    key = f"{account['id']}:{day.isoformat()}:{digest}:{int(raw.get('occurrence', 1))}"
    return Record("bank.transaction", key, midnight_utc(day), data, raw)


# --- reading a file ----------------------------------------------------------------------


def _lines(f: BinaryIO, single_byte: list[int] | None = None) -> Iterator[tuple[int, str]]:
    """Each line's number and text; `single_byte` gets the lines that were not UTF-8 (QIF
    declares no charset: those are read as Windows-1252, which is what such exporters write)."""
    for number, raw_line in enumerate(f, 1):
        data = raw_line.rstrip(b"\r\n")
        if number == 1 and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        if data.isascii():
            yield number, data.decode("ascii")
            continue
        text = decode_text(data, "cp1252")
        if single_byte is not None and text.encode("utf-8", "surrogatepass") != data:
            single_byte.append(number)
        yield number, text


def _date_order(path: Path, f: BinaryIO) -> str:
    """mdy or dmy, from the dates of the file itself; ymd files read either way."""
    month_first = day_first = False
    seen = False
    for number, line in _lines(f):
        if not line.startswith("D"):
            continue
        m = _DATE.fullmatch(line[1:].strip())
        if m is None:
            continue  # the second pass names the bad date and its line
        a, b = int(m.group(1)), int(m.group(2))
        if len(m.group(1)) == 4:
            return "ymd"
        seen = True
        day_first |= a > 12
        month_first |= b > 12
        if day_first and month_first:
            raise ImportFailed(
                f"{path.name}: line {number}: dates are written both month-first and day-first: "
                "set date_format (mdy or dmy)"
            )
    if day_first:
        return "dmy"
    if month_first or not seen:
        return "mdy"
    raise ImportFailed(
        f"{path.name}: every date in the file reads both as month/day and as day/month: "
        "set the source's date_format to mdy or dmy"
    )


def _read(path: Path, f: BinaryIO, settings: dict[str, Any], order: str, decimal: str) -> Iterator[Record | Notice]:
    section: str | None = None
    account_name: str | None = None
    in_account_block = False
    fields: list[list[str]] = []
    start = 0
    counts: dict[str, int] = {}
    registers = 0  # transaction sections seen
    single_byte: list[int] = []
    for number, line in _lines(f, single_byte):
        if not line.strip():
            continue
        if line.startswith("!"):
            if fields and not line.lower().startswith(("!option", "!clear")):
                raise ImportFailed(f"{path.name}: line {start}: a record not ended by ^ before {line.strip()!r}")
            header = line.strip()
            m = _SECTION.fullmatch(header)
            if header.lower() == "!account":
                in_account_block, section = True, None
            elif m is not None:
                section = m.group(1).strip().lower()
                in_account_block = False
                registers += section in TRANSACTIONS
                if section not in TRANSACTIONS and section not in SKIPPED:
                    raise ImportFailed(f"{path.name}: line {number}: unknown QIF section {header!r}")
            continue
        if section is None and not in_account_block:
            # Some exporters leave out the first header: established readers take a bank register.
            if line[:1] == "D" and not fields and _DATE.fullmatch(line[1:].strip()):
                section, registers = "bank", registers + 1
            elif line.strip() != "^" or fields:  # an empty record before the first header is nothing
                raise ImportFailed(f"{path.name}: line {number}: QIF data before any !Type: header: not a QIF file")
        if line.startswith("^"):
            if in_account_block:
                account_name = _field(fields, "N") or account_name
            elif section in TRANSACTIONS and fields:
                yield _record(path, start, fields, settings, section, account_name, order, decimal, counts)
            fields = []
            continue
        if not fields:
            start = number
        fields.append([line[0], line[1:]])
    if fields:
        raise ImportFailed(f"{path.name}: line {start}: the last record is not ended by ^ (the file is truncated?)")
    if not registers:
        raise ImportFailed(
            f"{path.name}: no bank, card, cash or asset register in the file (!Type:Bank, !Type:CCard...); "
            "investment, category and memorised lists are not imported"
        )
    if single_byte:
        n = len(single_byte)
        yield Notice(
            f"{path.name}: {n:,} line{'s' * (n > 1)} (the first: line {single_byte[0]:,}) were not valid UTF-8 and were"
            " read as Windows-1252: check the accents of those payees and categories"
        )


def _record(
    path: Path,
    line: int,
    fields: list[list[str]],
    settings: dict[str, Any],
    section: str,
    account_name: str | None,
    order: str,
    decimal: str,
    counts: dict[str, int],
) -> Record:
    ident = settings.get("account") or account_name or f"qif-{section.replace(' ', '-')}"
    raw: dict[str, Any] = {
        "account": {"id": ident, "currency": str(settings["currency"]).upper(), "kind": TRANSACTIONS[section]},
        "fields": fields,
        "date_format": order,
    }
    if decimal != ".":
        raw["decimal"] = decimal
    try:
        record = transaction_record(raw)
        n = counts[record.key] = counts.get(record.key, 0) + 1
        if n > 1:
            raw["occurrence"] = n
            record = transaction_record(raw)
    except (ValueError, InvalidRecord) as err:
        raise ImportFailed(f"{path.name}: line {line}: {err}") from None
    return record
