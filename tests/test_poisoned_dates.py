"""Times outside the years 0001-9999 in UTC: refused by every writer, shown by every reader."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
import sqlite_utils
from hypothesis import given
from hypothesis import strategies as st

from connectors.sdk import InvalidRecord, datasets
from daemon import plugins
from daemon.plugins import Registry
from daemon.rights.erase import erase
from daemon.rights.export import export
from daemon.session import Session
from daemon.sources import SourceStore
from daemon.sync.importing import import_file
from daemon.sync.jsonl import JsonlError, import_jsonl
from daemon.sync.runner import Runner
from daemon.times import TimeOutOfRange, iso, parse_instant
from daemon.vault import RecordIn, Vault

from .conftest import Cli
from .plugins import write_lines
from .test_api import serve

# One past each end once in UTC: year 10000 and year 0.
LATE = "9999-12-31T23:59:59-14:00"
EARLY = "0001-01-01T00:00:00+14:00"
POISONED = [LATE, EARLY]
LATE_MS = 253_402_351_199_000  # what an older selfdata stored for LATE
EARLY_MS = -62_135_647_200_000
LAST_SHOWN, FIRST_SHOWN = "9999-12-31T23:59:59.999Z", "0001-01-01T00:00:00.000Z"
GOOD = "2026-01-31T08:00:00+01:00"


def live(vault: Vault, dataset: str) -> int:
    return int(vault.conn.execute("SELECT count(*) FROM records WHERE dataset=?", (dataset,)).fetchone()[0])


# Writers


@pytest.mark.parametrize("text", POISONED)
def test_the_one_conversion_refuses_them(text: str) -> None:
    with pytest.raises(TimeOutOfRange, match="outside the years 0001-9999 in UTC"):
        parse_instant(text)
    assert parse_instant("9999-12-31T23:59:59.999Z") == 253_402_300_799_999  # the ends themselves are fine
    assert parse_instant("0001-01-01T00:00:00Z") == -62_135_596_800_000


offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@given(st.datetimes(timezones=offsets))
def test_any_time_is_refused_or_reads_back_as_itself(dt: datetime) -> None:
    try:
        ms = parse_instant(dt.isoformat())
    except TimeOutOfRange:
        assert not datetime.min.replace(tzinfo=UTC) <= dt <= datetime.max.replace(tzinfo=UTC)
        return
    assert datetime.fromisoformat(iso(ms)) == dt.replace(microsecond=dt.microsecond // 1000 * 1000)


@pytest.mark.parametrize("text", POISONED)
async def test_api_write_is_a_400_naming_the_field(vault: Vault, registry: Registry, text: str) -> None:
    async with serve(vault, registry) as api:
        _, token = api.grants.create_token("mine", "keeps my notes", ["write:app.mine.*"])
        records = [{"key": "ok", "ts": GOOD, "data": {"n": 1}}, {"key": "bad", "ts": text, "data": {"n": 2}}]
        async with api.client.post(
            "/api/v1/datasets/app.mine.notes/records", json={"records": records}, headers=api.auth(token)
        ) as r:
            body = await r.json()
        assert r.status == 400 and body["error"]["code"] == "bad_records"
        assert body["error"]["message"].startswith("records[1]: ts: ")
        assert "outside the years 0001-9999" in body["error"]["message"]
    assert live(vault, "app.mine.notes") == 0


def fhir_observation(i: int, when: str) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "id": f"o{i}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "effectiveDateTime": when,
        "valueQuantity": {"value": 60 + i, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }


@pytest.mark.parametrize("text", POISONED)
def test_an_importer_file_fails_naming_the_record(vault: Vault, tmp_path: Path, text: str) -> None:
    f = tmp_path / "export.ndjson"
    f.write_bytes(b"".join(orjson.dumps(fhir_observation(i, t)) + b"\n" for i, t in enumerate([GOOD, text, GOOD])))
    result = import_file(vault, plugins.load(), f)
    assert result.run.status == "failed"
    assert "export.ndjson: line 2: field 'start': " in (result.run.error or "")
    assert "outside the years 0001-9999 in UTC" in (result.run.error or "")
    assert live(vault, "health.observation") == 0
    assert vault.conn.execute("SELECT count(*) FROM staging").fetchone()[0] == 0


def test_a_plugin_importer_fails_too(vault: Vault, registry: Registry, tmp_path: Path) -> None:
    f = write_lines(tmp_path / "s.sdl", [("k0", GOOD, "-1.00"), ("k1", EARLY, "-2.00")])
    result = import_file(vault, registry, f)
    assert result.run.status == "failed" and "sd-lines: record bank.transaction/k1: ts" in (result.run.error or "")
    assert live(vault, "bank.transaction") == 0


async def test_a_connector_sync_fails_and_keeps_what_came_before(vault: Vault, registry: Registry) -> None:
    SourceStore(vault).add("dated", "test-dated", "connector", {"times": [GOOD, LATE, GOOD]}, {})
    result = await Runner(vault, registry).sync("dated")
    assert result.run.status == "failed"
    assert "test-dated: record bank.transaction/d1: ts 9999-12-31T23:59:59-14:00 is outside" in (result.run.error or "")
    keys = [r[0] for r in vault.conn.execute("SELECT key FROM records WHERE source='dated'")]
    assert keys == ["d0"]  # committed with its checkpoint before the bad one


def test_an_instant_inside_a_record_is_refused_naming_the_field() -> None:
    data = {"activity": "running", "start": GOOD, "end": LATE}
    with pytest.raises(InvalidRecord, match="field 'end': .* outside the years 0001-9999"):
        datasets.validate("health.workout", data)


@pytest.mark.parametrize("text", POISONED)
def test_import_jsonl_names_the_line(vault: Vault, tmp_path: Path, text: str) -> None:
    f = tmp_path / "r.jsonl"
    lines = [{"key": "a", "ts": GOOD, "data": {}}, {"key": "b", "ts": text, "data": {}}]
    f.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(JsonlError, match=r"r\.jsonl, line 2: 'ts': .* outside the years 0001-9999"):
        import_jsonl(vault, f, source="notes", dataset="app.notes.items")
    assert live(vault, "app.notes.items") == 0


# Readers, of times an older selfdata stored


def poison(vault: Vault) -> None:
    """What an older selfdata let in: one record past each end, beside a good one."""
    good = parse_instant(GOOD)
    vault.writer.upsert(
        [
            RecordIn("app-mine", "app.mine.notes", "late", LATE_MS, {"n": 1}),
            RecordIn("app-mine", "app.mine.notes", "early", EARLY_MS, {"n": 2}),
            RecordIn("app-mine", "app.mine.notes", "good", good, {"n": 3}),
        ]
    )


def test_iso_shows_the_nearest_end() -> None:
    assert (iso(LATE_MS), iso(EARLY_MS), iso(2**62), iso(-(2**62))) == (LAST_SHOWN, FIRST_SHOWN) * 2


def test_cli_status_export_and_doctor(initialised: Path, run: Cli, tmp_path: Path) -> None:
    vault, _ = Session.from_env().open()
    poison(vault)
    vault.close()
    (notes,) = json.loads(run("status", "--json").output)["datasets"]
    assert (notes["first"], notes["last"], notes["records"]) == (FIRST_SHOWN, LAST_SHOWN, 3)
    assert "outside the years 0001-9999" in notes["warning"]
    run("export", "--format", "jsonl", str(tmp_path / "out"))
    doctor = json.loads(run("doctor", "--json", ok=False).output)
    checks = {c["check"]: c for c in doctor["checks"]}
    assert checks["vault"]["status"] == "ok"  # the unlock is not blamed
    assert checks["records app.mine.notes from app-mine"]["status"] == "warn"


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "sqlite"])
def test_every_export_format_shows_the_ends_and_restores(
    vault: Vault, tmp_path: Path, fmt: str, machine_key: bytes
) -> None:
    poison(vault)
    out = tmp_path / ("x.db" if fmt == "sqlite" else "out")
    export(vault, out, fmt)
    if fmt == "jsonl":
        rows = [json.loads(line) for line in (out / "app.mine.notes.jsonl").read_text().splitlines()]
        times = {r["key"]: r["ts"] for r in rows}
        # What was exported imports again: the ends are times selfdata stores.
        result = import_jsonl(vault, out / "app.mine.notes.jsonl")
        assert result.counts.changed == 2
    elif fmt == "csv":
        with (out / "app.mine.notes.csv").open() as f:
            times = {r["key"]: r["ts"] for r in csv.DictReader(f)}
    else:
        times = {r["key"]: r["ts"] for r in sqlite_utils.Database(out)["app_mine_notes"].rows}
    assert times == {"early": FIRST_SHOWN, "good": "2026-01-31T07:00:00.000Z", "late": LAST_SHOWN}


async def test_api_reads_and_the_tombstones_after_erase(vault: Vault, registry: Registry) -> None:
    poison(vault)
    async with serve(vault, registry) as api:
        _, token = api.grants.create_token("reader", "reads it all", ["read:*"])
        status, body = await api.get("/api/v1/datasets", token)
        assert status == 200
        (notes,) = [d for d in body["datasets"] if d["name"] == "app.mine.notes"]
        assert (notes["first"], notes["last"]) == (FIRST_SHOWN, LAST_SHOWN)
        status, body = await api.get("/api/v1/datasets/app.mine.notes/records", token)
        assert status == 200 and [r["ts"] for r in body["records"]] == [
            FIRST_SHOWN,
            "2026-01-31T07:00:00.000Z",
            LAST_SHOWN,
        ]
        pages, cursor = [], None
        while True:  # paging by cursor walks past the ends
            query = "limit=1" + (f"&cursor={cursor}" if cursor else "")
            status, body = await api.get(f"/api/v1/datasets/app.mine.notes/records?{query}", token)
            pages += [r["key"] for r in body["records"]]
            cursor = body["next"]
            if cursor is None:
                break
        assert pages == ["early", "good", "late"]
        async with api.client.get(
            "/api/v1/datasets/app.mine.notes/records", headers={**api.auth(token), "Accept": "application/x-ndjson"}
        ) as r:
            assert [json.loads(line)["ts"] for line in (await r.read()).splitlines()][-1] == LAST_SHOWN
        erase(vault, dataset="app.mine.notes")
        status, body = await api.get("/api/v1/changes", token)
        assert status == 200
        tombstones = {c["key"]: c["ts"] for c in body["changes"] if c.get("deleted")}
        assert tombstones == {"late": LAST_SHOWN, "early": FIRST_SHOWN, "good": "2026-01-31T07:00:00.000Z"}
