from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.times import TimeFormatError, iso, parse_instant, to_ms


@given(
    st.integers(min_value=to_ms(datetime(1901, 1, 1, tzinfo=UTC)), max_value=to_ms(datetime(2199, 1, 1, tzinfo=UTC)))
)
def test_iso_matches_datetime(ms: int) -> None:
    expected = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")
    assert iso(ms) == expected.replace("+00:00", "Z")
    assert parse_instant(iso(ms)) == ms


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2026-01-01", 1767225600000),
        ("2026-01-01T01:00:00+01:00", 1767225600000),
        ("2026-01-01T00:00:00Z", 1767225600000),
    ],
)
def test_parse_instant_forms(text: str, ms: int) -> None:
    assert parse_instant(text) == ms


@pytest.mark.parametrize("text", ["2026-01-01T00:00:00", "yesterday", "2026-02-30", ""])
def test_parse_instant_refuses(text: str) -> None:
    with pytest.raises(TimeFormatError):
        parse_instant(text)
