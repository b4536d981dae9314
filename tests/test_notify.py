"""Notifications: once per state change, through a command and a webhook, always recorded."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

from connectors.testing.fakeserver import FakeServer
from daemon.config import Config
from daemon.events import EventBus
from daemon.notify import Notifier, decide
from daemon.sources import SourceStore
from daemon.vault import Vault


def finished(health: str, previous: str = "ok", changed: bool = True, failures: int = 0, **kw: Any) -> dict[str, Any]:
    return {
        "type": "run.finished",
        "source": "bank",
        "health": health,
        "previous_health": previous,
        "health_changed": changed,
        "failures": failures,
        "error": "HTTP 503",
        **kw,
    }


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        (finished("needs_login"), "attention"),
        (finished("needs_login", previous="needs_login", changed=False), None),
        (finished("failing", failures=1), None),
        (finished("failing", failures=3), "failing"),
        (finished("failing", failures=4, changed=False), None),
        (finished("ok", previous="failing", was_notified=True), "recovered"),
        (finished("ok", previous="failing", was_notified=False), None),
        (finished("ok", previous="needs_login"), "recovered"),
        (finished("ok", changed=False), None),
        ({"type": "source.warning", "source": "bank", "message": "consent expires on 2026-12-24"}, "warning"),
        ({"type": "run.progress", "source": "bank"}, None),
    ],
)
def test_what_calls_for_a_notification(event: dict[str, Any], kind: str | None) -> None:
    assert decide(event, after_failures=3) == kind


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
        payload = await notifier.handle(finished("needs_login", error="the bank refused the credentials"))
    assert payload is not None and received[0]["kind"] == "attention"
    assert received[0]["title"] == "selfdata: bank attention"
    assert "log in again" in received[0]["action"]
    assert vault.conn.execute("SELECT kind, delivered FROM notifications").fetchall() == [("attention", "webhook")]


async def test_a_failing_channel_still_records_the_notification(vault: Vault) -> None:
    notifier = Notifier(
        Config(paths=vault.paths, notify_command="exit 3", notify_webhook="http://127.0.0.1:9/x"), vault, EventBus()
    )
    await notifier.handle(finished("needs_action", error="accept the new terms"))
    assert vault.conn.execute("SELECT kind, delivered FROM notifications").fetchall() == [("attention", "")]


async def test_the_notifier_follows_the_event_bus(vault: Vault) -> None:
    bus = EventBus()
    bus.bind(asyncio.get_running_loop())
    notifier = Notifier(Config(paths=vault.paths), vault, bus)
    task = asyncio.create_task(notifier.run())
    await asyncio.sleep(0)
    queue = bus.subscribe()
    bus.publish(finished("needs_login"))
    async with asyncio.timeout(5):
        while (await queue.get())["type"] != "notification":
            pass
    task.cancel()
    assert vault.conn.execute("SELECT count(*) FROM notifications").fetchone()[0] == 1
