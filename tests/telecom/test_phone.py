"""Phone numbers: E.164 with the default region, withheld numbers, odd formatting."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.telecom.phone import check_region, is_withheld, normalize_number


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("030 12345678", "DE", "+493012345678"),
        ("(030) 123-4567", "DE", "+49301234567"),
        ("030/1234567", "DE", "+49301234567"),
        ("+49 (0)30 12345678", None, "+493012345678"),
        ("0049 30 12345678", None, "+493012345678"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("06.12.34.56.78", "fr", "+33612345678"),
        ("+33 6 12 34 56 78", "DE", "+33612345678"),
        ("tel:+33612345678", None, "+33612345678"),
        ("sip:0612345678@sip.free.fr", "FR", "+33612345678"),
        ("＋３３ ６１２ ３４５ ６７８", None, "+33612345678"),  # full-width digits
        ("202-555-0143", "US", "+12025550143"),
        ("0612345678", None, "0612345678"),  # no region: left as dialled
        ("112", "DE", "112"),  # short codes are not E.164
        ("36179", "FR", "36179"),
        ("**610", "DE", "**610"),  # FRITZ!Box internal extension
        ("AMAZON", "FR", "AMAZON"),  # alphanumeric sender
        ("Free Mobile", "FR", "Free Mobile"),
    ],
)
def test_normalize(raw: str, region: str | None, expected: str) -> None:
    assert normalize_number(raw, region) == expected


@pytest.mark.parametrize(
    "raw", [None, "", "  ", "-1", "-2", "-3", "Unknown", "(Unknown)", "anonymous", "Private", "null"]
)
def test_withheld_numbers_have_no_number(raw: str | None) -> None:
    assert normalize_number(raw, "FR") is None
    assert is_withheld(raw)


def test_region_setting_is_checked() -> None:
    assert check_region("DE") is None and check_region("fr") is None
    assert "not a region" in str(check_region("Germany"))


@given(st.text(max_size=40), st.sampled_from([None, "DE", "FR", "US", "GB"]))
def test_normalize_never_raises_and_is_stable(raw: str, region: str | None) -> None:
    once = normalize_number(raw, region)
    if once is None:
        return
    assert once.strip() == once and once != ""
    assert normalize_number(once, region) == once


@given(st.from_regex(r"\+?[0-9 ().\-/]{4,20}", fullmatch=True), st.sampled_from(["DE", "FR"]))
def test_numbers_never_gain_or_lose_digits_unless_valid(raw: str, region: str) -> None:
    out = normalize_number(raw, region)
    if out is not None and not out.startswith("+"):
        assert re.sub(r"\D", "", out) == re.sub(r"\D", "", raw)
