"""Values of bank files and bank APIs: amounts, dates and text, parsed strictly.

Shared by the OFX, camt, MT940 and CSV importers (and `api_amount` by the live bank
connectors, which raise `Fatal` instead). Every parser either returns the exact value
or raises `ValueError` with a message saying what was expected: an ambiguous amount
("12,500" where the decimal separator is a comma and thousands are not grouped) is
refused rather than guessed, so a wrong amount is never stored.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.sdk import Fatal, parse_decimal

MAX_AMOUNT_CHARS = 40  # longer text is not an amount a bank writes
MIN_YEAR, MAX_YEAR = 1950, 2199  # a date outside is a misread (a format without its year)
_MINUS = "-\u2212\u2013"  # hyphen-minus, minus sign, en dash (spreadsheets write them)
_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " "})
_SYMBOL_RE = re.compile(r"^(?:[£$€¥₹]|[A-Z]{3}(?=[\s\d.,+\-\u2212(]|$))\s*|\s*(?:[£$€¥₹]|(?<=[\s\d.,])[A-Z]{3})$")
_XML_DECIMAL_RE = re.compile(r"\+?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
_OFX_AMOUNT_RE = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)", re.ASCII)
_OFX_GROUPED_RE = re.compile(r"[+-]?\d{1,3}(?: \d{3})+(?:,\d*)?", re.ASCII)  # "+1 006,60"
_OFX_TIME_RE = re.compile(
    r"(\d{4})(\d{2})(\d{2})"
    r"(?:(\d{2})(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?"
    r"\s*(?:\[\s*([+-]?\d{1,2})(?:[.:](\d{1,2}))?\s*(?::\s*[A-Za-z][A-Za-z0-9_/+-]*)?\s*\])?",
    re.ASCII,
)


@lru_cache(maxsize=64)
def _body_re(decimal: str, thousands: str) -> re.Pattern[str]:
    d, t = re.escape(decimal), re.escape(thousands)
    plain = rf"\d+(?:{d}\d*)?|{d}\d+"
    if not thousands:
        return re.compile(rf"(?:{plain})", re.ASCII)
    return re.compile(rf"(?:\d{{1,3}}(?:{t}\d{{3}})+(?:{d}\d*)?|{plain})", re.ASCII)


def _take_sign(text: str) -> tuple[bool | None, str]:
    if not text:
        return None, text
    if text[:1] in _MINUS:
        return True, text[1:].lstrip()
    if text[:1] == "+":
        return False, text[1:].lstrip()
    if text[-1:] in _MINUS:
        return True, text[:-1].rstrip()
    if text[-1:] == "+":
        return False, text[:-1].rstrip()
    return None, text


def parse_amount(text: str, *, decimal: str = ".", thousands: str = "", symbols: bool = True) -> Decimal:
    """An amount as written in a bank's CSV: "-1,234.56", "£12.00", "(12.50)", "12,50-" ...

    `decimal` and `thousands` are the file's separators; thousands must group by three
    ("1,234" but never "12,34"). A leading, trailing or bracketed sign is allowed once;
    currency symbols and ISO codes around the number are ignored when `symbols`.
    """
    if decimal == thousands or decimal not in (".", ","):
        raise ValueError(f"decimal separator {decimal!r} with thousands separator {thousands!r} is not a convention")
    s = text.translate(_SPACES).strip()
    if not s:
        raise ValueError("the amount is empty")
    if len(s) > MAX_AMOUNT_CHARS:
        raise ValueError(f"{text[:MAX_AMOUNT_CHARS]!r}... is too long to be an amount")
    negative: bool | None = None
    if s.startswith("(") and s.endswith(")"):
        negative, s = True, s[1:-1].strip()
    signs = 0 if negative is None else 1
    for _ in range(3):  # sign and symbol in either order: "-£12", "£-12", "12 EUR-"
        sign, s = _take_sign(s)
        if sign is not None:
            signs += 1
            negative = sign
            continue
        if symbols:
            stripped = _SYMBOL_RE.sub("", s, count=1)
            if stripped != s:
                s = stripped.strip()
                continue
        break
    if signs > 1:
        raise ValueError(f"{text!r} has more than one sign")
    if not _body_re(decimal, thousands).fullmatch(s):
        form = f"1{thousands}234{decimal}56" if thousands else f"1234{decimal}56"
        raise ValueError(f"{text!r} is not an amount in the form {form}")
    value = Decimal((s.replace(thousands, "") if thousands else s).replace(decimal, "."))
    return -value if negative else value


def parse_ofx_amount(text: str) -> Decimal:
    """An OFX amount: an optional sign, and a period or a comma as decimal separator
    (OFX allows either and no thousands separator, so "1,234.56" is refused)."""
    s = text.strip()
    if " " in s or "\u00a0" in s or "\u202f" in s:  # French banks group thousands with spaces
        s = s.translate(_SPACES)
        if not _OFX_GROUPED_RE.fullmatch(s):
            raise ValueError(f"{text!r} is not an OFX amount (like -1234.56, -1234,56 or +1 234,56)")
        s = s.replace(" ", "")
    if not _OFX_AMOUNT_RE.fullmatch(s):
        raise ValueError(f"{text!r} is not an OFX amount (like -1234.56 or -1234,56)")
    return Decimal(s.replace(",", "."))


def ofx_no_date(text: str | None) -> bool:
    """A date written as zeros ("00000000"), which some banks write for a date they do not know."""
    return text is not None and text.strip()[:8] == "00000000"


def parse_xml_decimal(text: str) -> Decimal:
    """An ISO 20022 amount (xs:decimal, never negative: the sign is in CdtDbtInd)."""
    s = text.strip()
    if s.isascii() and s.replace(".", "", 1).isdigit() and len(s) <= MAX_AMOUNT_CHARS:
        return Decimal(s)  # the usual "1234.56"
    if not _XML_DECIMAL_RE.fullmatch(s) or len(s) > MAX_AMOUNT_CHARS:
        raise ValueError(f"{text!r} is not an ISO 20022 amount (digits with a period, no sign)")
    return Decimal(s)


def _check_year(d: date, text: str) -> date:
    if not MIN_YEAR <= d.year <= MAX_YEAR:
        raise ValueError(f"{text!r}: year {d.year} is out of range")
    return d


def parse_date(text: str, fmt: str = "iso") -> date:
    """A calendar date in `fmt` (a strptime format such as %d/%m/%Y, or "iso" for YYYY-MM-DD)."""
    s = text.strip()
    try:
        if fmt == "iso":
            if len(s) != 10:
                raise ValueError
            d = date.fromisoformat(s)
        else:
            d = datetime.strptime(s, fmt).date()
    except ValueError:
        raise ValueError(f"{text!r} is not a date in the form {'YYYY-MM-DD' if fmt == 'iso' else fmt}") from None
    return _check_year(d, text)


def zone(name: str) -> tzinfo:
    """A time zone by IANA name ("UTC", "Europe/London"), for times given without an offset."""
    if name.upper() in ("UTC", "GMT", "Z"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a time zone name such as UTC or Europe/London") from None


def zone_problem(name: object) -> str | None:
    """Why `name` is not a time zone (a settings check), or None."""
    try:
        zone(str(name))
    except ValueError as err:
        return str(err)
    return None


def parse_ofx_datetime(text: str, default: tzinfo = UTC) -> tuple[date, datetime]:
    """An OFX date-time, YYYYMMDD[HHMM[SS[.XXX]]][[offset[:TZ]]]: the date as written
    (the bank's local calendar day) and the instant. Without an offset the time is in
    `default` (OFX says GMT)."""
    m = _OFX_TIME_RE.fullmatch(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not an OFX date-time (like 20240131 or 20240131120000.000[-5:EST])")
    year, month, day, hh, mm, ss, frac, off_h, off_m = m.groups()
    try:
        day_ = _check_year(date(int(year), int(month), int(day)), text)
        micro = int((frac or "0").ljust(6, "0"))
        at = datetime(day_.year, day_.month, day_.day, int(hh or 0), int(mm or 0), int(ss or 0), micro)
    except ValueError as err:
        raise ValueError(f"{text!r} is not a valid OFX date-time: {err}") from None
    tz = default
    if off_h is not None:
        hours = int(off_h)
        # "-3.5" is three and a half hours; "+5:30" or "+5.30" is five hours thirty.
        minutes = 0 if off_m is None else int(off_m) * 6 if len(off_m) == 1 else int(off_m)
        if abs(hours) > 14 or minutes >= 60:
            raise ValueError(f"{text!r} has an impossible UTC offset")
        sign = -1 if off_h.startswith("-") else 1
        tz = timezone(sign * timedelta(hours=abs(hours), minutes=minutes))
    return day_, at.replace(tzinfo=tz)


@lru_cache(maxsize=4096)
def parse_ofx_date(text: str) -> date:
    """The calendar day of an OFX date-time, as written (the bank's local day)."""
    if len(text) >= 8 and _OFX_TIME_RE.fullmatch(text.strip()):
        s = text.strip()
        try:
            return _check_year(date(int(s[:4]), int(s[4:6]), int(s[6:8])), text)
        except ValueError as err:
            raise ValueError(f"{text!r} is not a valid OFX date: {err}") from None
    raise ValueError(f"{text!r} is not an OFX date-time (like 20240131 or 20240131120000.000[-5:EST])")


def parse_iso_datetime(text: str, default: tzinfo = UTC) -> datetime:
    """An ISO 8601 date-time (ISO 20022 ISODateTime); without an offset it is in `default`."""
    s = text.strip()
    try:
        if len(s) < 16 or s[10] not in "Tt ":
            raise ValueError
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date-time") from None
    _check_year(dt.date(), text)
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=default)


@lru_cache(maxsize=4096)
def parse_iso_date(text: str) -> date:
    """An ISO 8601 date (xs:date), which may carry an offset that does not change the day."""
    s = text.strip()
    if len(s) > 10 and re.fullmatch(r"Z|[+-]\d{2}:\d{2}", s[10:]):
        s = s[:10]
    return parse_date(s, "iso")


@lru_cache(maxsize=4096)
def midnight_utc(d: date) -> datetime:
    """The instant a date-only record is filed under (DESIGN: a date means midnight UTC)."""
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def fingerprint(*parts: str) -> str:
    """A short stable hash of identifying fields, for records a bank gives no id."""
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=10).hexdigest()


_SINGLE_BYTE = {"cp1252", "iso8859-1", "iso8859-15", "ascii", "cp850", "cp437"}


def decode_text(data: bytes, encoding: str) -> str:
    """Bytes of a text value in the file's declared `encoding`, tolerating a lying declaration.

    A value that is valid UTF-8 is UTF-8 even when a single-byte charset is declared (real
    single-byte text is almost never valid UTF-8); bytes that are not valid in the declared
    charset fall back to Windows-1252, then Latin-1, which never fails. Digits and signs are
    ASCII in every one of these, so a wrong charset can garble a description, never an amount.
    """
    if data.isascii():
        return data.decode("ascii")
    try:
        canonical = codecs.lookup(encoding).name
    except LookupError:
        canonical = "cp1252"
    order = ("utf-8", canonical) if canonical in _SINGLE_BYTE else (canonical, "utf-8")
    for name in (*order, "cp1252"):
        try:
            return data.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("latin-1")


def is_iban(text: str) -> bool:
    """Whether `text` is a well-formed IBAN (country, check digits, mod-97)."""
    s = text.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", s):
        return False
    digits = "".join(str(int(c, 36)) for c in s[4:] + s[:4])
    return int(digits) % 97 == 1


def api_amount(value: Any, what: str, vendor: str) -> Decimal:
    """An amount a bank's API answered (a JSON string or integer), exact, or Fatal naming
    the vendor and the value."""
    try:
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise ValueError
        amount = parse_decimal(str(value))
    except ValueError:
        raise Fatal(f"{vendor} answered {what} that is not a number: {value!r}"[:200]) from None
    if amount and not -12 <= amount.adjusted() <= 15:  # 1e999999 would print a million digits
        raise Fatal(f"{vendor} answered {what} out of any plausible range: {value!r}"[:200])
    return amount
