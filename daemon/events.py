"""In-process event bus: sync progress, record changes, source health, grants, for the admin
stream, the API's server-sent events and notifications.

Each event is a frozen dataclass whose `type` is its name on the wire and whose `for_app`
says what an app holding a grant may see of it: the event, a narrowed copy, or nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from .times import now_ms

if TYPE_CHECKING:
    from .plugins import Registry
    from .sync.importing import ImportResult

# Fields that decide visibility but are not part of the JSON an event is sent as.
_INTERNAL = {"json": False}


class Reader(Protocol):
    """What visibility needs of a grant (daemon.grants.Grant)."""

    def can_read(self, dataset: str) -> bool: ...


@dataclass(frozen=True)
class Event:
    """An event; the bus gives it `id` (for Last-Event-ID) and `at` (epoch ms) when published."""

    type: ClassVar[str] = ""
    id: int = field(default=0, kw_only=True, metadata=_INTERNAL)
    at: int = field(default=0, kw_only=True, metadata=_INTERNAL)

    def for_app(self, grant: Reader) -> Event | None:
        """What an app with this grant receives: by default nothing (the admin stream only)."""
        return None

    def payload(self) -> dict[str, Any]:
        """The event's JSON without id and at (what the CLI's progress callbacks get)."""
        out: dict[str, Any] = {"type": self.type}
        for f in dataclasses.fields(self):
            if f.metadata.get("json", True):
                value = getattr(self, f.name)
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, **self.payload()}


@dataclass(frozen=True)
class RunEvent(Event):
    """A sync or import run of a source; `datasets` are those the source may produce or touched."""

    source: str
    run: int
    datasets: tuple[str, ...] = field(kw_only=True, metadata=_INTERNAL)

    def for_app(self, grant: Reader) -> Event | None:
        return self if any(grant.can_read(d) for d in self.datasets) else None


@dataclass(frozen=True)
class RunStarted(RunEvent):
    type: ClassVar[str] = "run.started"


@dataclass(frozen=True)
class RunRetrying(RunEvent):
    type: ClassVar[str] = "run.retrying"
    wait_s: float
    error: str


@dataclass(frozen=True)
class RunProgress(RunEvent):
    type: ClassVar[str] = "run.progress"
    done: int
    total: int | None
    message: str | None
    records: int


@dataclass(frozen=True)
class RunCommitted(RunEvent):
    type: ClassVar[str] = "run.committed"
    new: int
    changed: int
    unchanged: int
    deleted: int


@dataclass(frozen=True)
class RunFinished(RunEvent):
    type: ClassVar[str] = "run.finished"
    status: str
    new: int
    changed: int
    unchanged: int
    deleted: int
    error: str | None
    health: str
    # Known for syncs only: an import sets the health without counting failures.
    health_changed: bool = False
    previous_health: str | None = None
    failures: int | None = None


@dataclass(frozen=True)
class RecordsChanged(Event):
    """One committed batch changed records of `source` in `datasets`: read /changes."""

    type: ClassVar[str] = "records.changed"
    source: str
    datasets: tuple[str, ...]
    new: int = 0
    changed: int = 0
    deleted: int = 0

    def for_app(self, grant: Reader) -> Event | None:
        readable = tuple(d for d in self.datasets if grant.can_read(d))
        if not readable:
            return None
        return self if readable == self.datasets else dataclasses.replace(self, datasets=readable)


@dataclass(frozen=True)
class SourceWarning(Event):
    type: ClassVar[str] = "source.warning"
    source: str
    message: str


@dataclass(frozen=True)
class SourceHealthChanged(Event):
    """A run moved a source's health (to needs_login, failing, ok again, ...)."""

    type: ClassVar[str] = "source.health"
    source: str
    health: str
    previous_health: str
    failures: int
    error: str | None


@dataclass(frozen=True)
class InboxImported(Event):
    type: ClassVar[str] = "inbox.imported"
    file: str
    source: str
    importer: str
    run: int
    new: int
    changed: int
    unchanged: int
    deleted: int
    file_id: int
    stored: str


@dataclass(frozen=True)
class InboxFailed(Event):
    type: ClassVar[str] = "inbox.failed"
    file: str
    error: str
    moved_to: str


@dataclass(frozen=True)
class GrantRequested(Event):
    """An app asked for access; the user approves it with `user_code`."""

    type: ClassVar[str] = "grant.requested"
    grant: str
    app: str
    purpose: str
    scopes: tuple[str, ...]
    user_code: str


@dataclass(frozen=True)
class GrantDecided(Event):
    type: ClassVar[str] = "grant.decided"
    grant: str
    status: str


@dataclass(frozen=True)
class Notification(Event):
    type: ClassVar[str] = "notification"
    source: str
    kind: str
    message: str
    action: str
    health: str


def import_events(result: ImportResult, registry: Registry) -> list[Event]:
    """What an import (`selfdata import`, the inbox) publishes: a records.changed if it changed
    anything, then its run.finished."""
    run = result.run
    declared = registry.importers[result.importer].datasets if result.importer in registry.importers else ()
    out: list[Event] = []
    if run.new or run.changed or run.deleted:
        out.append(RecordsChanged(result.source.name, result.datasets, run.new, run.changed, run.deleted))
    out.append(
        RunFinished(
            result.source.name,
            run.id,
            run.status,
            run.new,
            run.changed,
            run.unchanged,
            run.deleted,
            run.error,
            result.source.health,
            datasets=tuple(sorted({*declared, *result.datasets})),
        )
    )
    return out


class EventBus:
    """Publish from anywhere in the daemon's thread or loop; subscribers get their own queue.

    A slow subscriber loses its oldest events rather than growing without bound; `recent`
    keeps the last events so a client reconnecting with Last-Event-ID can catch up.
    """

    def __init__(self, keep: int = 1000, queue_size: int = 1000) -> None:
        self._ids = itertools.count(1)
        self.recent: deque[Event] = deque(maxlen=keep)
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._queue_size = queue_size
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def publish(self, event: Event) -> Event:
        event = dataclasses.replace(event, id=next(self._ids), at=now_ms())
        loop = self._loop
        if loop is not None and loop.is_running():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is not loop:
                loop.call_soon_threadsafe(self._deliver, event)
                return event
        self._deliver(event)
        return event

    def _deliver(self, event: Event) -> None:
        self.recent.append(event)
        for queue in list(self._subscribers):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    def subscribe(self) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        self._subscribers.discard(queue)

    def since(self, event_id: int) -> list[Event]:
        return [e for e in self.recent if e.id > event_id]
