"""`selfdata dashboard`, and what the dashboard's pages read that no other command does."""

from __future__ import annotations

import asyncio
import functools
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..services import Services
from ..times import iso, parse_instant
from ..vault import records
from ..vault.names import check_dataset, check_source
from ..web import signin
from .registry import Emit, NoParams, OperationError, Result, operation

HOUR_MS = 3600 * 1000
QUARTER_MS = 15 * 60 * 1000  # every zone's offset is a whole number of quarter hours
MAX_DAYS = 3700
DAY_BY_DAY_ABOVE = 20_000  # records in a dataset beyond which records per day are counted day by day


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
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise OperationError(f"unknown time zone {name!r}: use a name such as Europe/Paris or UTC") from None


@functools.cache
def _whole_hours(name: str) -> bool:
    """Whether the zone's offsets, summer and winter since 1970, are whole hours (most are)."""
    tz = ZoneInfo(name)
    return all(
        (datetime(year, month, 1, tzinfo=tz).utcoffset() or timedelta()) % timedelta(hours=1) == timedelta()
        for year in range(1970, 2041)
        for month in (1, 7)
    )


@operation("records.daily", DailyCounts)
async def daily_counts(services: Services, params: DailyCounts, emit: Emit) -> Result:
    """Records per local day of a dataset, in a named time zone."""
    check_dataset(params.dataset)
    if params.source is not None:
        check_source(params.source)
    tz = zone(params.zone)
    bucket_ms = HOUR_MS if _whole_hours(params.zone) else QUARTER_MS
    start = parse_instant(params.start) if params.start else None
    end = parse_instant(params.end) if params.end else None
    if start is not None and end is not None and (end - start) > MAX_DAYS * 86_400_000:
        raise OperationError(f"records.daily covers at most {MAX_DAYS} days")
    window, window_args = "", []
    if start is not None:
        window += " AND ts >= ?"
        window_args.append(start)
    if end is not None:
        window += " AND ts < ?"
        window_args.append(end)
    conn = services.vault.conn
    days: dict[str, int] = {}

    def add(rows: list[tuple[int, int]], sign: int = 1) -> None:
        for bucket, count in rows:
            try:
                day = datetime.fromtimestamp(bucket * bucket_ms / 1000, tz).date().isoformat()
            except (OverflowError, ValueError, OSError):  # a time stored before out-of-range ones were refused
                continue
            days[day] = days.get(day, 0) + sign * count

    if params.source is not None:
        add(
            conn.execute(
                f"SELECT ts / ?, count(*) FROM records WHERE dataset=? AND deleted=0 AND source=?{window} GROUP BY 1",
                [bucket_ms, params.dataset, params.source, *window_args],
            ).fetchall()
        )
    else:
        # From the ts index alone, less the (few) tombstones: no record is read. Many records:
        # one range count per local day (a GROUP BY builds a temporary tree, measured at twice
        # the time on a year of minute readings); few: one pass grouped by hour.
        streams = [c for c in records.counts(conn) if c.dataset == params.dataset and c.first_ts is not None]
        live = sum(c.count for c in streams)
        first = min((c.first_ts for c in streams if c.first_ts is not None), default=None)
        last = max((c.last_ts for c in streams if c.last_ts is not None), default=None)
        lo = max(start, first) if start is not None and first is not None else first
        hi = min(end, last + 1) if end is not None and last is not None else (last + 1 if last is not None else None)
        boundaries = (
            _local_midnights(lo, hi, tz) if lo is not None and hi is not None and live > DAY_BY_DAY_ABOVE else None
        )
        if boundaries is not None:
            for day_start, day_end in zip(boundaries, boundaries[1:], strict=False):
                n = conn.execute(
                    "SELECT count(*) FROM records INDEXED BY records_dataset_ts WHERE dataset=? AND ts >= ? AND ts < ?",
                    (params.dataset, max(day_start, lo or day_start), min(day_end, hi or day_end)),
                ).fetchone()[0]
                if n:
                    day = datetime.fromtimestamp(day_start / 1000, tz).date().isoformat()
                    days[day] = days.get(day, 0) + n
        else:
            add(
                conn.execute(
                    "SELECT ts / ?, count(*) FROM records INDEXED BY records_dataset_ts WHERE dataset=?"
                    f"{window} GROUP BY 1",
                    [bucket_ms, params.dataset, *window_args],
                ).fetchall()
            )
        if boundaries is not None and lo is not None and hi is not None:
            # The day counts covered [lo, hi): so must the tombstones taken off.
            window, window_args = " AND ts >= ? AND ts < ?", [lo, hi]
        add(
            conn.execute(
                "SELECT ts / ?, count(*) FROM records INDEXED BY records_tombstones WHERE dataset=? AND deleted=1"
                f"{window} GROUP BY 1",
                [bucket_ms, params.dataset, *window_args],
            ).fetchall(),
            -1,
        )
    shown = [{"day": d, "count": n} for d, n in sorted(days.items()) if n > 0]
    return {"dataset": params.dataset, "zone": params.zone, "days": shown}


def _local_midnights(lo: int, hi: int, tz: ZoneInfo) -> list[int] | None:
    """Epoch ms of each local midnight from the day of `lo` to the one after `hi`, or None
    when that is more days than a day-by-day count should take."""
    try:
        day = datetime.fromtimestamp(lo / 1000, tz).date()
        last = datetime.fromtimestamp((hi - 1) / 1000, tz).date()
    except (OverflowError, ValueError, OSError):
        return None
    if (last - day).days > MAX_DAYS:
        return None
    out = []
    while day <= last + timedelta(days=1):
        out.append(int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp() * 1000))
        day += timedelta(days=1)
    return out


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
