"""The Home Assistant push against a real Home Assistant core, installed from PyPI into a
throwaway virtualenv (cached like woob's), started on loopback with a recorder on SQLite.

The user path: readings imported with `selfdata import-jsonl`, then `selfdata homeassistant
setup` and `push`; what HA holds is read back with its own `recorder/statistics_during_period`
and compared, hour by hour, with sums computed here in Decimal.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from daemon.config import Config
from daemon.homeassistant import push as ha_push
from daemon.homeassistant.client import CommandRefused, Connection
from daemon.homeassistant.watch import watch
from daemon.plugins import Registry
from daemon.services import Services
from daemon.session import Unlocked
from daemon.times import to_ms
from daemon.vault import RecordIn, Vault

from ..conftest import Cli, Daemon
from .conftest import throwaway_venv
from .realha import HA_EXTRA, HA_REQUIREMENT, HomeAssistant, free_port, started

pytestmark = pytest.mark.timeout(900)  # the first run builds Home Assistant's virtualenv (about 4 minutes)


@pytest.fixture(scope="module")
def home_assistant(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HomeAssistant]:
    venv = throwaway_venv(pytestconfig.cache, HA_REQUIREMENT, *HA_EXTRA)
    with started(venv, tmp_path_factory.mktemp("ha-config")) as ha:
        yield ha


# --- the readings -----------------------------------------------------------------------

START = datetime(2026, 11, 2, tzinfo=UTC)
HALF = timedelta(minutes=30)
IMPORT = "1900000000001"  # an import MPAN
EXPORT = "1900000000002"  # its export MPAN (solar)
GAS = "G4W00512341217"


def _quantity(meter: str, i: int) -> Decimal:
    if meter == IMPORT:
        return Decimal((i * 37) % 900 + 100) / 1000  # 0.100 to 0.999 kWh
    if meter == EXPORT:
        hour = i % 48 // 2
        return Decimal((i * 53) % 700) / 1000 if 8 <= hour < 16 else Decimal(0)
    return Decimal((i * 29) % 250) / 1000  # m3


def _line(meter: str, i: int, quantity: Decimal | None = None) -> dict[str, Any]:
    start = START + HALF * i
    commodity = "gas" if meter == GAS else "electricity"
    direction = "production" if meter == EXPORT else "consumption"
    return {
        "source": "octopus-home",
        "dataset": "energy.reading",
        "key": f"{meter}:{commodity}:{direction}:{start.isoformat()}",
        "ts": start.isoformat(),
        "data": {
            "meter_id": meter,
            "commodity": commodity,
            "direction": direction,
            "start": start.isoformat(),
            "end": (start + HALF).isoformat(),
            "quantity": str(quantity if quantity is not None else _quantity(meter, i)),
            "unit": "m3" if meter == GAS else "kWh",
            "quality": "actual",
            "resolution": "PT30M",
        },
    }


def _import(run: Cli, folder: Path, name: str, lines: list[dict[str, Any]]) -> None:
    path = folder / f"{name}.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    run("import-jsonl", str(path))


def _expected(halves: dict[str, dict[int, Decimal]]) -> dict[str, list[tuple[int, Decimal, Decimal]]]:
    """Per meter: (hour start ms, energy in the hour, running sum), from the half-hours kept."""
    out = {}
    for meter, values in halves.items():
        hours: dict[int, Decimal] = {}
        for i, q in values.items():
            hour = int((START + HALF * i).timestamp() * 1000) // 3_600_000 * 3_600_000
            hours[hour] = hours.get(hour, Decimal(0)) + q
        total = Decimal(0)
        rows = []
        for hour in sorted(hours):
            total += hours[hour]
            rows.append((hour, hours[hour], total))
        out[meter] = rows
    return out


IDS = {
    IMPORT: f"selfdata:electricity_consumption_{IMPORT}",
    EXPORT: f"selfdata:electricity_production_{EXPORT}",
    GAS: f"selfdata:gas_consumption_{GAS.lower()}_m3",
}


async def _held(ha: HomeAssistant) -> dict[str, list[dict[str, Any]]]:
    async with Connection(ha.url, ha.token) as conn:
        return await conn.hourly_sums(list(IDS.values()), int((START - timedelta(days=1)).timestamp() * 1000))


def _check(ha: HomeAssistant, halves: dict[str, dict[int, Decimal]]) -> None:
    held = asyncio.run(_held(ha))
    for meter, rows in _expected(halves).items():
        got = [(r["start"], Decimal(repr(r["state"])), Decimal(repr(r["sum"]))) for r in held[IDS[meter]]]
        assert len(got) == len(rows), (meter, len(got), len(rows))
        for (hour, state, total), (g_hour, g_state, g_sum) in zip(rows, got, strict=True):
            assert (g_hour, g_state, g_sum) == (hour, state, total), (meter, datetime.fromtimestamp(hour / 1000, UTC))


def _push(run: Cli) -> dict[str, Any]:
    return json.loads(run("homeassistant", "push", "--json").output)  # type: ignore[no-any-return]


def test_late_and_revised_readings_land_on_their_hours_with_running_sums(
    home_assistant: HomeAssistant, initialised: Path, run: Cli, tmp_path: Path
) -> None:
    ha = home_assistant
    days = 3
    halves = {m: {i: _quantity(m, i) for i in range(48 * days)} for m in (IMPORT, EXPORT, GAS)}
    # The import meter's third day is late (Linky, a smart-meter gateway): not there yet.
    for i in range(96, 144):
        del halves[IMPORT][i]
    _import(run, tmp_path, "first", [_line(m, i, q) for m, values in halves.items() for i, q in values.items()])

    token_file = tmp_path / "ha-token"
    token_file.write_text(ha.token + "\n")
    setup = run("homeassistant", "setup", ha.url, "--token-file", str(token_file))
    assert "token accepted as selfdata test" in setup.output and ha.token not in setup.output

    first = _push(run)
    assert {s["statistic_id"]: s["hours"] for s in first["statistics"]} == {
        IDS[IMPORT]: 48,
        IDS[EXPORT]: 72,
        IDS[GAS]: 72,
    }
    _check(ha, halves)

    # A day late: the import meter's third day, with everyone's fourth; and a revised gas reading on day 1.
    late = [_line(IMPORT, i) for i in range(96, 192)]
    late += [_line(m, i) for m in (EXPORT, GAS) for i in range(144, 192)]
    late.append(_line(GAS, 10, Decimal("1.234")))
    _import(run, tmp_path, "late", late)
    for m in (IMPORT, EXPORT, GAS):
        halves[m].update({i: _quantity(m, i) for i in range(96 if m == IMPORT else 144, 192)})
    halves[GAS][10] = Decimal("1.234")

    second = {s["statistic_id"]: s for s in _push(run)["statistics"]}
    # Only what changed is sent again: from the change (less a day, for daily totals it may replace) on.
    assert second[IDS[IMPORT]]["hours"] == 48 + 25 and second[IDS[EXPORT]]["hours"] == 24 + 25
    assert second[IDS[GAS]]["hours"] == 96  # the revision is in the first hour: every hour again
    _check(ha, halves)
    total_gas = sum(halves[GAS].values(), Decimal(0))
    assert Decimal(second[IDS[GAS]]["sum"]) == total_gas

    # What the Energy dashboard shows for day 3: the change of the sum over that day.
    async def day_change() -> Any:
        async with Connection(ha.url, ha.token) as conn:
            return await conn.command(
                {
                    "type": "recorder/statistic_during_period",
                    "statistic_id": IDS[IMPORT],
                    "types": ["change"],
                    "fixed_period": {
                        "start_time": (START + timedelta(days=2)).isoformat(),
                        "end_time": (START + timedelta(days=3)).isoformat(),
                    },
                }
            )

    day3 = sum((halves[IMPORT][i] for i in range(96, 144)), Decimal(0))
    assert Decimal(repr(asyncio.run(day_change())["change"])) == day3

    again = _push(run)
    assert again["statistics"] == [] and again["hours"] == 0  # nothing sent twice

    status = json.loads(run("homeassistant", "status", "--json").output)
    by_id = {s["statistic_id"]: s for s in status["statistics"]}
    assert by_id[IDS[GAS]]["sum"] == str(total_gas) and by_id[IDS[GAS]]["unit"] == "m³"
    assert by_id[IDS[IMPORT]]["last"] == (START + timedelta(days=4) - timedelta(hours=1)).isoformat().replace(
        "+00:00", ".000Z"
    )
    assert status["pending"] == []

    async def listed() -> Any:
        async with Connection(ha.url, ha.token) as conn:
            return await conn.command({"type": "recorder/list_statistic_ids", "statistic_type": "sum"})

    meta = {m["statistic_id"]: m for m in asyncio.run(listed())}
    assert meta[IDS[IMPORT]]["statistics_unit_of_measurement"] == "kWh" and meta[IDS[IMPORT]]["source"] == "selfdata"
    assert meta[IDS[GAS]]["statistics_unit_of_measurement"] == "m³" and meta[IDS[GAS]]["unit_class"] == "volume"
    assert ha.token not in ha.log.read_text()


def test_a_wrong_token_is_named_with_home_assistants_answer_and_nothing_is_marked(
    home_assistant: HomeAssistant, initialised: Path, run: Cli, tmp_path: Path
) -> None:
    _import(run, tmp_path, "r", [_line(IMPORT, i) for i in range(4)])
    bad = tmp_path / "bad-token"
    bad.write_text("not-a-token-4711\n")
    refused = run("homeassistant", "setup", home_assistant.url, "--token-file", str(bad), ok=False)
    assert refused.exit_code == 1
    assert "refused the access token: 'Invalid access token or password'" in refused.output
    assert "not-a-token-4711" not in refused.output
    run("homeassistant", "setup", home_assistant.url, "--token-file", str(bad), "--no-check")
    push = run("homeassistant", "push", ok=False)
    assert push.exit_code == 1 and "refused the access token" in push.output
    status = json.loads(run("homeassistant", "status", "--json").output)
    assert status["statistics"] == [] and status["pending"] == [{"statistic_id": IDS[IMPORT], "hours": 2}]


def test_an_unreachable_home_assistant_is_said_plainly_and_nothing_is_marked(
    initialised: Path, run: Cli, tmp_path: Path
) -> None:
    _import(run, tmp_path, "r", [_line(IMPORT, i) for i in range(4)])
    token = tmp_path / "token"
    token.write_text("some-token\n")
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    run("homeassistant", "setup", url, "--token-file", str(token), "--no-check")
    push = run("homeassistant", "push", ok=False)
    assert push.exit_code == 1
    assert f"Home Assistant at {url} cannot be reached" in push.output
    status = json.loads(run("homeassistant", "status", "--json").output)
    assert status["statistics"] == [] and len(status["pending"]) == 1
    assert "some-token" not in push.output


def test_not_set_up_says_what_to_run(initialised: Path, run: Cli) -> None:
    push = run("homeassistant", "push", ok=False)
    assert "Home Assistant is not set up: selfdata homeassistant setup URL" in push.output


def test_an_import_refused_by_home_assistant_names_its_answer(home_assistant: HomeAssistant) -> None:
    async def off_the_hour() -> None:
        async with Connection(home_assistant.url, home_assistant.token) as conn:
            with pytest.raises(CommandRefused, match="Invalid timestamp"):
                await conn.command(
                    {
                        "type": "recorder/import_statistics",
                        "metadata": {
                            "has_mean": False,
                            "has_sum": True,
                            "name": None,
                            "source": "selfdata",
                            "statistic_id": "selfdata:x",
                            "unit_of_measurement": "kWh",
                        },
                        "stats": [{"start": "2026-11-02T00:30:00+00:00", "state": 1, "sum": 1}],
                    }
                )

    asyncio.run(off_the_hour())


def test_the_daemon_pushes_after_an_import(home_assistant: HomeAssistant, daemon: Daemon, tmp_path: Path) -> None:
    meter = "1900000000009"
    lines = [{**_line(IMPORT, i), "key": f"d{i}"} for i in range(6)]
    for line in lines:
        line["data"] = {**line["data"], "meter_id": meter}
    token_file = tmp_path / "ha-token"
    token_file.write_text(home_assistant.token + "\n")
    daemon.start()
    daemon.cli("homeassistant", "setup", home_assistant.url, "--token-file", str(token_file))
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    daemon.cli("import-jsonl", str(path))
    expected = float(sum((_quantity(IMPORT, i) for i in range(6)), Decimal(0)))
    sid = f"selfdata:electricity_consumption_{meter}"

    async def last_sum() -> float | None:
        async with Connection(home_assistant.url, home_assistant.token) as conn:
            rows = (await conn.hourly_sums([sid], int(START.timestamp() * 1000))).get(sid, [])
            return rows[-1]["sum"] if len(rows) == 3 else None

    deadline = time.monotonic() + 60
    while asyncio.run(last_sum()) != expected:
        assert time.monotonic() < deadline, "the daemon did not push after the import"
        time.sleep(0.5)
    assert daemon.json("homeassistant", "status")["pending"] == []


def test_a_token_of_a_user_who_is_not_an_administrator_is_refused_at_setup_and_push(
    home_assistant: HomeAssistant, initialised: Path, run: Cli, tmp_path: Path
) -> None:
    _import(run, tmp_path, "r", [_line(IMPORT, i) for i in range(4)])
    token = tmp_path / "user-token"
    token.write_text(home_assistant.user_token + "\n")
    refused = run("homeassistant", "setup", home_assistant.url, "--token-file", str(token), ok=False)
    assert "the token belongs to 'not an admin', who is not an administrator" in refused.output
    run("homeassistant", "setup", home_assistant.url, "--token-file", str(token), "--no-check")
    push = run("homeassistant", "push", ok=False)
    assert "the token's user is not an administrator (recorder/import_statistics needs one)" in push.output
    assert json.loads(run("homeassistant", "status", "--json").output)["statistics"] == []


async def test_the_watch_logs_an_outage_once_and_its_recovery_once(
    home_assistant: HomeAssistant, vault: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "selfdata.homeassistant")
    services = Services(
        vault.paths, Config(paths=vault.paths), vault, Unlocked(vault._master, None, "test"), Registry()
    )  # type: ignore[arg-type]
    services.events.bind(asyncio.get_running_loop())
    meter = "1900000000042"
    records = []
    for i in range(4):
        line = _line(IMPORT, i)
        records.append(RecordIn("octopus-home", "energy.reading", f"w{i}", to_ms(START + HALF * i), line["data"]))
        records[-1].data["meter_id"] = meter
    vault.writer.upsert(records)
    down = f"http://127.0.0.1:{free_port()}"
    ha_push.save_settings(vault, ha_push.Settings(down), home_assistant.token)
    task = asyncio.create_task(watch(services, settle=0.05, retry=0.2))
    try:
        await asyncio.sleep(1.5)  # the watch tries at start, then every 0.2 s
        deadline = time.monotonic() + 20
        ha_push.save_settings(vault, ha_push.Settings(home_assistant.url), None)  # Home Assistant is back
        while not any("works again" in r.message for r in caplog.records):
            assert time.monotonic() < deadline, caplog.text
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "push failed" in m]) == 1, messages  # though it tried several times
    assert len([m for m in messages if "works again" in m]) == 1
    assert any("pushed 2 hours of 1 statistics" in m for m in messages)
    assert home_assistant.token not in caplog.text


def test_metadata_of_the_other_shape_is_retried_in_the_one_home_assistant_takes(home_assistant: HomeAssistant) -> None:
    """A release that does not announce its version plainly: 2025.11's mean_type/unit_class sent to
    2024.3, which refuses them as extra keys, then the shape it takes."""
    from daemon.homeassistant.statistics import Row, Stream

    stream = Stream("shape-test", "electricity", "consumption", "kWh")
    sid = "selfdata:electricity_consumption_shape_test"
    hour = int(START.timestamp() * 1000)

    async def go() -> list[dict[str, Any]]:
        async with Connection(home_assistant.url, home_assistant.token) as conn:
            assert not conn.new_metadata  # 2024.3 announced
            conn.new_metadata = True
            with pytest.raises(CommandRefused, match="extra keys not allowed"):
                await conn.command(
                    {
                        "type": "recorder/import_statistics",
                        "metadata": conn._metadata(stream, sid),
                        "stats": [{"start": START.isoformat(), "state": 1, "sum": 1}],
                    }
                )
            await conn.import_statistics(stream, sid, [Row(hour, Decimal("0.5"), Decimal("0.5"))])
            assert not conn.new_metadata
            for _ in range(50):
                rows = (await conn.hourly_sums([sid], hour)).get(sid, [])
                if rows:
                    return rows
                await asyncio.sleep(0.1)
            return []

    rows = asyncio.run(go())
    assert [(r["start"], r["sum"]) for r in rows] == [(hour, 0.5)]


def test_set_up_again_after_an_erasure_leaves_no_stale_hour_in_home_assistant(
    home_assistant: HomeAssistant, initialised: Path, run: Cli, tmp_path: Path
) -> None:
    meter = "1900000000077"
    sid = f"selfdata:electricity_consumption_{meter}"

    def lines(source: str, first: int, last: int) -> list[dict[str, Any]]:
        out = []
        for i in range(first, last):
            line = _line(IMPORT, i)
            out.append({**line, "source": source, "key": f"{source}{i}", "data": {**line["data"], "meter_id": meter}})
        return out

    _import(run, tmp_path, "a", lines("octopus-home", 0, 48))
    _import(run, tmp_path, "b", lines("old-file", 48, 96))  # the second day came from a file
    token_file = tmp_path / "ha-token"
    token_file.write_text(home_assistant.token + "\n")
    run("homeassistant", "setup", home_assistant.url, "--token-file", str(token_file))
    assert _push(run)["hours"] == 48
    # The file's source is erased, and selfdata forgets what it pushed (a vault restored, say).
    run("erase", "--source", "old-file", "--yes")
    run("homeassistant", "remove")
    run("homeassistant", "setup", home_assistant.url, "--token-file", str(token_file))
    again = _push(run)
    assert again["hours"] == 48  # day one, and day two's 24 stale hours at 0
    day_one = sum((_quantity(IMPORT, i) for i in range(48)), Decimal(0))

    async def held() -> list[dict[str, Any]]:
        async with Connection(home_assistant.url, home_assistant.token) as conn:
            return (await conn.hourly_sums([sid], int(START.timestamp() * 1000))).get(sid, [])

    rows = asyncio.run(held())
    assert len(rows) == 48
    assert all(Decimal(repr(r["sum"])) == day_one and r["state"] == 0 for r in rows[24:])
