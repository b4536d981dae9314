"""The runner: batches, checkpoints, failures, retries, cancellation."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.events import Event, RunCommitted
from daemon.plugins import Registry
from daemon.sources import SourceStore
from daemon.sync.runner import Runner, RunnerSettings
from daemon.vault import Vault
from daemon.vault import records as rec

from .plugins import TOKEN, bank_api


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def stored(vault: Vault, source: str) -> dict[str, str]:
    return {r.key: r.data["amount"] for r in rec.iter_records(vault.conn, "bank.transaction", source=source)}


def add(
    vault: Vault,
    name: str,
    connector: str,
    settings: dict[str, Any] | None = None,
    secrets: dict[str, str] | None = None,
) -> None:
    SourceStore(vault).add(name, connector, "connector", settings or {}, secrets or {})


async def test_sync_stores_records_and_checkpoint_then_adds_nothing(vault: Vault, registry: Registry) -> None:
    async with bank_api(pages=5, per_page=10) as api:
        add(vault, "bank", "test-bank", {"url": api.url}, {"token": TOKEN})
        events: list[Event] = []
        runner = Runner(vault, registry, events=events.append)
        first = await runner.sync("bank")
        assert first.ok and (first.run.new, first.run.changed) == (50, 0)
        assert SourceStore(vault).get("bank").state == {"page": 5}
        assert sum(1 for e in events if isinstance(e, RunCommitted)) >= 5
        again = await runner.sync("bank")
        assert (again.run.new, again.run.changed, again.run.unchanged) == (0, 0, 10)
    assert len(stored(vault, "bank")) == 50
    raw = vault.conn.execute("SELECT raw FROM records WHERE key='tx001000'").fetchone()[0]
    assert '"id":"tx001000"' in raw


async def test_batches_are_bounded_by_size(vault: Vault, registry: Registry) -> None:
    async with bank_api(pages=1, per_page=95) as api:
        add(vault, "bank", "test-bank", {"url": api.url}, {"token": TOKEN})
        events: list[Event] = []
        await Runner(vault, registry, settings=RunnerSettings(batch_records=20), events=events.append).sync("bank")
    commits = [e for e in events if isinstance(e, RunCommitted)]
    assert [c.new for c in commits] == [20, 20, 20, 20, 15]


async def test_a_failing_connector_keeps_its_committed_records_and_spares_others(
    vault: Vault, registry: Registry
) -> None:
    add(vault, "broken", "test-failing")
    async with bank_api(pages=2, per_page=5) as api:
        add(vault, "bank", "test-bank", {"url": api.url}, {"token": TOKEN})
        runner = Runner(vault, registry)
        broken, good = await asyncio.gather(runner.sync("broken"), runner.sync("bank"))
    assert broken.run.status == "failed" and "vendor changed its format" in (broken.run.error or "")
    assert set(stored(vault, "broken")) == {f"f{i}" for i in range(5)}
    assert SourceStore(vault).get("broken").health == "failing"
    assert good.ok and len(stored(vault, "bank")) == 10


async def test_a_hanging_connector_times_out(vault: Vault, registry: Registry) -> None:
    add(vault, "slow", "test-hanging")
    result = await Runner(vault, registry, settings=RunnerSettings(timeout_s=0.3)).sync("slow")
    assert result.run.status == "timeout" and "time limit" in (result.run.error or "")
    assert set(stored(vault, "slow")) == {"h0"}
    assert SourceStore(vault).get("slow").state == {"n": 1}


async def test_an_invalid_record_fails_the_run_naming_the_field(vault: Vault, registry: Registry) -> None:
    add(vault, "inv", "test-invalid")
    result = await Runner(vault, registry).sync("inv")
    assert result.run.status == "failed"
    assert "field 'amount'" in (result.run.error or "") and "bad" in (result.run.error or "")
    assert set(stored(vault, "inv")) == {"ok1"}


async def test_429_with_retry_after_waits_at_least_that_long(vault: Vault, registry: Registry) -> None:
    async with bank_api(pages=3, per_page=4) as api:
        add(vault, "bank", "test-bank", {"url": api.url}, {"token": TOKEN})
        api.fail(429, times=1, headers={"Retry-After": "7"}, path_prefix="/tx")
        sleeps = Sleeps()
        result = await Runner(vault, registry, sleep=sleeps, settings=RunnerSettings(backoff_base_s=0.01)).sync("bank")
        assert result.ok and sleeps.waits and sleeps.waits[0] >= 7
        assert api.count("/tx") == 4  # the refused request, then the three pages
    assert len(stored(vault, "bank")) == 12


async def test_a_retry_resumes_from_the_last_checkpoint(vault: Vault, registry: Registry) -> None:
    async with bank_api(pages=4, per_page=3) as api:
        add(vault, "bank", "test-bank", {"url": api.url}, {"token": TOKEN})
        runner = Runner(vault, registry, sleep=Sleeps(), settings=RunnerSettings(backoff_base_s=0.01))
        # The third page fails once: pages 1 and 2 are committed with their checkpoint.
        api.fail(503, times=1, when=lambda request: request.query.get("page") == "3")
        result = await runner.sync("bank")
        pages = [r.query.get("page") for r in api.requests if r.path == "/tx"]
    assert result.ok and pages == ["1", "2", "3", "3", "4"]


async def test_401_stops_at_once_and_asks_for_a_login(vault: Vault, registry: Registry) -> None:
    async with bank_api() as api:
        add(vault, "bank", "test-bank", {"url": api.url}, {"token": "wrong"})
        sleeps = Sleeps()
        result = await Runner(vault, registry, sleep=sleeps).sync("bank")
        assert api.count("/tx") == 1 and sleeps.waits == []
    src = SourceStore(vault).get("bank")
    assert result.run.status == "failed" and src.health == "needs_login"
    assert "log in again" in src.action and not src.runs_automatically


async def test_persistent_5xx_gives_up_after_the_attempts(vault: Vault, registry: Registry) -> None:
    async with bank_api() as api:
        add(vault, "bank", "test-bank", {"url": api.url}, {"token": TOKEN})
        api.fail(503, times=10, path_prefix="/tx")
        sleeps = Sleeps()
        result = await Runner(
            vault, registry, sleep=sleeps, settings=RunnerSettings(attempts=3, backoff_base_s=1)
        ).sync("bank")
        assert api.count("/tx") == 3 and len(sleeps.waits) == 2 and sleeps.waits[1] > sleeps.waits[0]
    assert result.run.status == "failed" and SourceStore(vault).get("bank").health == "failing"


async def test_cancelled_mid_sync_then_resumed_equals_an_uninterrupted_run(vault: Vault, registry: Registry) -> None:
    async with bank_api(pages=6, per_page=7) as api:
        add(vault, "bank", "test-bank", {"url": api.url}, {"token": TOKEN})
        add(vault, "whole", "test-bank", {"url": api.url}, {"token": TOKEN})
        await Runner(vault, registry).sync("whole")
        commits = 0
        task: asyncio.Task[Any] | None = None

        def on_event(event: Event) -> None:
            nonlocal commits
            if isinstance(event, RunCommitted) and event.source == "bank":
                commits += 1
                if commits == 3 and task is not None:
                    task.cancel()

        runner = Runner(vault, registry, events=on_event)
        task = asyncio.ensure_future(runner.sync("bank"))
        with pytest.raises(asyncio.CancelledError):
            await task
        partial = stored(vault, "bank")
        assert 0 < len(partial) < 42
        from daemon.sync import runs

        assert runs.recent(vault, "bank")[0].status == "cancelled"
        await Runner(vault, registry).sync("bank")
    assert stored(vault, "bank") == stored(vault, "whole")


async def test_deletes_become_tombstones_in_order(vault: Vault, registry: Registry) -> None:
    script = [("rec", "a", 1), ("rec", "b", 1), ("del", "a"), ("cp",), ("rec", "a", 2)]
    add(vault, "s", "test-scripted", {"script": script})
    result = await Runner(vault, registry).sync("s")
    assert result.run.deleted == 1 and stored(vault, "s") == {"a": "2.00", "b": "1.00"}


async def test_update_secret_and_warnings_reach_the_vault(vault: Vault, registry: Registry) -> None:
    from daemon import sourcesetup as ops

    src = await ops.add_source(vault, registry, "consent", "test-consent", {"client_id": "app"})
    assert src.health == "needs_authorization" and not src.runs_automatically
    url = await ops.authorization_url(vault, registry, "consent", ops.DEFAULT_REDIRECT_URI)
    assert "client_id=app" in url
    await ops.complete_authorization(vault, registry, "consent", ops.DEFAULT_REDIRECT_URI, "http://x/cb?code=abc")
    assert vault.secrets.get("consent", "access_token") == "token-for-abc"
    assert SourceStore(vault).get("consent").health == "ok"
    result = await Runner(vault, registry).sync("consent")
    assert result.ok and set(stored(vault, "consent")) == {"token-for-abc"}


async def test_a_connector_clears_its_warning_when_it_is_over(vault: Vault, registry: Registry) -> None:
    add(vault, "w", "test-scripted", {"script": [("warn", "backfill: 3 days left"), ("cp",)]})
    await Runner(vault, registry).sync("w")
    assert SourceStore(vault).get("w").warning == "backfill: 3 days left"
    SourceStore(vault).update("w", settings={"script": [("rec", "a", 1), ("cp",)]}, state={})
    await Runner(vault, registry).sync("w")
    assert SourceStore(vault).get("w").warning == "backfill: 3 days left", "a run that says nothing leaves it"
    SourceStore(vault).update("w", settings={"script": [("clear",), ("cp",)]}, state={})
    await Runner(vault, registry).sync("w")
    assert SourceStore(vault).get("w").warning is None


_names = itertools.count()

steps = st.lists(
    st.one_of(
        st.tuples(st.just("rec"), st.sampled_from("abcde"), st.integers(1, 9)),
        st.tuples(st.just("cp")),
        st.tuples(st.just("del"), st.sampled_from("abcde")),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=steps, crash=st.one_of(st.none(), st.integers(0, 24)), batch=st.integers(1, 5))
def test_whatever_the_order_duplicates_and_crashes_the_vault_holds_the_last_version(
    vault: Vault, registry: Registry, script: list[tuple[Any, ...]], crash: int | None, batch: int
) -> None:
    name = f"p{next(_names)}"
    add(vault, name, "test-scripted", {"script": script, "crash_at": crash})
    runner = Runner(vault, registry, settings=RunnerSettings(batch_records=batch))
    first = asyncio.run(runner.sync(name))
    if not first.ok:  # interrupted: the next run resumes from the last checkpoint
        SourceStore(vault).update(name, settings={"script": script})
        assert asyncio.run(runner.sync(name)).ok
    expected: dict[str, str] = {}
    for step in script:
        if step[0] == "rec":
            expected[step[1]] = f"{step[2]}.00"
        elif step[0] == "del":
            expected.pop(step[1], None)
    assert stored(vault, name) == expected


async def test_a_successful_run_writes_one_info_line(
    vault: Vault, registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    async with bank_api(pages=2, per_page=5) as api:
        SourceStore(vault).add("bank", "test-bank", "connector", {"url": api.url}, {"token": TOKEN})
        with caplog.at_level(logging.INFO, logger="selfdata.sync"):
            result = await Runner(vault, registry).sync("bank")
    assert result.ok
    lines = [r.getMessage() for r in caplog.records if r.name == "selfdata.sync"]
    assert len(lines) == 1 and re.fullmatch(
        r"source bank synced: 10 new, 0 changed, 0 unchanged, 0 deleted in \d+\.\d s", lines[0]
    ), lines
