"""One view of overlapping health sources: a priority per observation code, applied in aggregates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from daemon.insights import health
from daemon.times import to_ms
from daemon.vault import RecordIn, Vault
from daemon.vault.aggregate import Aggregate, AggregateCache, run
from daemon.vault.filters import parse

STEPS = "55423-8"
DAY = datetime(2026, 3, 2, tzinfo=UTC)


def steps(source: str, device: str | None, hour: int, value: int, minute: int = 0, day: int = 0) -> RecordIn:
    at = DAY + timedelta(days=day, hours=hour, minutes=minute)
    data: dict[str, Any] = {
        "code": STEPS,
        "code_system": "http://loinc.org",
        "value": str(value),
        "unit": "steps",
        "start": at.isoformat(),
    }
    if device:
        data["device"] = device
    return RecordIn(source, "health.observation", f"{device}-{day}-{hour}-{minute}", to_ms(at), data)


@pytest.fixture
def overlapping(vault: Vault) -> Vault:
    # The watch was worn 8:00-11:59 and 14:00-14:59; the phone counted all day (fewer steps:
    # it stayed on the desk sometimes). One Apple Health export holds both, told apart by device.
    records = [steps("apple", "Apple Watch (Watch6,2)", h, 1000, m) for h in (8, 9, 10, 11, 14) for m in (0, 30)]
    records += [steps("apple", "iPhone (iPhone12,1)", h, 700) for h in range(8, 18)]
    # A scale in another source measures weight only: untouched by a steps priority.
    records.append(
        RecordIn(
            "scale",
            "health.observation",
            "w1",
            to_ms(DAY + timedelta(hours=7)),
            {
                "code": "29463-7",
                "code_system": "http://loinc.org",
                "value": "71.5",
                "unit": "kg",
                "start": (DAY + timedelta(hours=7)).isoformat(),
            },
        )
    )
    vault.writer.upsert(records)
    return vault


def day_total(vault: Vault, **kw: Any) -> Any:
    spec = Aggregate(
        "health.observation",
        "sum",
        "value",
        "day",
        "UTC",
        filters=tuple(parse("health.observation", [("code", STEPS)])),
        **kw,
    )
    return [(r["start"][:10], r["value"]) for r in run(vault.conn, spec)["rows"]]


def test_without_a_priority_overlapping_steps_are_counted_twice(overlapping: Vault) -> None:
    assert day_total(overlapping) == [("2026-03-02", str(10 * 1000 + 10 * 700))]


def test_with_the_watch_first_each_hour_counts_one_device(overlapping: Vault) -> None:
    health.set_priority(overlapping, STEPS, ["Apple Watch", "iPhone"])
    # hours 8-11 and 14: the watch's 2 x 1000; the other five hours: the phone's 700
    assert day_total(overlapping) == [("2026-03-02", str(5 * 2000 + 5 * 700))]
    # a total with no bucket is the same rule
    spec = Aggregate(
        "health.observation", "sum", "value", filters=tuple(parse("health.observation", [("code", STEPS)]))
    )
    assert run(overlapping.conn, spec)["rows"][0]["value"] == "13500"
    # raw records keep every source
    n = overlapping.conn.execute("SELECT count(*) FROM records WHERE dataset='health.observation'").fetchone()[0]
    assert n == 10 + 10 + 1


def test_priority_by_source_name_and_only_for_its_code(vault: Vault) -> None:
    vault.writer.upsert([steps("ring", None, h, 900) for h in (6, 7)] + [steps("phone", None, h, 500) for h in (7, 8)])
    health.set_priority(vault, STEPS, ["ring", "phone"])
    assert day_total(vault) == [("2026-03-02", str(900 + 900 + 500))]
    health.set_priority(vault, "29463-7", ["scale"])  # another code's priority changes nothing here
    assert day_total(vault) == [("2026-03-02", "2300")]
    # asking for one source gives all of that source
    assert day_total(vault, source="phone") == [("2026-03-02", "1000")]
    health.clear_priority(vault, STEPS)
    assert day_total(vault) == [("2026-03-02", "2800")]


def test_unlisted_sources_count_only_where_no_listed_one_has_data(vault: Vault) -> None:
    vault.writer.upsert([steps("phone", None, h, 500) for h in (7, 8)] + [steps("other", None, h, 50) for h in (8, 9)])
    health.set_priority(vault, STEPS, ["phone"])
    assert day_total(vault) == [("2026-03-02", str(500 + 500 + 50))]


def test_the_cache_follows_a_priority_change(overlapping: Vault) -> None:
    cache = AggregateCache()
    spec = Aggregate(
        "health.observation", "sum", "value", filters=tuple(parse("health.observation", [("code", STEPS)]))
    )
    seq = 1
    assert cache.run(overlapping.conn, spec, seq)["rows"][0]["value"] == "17000"
    health.set_priority(overlapping, STEPS, ["iPhone"])
    assert cache.run(overlapping.conn, spec, seq)["rows"][0]["value"] == str(10 * 700)


def test_a_bad_priority_is_refused_and_nothing_changes(overlapping: Vault) -> None:
    health.set_priority(overlapping, STEPS, ["Apple Watch"])
    for code, names in (("", ["x"]), (STEPS, []), (STEPS, ["a", "a"]), (STEPS, [" "])):
        with pytest.raises(health.HealthViewError):
            health.set_priority(overlapping, code, names)
    assert health.priorities(overlapping.conn) == {STEPS: ["Apple Watch"]}
