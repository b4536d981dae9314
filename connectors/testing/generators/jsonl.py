"""Deterministic sample data in the normalised shapes, for tests, benches and the demo."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

MERCHANTS = [
    ("Tesco Stores 3021", "groceries", (8, 95)),
    ("Transport for London", "transport", (2, 12)),
    ("Octopus Energy", "utilities", (60, 140)),
    ("Pret A Manger", "eating_out", (3, 14)),
    ("Amazon UK Marketplace", "shopping", (6, 80)),
    ("Boots UK", "health", (4, 30)),
    ("Vodafone", "telecom", (15, 35)),
]


def bank_transactions(
    *, account_id: str = "GB33BUKB20201555555555", days: int = 180, seed: int = 7, end: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """JSONL lines of `bank.transaction` records: card spending plus a monthly salary."""
    rng = random.Random(seed)
    end = end or datetime(2026, 11, 1, tzinfo=UTC)
    start = end - timedelta(days=days)
    n = 0
    for day in range(days):
        date = (start + timedelta(days=day)).date()
        entries: list[tuple[str, str, Decimal]] = []
        if date.day == 25:
            entries.append(("ACME LTD SALARY", "income", Decimal("2850.00")))
        for _ in range(rng.randint(0, 3)):
            name, category, (lo, hi) = rng.choice(MERCHANTS)
            entries.append((name, category, -Decimal(rng.randint(lo * 100, hi * 100)) / 100))
        for name, category, amount in entries:
            n += 1
            yield {
                "key": f"TX{n:07d}",
                "ts": f"{date.isoformat()}T12:00:00+00:00",
                "data": {
                    "account_id": account_id,
                    "booked_on": date.isoformat(),
                    "value_on": date.isoformat(),
                    "amount": f"{amount:.2f}",
                    "currency": "GBP",
                    "description": name.upper(),
                    "counterparty": name,
                    "status": "booked",
                    "category": category,
                },
            }


def energy_readings(
    *, meter_id: str = "1200012345678", days: int = 30, seed: int = 11, end: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """JSONL lines of half-hourly electricity `energy.reading` records."""
    rng = random.Random(seed)
    end = end or datetime(2026, 11, 1, tzinfo=UTC)
    t = end - timedelta(days=days)
    while t < end:
        hour = t.hour + t.minute / 60
        base = 0.12 + (0.35 if 17 <= hour < 22 else 0.0) + (0.15 if 7 <= hour < 9 else 0.0)
        kwh = Decimal(str(round(base + rng.random() * 0.1, 3)))
        nxt = t + timedelta(minutes=30)
        yield {
            "key": f"{meter_id}:{t.isoformat()}",
            "ts": t.isoformat(),
            "data": {
                "meter_id": meter_id,
                "commodity": "electricity",
                "direction": "consumption",
                "start": t.isoformat(),
                "end": nxt.isoformat(),
                "quantity": f"{kwh:.3f}",
                "unit": "kWh",
                "quality": "actual",
            },
        }
        t = nxt
