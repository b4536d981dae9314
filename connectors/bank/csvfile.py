"""Bank CSV exports, read through a declarative profile: which column holds what, the
date format, the decimal and thousands separators, the sign convention, the encoding.

Built-in profiles: `uk-midata` (the UK midata export: Date, Type, Merchant/Description,
Debit/Credit, Balance), the banks' own exports of csvbanks.py (Chase, Monzo, DKB...) and
`generic` (Date, Description, Amount and optional Currency, Balance, Value Date,
Counterparty, Category, Status, Id columns). `custom` starts from nothing; any profile
setting given on the source overrides the chosen profile's.

Keys: a bank id column when the profile has one; otherwise the account, the date and a
hash of the identifying fields (dates, amount, currency, description, counterparty, type),
numbered by occurrence within the file. A newer export that overlaps an older one gives
the same keys to the same rows, so it adds only the new ones, while two identical
payments on the same day stay two.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from connectors.sdk import (
    Field,
    Fragment,
    Importer,
    ImportFailed,
    InvalidRecord,
    Record,
    SettingsError,
    datasets,
    decimal_text,
    parse_settings,
)
from connectors.sdk.limits import bounded

from .amounts import decode_text, fingerprint, midnight_utc, parse_amount
from .csvbanks import PROFILES, candidate_profiles
from .csvhints import header_hint, parse_csv_date
from .csvprofiles import (
    DELIMITERS,
    HEADER_LINES,
    PENDING,
    ROLES,
    SEPARATORS,
    SIGNS,
    Profile,
    columns_setting,
)


class BankCsvImporter(Importer):
    name = "bank-csv"
    title = "Bank CSV exports (UK midata, banks' own exports, custom layouts)"
    category = "bank"
    datasets = ("bank.account", "bank.transaction")
    extensions = (".csv", ".txt")
    description = "Transactions from a bank's CSV download, read through a bank profile."
    fields = (
        Field(
            "profile",
            "Bank profile: auto (recognised by its header), a bank's (chase, monzo, dkb...), generic, or custom",
            type="choice",
            choices=("auto", *PROFILES, "custom"),
            default="auto",
        ),
        Field("account_id", "The account the file belongs to (a CSV export does not say)", default="csv-account"),
        Field(
            "currency",
            "Currency of the amounts when the file has no currency column",
            required=False,
            pattern="[A-Z]{3}",
        ),
        Field(
            "columns",
            "Columns by role, e.g. date=Buchungstag;amount=Betrag;description=Verwendungszweck "
            f"(roles: {', '.join(ROLES)})",
            required=False,
            check=columns_setting,
        ),
        Field("date_format", "Date format as in strptime, e.g. %d.%m.%Y, or iso", required=False),
        Field("decimal_separator", "Decimal separator", type="choice", choices=("period", "comma"), required=False),
        Field("thousands_separator", "Thousands separator", type="choice", choices=tuple(SEPARATORS), required=False),
        Field("sign", "How the sign is written: " + ", ".join(SIGNS), type="choice", choices=SIGNS, required=False),
        Field(
            "credit_values", "For sign=indicator: values meaning money in, comma-separated (CR,Credit)", required=False
        ),
        Field(
            "encoding",
            "File encoding (utf-8, cp1252, ...); auto reads UTF-8 and falls back to Windows-1252",
            required=False,
        ),
        Field("delimiter", "Column delimiter", type="choice", choices=tuple(DELIMITERS), required=False),
    )

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        lines = head.splitlines()[:HEADER_LINES]
        if not lines or b"\x00" in head[:4096]:
            return False
        text = [decode_text(line, "utf-8").lstrip("\ufeff") for line in lines]
        return any(_header_match(p, text) is not None for p in PROFILES.values())

    @classmethod
    def unrecognised_hint(cls, head: bytes, filename: str) -> str | None:
        """For a file no importer recognises that looks like a CSV: the settings to give."""
        return header_hint(head)

    def read(self, path: Path, settings: dict[str, Any]) -> Iterator[Record | Fragment]:
        try:
            given, _ = parse_settings(self.fields, {k: v for k, v in settings.items() if v is not None})
        except SettingsError as err:
            raise ImportFailed(f"{path.name}: setting {err}") from None
        with path.open("rb") as raw, bounded(raw, path.name, "lines") as f:
            yield from _Reader(path, f, given).records()

    def normalize(self, fragment: Fragment) -> Record | None:
        if fragment.dataset == "bank.account":
            return account_record(fragment.raw)
        return transaction_record(fragment.raw)


def _split(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter))
    except (csv.Error, StopIteration):
        return []


def _header_match(profile: Profile, lines: list[str]) -> tuple[int, str, dict[str, int]] | None:
    """(line index, delimiter, role -> column index) of the profile's header in `lines`."""
    delimiters = [profile.delimiter] if profile.delimiter != "auto" else [",", ";", "\t", "|"]
    wanted = {role: header.strip().casefold() for role, header in profile.columns.items()}
    markers = [m.casefold() for m in profile.markers]
    for i, line in enumerate(lines):
        for delimiter in delimiters:
            if delimiter not in line and len(wanted) > 1:
                continue
            cells = [c.strip().casefold() for c in _split(line, delimiter)]
            found = {role: cells.index(h) for role, h in wanted.items() if h in cells}
            if (
                all(r in found for r in profile.required)
                and ("amount" in found or "debit" in found)
                and all(m in cells for m in markers)
            ):
                return i, delimiter, found
    return None


@dataclass
class _Last:
    """What the checks at the end of the file need."""

    rows: int = 0
    first_day: Any = None
    last_day: Any = None
    balances: list[tuple[Decimal, Decimal]] = field(default_factory=list)  # last two (amount, balance)
    transaction_last: bool = True  # whether the file's last row is a transaction (not a footer)
    max_first: tuple[Any, int, dict[str, Any]] | None = None  # first and last row of the latest day
    max_last: tuple[Any, int, dict[str, Any]] | None = None


class _Reader:
    def __init__(self, path: Path, f: BinaryIO, settings: dict[str, Any]) -> None:
        self.path, self.f, self.settings = path, f, settings
        self.line = 0
        self.terminated = True
        self.counts: dict[str, int] = {}
        self.seen: dict[str, int] = {}
        self.skipped: dict[str, tuple[str, ...]] = {"void": (), "summary": ()}
        f.seek(0, 2)
        if f.tell():
            f.seek(-1, 2)
            self.terminated = f.read(1) in (b"\n", b"\r")
        f.seek(0)

    def fail(self, message: str, line: int | None = None) -> ImportFailed:
        return ImportFailed(f"{self.path.name}: line {line or self.line}: {message}")

    def _lines(self, encoding: str) -> Iterator[str]:
        first = True
        for raw in self.f:
            if first:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
                first = False
            yield decode_text(raw, encoding)

    def records(self) -> Iterator[Record | Fragment]:
        candidates = candidate_profiles(self.settings)
        encoding = candidates[0].encoding if candidates[0].encoding != "auto" else "utf-8"
        lines = self._lines(encoding)
        head: list[str] = []
        for line in lines:
            head.append(line)
            if len(head) >= HEADER_LINES:
                break
        profile, match = self._profile(candidates, head)
        index, delimiter, found = match
        header = next(csv.reader([head[index]], delimiter=delimiter))
        columns = {role: header[i] for role, i in found.items()}
        currency = self.settings.get("currency") or profile.currency
        if currency is None and "currency" not in columns:
            raise self.fail("the file has no currency column: set the source's currency setting", index + 1)
        context = {
            "account_id": self.settings.get("account_id") or "csv-account",
            "currency": currency,
            "columns": columns,
            "date_format": profile.date_format,
            "decimal": profile.decimal,
            "thousands": profile.thousands,
            "sign": profile.sign,
            "credit_values": list(profile.credit_values),
            "strip_apostrophe": profile.strip_apostrophe,
        }
        self.skipped = {"void": profile.void_statuses, "summary": profile.summary_rows}
        rest = head[index + 1 :]
        reader = csv.reader(_chain(rest, lines), delimiter=delimiter, strict=True)
        self.line = index + 1
        last = _Last()
        try:
            for cells in reader:
                self.line = index + 1 + reader.line_num
                record = self._row(cells, header, profile, context, last)
                if record is not None:
                    yield record
        except csv.Error as err:
            raise self.fail(
                f"malformed CSV ({err}): the file is damaged or truncated", index + 1 + reader.line_num
            ) from None
        if last.rows == 0:
            raise self.fail("no transaction rows under the header", index + 1)
        account = self._finish(last)
        if account is not None:
            yield account

    def _profile(self, candidates: list[Profile], head: list[str]) -> tuple[Profile, tuple[int, str, dict[str, int]]]:
        for profile in candidates:
            match = _header_match(profile, head)
            if match is not None:
                return profile, match
        if len(candidates) == 1:
            wanted = candidates[0]
            expected = ", ".join(wanted.columns[r] for r in wanted.required if r in wanted.columns)
            raise self.fail(f"no header with the columns of profile {wanted.name} ({expected})", 1)
        hint = header_hint("\n".join(head).encode("utf-8"))
        raise self.fail(
            "not a known bank CSV: no header of a built-in profile ("
            + ", ".join(p.name for p in candidates)
            + "); "
            + (hint or "set the source's profile, or profile=custom with its columns"),
            1,
        )

    def _row(
        self, cells: list[str], header: list[str], profile: Profile, context: dict[str, Any], last: _Last
    ) -> Record | None:
        if not any(c.strip() for c in cells):
            return None
        if profile.footer_prefixes and cells[0].strip().casefold().startswith(profile.footer_prefixes):
            last.transaction_last = False
            return None
        last.transaction_last = True
        if len(cells) < len(header) or any(c.strip() for c in cells[len(header) :]):
            cut = "" if self.terminated else ": the file does not end with a line end, it looks truncated"
            raise self.fail(f"{len(cells)} fields where the header has {len(header)}{cut}")
        raw: dict[str, Any] = {**context, "row": dict(zip(header, cells, strict=False))}
        if self._left_out(raw):
            return None
        record = self._normalize(Fragment("bank.transaction", raw), self.line)
        if _cell(raw, "id"):
            # A bank id reused for another row: keep both, apart.
            digest = hash((record.data["amount"], record.data["booked_on"], record.data["description"]))
            n = 1
            while self.seen.setdefault(record.key if n == 1 else f"{record.key}#{n}", digest) != digest:
                n += 1
        else:
            n = self.counts[record.key] = self.counts.get(record.key, 0) + 1
        if n > 1:
            raw["occurrence"] = n
            record = self._normalize(Fragment("bank.transaction", raw), self.line)
        last.rows += 1
        self._track(record, raw, last)
        return record

    def _left_out(self, raw: dict[str, Any]) -> bool:
        """A row of a payment that never happened (declined), or a summary row without an
        amount (an opening balance), as the profile names them."""
        void, summary = self.skipped["void"], self.skipped["summary"]
        if void and _cell(raw, "status").casefold() in void:
            return True
        amount = _cell(raw, "amount") if "amount" in raw["columns"] else _cell(raw, "debit") + _cell(raw, "credit")
        return bool(summary) and not amount and _cell(raw, "description").casefold().startswith(summary)

    def _track(self, record: Record, raw: dict[str, Any], last: _Last) -> None:
        day = record.data["booked_on"]
        last.first_day = last.first_day or day
        last.last_day = day
        balance_text = _cell(raw, "balance")
        if not balance_text:
            return
        try:
            balance = _amount(raw, balance_text)
        except ValueError as err:
            raise self.fail(f"balance: {err}") from None
        last.balances = [*last.balances[-1:], (Decimal(record.data["amount"]), balance)]
        if last.max_first is None or day > last.max_first[0]:
            last.max_first = (day, self.line, raw)
        if last.max_last is None or day >= last.max_last[0]:
            last.max_last = (day, self.line, raw)

    def _finish(self, last: _Last) -> Record | None:
        if not self.terminated and last.transaction_last and len(last.balances) == 2:
            # The last line has no line end: a cut inside its balance would read as another
            # number, so it must continue the running balance (in either row order).
            (prev_amount, prev_balance), (amount, balance) = last.balances
            if balance != prev_balance + amount and prev_balance != balance + prev_amount:
                raise self.fail("the last line does not continue the running balance: the file is truncated")
        # The latest day's closing balance: its first row in a newest-first file, else its last.
        chosen = last.max_first if last.first_day > last.last_day else last.max_last
        if chosen is None:
            return None
        return self._normalize(Fragment("bank.account", chosen[2]), chosen[1])

    def _normalize(self, fragment: Fragment, line: int) -> Record:
        try:
            record = (account_record if fragment.dataset == "bank.account" else transaction_record)(fragment.raw)
        except (ValueError, KeyError, TypeError, InvalidRecord) as err:
            raise self.fail(str(err), line) from None
        assert record is not None
        return record


def _chain(first: list[str], rest: Iterator[str]) -> Iterator[str]:
    yield from first
    yield from rest


def _cell(raw: dict[str, Any], role: str) -> str:
    header = raw["columns"].get(role)
    value = raw["row"].get(header, "") if header is not None else ""
    value = value.strip()
    if raw.get("strip_apostrophe") and value.startswith("'"):
        value = value[1:].strip()  # spreadsheet guard some banks write before text
    return value


def _amount(raw: dict[str, Any], text: str) -> Decimal:
    return parse_amount(text, decimal=raw["decimal"], thousands=raw["thousands"])


def _signed_amount(raw: dict[str, Any]) -> Decimal:
    sign = raw["sign"]
    if sign in ("signed", "inverted"):
        text = _cell(raw, "amount")
        if not text:
            raise ValueError("the amount is empty")
        amount = _amount(raw, text)
        return -amount if sign == "inverted" else amount
    if sign == "debit-credit":
        debit, credit = _cell(raw, "debit"), _cell(raw, "credit")
        out = abs(_amount(raw, debit)) if debit else None
        into = abs(_amount(raw, credit)) if credit else None
        if out and into:
            raise ValueError(f"both a debit ({debit}) and a credit ({credit}) on one row")
        if out is None and into is None:
            raise ValueError("neither a debit nor a credit amount")
        return into if into else -(out or Decimal(0))
    indicator = _cell(raw, "indicator").upper()
    amount = abs(_amount(raw, _cell(raw, "amount")))
    if indicator in raw["credit_values"]:
        return amount
    if indicator in ("DR", "D", "DEBIT", "-") or indicator not in raw["credit_values"] and indicator:
        return -amount
    raise ValueError("no credit/debit indicator")


def _day(raw: dict[str, Any]) -> Any:
    """The booking date; a pending row without one yet (Revolut's Completed Date) takes its
    transaction date."""
    text = _cell(raw, "date") or _cell(raw, "transaction_date")
    return parse_csv_date(text, raw["date_format"], "date")


def transaction_record(raw: dict[str, Any]) -> Record:
    """The `bank.transaction` of one CSV row (a pure function of the fragment)."""
    day = _day(raw)
    value_text = _cell(raw, "value_date")
    value_on = parse_csv_date(value_text, raw["date_format"], "value_date") if value_text else None
    amount = _signed_amount(raw)
    currency = (_cell(raw, "currency") or raw.get("currency") or "").upper()
    description, counterparty, kind = _cell(raw, "description"), _cell(raw, "counterparty"), _cell(raw, "type")
    if not counterparty and ("payer" in raw["columns"] or "payee" in raw["columns"]):
        # Payer and payee columns (DKB): the other party is the payer of money in, the payee of money out.
        counterparty = _cell(raw, "payer") if amount > 0 else _cell(raw, "payee")
    status = "pending" if _cell(raw, "status").casefold() in PENDING else "booked"
    data = datasets.BankTransaction.make(
        account_id=raw["account_id"],
        booked_on=day,
        value_on=value_on,
        amount=amount,
        currency=currency,
        description=description or None,
        counterparty=counterparty or None,
        status=status,
        category=_cell(raw, "category") or None,
    )
    if kind:
        data["type"] = kind
    when = _cell(raw, "transaction_date")
    if when:
        data["transacted_on"] = parse_csv_date(when, raw["date_format"], "transaction_date").isoformat()
    bank_id = _cell(raw, "id")
    occurrence = int(raw.get("occurrence", 1))
    if bank_id:
        key = f"{raw['account_id']}:{bank_id}" + (f"#{occurrence}" if occurrence > 1 else "")
    else:
        ident = fingerprint(
            day.isoformat(), value_text, decimal_text(amount), currency, description, counterparty, kind
        )
        key = f"{raw['account_id']}:{day.isoformat()}:{ident}:{occurrence}"
    return Record("bank.transaction", key, midnight_utc(day), data, raw)


def account_record(raw: dict[str, Any]) -> Record:
    """The `bank.account` with the balance after the latest day's last transaction."""
    day = _day(raw)
    at = datetime.combine(day, time(23, 59, 59), UTC)
    currency = (_cell(raw, "currency") or raw.get("currency") or "").upper()
    data = datasets.BankAccount.make(
        account_id=raw["account_id"], currency=currency, balance=_amount(raw, _cell(raw, "balance")), balance_at=at
    )
    return Record("bank.account", raw["account_id"], at, data, raw)
