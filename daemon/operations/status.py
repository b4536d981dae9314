"""`ping` and `status`: what the daemon and the vault are doing."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from .. import __version__
from ..inbox import summary
from ..services import Services
from ..sources import SourceStore
from ..status import vault_status
from ..sync import runs as run_log
from ..times import iso
from ..vault import damage
from .registry import Emit, NoParams, Result, operation


@operation("ping", NoParams)
async def ping(services: Services, params: NoParams, emit: Emit) -> Result:
    """The daemon's version, pid and API address."""
    return {"version": __version__, **(services.daemon.to_json() if services.daemon else {"running": False})}


@operation("status", NoParams)
async def status(services: Services, params: NoParams, emit: Emit) -> Result:
    """The vault, its sources with their last and next runs, the scheduler, the inbox."""
    report = vault_status(services.vault, services.unlocked).to_json()
    report["daemon"] = services.daemon.to_json() if services.daemon else {"running": False}
    sources = []
    for src in SourceStore(services.vault).list():
        last = run_log.recent(services.vault, src.name, limit=1)
        sources.append(
            {
                **src.to_json(),
                "next_run": iso(src.next_run) if src.next_run else None,
                "last_run": last[0].to_json() if last else None,
            }
        )
    report["sources"] = sources
    if services.scheduler is not None:
        report["scheduler"] = services.scheduler.describe()
    report["notifications"] = _recent_notifications(services)
    watched, problem = services.inbox.health() if services.inbox is not None else (False, None)
    # A walk of the folder: off the daemon's loop.
    report["inbox"] = await asyncio.to_thread(summary, services.config.inbox_dir, watched, problem)
    return report


@dataclass(frozen=True)
class VaultCheck:
    full: bool = False


@operation("vault.check", VaultCheck)
async def vault_check(services: Services, params: VaultCheck, emit: Emit) -> Result:
    """Read the vault's pages: quick, every page in use; full, every page's HMAC and SQLite's integrity check."""
    started = time.monotonic()
    problems = await asyncio.to_thread(services.vault.check, params.full)
    return {
        "check": "full" if params.full else "quick",
        "ok": not problems,
        "seconds": round(time.monotonic() - started, 1),
        "pages": damage.hmac_pages(problems),
        "problems": problems[: damage.MAX_PROBLEMS],
        "detail": damage.summary(problems) if problems else "every page reads back",
        "action": damage.RESCUE if problems else "",
    }


def _recent_notifications(services: Services) -> list[dict[str, Any]]:
    rows = services.vault.conn.execute(
        "SELECT at, source, kind, message, delivered FROM notifications ORDER BY id DESC LIMIT 10"
    ).fetchall()
    return [{"at": iso(at), "source": s, "kind": k, "message": m, "delivered": d} for at, s, k, m, d in rows]


OPERATIONS = (ping, status, vault_check)
