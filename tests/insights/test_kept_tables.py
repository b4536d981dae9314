"""The energy and money tables the triggers keep (energy_slots, bank_amounts) answer exactly
as the records do, through inserts, changes, moves and deletions; where they cannot (more
than 9 decimals), they say so and the views read the records."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from daemon.insights import energy_slots, money
from daemon.insights.reads import Reads
from daemon.times import to_ms
from daemon.vault import RecordIn, Vault, bankamounts, schema

START = datetime(2026, 3, 20, tzinfo=UTC)  # the clocks change in Europe on the 29th
SLOT = timedelta(minutes=30)


def reading(rng: random.Random, i: int) -> RecordIn:
    at = START + SLOT * rng.randrange(0, 20 * 48)
    unit = rng.choice(("kWh", "kWh", "Wh", "m3"))
    data: dict[str, Any] = {
        "meter_id": rng.choice(("a", "b")),
        "commodity": "gas" if unit == "m3" else "electricity",
        "direction": rng.choice(("consumption", "production")),
        "start": at.isoformat(),
        "end": (at + SLOT).isoformat(),
        "quantity": rng.choice(("0.125", "1", "0.5", "12.75", "0.001", "250")),
        "unit": unit,
    }
    return RecordIn("meter", "energy.reading", f"r{i}", to_ms(at), data)


def test_energy_slots_follow_every_change_and_equal_the_records(vault: Vault) -> None:
    rng = random.Random(11)
    vault.writer.upsert([reading(rng, i) for i in range(4000)])
    vault.writer.upsert([reading(rng, i) for i in rng.sample(range(4000), 700)])  # new values, moved times
    vault.writer.delete(source="meter", dataset="energy.reading", keys=[f"r{i}" for i in rng.sample(range(4000), 400)])
    lo, hi = to_ms(START - timedelta(days=1)), to_ms(START + timedelta(days=21))
    kept = energy_slots._kept_slots(vault.conn, lo, hi)
    assert kept is not None and sum(len(s) for s in kept.values()) > 1000
    assert kept == energy_slots._record_slots(vault.conn, lo, hi) == energy_slots.read_slots(vault.conn, lo, hi)
    # the migration's backfill builds the same table from the records alone
    before = vault.conn.execute("SELECT * FROM energy_slots WHERE n > 0 ORDER BY 1, 2, 3, 4").fetchall()
    with vault.writer.transaction() as conn:
        conn.execute("DELETE FROM energy_slots")
        conn.execute(schema._ENERGY_SLOTS[1])
    after = vault.conn.execute("SELECT * FROM energy_slots WHERE n > 0 ORDER BY 1, 2, 3, 4").fetchall()
    assert [r[:-1] for r in after] == [r[:-1] for r in before]


def test_energy_slots_past_nine_decimals_read_the_records(vault: Vault) -> None:
    rng = random.Random(2)
    vault.writer.upsert([reading(rng, i) for i in range(200)])
    fine = reading(rng, 999)
    fine.data["quantity"] = "0.0000000001"
    vault.writer.upsert([fine])
    lo, hi = to_ms(START), to_ms(START + timedelta(days=21))
    assert energy_slots._kept_slots(vault.conn, lo, hi) is None
    assert energy_slots._kept_slots(vault.conn, lo + 1, hi) is None  # not whole half-hours
    slots = energy_slots.read_slots(vault.conn, lo, hi)
    assert slots == energy_slots._record_slots(vault.conn, lo, hi)
    assert any(int(q.as_tuple().exponent) <= -10 for s in slots.values() for _, q in s)  # summed exactly


PAYEES = (("Netflix", "NETFLIX.COM"), (None, "CARREFOUR 1234"), (None, "CARREFOUR 99"), ("EDF", "PRLV EDF"))


def transaction(rng: random.Random, i: int) -> RecordIn:
    at = START + timedelta(hours=rng.randrange(0, 60 * 24))
    cp, desc = rng.choice(PAYEES)
    account, currency = rng.choice((("chk", "EUR"), ("card", "EUR"), ("usd", "USD"), ("chk", "USD")))
    data: dict[str, Any] = {
        "account_id": account,
        "booked_on": at.date().isoformat(),
        "amount": rng.choice(("-12.50", "-3", "2500.00", "-0.125", "-99.99", "40.1")),
        "currency": currency,
        "status": rng.choice(("booked", "booked", "pending")),
        "description": desc,
    }
    if cp:
        data["counterparty"] = cp
    return RecordIn("bank", "bank.transaction", f"t{i}", to_ms(at), data)


def _plain(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        tuple((k, str(v) if k == "value" and v is not None else v) for k, v in sorted(r.items())) for r in rows
    )


def test_bank_amounts_answer_as_the_aggregates_do(vault: Vault) -> None:
    rng = random.Random(5)
    vault.writer.upsert([transaction(rng, i) for i in range(3000)])
    vault.writer.upsert([transaction(rng, i) for i in rng.sample(range(3000), 500)])
    vault.writer.delete(source="bank", dataset="bank.transaction", keys=[f"t{i}" for i in rng.sample(range(3000), 300)])
    reads = Reads(vault.conn)
    for zone in ("UTC", "Europe/Paris", "America/New_York"):
        tz = money.ZoneInfo(zone)
        start = money._midnight_ms(date(2026, 3, 1), tz)
        end = money._midnight_ms(date(2026, 5, 1), tz)
        for spec in (
            {"bucket": "month", "group": ("account_id", "currency"), "where": ("amount__gt=0",), "end_ms": end},
            {"bucket": "month", "group": ("account_id", "currency"), "where": ("amount__lt=0",), "end_ms": end},
            {"bucket": "day", "group": ("account_id", "currency"), "where": ("status=booked",), "end_ms": None},
            {"bucket": "day", "group": ("account_id",), "where": (), "end_ms": end},  # USD beside EUR on chk
        ):
            full = {"fn": "sum", "field": "amount", "zone": zone, "start_ms": start, **spec}
            kept = bankamounts.aggregate(vault.conn, **full)
            assert kept is not None and kept
            via_records = _by_records(reads, full)
            assert _plain(kept) == _plain(via_records)
        # money out per payee and day, as the recurring payments read it
        rows = bankamounts.payments(vault.conn, zone, start, end)
        assert rows is not None
        spec = {"fn": "sum", "field": "amount", "bucket": "day", "zone": zone, "start_ms": start, "end_ms": end}
        spec |= {"group": ("counterparty", "description"), "where": ("amount__lt=0",)}
        assert money.kept_series(rows) == money.series(_by_records(reads, spec))
    before = vault.conn.execute("SELECT * FROM bank_amounts ORDER BY 1, 2, 3").fetchall()
    with vault.writer.transaction() as conn:
        conn.execute("DELETE FROM bank_amounts")
        conn.execute(schema._BANK_AMOUNTS[1])
    assert vault.conn.execute("SELECT * FROM bank_amounts ORDER BY 1, 2, 3").fetchall() == before


def _by_records(reads: Reads, spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The aggregate over the records, per currency where a bucket holds several (by_currency's way)."""
    from daemon.vault.aggregate import AggregateError

    try:
        return reads.aggregate(money.TX, **spec)
    except AggregateError:
        pass
    out = []
    for c in reads.aggregate(money.TX, group=("currency",), start_ms=spec["start_ms"], end_ms=spec["end_ms"]):
        out += reads.aggregate(money.TX, **{**spec, "where": (*spec["where"], f"currency={c['currency']}")})
    return out


def test_bank_amounts_past_nine_decimals_read_the_records(vault: Vault) -> None:
    rng = random.Random(9)
    vault.writer.upsert([transaction(rng, i) for i in range(100)])
    odd = transaction(rng, 500)
    odd.data["amount"] = "-0.0000000001"
    vault.writer.upsert([odd])
    start, end = to_ms(START), to_ms(START + timedelta(days=70))
    spec = {"fn": "sum", "field": "amount", "bucket": "day", "zone": "UTC", "start_ms": start, "end_ms": end}
    assert bankamounts.aggregate(vault.conn, **spec, group=("account_id",)) is None
    assert bankamounts.payments(vault.conn, "UTC", start, end) is None
    view = money.view(Reads(vault.conn), "2026-04", "UTC", date(2026, 4, 30), [])
    assert view["transactions"] > 0  # computed from the records, exactly


def test_the_money_views_version_moves_with_bank_data_only(vault: Vault) -> None:
    from daemon.insights import cache

    rng = random.Random(4)
    version = cache.BankVersion()
    empty = version(vault.conn)
    vault.writer.upsert([transaction(rng, i) for i in range(20)])
    first = version(vault.conn)
    assert first != empty and first == version(vault.conn)
    vault.writer.upsert([reading(rng, i) for i in range(50)])  # energy: the money views stay
    assert version(vault.conn) == first
    vault.writer.delete(source="bank", dataset="bank.transaction", keys=["t3"])
    deleted = version(vault.conn)
    assert deleted != first
    changed = transaction(rng, 5)
    changed.data["amount"] = "-1234.56"
    vault.writer.upsert([changed])
    assert version(vault.conn) != deleted
    # a new look from nothing finds the same version as the one kept up to date
    assert cache.BankVersion()(vault.conn) == version(vault.conn)
