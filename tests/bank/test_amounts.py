"""Amount, date and text parsing shared by the bank file importers: exact or refused."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.bank.amounts import (
    decode_text,
    fingerprint,
    is_iban,
    parse_amount,
    parse_date,
    parse_iso_date,
    parse_iso_datetime,
    parse_ofx_amount,
    parse_ofx_date,
    parse_ofx_datetime,
    parse_xml_decimal,
    zone,
)

CONVENTIONS = [(".", ","), (",", "."), (".", ""), (",", ""), (",", " "), (".", "'")]
amounts = st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=2, allow_nan=False)


def written(value: Decimal, decimal: str, thousands: str, group: bool, style: str) -> str:
    units, _, cents = f"{abs(value):.2f}".partition(".")
    if group and thousands:
        units = f"{int(units):,}".replace(",", thousands)
    body = f"{units}{decimal}{cents}"
    negative = value < 0
    if style == "plain":
        return f"-{body}" if negative else body
    if style == "trailing":
        return f"{body}-" if negative else f"{body}+"
    if style == "brackets":
        return f"({body})" if negative else body
    if style == "symbol":
        return f"-£{body}" if negative else f"+£{body}"
    return f"{'-' if negative else ''}{body} EUR"


def digits(text: str) -> str:
    return re.sub(r"[^0-9]", "", text).lstrip("0")


@given(
    amounts,
    st.sampled_from(CONVENTIONS),
    st.booleans(),
    st.sampled_from(["plain", "trailing", "brackets", "symbol", "code"]),
)
def test_amount_round_trips_in_every_convention(value: Decimal, conv: tuple[str, str], group: bool, style: str) -> None:
    decimal, thousands = conv
    assert parse_amount(written(value, decimal, thousands, group, style), decimal=decimal, thousands=thousands) == value


@given(amounts.filter(lambda v: abs(v) >= 1000 and v != v.to_integral_value()))
def test_the_other_convention_is_refused_never_misread(value: Decimal) -> None:
    text = written(value, ".", ",", True, "plain")  # "1,234.56"
    with pytest.raises(ValueError):
        parse_amount(text, decimal=",", thousands=".")
    with pytest.raises(ValueError):
        parse_amount(text, decimal=",", thousands="")


@settings(max_examples=300)
@given(st.text(alphabet="0123456789.,-+ ()£$€EURGBP\u00a0\u2212x", max_size=16), st.sampled_from(CONVENTIONS))
def test_any_text_is_refused_or_keeps_exactly_its_digits(text: str, conv: tuple[str, str]) -> None:
    try:
        value = parse_amount(text, decimal=conv[0], thousands=conv[1])
    except ValueError:
        return
    assert value.is_finite()
    assert digits(text) == digits(format(abs(value), "f"))


@pytest.mark.parametrize(
    ("text", "decimal", "thousands", "expected"),
    [
        ("1,234.56", ".", ",", "1234.56"),
        ("1.234,56", ",", ".", "1234.56"),
        ("1 234,56", ",", " ", "1234.56"),
        ("1\u00a0234,56", ",", " ", "1234.56"),
        ("-£1,234.00", ".", ",", "-1234.00"),
        ("£-12.00", ".", ",", "-12.00"),
        ("+£5.00", ".", ",", "5.00"),
        ("(12.50)", ".", ",", "-12.50"),
        ("12,50-", ",", ".", "-12.50"),
        ("\u221212.50", ".", "", "-12.50"),
        ("EUR 3.10", ".", "", "3.10"),
        ("1,234", ".", ",", "1234"),
    ],
)
def test_amount_examples(text: str, decimal: str, thousands: str, expected: str) -> None:
    assert parse_amount(text, decimal=decimal, thousands=thousands) == Decimal(expected)


@pytest.mark.parametrize(
    ("text", "decimal", "thousands"),
    [
        ("12,50", ".", ","),  # comma decimal in a file that groups thousands with commas
        ("1,23,456.00", ".", ","),  # lakh grouping is not the declared convention
        ("1.234.56", ".", ","),
        ("1,234.56", ".", ""),
        ("--5", ".", ""),
        ("(-5)", ".", ""),
        ("5 5", ".", ""),
        ("", ".", ""),
        ("NaN", ".", ""),
        ("1e5", ".", ""),
        ("١٢٣", ".", ""),
        ("9" * 60, ".", ""),
    ],
)
def test_amounts_refused(text: str, decimal: str, thousands: str) -> None:
    with pytest.raises(ValueError):
        parse_amount(text, decimal=decimal, thousands=thousands)


@given(amounts, st.booleans(), st.booleans())
def test_ofx_amounts_round_trip(value: Decimal, comma: bool, plus: bool) -> None:
    text = f"{value:.2f}".replace(".", "," if comma else ".")
    if plus and value >= 0:
        text = "+" + text
    assert parse_ofx_amount(text) == value


@given(st.text(alphabet="0123456789.,-+ e", max_size=12))
def test_ofx_amount_text_is_refused_or_exact(text: str) -> None:
    try:
        value = parse_ofx_amount(text)
    except ValueError:
        return
    assert digits(text) == digits(format(abs(value), "f"))
    assert text.count(".") + text.count(",") <= 1


def test_xml_decimals_are_never_negative() -> None:
    assert parse_xml_decimal(" 2700 ") == Decimal(2700)
    assert parse_xml_decimal("0.5") == Decimal("0.5")
    for bad in ("-1.00", "1,00", "1.0.0", "", "1e3", "+"):
        with pytest.raises(ValueError):
            parse_xml_decimal(bad)


FORMATS = ["%d/%m/%Y", "%m/%d/%Y", "%Y-%m-%d", "%d.%m.%Y", "%d %b %Y", "%Y%m%d", "%d/%m/%y"]


@given(st.dates(min_value=date(1970, 1, 1), max_value=date(2068, 12, 31)), st.sampled_from(FORMATS))
def test_dates_round_trip(day: date, fmt: str) -> None:
    assert parse_date(day.strftime(fmt), fmt) == day
    assert parse_date(day.isoformat()) == day


@pytest.mark.parametrize(
    ("text", "fmt"), [("2026-02-30", "iso"), ("31/13/2026", "%d/%m/%Y"), ("01/02/202", "%d/%m/%Y"), ("1/2", "%d/%m")]
)
def test_impossible_or_cut_dates_are_refused(text: str, fmt: str) -> None:
    with pytest.raises(ValueError):
        parse_date(text, fmt)


@given(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)),
    st.integers(min_value=-12, max_value=14),
    st.sampled_from([0, 30, 45]),
)
def test_ofx_datetimes_round_trip(at: datetime, hours: int, minutes: int) -> None:
    at = at.replace(microsecond=at.microsecond // 1000 * 1000)
    sign = "-" if hours < 0 else "+"
    text = f"{at:%Y%m%d%H%M%S}.{at.microsecond // 1000:03d}[{sign}{abs(hours)}:{minutes:02d}:XYZ]"
    offset = timedelta(hours=abs(hours), minutes=minutes) * (-1 if hours < 0 else 1)
    day, instant = parse_ofx_datetime(text)
    assert day == at.date() == parse_ofx_date(text)
    assert instant == at.replace(tzinfo=timezone(offset))


def test_ofx_datetime_forms() -> None:
    assert parse_ofx_datetime("20240131")[1] == datetime(2024, 1, 31, tzinfo=UTC)
    assert parse_ofx_datetime("20240131120000[-5:EST]")[1].utcoffset() == timedelta(hours=-5)
    assert parse_ofx_datetime("20240131120000[-3.5:NST]")[1].utcoffset() == -timedelta(hours=3, minutes=30)
    assert parse_ofx_datetime("20240131120000[+5.30:IST]")[1].utcoffset() == timedelta(hours=5, minutes=30)
    assert parse_ofx_datetime("202401311200", zone("Europe/Paris"))[1].utcoffset() == timedelta(hours=1)
    for bad in ("2024-01-31", "20240132", "2024013", "20240131[+25]", "20240131250000", ""):
        with pytest.raises(ValueError):
            parse_ofx_datetime(bad)


def test_iso_datetimes_and_dates() -> None:
    assert parse_iso_datetime("2023-10-01T13:37:14.000").tzinfo is UTC
    assert parse_iso_datetime("2023-09-30T23:59:00.000Z") == datetime(2023, 9, 30, 23, 59, tzinfo=UTC)
    assert parse_iso_datetime("2007-10-18T08:00:00+01:00").utcoffset() == timedelta(hours=1)
    assert parse_iso_date("2014-12-31+01:00") == date(2014, 12, 31)
    for bad in ("2023-10-01", "yesterday", "2023-13-01T00:00:00"):
        with pytest.raises(ValueError):
            parse_iso_datetime(bad)
    with pytest.raises(ValueError):
        zone("Nowhere/Land")


@given(st.binary(max_size=64), st.sampled_from(["ascii", "cp1252", "utf-8", "latin-1", "x-unknown"]))
def test_decoding_never_fails_and_keeps_ascii(data: bytes, encoding: str) -> None:
    text = decode_text(data, encoding)
    if data.isascii():
        assert text == data.decode("ascii")


def test_decoding_sees_through_a_lying_charset() -> None:
    assert decode_text("Zürich".encode(), "cp1252") == "Zürich"
    assert decode_text("Zürich".encode("cp1252"), "utf-8") == "Zürich"
    assert decode_text("Zürich".encode("cp1252"), "cp1252") == "Zürich"


def test_iban_check_digits_and_fingerprints() -> None:
    assert is_iban("GB33BUKB20201555555555") and is_iban("nl26 vayb 8060 4768 90")
    assert not is_iban("GB34BUKB20201555555555") and not is_iban("000123456789")
    assert fingerprint("a", "b") == fingerprint("a", "b") != fingerprint("ab", "")
