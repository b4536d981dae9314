"""`selfdata dashboard`, and what the dashboard's pages read that no other command does."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..services import Services
from ..times import iso, parse_instant
from ..vault import timebuckets
from ..vault.names import check_dataset, check_source
from ..web import signin
from .registry import Emit, NoParams, OperationError, Result, operation

MAX_DAYS = 3700


@dataclass(frozen=True)
class DailyCounts:
    dataset: str
    zone: str = "UTC"
    start: str | None = None
    end: str | None = None
    source: str | None = None


def api_url(services: Services) -> str:
    if services.daemon is not None and services.daemon.api_url:
        return services.daemon.api_url
    host = services.config.api_bind
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{services.config.api_port}"


@operation("dashboard.link", NoParams)
async def dashboard_link(services: Services, params: NoParams, emit: Emit) -> Result:
    """A one-time sign-in link to the dashboard."""
    code = signin.create_link(services.vault)
    return {
        "url": f"{api_url(services)}/signin?code={code}",
        "expires_in_s": signin.LINK_TTL_MS // 1000,
        "daemon_running": services.daemon is not None,
    }


@operation("dashboard.sign_out_all", NoParams)
async def dashboard_sign_out_all(services: Services, params: NoParams, emit: Emit) -> Result:
    """End every dashboard session and unused sign-in link."""
    return {"ended": signin.sign_out_all(services.vault)}


@operation("datasets", NoParams)
async def datasets(services: Services, params: NoParams, emit: Emit) -> Result:
    """Each dataset with its record count, sources and time span."""
    by_name: dict[str, dict[str, Any]] = {}
    for c in services.vault.counts():
        d = by_name.setdefault(c.dataset, {"name": c.dataset, "count": 0, "first": None, "last": None, "sources": []})
        d["count"] += c.count
        if c.first_ts is not None:
            d["first"] = c.first_ts if d["first"] is None else min(d["first"], c.first_ts)
            d["last"] = c.last_ts if d["last"] is None else max(d["last"], c.last_ts)
        d["sources"].append({"name": c.source, "count": c.count})
    return [
        {
            **d,
            "first": iso(d["first"]) if d["first"] is not None else None,
            "last": iso(d["last"]) if d["last"] else None,
        }
        for d in by_name.values()
    ]


def zone(name: str) -> ZoneInfo:
    try:
        return timebuckets.zone(name)
    except timebuckets.ZoneError as err:
        raise OperationError(str(err)) from None


@operation("records.daily", DailyCounts)
async def daily_counts(services: Services, params: DailyCounts, emit: Emit) -> Result:
    """Records per local day of a dataset, in a named time zone."""
    check_dataset(params.dataset)
    if params.source is not None:
        check_source(params.source)
    zone(params.zone)
    start = parse_instant(params.start) if params.start else None
    end = parse_instant(params.end) if params.end else None
    if start is not None and end is not None and (end - start) > MAX_DAYS * 86_400_000:
        raise OperationError(f"records.daily covers at most {MAX_DAYS} days")
    conn = services.vault.conn
    first, last = conn.execute(
        "SELECT min(first_ts), max(last_ts) FROM record_counts WHERE dataset=?", (params.dataset,)
    ).fetchone()
    if first is None:
        return {"dataset": params.dataset, "zone": params.zone, "days": []}
    spans = timebuckets.offset_spans(params.zone, start if start is not None else first, end or last)
    day, day_args = timebuckets.number_sql("ts", spans, timebuckets.DAY_MS)
    window, window_args = "", []
    if start is not None:
        window += " AND ts >= ?"
        window_args.append(start)
    if end is not None:
        window += " AND ts < ?"
        window_args.append(end)
    if params.source is None:
        # From the ts index alone, less the (few) tombstones: no record is read.
        sql = (
            "SELECT b, sum(n) FROM ("
            f" SELECT {day} AS b, count(*) AS n FROM records INDEXED BY records_dataset_ts WHERE dataset=?{window}"
            " GROUP BY 1 UNION ALL"
            f" SELECT {day}, -count(*) FROM records INDEXED BY records_tombstones WHERE dataset=? AND deleted=1"
            f"{window} GROUP BY 1) GROUP BY b HAVING sum(n) > 0 ORDER BY b"
        )
        args: list[Any] = [*day_args, params.dataset, *window_args, *day_args, params.dataset, *window_args]
    else:
        sql = (
            f"SELECT {day}, count(*) FROM records WHERE dataset=? AND deleted=0 AND source=?"
            f"{window} GROUP BY 1 ORDER BY 1"
        )
        args = [*day_args, params.dataset, params.source, *window_args]
    days: dict[str, int] = {}
    for number, count in conn.execute(sql, args).fetchall():
        try:
            shown = timebuckets.day_of(number).isoformat()
        except OverflowError:  # a time stored before out-of-range ones were refused
            continue
        days[shown] = days.get(shown, 0) + count
    return {"dataset": params.dataset, "zone": params.zone, "days": [{"day": d, "count": n} for d, n in days.items()]}


@operation("inbox.files", NoParams)
async def inbox_files(services: Services, params: NoParams, emit: Emit) -> Result:
    """The inbox's waiting files, and its failed ones with the reason each failed."""
    from .. import inbox  # loads watchdog, which most commands never need

    watched, problem = services.inbox.health() if services.inbox is not None else (False, None)
    return {
        **await asyncio.to_thread(inbox.summary, services.config.inbox_dir, watched, problem),
        **await asyncio.to_thread(_inbox_listing, services.config.inbox_dir),
    }


def _inbox_listing(root: Path, limit: int = 50) -> dict[str, Any]:
    from .. import filenames, inbox

    root = root.absolute()
    waiting: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    if not root.is_dir():
        return {"waiting_files": waiting, "failed_files": failed}
    for here, dirs, files in os.walk(root):
        folder = Path(here)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        in_failed = folder == root / inbox.FAILED or root / inbox.FAILED in folder.parents
        for name in sorted(files):
            path = folder / name
            shown = filenames.shown(path.relative_to(root))  # names are bytes
            if in_failed and not name.startswith(".") and not name.endswith(".error.txt"):
                note = path.with_name(name + ".error.txt")
                try:
                    reason = filenames.printable(note.read_text(errors="replace").strip().splitlines()[0][:300])
                except (OSError, IndexError):
                    reason = "no reason recorded"
                try:
                    at: str | None = iso(int(path.stat().st_mtime * 1000))
                except OSError:  # gone since the walk
                    continue
                failed.append({"file": shown, "reason": reason, "at": at})
            elif not in_failed and inbox.wanted(root, path):
                waiting.append({"file": shown})
            if len(waiting) >= limit and len(failed) >= limit:
                break
    return {"waiting_files": waiting[:limit], "failed_files": failed[-limit:]}


OPERATIONS = (dashboard_link, dashboard_sign_out_all, datasets, daily_counts, inbox_files)
