"""Reminding the user when an organisation's deadline passes, once per deadline, through the
notification channels; and linking answers as they are imported. The daemon runs `watch`;
`selfdata requests check` runs one round (from cron, say, where no daemon runs)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..events import InboxImported, Notification, RunFinished
from ..notify import Notifier
from ..services import Services
from ..times import iso, now_ms
from .requests import Request, RequestStore

log = logging.getLogger("selfdata.vrm")
CHECK_S = 3600.0
KIND = "request_overdue"


def _message(req: Request) -> str:
    return (
        f"{req.org_name} has not answered your {req.kind} request (GDPR art. 15-20, deadline {req.deadline()}"
        f" under art. 12(3)); request {req.id}"
    )


async def check(services: Services, now: int | None = None) -> dict[str, Any]:
    """One round: answers linked, overdue requests told once; what was done."""
    store = RequestStore(services.vault)
    answered = await asyncio.to_thread(store.link_answers)
    now = now_ms() if now is None else now
    notifier = Notifier(services.config, services.vault, services.events)
    reminded = []
    for req in store.overdue_unreminded(now):
        message = _message(req)
        action = (
            f"write to {req.org_name} again, or complain to your data protection authority; when it answers,"
            f" drop its file in the inbox folder {req.folder}/"
        )
        payload = {
            "source": req.folder,
            "kind": KIND,
            "message": message,
            "action": action,
            "health": "ok",
            "request": req.id,
            "at": iso(now),
        }
        delivered = await notifier.deliver(payload)
        with services.vault.writer.transaction() as conn:
            conn.execute(
                "INSERT INTO notifications (at, source, kind, message, delivered) VALUES (?,?,?,?,?)",
                (now, req.folder, KIND, message, ",".join(delivered)),
            )
        store.mark_reminded(req.id, now)
        services.events.publish(Notification(req.folder, KIND, message, action, "ok"))
        log.info("request %d to %s is past its deadline; told the user", req.id, req.org_name)
        reminded.append(req.id)
    return {"answered": [r.id for r in answered], "reminded": reminded}


async def watch(services: Services, every_s: float = CHECK_S) -> None:
    """While the daemon runs: a round now, after each import, and every `every_s`."""
    queue = services.events.subscribe()
    try:
        while True:
            try:
                await check(services)
            except Exception:
                log.exception("could not check the requests to organisations")
            deadline = asyncio.get_running_loop().time() + every_s
            while (left := deadline - asyncio.get_running_loop().time()) > 0:
                try:
                    event = await asyncio.wait_for(queue.get(), left)
                except TimeoutError:
                    break
                if isinstance(event, InboxImported | RunFinished):
                    break
    finally:
        services.events.unsubscribe(queue)
