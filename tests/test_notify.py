"""Notifications: once per state change, through a command and a webhook, always recorded."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

from connectors.testing.fakeserver import FakeServer
from daemon.config import Config
from daemon.events import Event, EventBus, Notification, RunFinished, RunProgress, SourceHealthChanged, SourceWarning
from daemon.notify import Notifier, decide
from daemon.sources import SourceStore
from daemon.vault import Vault


def finished(health: str, previous: str = "ok", failures: int = 0, error: str = "HTTP 503") -> RunFinished:
    status = "ok" if health == "ok" else "failed"
    return RunFinished(
        "bank", 1, status, 0, 0, 0, 0, error, health, health != previous, previous, failures, datasets=()
    )


def moved(health: str, previous: str = "ok", error: str = "HTTP 503") -> SourceHealthChanged:
    return SourceHealthChanged("bank", health, previous, 0 if health == "ok" else 1, error)


@pytest.mark.parametrize(
    ("event", "was_notified", "kind"),
    [
        (moved("needs_login"), False, "attention"),
        (finished("needs_login", previous="needs_login"), False, None),
        (moved("failing"), False, None),
        (finished("failing", failures=1), False, None),
        (finished("failing", previous="failing", failures=3), False, "failing"),
        (finished("failing", previous="failing", failures=4), True, None),
        (moved("ok", previous="failing"), True, "recovered"),
        (moved("ok", previous="failing"), False, None),
        (moved("ok", previous="needs_login"), False, "recovered"),
        (finished("ok", previous="needs_login"), False, None),  # told by its source.health event
        (finished("ok"), False, None),
        (SourceWarning("bank", "consent expires on 2026-12-24"), False, "warning"),
        (RunProgress("bank", 1, 10, None, None, 10, datasets=()), False, None),
    ],
)
def test_what_calls_for_a_notification(event: Event, was_notified: bool, kind: str | None) -> None:
    assert decide(event, after_failures=3, was_notified=was_notified) == kind


async def test_webhook_receives_json_and_everything_is_recorded(vault: Vault) -> None:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append({"title": request.headers.get("Title"), **(await request.json())})
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/selfdata-alerts", hook)
    SourceStore(vault).add("bank", "x", "connector", {}, {})
    async with FakeServer(app) as server:
        notifier = Notifier(
            Config(paths=vault.paths, notify_webhook=f"{server.url}/selfdata-alerts"), vault, EventBus()
        )
        payload = await notifier.handle(moved("needs_login", error="the bank refused the credentials"))
    assert payload is not None and received[0]["kind"] == "attention"
    assert received[0]["title"] == "selfdata: bank attention"
    assert "log in again" in received[0]["action"]
    assert vault.conn.execute("SELECT kind, delivered FROM notifications").fetchall() == [("attention", "webhook")]


async def test_a_failing_channel_still_records_the_notification(vault: Vault) -> None:
    notifier = Notifier(
        Config(paths=vault.paths, notify_command="exit 3", notify_webhook="http://127.0.0.1:9/x"), vault, EventBus()
    )
    await notifier.handle(moved("needs_action", error="accept the new terms"))
    assert vault.conn.execute("SELECT kind, delivered FROM notifications").fetchall() == [("attention", "")]


async def test_the_notifier_follows_the_event_bus(vault: Vault) -> None:
    bus = EventBus()
    bus.bind(asyncio.get_running_loop())
    notifier = Notifier(Config(paths=vault.paths), vault, bus)
    task = asyncio.create_task(notifier.run())
    await asyncio.sleep(0)
    queue = bus.subscribe()
    bus.publish(moved("needs_login"))
    async with asyncio.timeout(5):
        while not isinstance(await queue.get(), Notification):
            pass
    task.cancel()
    assert vault.conn.execute("SELECT count(*) FROM notifications").fetchone()[0] == 1
