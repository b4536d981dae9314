"""Telling the user when a source needs them, keeps failing, or recovers: once each.

Channels: a command run with the event as JSON on stdin, and a webhook receiving it as a
JSON POST (an ntfy topic URL works: the title goes in a header). Every notification is
recorded in the vault, so `selfdata status` shows it even if no channel took it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

from .config import Config
from .events import Event, EventBus, Notification, RunFinished, SourceHealthChanged, SourceWarning
from .sources import ACTIONS, SourceStore
from .times import iso, now_ms
from .vault import Vault

log = logging.getLogger("selfdata.notify")

ATTENTION = ("needs_login", "needs_action", "needs_authorization")
TIMEOUT_S = 30.0


def decide(event: Event, after_failures: int, was_notified: bool = False) -> str | None:
    """Which notification an event calls for, if any; `was_notified`: its source's failing was told."""
    match event:
        case SourceWarning():
            return "warning"
        case SourceHealthChanged(health=health) if health in ATTENTION:
            return "attention"
        case SourceHealthChanged(health="ok", previous_health=previous) if previous in ATTENTION or was_notified:
            return "recovered"
        case RunFinished(health="failing", failures=failures) if failures == after_failures:
            return "failing"
    return None


class Notifier:
    def __init__(self, config: Config, vault: Vault, events: EventBus) -> None:
        self.config = config
        self.vault = vault
        self.events = events
        self.store = SourceStore(vault)
        self._notified_failing: set[str] = set()

    @property
    def channels(self) -> list[str]:
        return [c for c, v in (("command", self.config.notify_command), ("webhook", self.config.notify_webhook)) if v]

    async def run(self) -> None:
        queue = self.events.subscribe()
        try:
            while True:
                event = await queue.get()
                try:
                    await self.handle(event)
                except Exception:
                    log.exception("could not handle a notification")
        finally:
            self.events.unsubscribe(queue)

    async def handle(self, event: Event) -> dict[str, Any] | None:
        if not isinstance(event, SourceWarning | SourceHealthChanged | RunFinished):
            return None
        name = event.source
        kind = decide(event, self.config.notify_failures, name in self._notified_failing)
        if kind is None:
            return None
        if kind in ("failing", "attention"):
            self._notified_failing.add(name)
        elif kind == "recovered":
            self._notified_failing.discard(name)
        src = self.store.find(name)
        health: str = event.health if not isinstance(event, SourceWarning) else src.health if src else "ok"
        message = self._message(kind, name, event)
        payload = {
            "source": name,
            "kind": kind,
            "message": message,
            "action": ACTIONS.get(health, "").replace("NAME", name) if kind != "recovered" else "",
            "health": health,
            "at": iso(now_ms()),
        }
        delivered = await self.deliver(payload)
        with self.vault.writer.transaction() as conn:
            conn.execute(
                "INSERT INTO notifications (at, source, kind, message, delivered) VALUES (?,?,?,?,?)",
                (now_ms(), name, kind, message, ",".join(delivered)),
            )
        self.events.publish(Notification(name, kind, message, payload["action"], health))
        return payload

    @staticmethod
    def _message(kind: str, name: str, event: SourceWarning | SourceHealthChanged | RunFinished) -> str:
        error = (event.message if isinstance(event, SourceWarning) else event.error) or ""
        if kind == "attention":
            return f"{name} needs you: {error}"
        if kind == "failing":
            assert isinstance(event, RunFinished)
            return f"{name} has failed {event.failures} times in a row: {error}"
        if kind == "recovered":
            return f"{name} works again"
        return f"{name}: {error}"

    async def deliver(self, payload: dict[str, Any]) -> list[str]:
        delivered = []
        body = orjson.dumps(payload)
        if self.config.notify_command and await self._command(body):
            delivered.append("command")
        if self.config.notify_webhook and await self._webhook(body, payload):
            delivered.append("webhook")
        return delivered

    async def _command(self, body: bytes) -> bool:
        try:
            proc = await asyncio.create_subprocess_shell(
                self.config.notify_command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            _, err = await asyncio.wait_for(proc.communicate(body), TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            log.warning("notification command failed: %s", exc)
            return False
        if proc.returncode != 0:
            log.warning("notification command exited %s: %s", proc.returncode, err.decode(errors="replace")[:200])
            return False
        return True

    async def _webhook(self, body: bytes, payload: dict[str, Any]) -> bool:
        import aiohttp

        headers = {"Content-Type": "application/json", "Title": f"selfdata: {payload['source']} {payload['kind']}"}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as session:
                async with session.post(self.config.notify_webhook, data=body, headers=headers) as resp:
                    if resp.status >= 300:
                        log.warning("notification webhook answered HTTP %s", resp.status)
                        return False
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("notification webhook failed: %s", type(exc).__name__)
            return False
        return True
