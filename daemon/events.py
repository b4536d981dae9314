"""In-process event bus: sync progress, record changes, source health, for the admin stream,
the API's server-sent events and notifications."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from typing import Any

from .times import now_ms

Event = dict[str, Any]


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
        event = {"id": next(self._ids), "at": now_ms(), **event}
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
        return [e for e in self.recent if e["id"] > event_id]
