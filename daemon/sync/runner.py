"""The runner: a connector's records -> upsert -> commit with the checkpoint.

Records are committed in batches bounded by size and time, each in one transaction
with the latest checkpoint it covers, so a crash, a kill or a cancellation loses
nothing committed and the next run resumes from the last checkpoint; upserts make the
replay of uncommitted records harmless.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.sdk import (
    MAX_ORIGINAL_BYTES,
    AuthFailed,
    Checkpoint,
    Connector,
    Delete,
    Fatal,
    Http,
    Original,
    Record,
    Retryable,
    UserActionNeeded,
)
from connectors.sdk.context import redact
from connectors.sdk.pipeline import to_records

from ..events import (
    Event,
    RecordsChanged,
    RunCommitted,
    RunFinished,
    RunProgress,
    RunRetrying,
    RunStarted,
    SourceHealthChanged,
    SourceWarning,
)
from ..plugins import Registry
from ..sources import Health, Source, SourceStore
from ..times import now_ms, to_ms
from ..vault import BatchCounts, RecordIn, Vault
from ..vault.files import FileStore
from ..vault.records import prepare
from . import runs
from .context import connector_context

log = logging.getLogger("selfdata.sync")

Sleep = Callable[[float], Awaitable[None]]
EventSink = Callable[[Event], object]
Listener = Callable[[dict[str, Any]], object]  # a command's progress: the events as JSON


@dataclass(frozen=True)
class RunnerSettings:
    batch_records: int = 1000
    batch_seconds: float = 2.0
    timeout_s: float = 3600.0
    attempts: int = 3
    backoff_base_s: float = 5.0
    max_wait_s: float = 900.0  # a longer Retry-After ends the run and holds off the next scheduled one


@dataclass
class RunResult:
    run: runs.Run
    health: str
    health_changed: bool
    attempts: int = 1
    waits: list[float] = field(default_factory=list)
    previous_health: str = "ok"
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.run.status == "ok"


class _Batch:
    """Uncommitted work, kept in the order the connector yielded it."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[RecordIn | Delete] = []
        self.records = 0
        self.started = time.monotonic()

    def add_records(self, records: list[Record]) -> None:
        for r in records:
            self.items.append(RecordIn(self.source, r.dataset, r.key, to_ms(r.ts), r.data, r.raw))
        self.records += len(records)

    def due(self, settings: RunnerSettings) -> bool:
        return self.records >= settings.batch_records or (
            bool(self.items) and time.monotonic() - self.started >= settings.batch_seconds
        )


class Runner:
    def __init__(
        self,
        vault: Vault,
        registry: Registry,
        *,
        settings: RunnerSettings | None = None,
        sleep: Sleep = asyncio.sleep,
        events: EventSink | None = None,
        http_factory: Callable[[], Http] = Http,
    ) -> None:
        self.vault = vault
        self.registry = registry
        self.sources = SourceStore(vault)
        self.settings = settings or RunnerSettings()
        self.sleep = sleep
        self.events = events or (lambda event: None)
        self.http_factory = http_factory
        self._locks: dict[str, asyncio.Lock] = {}
        self._listeners: dict[str, Listener] = {}
        self._datasets: dict[str, tuple[str, ...]] = {}  # per running source: declared and touched

    def _emit(self, event: Event) -> None:
        self.events(event)
        listener = self._listeners.get(getattr(event, "source", ""))
        if listener is not None:
            listener(event.payload())

    def _scope(self, name: str) -> tuple[str, ...]:
        """The datasets a run of `name` may show: an app sees the run if it may read one."""
        return self._datasets.get(name, ())

    def running(self) -> list[str]:
        return [name for name, lock in self._locks.items() if lock.locked()]

    async def sync(self, name: str, on_event: Listener | None = None) -> RunResult:
        """Run source `name` now; one run at a time per source. `on_event` also gets its events."""
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            if on_event is not None:
                self._listeners[name] = on_event
            try:
                return await self._sync(name)
            finally:
                self._listeners.pop(name, None)
                self._datasets.pop(name, None)

    async def _sync(self, name: str) -> RunResult:
        source = self.sources.get(name)
        connector = self.registry.connector(source.connector)()
        run_id = await asyncio.to_thread(runs.start, self.vault, name, "sync")
        totals = BatchCounts()
        deleted = [0]
        attempts, waits = 0, []
        self._datasets[name] = tuple(connector.datasets)
        self._emit(RunStarted(name, run_id, datasets=self._scope(name)))
        error: BaseException | None = None
        status = "ok"
        deadline = time.monotonic() + self.settings.timeout_s
        while True:
            attempts += 1
            try:
                remaining = max(0.001, deadline - time.monotonic())
                async with asyncio.timeout(remaining):
                    await self._fetch(connector, self.sources.get(name), run_id, totals, deleted)
                error = None
                break
            except Retryable as err:
                error = err
                wait = self._backoff(attempts, err.retry_after)
                if attempts >= self.settings.attempts or wait > self.settings.max_wait_s:
                    status = "failed"
                    break
                waits.append(wait)
                said = await self._redacted(name, str(err))
                log.info("source %s: %s; retrying in %.0f s", name, said, wait)
                self._emit(RunRetrying(name, run_id, wait, said, datasets=self._scope(name)))
                await self.sleep(wait)
            except TimeoutError as err:
                error, status = err, "timeout"
                break
            except asyncio.CancelledError:
                await asyncio.shield(self._end(name, run_id, "cancelled", totals, deleted[0], "cancelled", None))
                raise
            except Exception as err:  # a connector's bug must not reach other sources
                error, status = err, "failed"
                break
        message = self._describe(error)
        if message is not None:
            message = await self._redacted(name, message)
        return await self._end(name, run_id, status, totals, deleted[0], message, error, attempts, waits)

    async def _redacted(self, name: str, text: str) -> str:
        """A connector's error text as the log, the run log and events may show it: a vendor
        that echoes a token, or a connector that puts one in its message, reveals nothing."""
        secrets = await asyncio.to_thread(self.sources.secrets, name)
        return redact(text, secrets.values())

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        backoff = self.settings.backoff_base_s * float(2 ** (attempt - 1)) * random.uniform(1.0, 1.25)
        return max(retry_after or 0.0, backoff)

    @staticmethod
    def _describe(error: BaseException | None) -> str | None:
        if error is None:
            return None
        if isinstance(error, TimeoutError):
            return "the run took longer than its time limit"
        text = str(error) or type(error).__name__
        return (
            text
            if isinstance(error, AuthFailed | UserActionNeeded | Fatal | Retryable)
            else f"{type(error).__name__}: {text}"
        )

    async def _end(
        self,
        name: str,
        run_id: int,
        status: str,
        totals: BatchCounts,
        deleted: int,
        message: str | None,
        error: BaseException | None,
        attempts: int = 1,
        waits: list[float] | None = None,
    ) -> RunResult:
        run = await asyncio.to_thread(runs.finish, self.vault, run_id, status, totals, deleted, message)
        current = self.sources.get(name)
        previous = current.health
        health, failures = _health_after(current, status, error)
        changed = await asyncio.to_thread(self.sources.set_health, name, health, message, failures=failures)
        if changed:
            if health == "ok":
                log.info("source %s recovered", name)
            else:
                log.warning("source %s: %s (%s)", name, health, message)
        if status == "ok":  # one line a run: `journalctl -u selfdata -f` shows the daemon at work
            log.info(
                "source %s synced: %d new, %d changed, %d unchanged, %d deleted in %.1f s",
                name,
                totals.new,
                totals.changed,
                totals.unchanged,
                deleted,
                run.duration_s or 0.0,
            )
        if changed:
            self._emit(SourceHealthChanged(name, health, previous, failures, message))
        self._emit(
            RunFinished(
                name,
                run_id,
                status,
                totals.new,
                totals.changed,
                totals.unchanged,
                deleted,
                message,
                health,
                changed,
                previous,
                failures,
                datasets=self._scope(name),
            )
        )
        retry_after = error.retry_after if isinstance(error, Retryable) else None
        if retry_after:
            await asyncio.to_thread(self._not_before, name, retry_after)
        return RunResult(run, health, changed, attempts, waits or [], previous, retry_after)

    def _not_before(self, name: str, retry_after: float) -> None:
        """A vendor's Retry-After holds for the next scheduled run, whoever started this one:
        a manual `selfdata sync` told to wait an hour moves the next run at least an hour on.
        After its own runs the scheduler plans again, never sooner than the wait either."""
        source = self.sources.get(name)
        if source.schedule is None:  # manual: no next run to move
            return
        until = now_ms() + int(retry_after * 1000)
        if source.next_run is None or source.next_run < until:
            self.sources.update(name, next_run=until)
            log.info("source %s: the vendor asked to wait %.0f s; no scheduled run before then", name, retry_after)

    async def _fetch(
        self, connector: Connector, source: Source, run_id: int, totals: BatchCounts, deleted: list[int]
    ) -> None:
        secrets = await asyncio.to_thread(self.sources.secrets, source.name)
        ctx = connector_context(
            source.name,
            source.settings,
            secrets,
            http=self.http_factory(),
            progress=lambda done, total, message: self._emit(
                RunProgress(source.name, run_id, done, total, message, totals.total, datasets=self._scope(source.name))
            ),
            save_secret=lambda key, value: asyncio.to_thread(self.vault.secrets.put, source.name, key, value),
            drop_secret=lambda key: asyncio.to_thread(self._drop_secret, source.name, key),
            on_warning=lambda message: self._warn(source.name, message),
        )
        batch = _Batch(source.name)
        agen = connector.fetch(ctx, dict(source.state))
        try:
            async for item in agen:
                if isinstance(item, Checkpoint):
                    await self._commit(batch, run_id, item.state, totals, deleted)
                    batch = _Batch(source.name)
                    continue
                if isinstance(item, Original):
                    await asyncio.to_thread(self._keep, connector, source.name, run_id, item)
                    continue
                if isinstance(item, Delete):
                    batch.items.append(item)
                else:
                    batch.add_records(to_records(connector, item))
                if batch.due(self.settings):
                    await self._commit(batch, run_id, None, totals, deleted)
                    batch = _Batch(source.name)
            await self._commit(batch, run_id, None, totals, deleted)
        finally:
            await agen.aclose()  # type: ignore[attr-defined]
            await ctx.http.close()

    def _drop_secret(self, name: str, key: str) -> None:
        self.vault.secrets.delete(name, key)

    def _keep(self, connector: Connector, name: str, run_id: int, original: Original) -> None:
        """Store a file the connector hands over among the source's originals, before its next item."""
        try:
            size = original.path.stat().st_size
        except OSError as err:
            raise Fatal(f"{connector.name} handed over {original.name}, which cannot be read: {err}") from err
        if size > MAX_ORIGINAL_BYTES:
            raise Fatal(
                f"{connector.name} handed over {original.name} of {size:,} bytes, over the"
                f" {MAX_ORIGINAL_BYTES // (1024 * 1024)} MiB an original file may have"
            )
        FileStore(self.vault).add(
            original.path, source=name, importer=connector.name, name=original.name, run_id=run_id
        )

    def _warn(self, name: str, message: str) -> None:
        if not message:  # the connector says what it warned about is over
            if self.sources.get(name).warning:
                log.info("source %s: its warning is over", name)
                self.sources.update(name, warning=None)
            return
        if self.sources.get(name).warning != message:
            log.warning("source %s: %s", name, message)
            self.sources.update(name, warning=message)
            self._emit(SourceWarning(name, message))

    async def _commit(
        self, batch: _Batch, run_id: int, state: dict[str, Any] | None, totals: BatchCounts, deleted: list[int]
    ) -> None:
        if not batch.items and state is None:
            return
        counts, gone = await asyncio.to_thread(self._write, batch, run_id, state)
        totals.add(counts)
        deleted[0] += gone
        touched = tuple(sorted({i.dataset for i in batch.items}))
        scope = self._datasets[batch.source] = tuple(sorted({*self._scope(batch.source), *touched}))
        if counts.new or counts.changed or gone:
            self._emit(RecordsChanged(batch.source, touched, counts.new, counts.changed, gone))
        self._emit(
            RunCommitted(batch.source, run_id, counts.new, counts.changed, counts.unchanged, gone, datasets=scope)
        )

    def _write(self, batch: _Batch, run_id: int, state: dict[str, Any] | None) -> tuple[BatchCounts, int]:
        # Serialise and hash before taking the write lock; apply in the order yielded.
        segments: list[Any] = []
        pending: list[RecordIn] = []
        for item in batch.items:
            if isinstance(item, Delete):
                segments += [prepare(pending), item]
                pending = []
            else:
                pending.append(item)
        segments.append(prepare(pending))
        writer = self.vault.writer
        counts, gone = BatchCounts(), 0
        with writer.transaction() as conn:
            for seg in segments:
                if isinstance(seg, Delete):
                    gone += writer.delete_in(conn, source=batch.source, dataset=seg.dataset, keys=seg.keys)
                elif seg:
                    counts.add(writer.apply(conn, seg, run_id))
            if state is not None:
                SourceStore.save_state(conn, batch.source, state)
        return counts, gone


def _health_after(current: Source, status: str, error: BaseException | None) -> tuple[Health, int]:
    """A source's health after a run, and its count of failures in a row."""
    if status == "ok":
        return "ok", 0
    if status == "cancelled":  # stopping is not failing
        return current.health, current.failures
    failures = current.failures + 1
    if isinstance(error, AuthFailed):
        return "needs_login", failures
    if isinstance(error, UserActionNeeded):
        return "needs_action", failures
    return "failing", failures
