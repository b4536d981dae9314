"""In the daemon: push to Home Assistant after energy readings change, at start, and again
every few minutes while Home Assistant cannot be reached. An outage is logged once, and its
recovery once; a push never stops the watch."""

from __future__ import annotations

import asyncio
import logging

from ..events import RecordsChanged
from ..services import Services
from .errors import HomeAssistantError
from .push import load_settings

log = logging.getLogger("selfdata.homeassistant")
SETTLE_S = 5.0  # a sync commits in batches: push once they stop
RETRY_S = 600.0


async def watch(services: Services, settle: float = SETTLE_S, retry: float = RETRY_S) -> None:
    from ..operations.homeassistant import Push, homeassistant_push

    queue = services.events.subscribe()
    failing: str | None = None
    due = True  # at start: catch up on what changed while the daemon was stopped
    try:
        while True:
            if not due:
                try:
                    event = await asyncio.wait_for(queue.get(), retry if failing else None)
                except TimeoutError:
                    event = None  # time to try again
                if event is not None and not (isinstance(event, RecordsChanged) and "energy.reading" in event.datasets):
                    continue
                while True:
                    try:
                        await asyncio.wait_for(queue.get(), settle)
                    except TimeoutError:
                        break
            due = False
            config = await asyncio.to_thread(load_settings, services.vault.conn)
            if config is None or not config.auto:
                continue
            try:
                result = await homeassistant_push.handler(services, Push(), lambda e: None)
            except HomeAssistantError as err:
                if failing is None:
                    log.warning("Home Assistant push failed, retrying every %.0f s: %s", retry, err)
                failing = str(err)
                continue
            except Exception:
                log.exception("Home Assistant push failed")
                failing = "fault"
                continue
            if failing is not None:
                log.info("Home Assistant push works again")
                failing = None
            if result["hours"]:
                log.info(
                    "pushed %d hours of %d statistics to Home Assistant", result["hours"], len(result["statistics"])
                )
    finally:
        services.events.unsubscribe(queue)
