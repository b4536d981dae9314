"""docs/remote-access.md's Home Assistant sensors, asked of the API as Home Assistant would:
each one totals its own commodity and direction, never electricity, export and gas together."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest

from daemon.plugins import Registry
from daemon.times import to_ms
from daemon.vault import RecordIn, Vault

from .test_api import Api, serve

DOC = Path(__file__).resolve().parent.parent / "docs" / "remote-access.md"
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def reading(meter: str, commodity: str, direction: str, unit: str, i: int, q: str) -> RecordIn:
    at = TODAY + timedelta(minutes=30 * i)
    return RecordIn(
        "octopus",
        "energy.reading",
        f"{meter}:{commodity}:{direction}:{i}",
        to_ms(at),
        {
            "meter_id": meter,
            "commodity": commodity,
            "direction": direction,
            "start": at.isoformat(),
            "end": (at + timedelta(minutes=30)).isoformat(),
            "quantity": q,
            "unit": unit,
        },
    )


@pytest.fixture
async def api(vault: Vault, registry: Registry) -> AsyncIterator[Api]:
    records = []
    for i in range(-4, 10):  # yesterday's last two hours, then today's first five
        records.append(reading("e1", "electricity", "consumption", "kWh", i, "0.311"))
        records.append(reading("e2", "electricity", "production", "kWh", i, "0.125"))
        records.append(reading("g1", "gas", "consumption", "m3", i, "0.047"))
    vault.writer.upsert(records)
    async with serve(vault, registry) as api:
        _, api.token = api.grants.create_token("home-assistant", "energy on a card", ["read:energy.reading"])
        yield api


def sensors() -> list[tuple[str, str, str]]:
    """(name, the API path asked, unit shown) of each REST resource in the doc's configuration.yaml."""
    block = re.search(r"In `configuration.yaml`:\n\n```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    assert block
    out = []
    for part in block.group(1).split("  - resource_template: >-\n")[1:]:
        url = part.splitlines()[0].strip()
        url = url.replace("{{ today_at().isoformat() | urlencode }}", quote(TODAY.isoformat()))
        name = re.search(r'- name: "([^"]+)"', part)
        unit = re.search(r'unit_of_measurement: "([^"]+)"', part)
        assert name and unit and "value_json.rows[0].value" in part
        out.append((name.group(1), url.split("selfdata.home.arpa", 1)[1], unit.group(1)))
    return out


async def test_each_sensor_totals_only_its_own_energy(api: Api) -> None:
    expected = {
        "Electricity today": ("kWh", Decimal("0.311") * 10),
        "Solar export today": ("kWh", Decimal("0.125") * 10),
        "Gas today": ("m3", Decimal("0.047") * 10),
    }
    found = sensors()
    assert [name for name, _, _ in found] == list(expected)
    for name, path, shown_unit in found:
        status, body = await api.get(path)
        assert status == 200, body
        (row,) = body["rows"]
        unit, total = expected[name]
        assert row["unit"] == unit and Decimal(row["value"]) == total, name
        assert shown_unit == ("m³" if unit == "m3" else unit)
