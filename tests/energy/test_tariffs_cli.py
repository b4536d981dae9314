"""`selfdata tariffs ...` and `selfdata energy ...` as a user runs them, and tariffs read from
the fake of Octopus's public product rates."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.energy import octopus
from connectors.sdk import Fatal
from connectors.sdk.http import Http
from connectors.testing.vendors.octopus import make_products_server
from daemon.insights import octopus_tariffs, tariffs

from ..conftest import Cli, threaded

PARIS = ZoneInfo("Europe/Paris")
HALF = timedelta(minutes=30)


def write_readings(path: Path, start: datetime, n: int, qty: str) -> Path:
    lines = []
    for i in range(n):
        at = (start + HALF * i).astimezone(UTC)
        data = {
            "meter_id": "pdl",
            "commodity": "electricity",
            "direction": "consumption",
            "start": at.isoformat(),
            "end": (at + HALF).isoformat(),
            "quantity": qty,
            "unit": "kWh",
        }
        lines.append(json.dumps({"key": f"r{i}", "ts": at.isoformat(), "data": data}))
    path.write_text("\n".join(lines) + "\n")
    return path


def costs(run: Cli, *args: str) -> dict[str, Any]:
    return json.loads(run("energy", "costs", "--zone", "Europe/Paris", "--json", *args).output)  # type: ignore[no-any-return]


def test_tariffs_entered_on_the_cli_cost_the_readings_side_by_side(initialised: Any, run: Cli, tmp_path: Path) -> None:
    # 14 and 15 January 2026 in Paris, 0.5 kWh a half-hour; the 14th is a Tempo red day
    path = write_readings(tmp_path / "r.jsonl", datetime(2026, 1, 14, tzinfo=PARIS), 96, "0.5")
    run("import-jsonl", str(path), "--source", "linky", "--dataset", "energy.reading")
    common = ["--supplier", "EDF", "--currency", "EUR", "--timezone", "Europe/Paris", "--standing", "0.50"]
    run(
        "tariffs",
        "add",
        "edf-base",
        "--product",
        "Base",
        "--from",
        "2025-02-01",
        "--price",
        "0.2016",
        "--held",
        *common,
    )
    bands = ",".join(
        f"HC={hc}@22:00-06:00/{c},HP={hp}@06:00-22:00/{c}"
        for c, (hc, hp) in {
            "blue": ("0.1288", "0.1552"),
            "white": ("0.1447", "0.1792"),
            "red": ("0.1518", "0.6586"),
        }.items()
    )
    run(
        "tariffs",
        "add",
        "edf-tempo",
        "--product",
        "Tempo",
        "--from",
        "2025-02-01",
        "--kind",
        "tempo",
        "--bands",
        bands,
        *common,
    )
    colours = tmp_path / "tempo.csv"
    colours.write_text("day,colour\n2026-01-13,blanc\n2026-01-14,rouge\n2026-01-15,bleu\n")
    assert "3 colours (3 new" in run("tariffs", "import", str(colours), "--colours").output
    listed = run("tariffs", "list").output
    assert "edf-base" in listed and "red HP 0.6586" in listed and "3 Tempo day colours" in listed
    view = costs(run, "--months", "1")
    assert view["start"] == "2025-12-16T00:00:00+01:00" and view["end"] == "2026-01-16T00:00:00+01:00"
    (group,) = view["costs"]
    totals = {r["label"]: (r["total_rounded"], r["standing_days"], r["kwh"]) for r in group["rows"]}
    # the window has 31 days, two of them with readings; standing charges run every day
    assert totals == {
        "Your tariffs": ("25.18", 31, "48.0"),  # 48 kWh x 0.2016 + 31 x 0.50 = 9.6768 + 15.50
        "EDF Base": ("25.18", 31, "48.0"),
        "EDF Tempo": ("30.86", 31, "48.0"),  # 15.3610 + 15.50, as in test_energy_costs
    }
    text = run("energy", "costs", "--zone", "Europe/Paris", "--months", "1").output
    assert "EDF Tempo" in text and "30.86 EUR" in text and "06:00 to 06:00" in text
    profile = run("energy", "profile", "--zone", "Europe/Paris", "--months", "1").output
    assert "00:00" in profile and "0.500" in profile
    assert "Removed tariff edf-tempo" in run("tariffs", "remove", "edf-tempo").output
    assert "EDF Tempo" not in run("energy", "costs", "--zone", "Europe/Paris", "--months", "1").output


def test_a_bad_tariff_or_file_is_refused_and_nothing_stored_changes(initialised: Any, run: Cli, tmp_path: Path) -> None:
    out = run(
        "tariffs",
        "add",
        "hphc",
        "--supplier",
        "EDF",
        "--product",
        "HP/HC",
        "--from",
        "2025-02-01",
        "--currency",
        "EUR",
        "--kind",
        "time_of_use",
        "--bands",
        "HC=0.18@22:00-06:00,HP=0.24@06:00-23:00",
        ok=False,
    )
    assert out.exit_code == 1 and "bands HC and HP both cover 22:00 on weekdays" in out.output
    run(
        "tariffs",
        "add",
        "agile",
        "--supplier",
        "Octopus",
        "--product",
        "Agile",
        "--from",
        "2025-01-01",
        "--currency",
        "GBP",
        "--kind",
        "half_hourly",
    )
    good = tmp_path / "good.csv"
    good.write_text("start,price\n2025-01-01T00:00:00Z,0.20\n2025-01-01T00:30:00Z,0.21\n")
    assert "2 prices (2 new" in run("tariffs", "import", str(good), "--tariff", "agile").output
    bad = tmp_path / "bad.csv"
    bad.write_text("start,price\n2025-01-01T00:00:00Z,0.99\n2025-01-01T01:00:00Z,cheap\n")
    out = run("tariffs", "import", str(bad), "--tariff", "agile", ok=False)
    assert out.exit_code == 1 and "bad.csv, line 3" in out.output
    listed = json.loads(run("tariffs", "list", "--json").output)
    (agile,) = [t for t in listed["tariffs"]]
    assert agile["tariff_id"] == "agile" and agile["prices"] == 2  # the first price kept its 0.20
    out = run("tariffs", "import", str(good), "--tariff", "nope", ok=False)
    assert "no tariff 'nope'" in out.output


async def test_octopus_rates_become_versions_and_half_hour_prices() -> None:
    async with make_products_server(now=datetime(2026, 3, 1, tzinfo=UTC)) as server:
        # the variable product: a new price each quarter, from UK midnight
        found = await octopus_tariffs.read(
            server.url, "E-1R-VAR-22-11-01-C", datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 8, 1, tzinfo=UTC)
        )
        assert [(t.valid_from.isoformat(), t.unit_price, t.standing_charge) for t in found.versions] == [
            ("2025-03-01T00:00:00+00:00", Decimal("0.250005"), Decimal("0.6191850")),  # 23.81p, 58.97p + 5%
            ("2025-03-31T23:00:00+00:00", Decimal("0.270165"), Decimal("0.5393850")),
            ("2025-06-30T23:00:00+00:00", Decimal("0.254205"), Decimal("0.5397000")),
        ]
        # Agile: one price a half-hour, 2,832 of them over two pages of at most 1,500
        start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC)
        async with Http() as http:
            rates = await octopus.fetch_rates(
                http, server.url, "E-1R-AGILE-24-10-01-C", "standard-unit-rates", start, end
            )
        assert len(rates) == 2832 and rates[0].valid_from == start and rates[-1].valid_to == end
        assert server.count("/v1/products/AGILE-24-10-01/electricity-tariffs/") == 2
        found = await octopus_tariffs.read(server.url, "E-1R-AGILE-24-10-01-C", start, end, held=True)
        (agile,) = found.versions
        assert agile.kind == "half_hourly" and agile.held and agile.standing_charge == Decimal("0.4725")
        prices = found.prices[agile.tariff_id]
        assert len(prices) == 2832 and prices[0][2] == Decimal(rates[0].value_inc_vat) / 100
        # Economy 7: day and night rates, bands on the meter's UTC clock
        found = await octopus_tariffs.read(server.url, "E-2R-VAR-22-11-01-C", start, end)
        e7 = found.versions[0]
        assert e7.kind == "time_of_use" and e7.zone == "UTC"
        assert [(b.name, b.price) for b in e7.bands] == [("night", Decimal("0.13755")), ("day", Decimal("0.250005"))]
        with pytest.raises(Fatal, match="HTTP 404"):
            await octopus_tariffs.read(server.url, "E-1R-NOPE-24-01-01-C", start, end)
        with pytest.raises(tariffs.TariffError, match="not an Octopus tariff code"):
            await octopus_tariffs.read(server.url, "AGILE", start, end)


def test_selfdata_tariffs_import_octopus(initialised: Any, run: Cli) -> None:
    with threaded(make_products_server(now=datetime(2026, 3, 1, tzinfo=UTC))) as server:
        out = run(
            "tariffs",
            "import",
            "--octopus",
            "E-1R-AGILE-24-10-01-C",
            "--from",
            "2025-01-01",
            "--to",
            "2025-01-08",
            "--held",
            "--base-url",
            server.url,
        ).output
    assert "1 versions, 336 half-hour prices (337 new" in out
    listed = json.loads(run("tariffs", "list", "--json").output)["tariffs"]
    assert [(t["tariff_id"], t["prices"], t["held"]) for t in listed] == [
        ("octopus:E-1R-AGILE-24-10-01-C:2025-01-01T0000Z", 336, "yes")
    ]
