"""Ready extracts for disclosures (the CLI's --preset, the dashboard's choices), and the
window of the last whole months in a zone."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

PRESETS: dict[str, dict[str, Any]] = {
    "electricity-monthly": {
        "label": "Electricity used per month",
        "dataset": "energy.reading",
        "fn": "sum",
        "field": "quantity",
        "bucket": "month",
        "where": ["commodity=electricity", "direction=consumption"],
        "months": 12,
    },
    "gas-monthly": {
        "label": "Gas used per month",
        "dataset": "energy.reading",
        "fn": "sum",
        "field": "quantity",
        "bucket": "month",
        "where": ["commodity=gas", "direction=consumption"],
        "months": 12,
    },
    "income-monthly": {
        "label": "Money received per month",
        "dataset": "bank.transaction",
        "fn": "sum",
        "field": "amount",
        "bucket": "month",
        "where": ["amount__gt=0", "status=booked"],
        "months": 6,
    },
    "resting-heart-rate": {
        "label": "Resting heart rate, monthly average",
        "dataset": "health.observation",
        "fn": "avg",
        "field": "value",
        "bucket": "month",
        "where": ["code=40443-4"],
        "months": 12,
    },
}


def months_ago(months: int, zone: str) -> tuple[str, str]:
    """The last `months` whole months in `zone`, as ISO 8601 dates-times: [start, end)."""
    today = datetime.now(ZoneInfo(zone)).date()
    index = today.year * 12 + today.month - 1
    first_y, first_m = divmod(index - months, 12)
    end = datetime(today.year, today.month, 1, tzinfo=ZoneInfo(zone))
    start = datetime(first_y, first_m + 1, 1, tzinfo=ZoneInfo(zone))
    return start.isoformat(), end.isoformat()


def extract(name: str, months: int | None, zone: str) -> dict[str, Any]:
    """The preset `name` over the last `months` whole months (its own default if None) in `zone`."""
    preset = dict(PRESETS[name])
    span = int(months or preset["months"])
    del preset["months"]
    preset["start"], preset["end"] = months_ago(span, zone)
    preset["zone"] = zone
    return preset
