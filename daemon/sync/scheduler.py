"""The scheduler: runs each source on its schedule, a few at a time, for months.

Next runs are stored with the source, so a restart neither re-runs everything nor
forgets: after downtime a source whose slot passed runs once (one catch-up run, not one
per missed slot). Failures back off exponentially with jitter, honouring Retry-After;
a source that needs the user (login, consent, action) waits for them. Time comes from
an injectable clock so tests run a week of schedules in milliseconds.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from .. import RELEASE_EPOCH
from ..services import Services
from ..sources import Source, SourceStore
from ..times import iso, to_ms
from .schedule import ScheduleError, parse_schedule

log = logging.getLogger("selfdata.scheduler")

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    def __init__(
        self,
        services: Services,
        *,
        clock: Clock = utcnow,
        sleep: Sleep = asyncio.sleep,
        concurrency: int = 2,
        tick_s: float = 60.0,
        backoff_base_s: float = 300.0,
        backoff_cap_s: float = 6 * 3600.0,
        release_epoch: float = RELEASE_EPOCH,
    ) -> None:
        self.services = services
        self.store = SourceStore(services.vault)
        self.clock = clock
        self.sleep = sleep
        self.concurrency = concurrency
        self.tick_s = tick_s
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.release_epoch = release_epoch
        self.running: dict[str, asyncio.Task[Any]] = {}
        self.waiting_for_clock = False
        self._wake = asyncio.Event()
        self._stopping = False
        self._bad_schedules: set[str] = set()
        self._housekeeping_due: datetime | None = None

    def wake(self) -> None:
        self._wake.set()

    def describe(self) -> dict[str, Any]:
        return {
            "running": sorted(self.running),
            "concurrency": self.concurrency,
            "waiting_for_clock": self.waiting_for_clock,
        }

    async def run(self) -> None:
        while not self._stopping:
            now = self.clock()
            if now.timestamp() < self.release_epoch:
                if not self.waiting_for_clock:
                    log.warning(
                        "the system clock says %s, before this selfdata was released: waiting for the time to be "
                        "set (a Raspberry Pi has no hardware clock; is the network or NTP up?)",
                        now.isoformat(),
                    )
                    self.waiting_for_clock = True
                await self._pause(30)
                continue
            if self.waiting_for_clock:
                log.info("the system clock is set (%s): scheduling resumes", now.isoformat())
                self.waiting_for_clock = False
            if self._housekeeping_due is None or now >= self._housekeeping_due:
                await asyncio.to_thread(self.housekeeping, now)
                await self._alerts(now)
                self._housekeeping_due = now + timedelta(hours=1)
            for name in self.due(now):
                if len(self.running) >= self.concurrency:
                    break
                self.running[name] = asyncio.create_task(self._run_one(name), name=f"sync:{name}")
            await self._pause(self._seconds_to_next(now))

    async def _pause(self, seconds: float) -> None:
        """Sleep until `seconds` pass, a run finishes or something wakes us."""
        self._wake.clear()
        waiters: set[asyncio.Future[Any]] = {
            asyncio.ensure_future(self.sleep(max(0.0, seconds))),
            asyncio.ensure_future(self._wake.wait()),
        }
        waiters |= set(self.running.values())
        done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for fut in pending:
            if fut not in self.running.values():
                fut.cancel()

    async def _alerts(self, now: datetime) -> None:
        """Alerts the user turned on (data that stopped arriving), checked with housekeeping."""
        from ..operations.healthviews import tell_stopped

        try:
            await tell_stopped(self.services.config, self.services.vault, self.services.events, to_ms(now))
        except Exception:
            log.exception("could not check the alerts")

    def housekeeping(self, now: datetime) -> None:
        """Retention: tombstones and the access log are kept only as long as configured."""
        cfg = self.services.config
        day = 86_400_000
        purged = self.services.vault.writer.purge_tombstones(to_ms(now) - cfg.tombstone_retention_days * day)
        with self.services.vault.writer.transaction() as conn:
            cut = to_ms(now) - cfg.access_log_retention_days * day
            logged = conn.execute("DELETE FROM access_log WHERE minute < ?", (cut,)).rowcount
        if purged or logged:
            log.info("retention: %d tombstone(s) and %d access-log row(s) past their time removed", purged, logged)

    def _schedule_of(self, src: Source) -> Any:
        try:
            return parse_schedule(src.schedule) if src.schedule else None
        except ScheduleError as err:
            if src.name not in self._bad_schedules:
                log.error("source %s: %s; it will not run on a schedule", src.name, err)
                self._bad_schedules.add(src.name)
            return None

    def due(self, now: datetime) -> list[str]:
        """Sources whose next run has come, oldest slot first; new sources get a slot now."""
        out: list[tuple[int, str]] = []
        for src in self.store.list():
            if not src.runs_automatically or src.name in self.running or self._schedule_of(src) is None:
                continue
            if src.next_run is None:
                self.store.update(src.name, next_run=to_ms(now))
                out.append((to_ms(now), src.name))
            elif src.next_run <= to_ms(now):
                out.append((src.next_run, src.name))
        return [name for _, name in sorted(out)]

    def _seconds_to_next(self, now: datetime) -> float:
        upcoming = [
            src.next_run
            for src in self.store.list()
            if src.runs_automatically and src.next_run is not None and src.name not in self.running
        ]
        if not upcoming:
            return self.tick_s
        return max(0.0, min(self.tick_s, (min(upcoming) - to_ms(now)) / 1000))

    async def _run_one(self, name: str) -> None:
        try:
            result = await self.services.get_runner().sync(name)
            self._plan_next(name, result.ok, result.retry_after)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("source %s: the run could not start", name)
            self._plan_next(name, False, None)
        finally:
            self.running.pop(name, None)

    def _plan_next(self, name: str, ok: bool, retry_after: float | None) -> None:
        src = self.store.find(name)
        if src is None:
            return
        now = self.clock()
        schedule = self._schedule_of(src)
        if ok or schedule is None:
            nxt = schedule.next_after(now, name) if schedule else None
        else:
            backoff = min(self.backoff_cap_s, self.backoff_base_s * 2 ** max(0, src.failures - 1))
            wait = max(backoff * random.uniform(1.0, 1.2), retry_after or 0.0)
            nxt = now + timedelta(seconds=wait)
        self.store.update(name, next_run=to_ms(nxt) if nxt else None)
        if nxt is not None:
            log.debug("source %s: next run at %s", name, iso(to_ms(nxt)))

    def request_stop(self) -> None:
        self._stopping = True
        self.wake()

    async def stop(self, grace_s: float = 10.0) -> None:
        """No new runs; running syncs get `grace_s` to reach a checkpoint, then are cancelled."""
        self.request_stop()
        tasks = list(self.running.values())
        if tasks:
            log.info("waiting up to %.0f s for %d running sync(s)", grace_s, len(tasks))
            done, pending = await asyncio.wait(tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
