"""The Singer messages and the mapping setting, on their own."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.bridges.singer import select
from connectors.bridges.singermessages import (
    BadMessage,
    Message,
    RecordMapper,
    Stream,
    parse_line,
    parse_mapping,
    parse_time,
    tap_word,
)
from connectors.sdk import Fatal, InvalidRecord

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@given(st.binary(max_size=300))
def test_any_line_is_a_message_or_bad_message_naming_its_number(raw: bytes) -> None:
    try:
        parse_line(41, raw)
    except BadMessage as err:
        assert "line 41" in str(err)


@given(st.dictionaries(st.text(max_size=8), st.none() | st.integers() | st.text(max_size=8), max_size=5))
def test_any_json_object_is_a_message_or_bad_message(doc: dict[str, object]) -> None:
    try:
        parse_line(3, json.dumps(doc).encode())
    except BadMessage as err:
        assert "line 3" in str(err)


def test_a_malformed_line_never_repeats_its_content() -> None:
    with pytest.raises(BadMessage) as err:
        parse_line(12, b'{"type": "RECORD", "record": {"password": "hunter22"')
    assert "line 12 is not JSON" in str(err.value) and "hunter22" not in str(err.value)


def test_record_before_a_stream_or_without_a_record_is_refused() -> None:
    with pytest.raises(BadMessage, match="without its stream"):
        parse_line(1, b'{"type": "RECORD", "record": {}}')
    with pytest.raises(BadMessage, match='without an object in "record"'):
        parse_line(1, b'{"type": "RECORD", "stream": "s", "record": [1]}')


def test_names_become_dataset_words() -> None:
    assert tap_word("/home/me/.local/bin/tap-GitHub") == "github"
    assert tap_word("tap_stripe") == "stripe"
    assert tap_word("/opt/x/3cx") == "s_3cx"


def test_times_with_and_without_offsets() -> None:
    assert parse_time("2026-01-02T03:04:05Z") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_time("2026-01-02T03:04:05") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # Singer means UTC
    assert parse_time("2026-01-02") == datetime(2026, 1, 2, tzinfo=UTC)
    assert parse_time(17) is None and parse_time("soon") is None


def record(line: int, row: dict[str, object], stream: str = "orders") -> Message:
    return Message("RECORD", line, stream, {"type": "RECORD", "stream": stream, "record": row})


def test_keys_from_key_properties_or_the_content() -> None:
    mapper = RecordMapper("shop", {}, NOW)
    one = mapper.record(record(1, {"id": 7, "at": "2026-01-01"}), Stream("orders", ("id",), "at"))
    assert (one.dataset, one.key, one.ts) == ("singer.shop.orders", "7", datetime(2026, 1, 1, tzinfo=UTC))
    two = mapper.record(record(2, {"a": 1, "b": "x"}), Stream("orders", ("a", "b"), None))
    assert two.key == '["1","x"]' and two.ts == NOW and mapper.untimed == {"orders"}
    same = mapper.record(record(3, {"v": 1}), Stream("orders", (), None))
    assert same.key == mapper.record(record(4, {"v": 1}), Stream("orders", (), None)).key
    with pytest.raises(BadMessage, match="line 5: a RECORD of 'orders' without its key 'id'"):
        mapper.record(record(5, {"x": 1}), Stream("orders", ("id",), None))


def test_a_mapped_record_that_does_not_fit_names_its_line_and_field() -> None:
    mapping = parse_mapping(
        json.dumps({"orders": {"dataset": "bank.transaction", "fields": {"account_id": "acct", "amount": "total"}}})
    )
    mapper = RecordMapper("shop", mapping, NOW)
    with pytest.raises(InvalidRecord, match="line 9: 'orders' mapped to bank.transaction"):
        mapper.record(record(9, {"id": "o1", "acct": "a", "total": "abc"}), Stream("orders", ("id",), None))


@pytest.mark.parametrize(
    ("mapping", "problem"),
    [
        ("[1]", "must be a JSON object"),
        ('{"s": {"dataset": "bank.nope", "fields": {"a": "b"}}}', "not a normalised dataset"),
        ('{"s": {"dataset": "bank.transaction"}}', "needs its fields"),
        ('{"s": {"fields": {"a": "b"}}}', "only to a normalised dataset"),
        ('{"s": {"dataset": "bank.transaction", "fields": {"colour": "c"}}}', "has no field(s) colour"),
        ('{"s": {"dataset": "bank.transaction", "fields": {"amount": 3}}}', "takes a path or"),
        ('{"s": {"key": [1]}}', "key is a field path"),
        ('{"s": {"when": "x"}}', "dataset, ts, key and fields only"),
    ],
)
def test_a_bad_mapping_is_refused_naming_the_problem(mapping: str, problem: str) -> None:
    with pytest.raises(Fatal) as err:
        parse_mapping(mapping)
    assert problem in str(err.value)


def test_select_marks_only_the_wanted_streams_and_their_properties() -> None:
    catalog = {
        "streams": [
            {"stream": "a", "tap_stream_id": "a", "metadata": [{"breadcrumb": ["properties", "x"], "metadata": {}}]},
            {"stream": "b", "tap_stream_id": "b", "metadata": [], "replication_key": "updated"},
        ]
    }
    out, replication = select(catalog, ("b",))
    a, b = out["streams"]
    assert [m["metadata"].get("selected") for m in a["metadata"]] == [None, False]
    assert b["selected"] is True and b["metadata"] == [{"breadcrumb": [], "metadata": {"selected": True}}]
    assert replication == {"b": "updated"}
    with pytest.raises(Fatal, match="no catalog"):
        select({"nope": 1}, ())
