"""One record shape wherever an app reads: the API's pages, NDJSON and changes, `selfdata query`, the export."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from daemon.api import routes
from daemon.config import write_default
from daemon.plugins import Registry
from daemon.times import iso, now_ms, to_ms
from daemon.vault import RecordIn, Vault
from daemon.vault.keys import write_key_file

from .conftest import Cli
from .test_api import T0, Api, heart_rates, serve

NDJSON = {"Accept": "application/x-ndjson"}
RECORD = ["source", "dataset", "key", "ts", "seq", "updated_at", "data"]


def by_key(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in records}


async def test_a_record_reads_back_the_same_from_the_api_the_cli_and_the_export(
    vault: Vault, registry: Registry, run: Cli, tmp_path: Path, machine_key: bytes
) -> None:
    data = {"code": "8867-4", "value": "61", "unit": "/min", "note": "après l'effort ✓", "flags": [True, None], "n": 3}
    vault.writer.upsert(
        [
            RecordIn("watch", "health.observation", "with-raw", to_ms(T0), data, {"vendor": {"id": 7}}),
            RecordIn("watch", "health.observation", "plain", to_ms(T0) + 1, {**data, "value": "62"}),
        ]
    )
    vault.writer.upsert([RecordIn("watch", "health.observation", "plain", to_ms(T0) + 1, {**data, "value": "63"})])
    key_file = tmp_path / "machine.key"
    write_key_file(key_file, machine_key)
    write_default(vault.paths, key_file)

    async with serve(vault, registry) as api:
        path = "/api/v1/datasets/health.observation/records"
        _, page = await api.get(path)
        _, ndjson = await api.get(path, headers=NDJSON)
        _, feed = await api.get("/api/v1/changes?since=0")
    cli = json.loads((await asyncio.to_thread(run, "query", "health.observation", "--json")).output)
    await asyncio.to_thread(run, "export", "--format", "jsonl", str(tmp_path / "out"))
    exported = (tmp_path / "out" / "health.observation.jsonl").read_bytes()

    api_records = by_key(page["records"])
    assert list(api_records["plain"]) == RECORD
    assert api_records["plain"]["data"] == {**data, "value": "63"} and api_records["plain"]["ts"] == iso(to_ms(T0) + 1)
    for other in (
        [orjson.loads(line) for line in ndjson.splitlines()],
        feed["changes"],
        cli["records"],
        [{k: v for k, v in orjson.loads(line).items() if k != "raw"} for line in exported.splitlines()],
    ):
        assert by_key(other) == api_records
    # The export is the record's JSON, byte for byte, plus the vendor's original when there is one.
    lines = by_key([{"key": orjson.loads(line)["key"], "line": line} for line in exported.splitlines()])
    assert lines["plain"]["line"] == next(line for line in ndjson.splitlines() if b'"key":"plain"' in line)
    assert orjson.loads(lines["with-raw"]["line"])["raw"] == {"vendor": {"id": 7}}


@pytest.fixture
async def api(vault: Vault, registry: Registry) -> AsyncIterator[Api]:
    vault.writer.upsert(heart_rates(300))
    async with serve(vault, registry) as api:
        yield api


async def test_fields_pages_cross_cursors_and_export_chunks_without_loss(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = "/api/v1/datasets/health.observation/records"
    _, whole = await api.get(f"{path}?limit=1000")
    seen: list[dict[str, Any]] = []
    cursor = ""
    while True:
        status, body = await api.get(f"{path}?fields=unit,value&limit=7" + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200
        seen += body["records"]
        if not body["next"]:
            break
        cursor = body["next"]
    expected = [{**r, "data": {"unit": r["data"]["unit"], "value": r["data"]["value"]}} for r in whole["records"]]
    assert len(seen) == 300 and seen == expected
    assert list(seen[0]["data"]) == ["unit", "value"]  # in the order asked for

    monkeypatch.setattr(routes, "EXPORT_CHUNK", 16)
    _, ndjson = await api.get(f"{path}?fields=value,nothing", headers=NDJSON)
    streamed = [orjson.loads(line) for line in ndjson.splitlines()]
    assert [r["key"] for r in streamed] == [r["key"] for r in whole["records"]]
    assert streamed[-1]["data"] == {"value": whole["records"][-1]["data"]["value"]}


async def test_a_deletion_in_the_changes_feed_has_the_documented_shape(api: Api) -> None:
    _, before = await api.get("/api/v1/changes?since=0&limit=10000")
    top = before["next"]
    deleted_at = now_ms()
    api.services.vault.writer.delete(dataset="health.observation", keys=["hr00002"])
    _, after = await api.get(f"/api/v1/changes?since={top}")
    assert after["more"] is False and after["next"] == top + 1
    (tombstone,) = after["changes"]
    assert list(tombstone) == ["source", "dataset", "key", "ts", "seq", "updated_at", "deleted"]
    assert tombstone["deleted"] is True and tombstone["seq"] == top + 1
    assert (tombstone["source"], tombstone["dataset"], tombstone["key"]) == ("watch", "health.observation", "hr00002")
    assert tombstone["ts"] == iso(to_ms(T0) + 2 * 5 * 60_000)
    assert tombstone["updated_at"] >= iso(deleted_at)
