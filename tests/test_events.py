"""Events an app sees on /api/v1/events: a records.changed for every committed change, and
only what its grant may read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import ClientResponse

from daemon.inbox import Inbox
from daemon.operations import dispatch as ops
from daemon.plugins import Registry
from daemon.times import to_ms
from daemon.vault import RecordIn, Vault

from .plugins import write_lines
from .test_api import T0, Api, serve

ROWS = [(f"k{i}", f"2026-01-{1 + i % 28:02d}T10:00:00+01:00", f"-{i}.50") for i in range(40)]


def readings(source: str, n: int = 3) -> list[RecordIn]:
    return [
        RecordIn(source, "energy.reading", f"r{i}", to_ms(T0 + timedelta(hours=i)), {"kwh": f"{i}.5"}) for i in range(n)
    ]


@pytest.fixture
async def api(vault: Vault, registry: Registry) -> AsyncIterator[Api]:
    vault.writer.upsert(readings("meter"))  # erased at the end of a test: a change every token here sees
    async with serve(vault, registry) as api:
        yield api


@asynccontextmanager
async def stream(api: Api, token: str) -> AsyncIterator[ClientResponse]:
    async with api.client.get("/api/v1/events", headers=api.auth(token)) as r:
        assert r.status == 200
        await asyncio.sleep(0.05)  # the handler has subscribed
        yield r


async def received(r: ClientResponse, until: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """The events sent, up to and including the first for which `until` holds."""
    out: list[dict[str, Any]] = []
    async with asyncio.timeout(5):
        while True:
            line = await r.content.readline()
            if line.startswith(b"data: "):
                out.append(orjson.loads(line[6:]))
                if until(out[-1]):
                    return out


def is_end(event: dict[str, Any]) -> bool:
    return event["type"] == "records.changed" and event["source"] == "meter"


async def end(api: Api) -> None:
    """Erase the meter's readings: the records.changed that closes what a test reads."""
    await ops.run(api.services, "erase", {"source": "meter"})


def changed(events: list[dict[str, Any]]) -> list[tuple[str, list[str], int, int, int]]:
    return [
        (e["source"], e["datasets"], e.get("new", 0), e.get("changed", 0), e.get("deleted", 0))
        for e in events
        if e["type"] == "records.changed" and e["source"] != "meter"
    ]


async def test_an_import_tells_apps_which_datasets_changed(api: Api, tmp_path: Path) -> None:
    _, token = api.grants.create_token("budget", "spending", ["read:bank.*", "read:energy.*"])
    f = write_lines(tmp_path / "statement.sdl", ROWS)
    async with stream(api, token) as r:
        await ops.run(api.services, "import", {"path": str(f)})
        await ops.run(api.services, "import", {"path": str(f)})  # nothing new: no records.changed
        await end(api)
        events = await received(r, is_end)
    assert changed(events) == [("sd-lines", ["bank.transaction"], 40, 0, 0)]
    assert [e["type"] for e in events].count("run.finished") == 2


async def test_renormalize_and_app_writes_tell_apps(api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from .plugins import improve_lines_mapping

    _, token = api.grants.create_token("budget", "goals", ["read:bank.*", "read:energy.*", "read:app.budget.*"])
    _, writer = api.grants.create_token("budget", "goals", ["write:app.budget.*"])
    await ops.run(api.services, "import", {"path": str(write_lines(tmp_path / "s.sdl", ROWS[:10]))})
    improve_lines_mapping(monkeypatch)
    goal = {"records": [{"key": "g1", "ts": "2026-05-01T00:00:00Z", "data": {"goal": "holiday"}}]}
    async with stream(api, token) as r:
        await ops.run(api.services, "renormalize", {"name": "sd-lines"})
        for _ in range(2):  # the same write twice: the second changes nothing
            async with api.client.post(
                "/api/v1/datasets/app.budget.goals/records", json=goal, headers=api.auth(writer)
            ) as w:
                assert w.status == 200
        await end(api)
        events = await received(r, is_end)
    assert changed(events) == [
        ("sd-lines", ["bank.transaction"], 0, 10, 0),
        ("app-budget", ["app.budget.goals"], 1, 0, 0),
    ]


async def test_a_file_dropped_in_the_inbox_tells_apps(
    api: Api, vault: Vault, registry: Registry, tmp_path: Path
) -> None:
    _, token = api.grants.create_token("budget", "spending", ["read:bank.*", "read:energy.*"])
    inbox = Inbox(vault, registry, tmp_path / "inbox", events=api.services.events, settle_s=0.05)
    async with stream(api, token) as r:
        await asyncio.to_thread(inbox.start)
        try:
            write_lines(tmp_path / "inbox" / "statement.sdl", ROWS)
            events = await received(r, lambda e: e["type"] == "run.finished")
        finally:
            assert await asyncio.to_thread(inbox.stop, 10)
        await end(api)
        events += await received(r, is_end)
    assert changed(events) == [("sd-lines", ["bank.transaction"], 40, 0, 0)]


async def test_an_app_sees_runs_only_of_sources_it_may_read(api: Api, tmp_path: Path) -> None:
    _, energy = api.grants.create_token("meter", "my usage", ["read:energy.*"])
    async with stream(api, energy) as r:
        await ops.run(api.services, "import", {"path": str(write_lines(tmp_path / "bank.sdl", ROWS))})
        await end(api)
        events = await received(r, is_end)
    assert [e["type"] for e in events] == ["records.changed"]  # nothing of the bank import


async def test_a_change_shows_an_app_only_the_datasets_it_may_read(api: Api, vault: Vault) -> None:
    vault.writer.upsert([*readings("home"), RecordIn("home", "bank.transaction", "t1", to_ms(T0), {"amount": "1"})])
    _, energy = api.grants.create_token("meter", "my usage", ["read:energy.*"])
    _, bank = api.grants.create_token("budget", "spending", ["read:bank.*"])
    async with stream(api, energy) as e, stream(api, bank) as b:
        await ops.run(api.services, "erase", {"source": "home"})
        await ops.run(api.services, "erase", {"source": "meter"})
        seen_by_energy = await received(e, is_end)
        seen_by_bank = await received(b, lambda ev: ev["type"] == "records.changed")
    assert [c[:2] for c in changed(seen_by_energy)] == [("home", ["energy.reading"])]
    assert [c[:2] for c in changed(seen_by_bank)] == [("home", ["bank.transaction"])]


async def test_grant_events_are_for_the_admin_stream_only(api: Api) -> None:
    _, token = api.grants.create_token("everything", "all of it", ["read:*"])
    async with stream(api, token) as r:
        async with api.client.post(
            "/api/v1/grants", json={"app": "new app", "purpose": "to try", "scopes": ["read:bank.*"]}
        ) as g:
            code = (await g.json())["user_code"]
        await ops.run(api.services, "grants.decide", {"code": code, "approve": False})
        await end(api)
        events = await received(r, is_end)
    assert [e["type"] for e in events] == ["records.changed"]
    admin = [e.type for e in api.services.events.recent]
    assert "grant.requested" in admin and "grant.decided" in admin


async def test_a_sync_shows_only_to_apps_that_may_read_its_datasets(api: Api, vault: Vault) -> None:
    from daemon.sources import SourceStore

    from .plugins import TOKEN, bank_api

    _, bank = api.grants.create_token("budget", "spending", ["read:bank.*"])
    _, energy = api.grants.create_token("meter", "my usage", ["read:energy.*"])
    async with bank_api(pages=2, per_page=5) as vendor:
        SourceStore(vault).add("bank", "test-bank", "connector", {"url": vendor.url}, {"token": TOKEN})
        async with stream(api, bank) as b, stream(api, energy) as e:
            await ops.run(api.services, "sync", {"name": "bank"})
            await end(api)
            seen_by_bank = await received(b, lambda ev: ev["type"] == "run.finished")
            seen_by_energy = await received(e, is_end)
    kinds = [ev["type"] for ev in seen_by_bank]
    assert kinds[0] == "run.started" and "run.committed" in kinds and "records.changed" in kinds
    assert set(seen_by_bank[-1]) == {
        "id", "at", "type", "source", "run", "status", "new", "changed", "unchanged", "deleted", "error",
        "health", "health_changed", "previous_health", "failures",
    }  # fmt: skip
    assert (seen_by_bank[-1]["source"], seen_by_bank[-1]["new"]) == ("bank", 10)
    assert [ev["type"] for ev in seen_by_energy] == ["records.changed"]


class Everything:
    def can_read(self, dataset: str) -> bool:
        return True


def test_health_grant_notification_and_inbox_events_are_never_for_apps() -> None:
    from daemon.events import (
        GrantDecided,
        GrantRequested,
        InboxFailed,
        InboxImported,
        Notification,
        SourceHealthChanged,
        SourceWarning,
    )

    admin_only = [
        SourceWarning("bank", "consent expires on 2026-12-24"),
        SourceHealthChanged("bank", "needs_login", "ok", 1, "the bank refused the credentials"),
        GrantRequested("g_1", "budget", "spending", ("read:bank.*",), "ABCD-EFGH"),
        GrantDecided("g_1", "approved"),
        Notification("bank", "attention", "bank needs you", "selfdata source login bank", "needs_login"),
        InboxImported("a.sdl", "sd-lines", "sd-lines", 1, 3, 0, 0, 0, 1, "new"),
        InboxFailed("b.sdl", "line 2: expected key;time;amount", "failed/b.sdl"),
    ]
    assert [e.for_app(Everything()) for e in admin_only] == [None] * len(admin_only)


def test_the_bus_numbers_events_and_keeps_them_for_last_event_id() -> None:
    from daemon.events import EventBus, RecordsChanged

    bus = EventBus(keep=2)
    first = bus.publish(RecordsChanged("bank", ("bank.transaction",), new=1))
    second = bus.publish(RecordsChanged("bank", ("bank.transaction",), changed=2))
    third = bus.publish(RecordsChanged("bank", ("bank.account",), deleted=1))
    assert (first.id, second.id, third.id) == (1, 2, 3) and third.at >= first.at > 0
    assert bus.since(first.id) == [second, third]
    assert third.to_json() == {
        "id": 3, "at": third.at, "type": "records.changed", "source": "bank", "datasets": ["bank.account"],
        "new": 0, "changed": 0, "deleted": 1,
    }  # fmt: skip


async def test_a_json_lines_import_tells_apps(api: Api, tmp_path: Path) -> None:
    _, token = api.grants.create_token("budget", "goals", ["read:app.budget.*", "read:energy.*"])
    lines = tmp_path / "restore.jsonl"
    lines.write_text(
        "".join(
            orjson.dumps({"key": f"g{i}", "ts": "2026-05-01T00:00:00Z", "data": {"goal": i}}).decode() + "\n"
            for i in range(3)
        )
    )
    params = {"path": str(lines), "source": "app-budget", "dataset": "app.budget.goals"}
    async with stream(api, token) as r:
        await ops.run(api.services, "import_jsonl", params)
        await ops.run(api.services, "import_jsonl", params)  # nothing new: no records.changed
        await end(api)
        events = await received(r, is_end)
    assert changed(events) == [("app-budget", ["app.budget.goals"], 3, 0, 0)]
