"""The scheduler under an injected clock: weeks of schedules in milliseconds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from daemon.config import Config
from daemon.notify import Notifier
from daemon.plugins import Registry
from daemon.services import Services
from daemon.sources import SourceStore
from daemon.sync import runs
from daemon.sync.runner import Runner, RunnerSettings
from daemon.sync.schedule import parse_schedule
from daemon.sync.scheduler import Scheduler
from daemon.times import iso, to_ms
from daemon.vault import Vault
from daemon.vault.keysources import Unlocked

from .plugins import TOKEN, bank_api

T0 = datetime(2026, 12, 1, tzinfo=UTC)
QUICK = [("rec", "a", 1), ("cp",)]


class FakeClock:
    """Time moves only when the scheduler sleeps, and only once running syncs finished."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.scheduler: Scheduler | None = None
        self.end: datetime | None = None

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        assert self.scheduler is not None
        for _ in range(10_000):
            if not self.scheduler.running:
                break
            await asyncio.sleep(0.001)
        self.now += timedelta(seconds=max(seconds, 0.001))
        if self.end is not None and self.now >= self.end:
            self.scheduler.request_stop()
        await asyncio.sleep(0)


def services_for(vault: Vault, registry: Registry, settings: RunnerSettings | None = None) -> Services:
    svc = Services(vault.paths, Config(paths=vault.paths), vault, Unlocked(vault._master, None, "test"), registry)  # type: ignore[arg-type]
    svc.runner = Runner(
        vault, registry, settings=settings or RunnerSettings(), events=svc.events.publish, sleep=_no_sleep
    )
    return svc


async def _no_sleep(seconds: float) -> None:
    return None


async def simulate(svc: Services, clock: FakeClock, until: datetime, **kwargs: Any) -> Scheduler:
    scheduler = Scheduler(svc, clock=clock, sleep=clock.sleep, **kwargs)
    clock.scheduler, clock.end = scheduler, until
    async with asyncio.timeout(60):
        await scheduler.run()
        await scheduler.stop(1)
    return scheduler


def run_times(vault: Vault, source: str) -> list[int]:
    return [r.started_at for r in runs.recent(vault, source, limit=10_000)]


async def test_a_week_of_schedules_then_one_catch_up_after_three_days_down(vault: Vault, registry: Registry) -> None:
    store = SourceStore(vault)
    schedules = {"six": "every 6h", "day": "daily", "cron": "0 */12 * * *"}
    for name, schedule in schedules.items():
        store.add(name, "test-scripted", "connector", {"script": QUICK}, {}, schedule=schedule)
    svc = services_for(vault, registry)
    clock = FakeClock(T0)
    week = T0 + timedelta(days=7)
    await simulate(svc, clock, week)
    counts = {name: len(run_times(vault, name)) for name in schedules}
    for name, schedule in schedules.items():
        # A new source runs at once, then at every slot of the week.
        assert counts[name] == 1 + parse_schedule(schedule).slots_between(T0, clock.now, name), name
    assert counts["six"] >= 28 and counts["day"] >= 7 and counts["cron"] >= 14

    # Three days down: on restart each source runs once, not once per missed slot.
    restart = clock.now + timedelta(days=3)
    clock.now = restart
    await simulate(svc, clock, restart + timedelta(minutes=1))
    for name in schedules:
        assert len(run_times(vault, name)) == counts[name] + 1, name
        nxt = store.get(name).next_run
        assert nxt is not None and nxt > int(restart.timestamp() * 1000)


async def test_disabled_and_manual_sources_do_not_run(vault: Vault, registry: Registry) -> None:
    store = SourceStore(vault)
    store.add("off", "test-scripted", "connector", {"script": QUICK}, {}, schedule="hourly")
    store.update("off", enabled=False)
    store.add("manual", "test-scripted", "connector", {"script": QUICK}, {})
    svc = services_for(vault, registry)
    await simulate(svc, FakeClock(T0), T0 + timedelta(days=1))
    assert run_times(vault, "off") == [] and run_times(vault, "manual") == []


async def test_at_most_concurrency_runs_at_once(vault: Vault, registry: Registry) -> None:
    store = SourceStore(vault)
    for i in range(5):
        store.add(f"s{i}", "test-scripted", "connector", {"script": QUICK}, {}, schedule="daily")
    svc = services_for(vault, registry)
    peak = 0
    original = svc.runner.sync

    async def counting(name: str, on_event: Any = None) -> Any:
        nonlocal peak
        scheduler = clock.scheduler
        assert scheduler is not None
        peak = max(peak, len(scheduler.running))
        await asyncio.sleep(0.01)
        return await original(name, on_event)

    svc.runner.sync = counting  # type: ignore[method-assign]
    clock = FakeClock(T0)
    await simulate(svc, clock, T0 + timedelta(hours=1), concurrency=2)
    assert peak == 2
    assert all(len(run_times(vault, f"s{i}")) == 1 for i in range(5))


async def test_a_401_source_is_not_called_again_until_the_user_acts(vault: Vault, registry: Registry) -> None:
    async with bank_api() as api:
        SourceStore(vault).add(
            "bank", "test-bank", "connector", {"url": api.url}, {"token": "revoked"}, schedule="hourly"
        )
        svc = services_for(vault, registry)
        clock = FakeClock(T0)
        await simulate(svc, clock, T0 + timedelta(days=2))
        assert api.count("/tx") == 1
        assert SourceStore(vault).get("bank").health == "needs_login"
        # The user fixes the credentials: automatic runs resume.
        from daemon.sourcesetup import edit_source

        await edit_source(vault, registry, "bank", {"token": TOKEN})
        await simulate(svc, clock, clock.now + timedelta(hours=3))
        assert SourceStore(vault).get("bank").health == "ok" and api.count("/tx") > 2


async def test_503_backs_off_notifies_failing_once_then_recovered_once(
    vault: Vault, registry: Registry, tmp_path: Path
) -> None:
    out = tmp_path / "notes.jsonl"
    async with bank_api(pages=1, per_page=2) as api:
        SourceStore(vault).add("bank", "test-bank", "connector", {"url": api.url}, {"token": TOKEN}, schedule="hourly")
        api.fail(503, times=4, path_prefix="/tx")
        svc = services_for(vault, registry, RunnerSettings(attempts=1))
        svc.config = Config(paths=vault.paths, notify_command=f"cat >> {out}; echo >> {out}", notify_failures=2)
        notifier = Notifier(svc.config, vault, svc.events)
        svc.events.bind(asyncio.get_running_loop())
        notes = asyncio.create_task(notifier.run())
        clock = FakeClock(T0)
        starts: list[datetime] = []
        original = svc.runner.sync

        async def timed(name: str, on_event: Any = None) -> Any:
            starts.append(clock.now)
            return await original(name, on_event)

        svc.runner.sync = timed  # type: ignore[method-assign]
        await simulate(svc, clock, T0 + timedelta(days=1), backoff_base_s=300)
        await asyncio.sleep(0.3)
        notes.cancel()
        gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)]
        # Four failures: waits of about 5, 10, 20 and 40 minutes; then hourly again.
        assert 300 <= gaps[0] < gaps[1] < gaps[2] < gaps[3] <= 40 * 60 * 1.2 + 1, gaps
        assert 60 * 60 * 0.5 < gaps[4] <= 3600 * 2, gaps
        assert SourceStore(vault).get("bank").health == "ok"
    import json

    kinds = [json.loads(line)["kind"] for line in out.read_text().splitlines() if line.strip()]
    assert kinds == ["failing", "recovered"]
    rows = vault.conn.execute("SELECT kind, delivered FROM notifications ORDER BY id").fetchall()
    assert rows == [("failing", "command"), ("recovered", "command")]


async def test_a_clock_before_the_release_waits_and_says_why(
    vault: Vault, registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    SourceStore(vault).add("s", "test-scripted", "connector", {"script": QUICK}, {}, schedule="hourly")
    svc = services_for(vault, registry)
    clock = FakeClock(datetime(1970, 1, 1, tzinfo=UTC))
    import logging

    with caplog.at_level(logging.WARNING, logger="selfdata.scheduler"):
        scheduler = await simulate(svc, clock, datetime(1970, 1, 2, tzinfo=UTC))
    assert run_times(vault, "s") == [] and scheduler.waiting_for_clock
    assert sum("before this selfdata was released" in r.message for r in caplog.records) == 1


def test_a_slot_is_never_after_itself() -> None:
    for text in ("every 6h", "hourly", "daily", "17 */6 * * *"):
        schedule = parse_schedule(text)
        slot = schedule.next_after(T0, "seed")
        again = schedule.next_after(slot, "seed")
        assert again > slot and (again - slot) >= timedelta(hours=1), text


async def test_housekeeping_applies_the_retention(vault: Vault, registry: Registry) -> None:
    from daemon.vault import RecordIn

    vault.writer.upsert([RecordIn("s", "bank.transaction", "k", 0, {"amount": "1.00"})])
    vault.writer.delete(source="s")
    with vault.writer.transaction() as conn:
        conn.execute("INSERT INTO access_log VALUES (0, 'g', 'app', 'p', 'records', 'bank.transaction', 1, 1)")
    svc = services_for(vault, registry)
    scheduler = Scheduler(svc)
    scheduler.housekeeping(datetime.now(UTC))  # the tombstone is from now: kept
    assert vault.conn.execute("SELECT count(*) FROM records").fetchone()[0] == 1
    assert vault.conn.execute("SELECT count(*) FROM access_log").fetchone()[0] == 0
    scheduler.housekeeping(datetime.now(UTC) + timedelta(days=31))
    assert vault.conn.execute("SELECT count(*) FROM records").fetchone()[0] == 0


@pytest.mark.parametrize("started", ["manual", "scheduled"])
async def test_a_429_told_to_wait_an_hour_holds_off_the_next_run_however_the_run_started(
    vault: Vault, registry: Registry, started: str
) -> None:
    from daemon.operations import dispatch

    async with bank_api(pages=1, per_page=2) as api:
        store = SourceStore(vault)
        store.add("bank", "test-bank", "connector", {"url": api.url}, {"token": TOKEN}, schedule="every 5m")
        api.fail(429, times=100, headers={"Retry-After": "3600"}, path_prefix="/tx")
        svc = services_for(vault, registry)
        start = datetime.now(UTC)
        clock = FakeClock(start)
        if started == "manual":  # `selfdata sync bank`, with the next slot five minutes away
            store.update("bank", next_run=to_ms(start + timedelta(minutes=5)))
            result = await dispatch.run(svc, "sync", {"name": "bank"})
            assert result["run"]["status"] == "failed"
        # The scheduler over the next 59 minutes: the vendor is not asked again.
        await simulate(svc, clock, start + timedelta(minutes=59))
        asked = api.count("/tx")
        assert asked == 1, asked
        nxt = store.get("bank").next_run
        assert nxt is not None and nxt >= to_ms(start + timedelta(seconds=3600)), iso(nxt)
