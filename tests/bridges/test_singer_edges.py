"""The Singer bridge through the daemon's runner, with a tiny tap written for the edge cases."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from connectors.bridges.singer import SingerTap
from connectors.sdk import Fatal
from connectors.sdk.fields import parse_settings
from daemon.events import Event, RunCommitted, RunRetrying
from daemon.plugins import Registry
from daemon.sources import SourceStore
from daemon.sync import runs
from daemon.sync.runner import Runner, RunnerSettings
from daemon.vault import Vault
from daemon.vault import records as rec

from ..conftest import Cli

TINY = Path(__file__).with_name("tiny_tap.py")
TOKEN = "tok-Zq81-secret-value"


class NoSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def tap(tmp_path: Path) -> Path:
    """The tiny tap as a user would have it: an executable in a bin folder."""
    exe = tmp_path / "bin" / "tap-tiny"
    exe.parent.mkdir()
    exe.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(TINY))} "$@"\n')
    exe.chmod(0o755)
    return exe


@pytest.fixture
def bridge_registry() -> Registry:
    reg = Registry()
    reg.add(SingerTap, "test")
    return reg


class Tiny:
    def __init__(self, vault: Vault, registry: Registry, tap: Path, tmp_path: Path) -> None:
        self.vault, self.registry, self.tap, self.tmp = vault, registry, tap, tmp_path
        self.calls_file = tmp_path / "calls.jsonl"
        self.events: list[Event] = []
        self.sleep = NoSleep()

    def add(self, name: str = "tiny", *, idle_timeout_s: int = 600, **config: Any) -> None:
        settings, secrets = parse_settings(
            SingerTap.fields,
            {
                "tap": str(self.tap),
                "config": json.dumps({"calls": str(self.calls_file), "marker": str(self.tmp / "marker"), **config}),
                "secret_config": json.dumps({"token": TOKEN}),
                "streams": "events",
                "idle_timeout_s": idle_timeout_s,
            },
        )
        SourceStore(self.vault).add(name, "singer", "connector", settings, secrets)

    def runner(self, **settings: Any) -> Runner:
        return Runner(
            self.vault,
            self.registry,
            settings=RunnerSettings(**settings),
            sleep=self.sleep,
            events=self.events.append,
        )

    def calls(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.calls_file.read_text().splitlines()]

    def stored(self, name: str = "tiny") -> dict[str, Any]:
        return {r.key: r for r in rec.iter_records(self.vault.conn, "singer.tiny.events", source=name)}


@pytest.fixture
def tiny(vault: Vault, bridge_registry: Registry, tap: Path, tmp_path: Path) -> Tiny:
    return Tiny(vault, bridge_registry, tap, tmp_path)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_each_state_is_a_checkpoint_and_a_second_run_adds_nothing(tiny: Tiny) -> None:
    tiny.add(count=10, batch=3)
    first = await tiny.runner().sync("tiny")
    assert first.ok and first.run.new == 10
    stored = tiny.stored()
    assert sorted(stored) == [f"e{i:04d}" for i in range(10)]
    assert stored["e0003"].data == {"id": "e0003", "at": "2026-01-01T00:03:00Z", "amount": 4.25}
    assert stored["e0003"].ts == 1767225780000  # the replication key's time
    assert sum(1 for e in tiny.events if isinstance(e, RunCommitted)) >= 4  # one per STATE
    assert SourceStore(tiny.vault).get("tiny").state == {"singer_state": {"bookmarks": {"events": {"at": "9999"}}}}
    again = await tiny.runner().sync("tiny")
    assert again.ok and (again.run.new, again.run.changed) == (0, 0)
    calls = tiny.calls()
    assert calls[1]["state"] == {"bookmarks": {"events": {"at": "9999"}}}
    # the config was private to the run and is gone with its folder
    assert all(c["mode"] == 0o600 for c in calls)
    assert not any(Path(c["config"]).parent.exists() for c in calls)


async def test_only_the_chosen_streams_are_selected(tiny: Tiny) -> None:
    tiny.add(count=2)
    assert (await tiny.runner().sync("tiny")).ok
    catalog = tiny.calls()[0]["catalog"]
    chosen = {
        s["stream"]: [m for m in s["metadata"] if m["breadcrumb"] == []][0]["metadata"]["selected"]
        for s in catalog["streams"]
    }
    assert chosen == {"events": True, "other": False}


async def test_a_stream_the_tap_lacks_is_named_by_check(tiny: Tiny) -> None:
    settings, secrets = parse_settings(SingerTap.fields, {"tap": str(tiny.tap), "streams": "events,nope"})
    settings["config"] = json.dumps({"calls": str(tiny.calls_file)})
    from connectors.sdk import Context

    with pytest.raises(Fatal, match=r"no stream\(s\) nope; it has: events, other"):
        await SingerTap().check(Context(source="t", settings=settings, secrets=secrets))


async def test_killed_mid_stream_resumes_from_its_last_state_losing_and_doubling_nothing(tiny: Tiny) -> None:
    tiny.add(mode="kill", kill_at=7, count=10, batch=3)
    result = await tiny.runner().sync("tiny")
    assert result.ok, result.run.error
    assert result.attempts == 2 and len(tiny.sleep.waits) == 1
    assert sorted(tiny.stored()) == [f"e{i:04d}" for i in range(10)]
    assert result.run.new == 10  # each record stored once
    first, second = tiny.calls()
    assert first["state"] == {}
    assert second["state"] == {"bookmarks": {"events": {"at": "2026-01-01T00:05:00Z"}}}
    assert gone(first["pid"]) and gone(second["pid"])


async def test_a_tap_that_keeps_failing_is_retried_once_then_fatal_without_its_secret(
    tiny: Tiny, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tiny.add(mode="fail", token=TOKEN)
    result = await tiny.runner().sync("tiny")
    assert result.run.status == "failed" and result.attempts == 2 and result.health == "failing"
    error = result.run.error or ""
    assert "exited with code 3" in error and "auth refused for token ***" in error
    retried = [e for e in tiny.events if isinstance(e, RunRetrying)]
    assert len(retried) == 1 and "trying once more" in retried[0].error
    everything = caplog.text + error + json.dumps([e.payload() for e in tiny.events])
    assert TOKEN not in everything
    assert "auth refused for token ***" in caplog.text  # the tap's stderr reaches the log, redacted


async def test_a_secret_on_stderr_of_a_good_run_never_reaches_the_log(
    tiny: Tiny, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tiny.add(count=3)
    assert (await tiny.runner().sync("tiny")).ok
    assert "using token *** to read" in caplog.text and TOKEN not in caplog.text


async def test_a_malformed_line_fails_the_run_naming_it_and_keeps_the_last_state(tiny: Tiny) -> None:
    tiny.add(mode="malformed", bad_at=4, count=10, batch=3)
    result = await tiny.runner().sync("tiny")
    assert result.run.status == "failed" and result.attempts == 1
    assert "line 7 is not JSON" in (result.run.error or "")
    assert set(tiny.stored()) <= {"e0000", "e0001", "e0002", "e0003"}
    state = SourceStore(tiny.vault).get("tiny").state
    assert state == {"singer_state": {"bookmarks": {"events": {"at": "2026-01-01T00:02:00Z"}}}}
    # the tap fixed, the next run goes on from that state
    SourceStore(tiny.vault).update(
        "tiny",
        settings={
            **SourceStore(tiny.vault).get("tiny").settings,
            "config": json.dumps({"calls": str(tiny.calls_file), "count": 10, "batch": 3}),
        },
    )
    assert (await tiny.runner().sync("tiny")).ok
    assert sorted(tiny.stored()) == [f"e{i:04d}" for i in range(10)]


async def test_a_tap_that_hangs_is_killed_retried_once_then_fatal(tiny: Tiny) -> None:
    tiny.add(mode="hang", hang_at=4, idle_timeout_s=1)
    result = await tiny.runner().sync("tiny")
    assert result.run.status == "failed" and result.attempts == 2
    assert "sent nothing for 1 s and was stopped" in (result.run.error or "")
    assert all(gone(c["pid"]) for c in tiny.calls())
    assert sorted(tiny.stored()) == ["e0000", "e0001", "e0002"]  # up to its last STATE


async def test_a_run_over_its_time_limit_kills_the_tap(tiny: Tiny) -> None:
    tiny.add(mode="hang", hang_at=4)
    result = await tiny.runner(timeout_s=2).sync("tiny")
    assert result.run.status == "timeout"
    assert all(gone(c["pid"]) for c in tiny.calls())


async def test_a_cancelled_run_kills_the_tap_and_removes_its_config(tiny: Tiny) -> None:
    tiny.add(mode="hang", hang_at=4)
    task = asyncio.create_task(tiny.runner().sync("tiny"))
    for _ in range(500):
        if any(isinstance(e, RunCommitted) for e in tiny.events):
            break
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (call,) = tiny.calls()
    assert gone(call["pid"]) and not Path(call["config"]).exists()
    assert runs.recent(tiny.vault, "tiny")[0].status == "cancelled"


async def test_a_schema_change_mid_stream_keeps_every_record(tiny: Tiny) -> None:
    tiny.add(mode="schema", count=10)
    assert (await tiny.runner().sync("tiny")).ok
    stored = tiny.stored()
    assert len(stored) == 10
    assert "kind" not in stored["e0004"].data and stored["e0005"].data["kind"] == "wide"


async def test_a_stream_mapped_to_a_normalised_dataset(tiny: Tiny) -> None:
    tiny.add(count=4)
    store = SourceStore(tiny.vault)
    mapping = {
        "events": {
            "dataset": "bank.transaction",
            "fields": {
                "account_id": {"value": "acc-1"},
                "amount": "amount",
                "currency": {"value": "EUR"},
                "status": {"value": "booked"},
                "description": "id",
            },
        }
    }
    store.update("tiny", settings={**store.get("tiny").settings, "mapping": json.dumps(mapping)})
    assert (await tiny.runner().sync("tiny")).ok
    (txn,) = [r for r in rec.iter_records(tiny.vault.conn, "bank.transaction", source="tiny") if r.key == "e0002"]
    assert txn.data == {
        "account_id": "acc-1",
        "amount": "3.25",
        "currency": "EUR",
        "status": "booked",
        "description": "e0002",
    }
    raw = tiny.vault.conn.execute("SELECT raw FROM records WHERE key='e0002'").fetchone()[0]
    assert json.loads(raw)["amount"] == 3.25


def test_a_tap_becomes_a_source_in_a_few_commands(initialised: Path, run: Cli, tap: Path, tmp_path: Path) -> None:
    listed = {c["name"]: c for c in json.loads(run("connectors", "--json").output)}
    assert "secret_config" in [f["name"] for f in listed["singer"]["fields"]]
    config = json.dumps({"calls": str(tmp_path / "calls.jsonl"), "count": 5, "batch": 2})
    run(
        "source", "add", "tiny", "singer",
        "--set", f"tap={tap}", "--set", f"config={config}", "--set", "streams=events",
        "--set", 'secret_config={"token": "' + TOKEN + '"}',
    )  # fmt: skip
    run("sync", "tiny")
    shown = run("source", "show", "tiny", "--json").output
    assert TOKEN not in shown and json.loads(shown)["health"] == "ok"
    out = json.loads(run("query", "singer.tiny.events", "--json").output)
    assert len(out["records"] if isinstance(out, dict) else out) == 5
