"""The hourly health table the triggers keep answers exactly as the aggregates do, through
inserts, changes, moves and deletions, with and without a priority; where it cannot (a
half-hour zone), it says so."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from daemon.times import to_ms
from daemon.vault import RecordIn, Vault, aggregate, healthhours, schema
from daemon.vault.filters import parse

START = datetime(2026, 3, 25, tzinfo=UTC)  # the clocks change in Europe on the 29th
ORIGINS = (("apple", "Apple Watch (Watch6,2)"), ("apple", "iPhone (iPhone12,1)"), ("ring", None))


def observation(rng: random.Random, i: int) -> RecordIn:
    source, device = rng.choice(ORIGINS)
    at = START + timedelta(minutes=rng.randrange(0, 10 * 24 * 60))
    code = rng.choice(("55423-8", "29463-7"))
    data: dict[str, Any] = {"code": code, "code_system": "http://loinc.org", "start": at.isoformat()}
    if rng.random() < 0.95:  # a few without a value
        data["value"] = rng.choice(("812", "71.25", "0.5", "-3.125", "1000000"))
        data["unit"] = rng.choice(("steps", "steps", "kg"))
    if device:
        data["device"] = device
    return RecordIn(source, "health.observation", f"o{i}", to_ms(at), data)


def raw(vault: Vault, code: str, fn: str, start: int, end: int, zone: str, names: tuple[str, ...]) -> Any:
    spec = aggregate.Aggregate(
        "health.observation",
        fn,
        "value",
        "day",
        zone,
        ("unit",),
        start,
        end,
        filters=tuple(parse("health.observation", [("code", code)])),
        priority=(aggregate.Priority(code, names),) if names else (),
    )
    rows = aggregate.run(vault.conn, spec)["rows"]
    return sorted((r["start"], str(r["unit"]), r["count"], r["value"] and Decimal(r["value"])) for r in rows)


def quick(vault: Vault, code: str, fn: str, start: int, end: int, zone: str, names: tuple[str, ...]) -> Any:
    rows = healthhours.daily(vault.conn, code, fn, start, end, zone, names)
    assert rows is not None
    return sorted((r["start"], str(r["unit"]), r["count"], r["value"] and Decimal(r["value"])) for r in rows)


def test_the_table_follows_every_change_and_equals_the_aggregates(vault: Vault) -> None:
    rng = random.Random(7)
    records = [observation(rng, i) for i in range(3000)]
    vault.writer.upsert(records)
    # changes: new values, moved times, other devices; then deletions (tombstones)
    vault.writer.upsert([observation(rng, i) for i in rng.sample(range(3000), 600)])
    vault.writer.delete(
        source="apple", dataset="health.observation", keys=[f"o{i}" for i in rng.sample(range(3000), 300)]
    )
    vault.writer.delete(source="ring", dataset="health.observation", keys=[f"o{i}" for i in range(3000)][:200])
    start, end = to_ms(START - timedelta(hours=2)), to_ms(START + timedelta(days=11))
    for zone in ("UTC", "Europe/Paris", "America/New_York"):
        lo = to_ms(datetime(2026, 3, 25, tzinfo=UTC)) - 3_600_000 * (1 if zone == "Europe/Paris" else 0)
        for code in ("55423-8", "29463-7"):
            for fn in ("sum", "avg"):
                for names in ((), ("Apple Watch", "ring"), ("ring", "iPhone")):
                    assert quick(vault, code, fn, lo, end, zone, names) == raw(vault, code, fn, lo, end, zone, names)
    assert start < end
    # the migration's backfill builds the same table from the records alone
    kept = vault.conn.execute("SELECT * FROM health_hours WHERE records > 0 ORDER BY 1, 2, 3, 4, 5").fetchall()
    with vault.writer.transaction() as conn:
        conn.execute("DELETE FROM health_hours")
        conn.execute(schema._HEALTH_VIEWS[3])
    rebuilt = vault.conn.execute("SELECT * FROM health_hours ORDER BY 1, 2, 3, 4, 5").fetchall()
    # the same sums; `scale` (the most decimals seen) may have been higher once
    assert [r[:-1] for r in rebuilt] == [r[:-1] for r in kept]
    assert all(a[-1] <= b[-1] for a, b in zip(rebuilt, kept, strict=True))


def test_where_it_cannot_answer_exactly_it_says_so(vault: Vault) -> None:
    rng = random.Random(3)
    vault.writer.upsert([observation(rng, i) for i in range(50)])
    day = to_ms(datetime(2026, 3, 26, tzinfo=UTC))
    assert healthhours.daily(vault.conn, "55423-8", "sum", day - 19_800_000, day + 86_400_000, "Asia/Kolkata") is None
    assert healthhours.daily(vault.conn, "55423-8", "sum", day + 1, day + 86_400_000, "UTC") is None
    data = {"code": "55423-8", "code_system": "http://loinc.org", "value": "1.0000000001", "unit": "steps"}
    vault.writer.upsert(
        [RecordIn("apple", "health.observation", "fine", day + 60_000, {**data, "start": "2026-03-26T00:01:00+00:00"})]
    )
    assert healthhours.daily(vault.conn, "55423-8", "sum", day, day + 86_400_000, "UTC") is None
    assert healthhours.daily(vault.conn, "55423-8", "sum", day + 86_400_000, day + 2 * 86_400_000, "UTC") is not None


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "Australia/Adelaide"])
def test_views_in_half_hour_zones_read_the_records_and_agree(vault: Vault, zone: str) -> None:
    from datetime import date

    from daemon.insights import health

    rng = random.Random(5)
    vault.writer.upsert([observation(rng, i) for i in range(500)])
    t = health.trends(vault.conn, days=5, zone=zone, end=date(2026, 3, 30))
    steps = next(s for s in t.series if s.key == "steps")
    assert any(d.value for d in steps.days) and sum(o.count for o in steps.origins) > 0
