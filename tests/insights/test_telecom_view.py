"""Telecom view with known answers: numbers normalised into one contact, missed calls, data
used per month against the plan's cap, a month's summary."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from daemon.insights import telecom
from daemon.times import to_ms
from daemon.vault import RecordIn, Vault


def call(source: str, key: str, when: str, direction: str, number: str | None, name: str | None, secs: int) -> RecordIn:
    t = datetime.fromisoformat(when).replace(tzinfo=UTC)
    data = {"direction": direction, "started_at": t.isoformat(), "duration_s": secs}
    data.update({k: v for k, v in (("number", number), ("name", name)) if v is not None})
    return RecordIn(source, "telecom.call", key, to_ms(t), data)


def message(key: str, when: str, direction: str, number: str, name: str | None = None) -> RecordIn:
    t = datetime.fromisoformat(when).replace(tzinfo=UTC)
    data = {"direction": direction, "at": t.isoformat(), "kind": "sms", "number": number}
    if name:
        data["name"] = name
    return RecordIn("sms-backup", "telecom.message", key, to_ms(t), data)


def usage(key: str, start: str, end: str, up: int, down: int) -> RecordIn:
    s, e = (datetime.fromisoformat(x).replace(tzinfo=UTC) for x in (start, end))
    data = {"start": s.isoformat(), "end": e.isoformat(), "bytes_up": up, "bytes_down": down}
    return RecordIn("router", "telecom.usage", key, to_ms(s), data)


@pytest.fixture
def phone(vault: Vault) -> Vault:
    vault.writer.upsert(
        [
            # One person under three spellings of her number, from two sources.
            call("box", "c1", "2026-02-02T09:00:00", "in", "06 12 34 56 78", "Alice", 125),
            call("box", "c2", "2026-02-02T18:00:00", "out", "+33612345678", "Alice", 60),
            call("mobile", "c3", "2026-02-03T08:00:00", "missed", "0033 6 12 34 56 78", "alice M.", 0),
            call("mobile", "c4", "2026-02-03T12:00:00", "missed", None, None, 0),  # withheld
            call("mobile", "c5", "2026-02-03T13:00:00", "out", "+4930123456", "Bob", 600),
        ]
    )
    vault.writer.upsert(
        [
            message("m1", "2026-02-02T10:00:00", "in", "+33612345678", "Alice"),
            message("m2", "2026-02-03T10:00:00", "out", "0612345678"),
            message("m3", "2026-02-03T11:00:00", "out", "0612345678"),
        ]
    )
    vault.writer.upsert(
        [
            usage("u1", "2026-01-10T00:00:00", "2026-01-11T00:00:00", 5 * 10**9, 25 * 10**9),
            usage("u2", "2026-02-01T00:00:00", "2026-02-02T00:00:00", 10 * 10**9, 30 * 10**9),
            usage("u3", "2026-02-20T00:00:00", "2026-02-21T00:00:00", 0, 20 * 10**9),
        ]
    )
    return vault


def test_calls_and_messages_per_day_and_per_contact_with_numbers_normalised(phone: Vault) -> None:
    telecom.set_plan(phone, region="fr")
    s = telecom.summary(phone.conn, days=2, zone="UTC", end=date(2026, 2, 3))
    assert [(d.day, d.calls_in, d.calls_out, d.missed, d.messages_in, d.messages_out) for d in s.days] == [
        ("2026-02-02", 1, 1, 0, 1, 0),
        ("2026-02-03", 0, 1, 2, 0, 2),
    ]
    alice = s.contacts[0]
    assert (alice.number, alice.name, alice.calls, alice.missed, alice.call_minutes, alice.messages) == (
        "+33612345678",
        "Alice",
        3,
        1,
        3,  # 185 seconds
        3,
    )
    assert alice.numbers_seen == ["+33612345678", "0033 6 12 34 56 78", "06 12 34 56 78", "0612345678"]
    assert [(c.number, c.name, c.calls) for c in s.contacts[1:]] == [("+4930123456", "Bob", 1), ("withheld", None, 1)]
    assert [(m.at, m.number, m.name) for m in s.missed] == [
        ("2026-02-03T12:00:00+00:00", "withheld", None),
        ("2026-02-03T08:00:00+00:00", "+33612345678", "alice M."),
    ]


def test_without_a_region_national_numbers_stay_apart(phone: Vault) -> None:
    s = telecom.summary(phone.conn, days=2, zone="UTC", end=date(2026, 2, 3))
    assert "+33612345678" in {c.number for c in s.contacts} and "0612345678" in {c.number for c in s.contacts}


def test_data_per_month_against_the_cap(phone: Vault) -> None:
    telecom.set_plan(phone, cap_bytes=telecom.parse_size("50GB"))
    s = telecom.summary(phone.conn, days=28, zone="UTC", end=date(2026, 2, 28))
    assert [(u.month, u.used_bytes, u.percent_of_cap) for u in s.usage] == [
        ("2026-01", 30 * 10**9, "60.0"),
        ("2026-02", 60 * 10**9, "120.0"),
    ]
    month = telecom.telecom_month_summary(phone.conn, "2026-02", "UTC")
    assert (month.calls_in, month.calls_out, month.missed, month.call_minutes) == (1, 2, 2, 13)  # 785 s
    assert (month.messages_in, month.messages_out, month.data_used_bytes, month.percent_of_cap) == (
        1,
        2,
        6 * 10**10,
        "120.0",
    )
    telecom.set_plan(phone, clear_cap=True)
    assert telecom.plan(phone.conn).cap_bytes is None


def test_bad_settings_are_refused_and_the_plan_kept(phone: Vault) -> None:
    telecom.set_plan(phone, cap_bytes=10**9, region="DE")
    for bad in ("fifty", "0GB", "-3GB", "GB"):
        with pytest.raises(telecom.TelecomViewError):
            telecom.parse_size(bad)
    with pytest.raises(telecom.TelecomViewError, match="region"):
        telecom.set_plan(phone, region="Atlantis")
    assert telecom.plan(phone.conn) == telecom.Plan(10**9, "DE")
    assert telecom.parse_size("1.5 TB") == 15 * 10**11
