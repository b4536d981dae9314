"""Keeping Home Assistant's long-term statistics in step with the vault's energy readings.

What was pushed is remembered per statistic (`homeassistant.pushed` in the vault's small
settings): the vault's change sequence it is up to date with, its first and last hour and
the running sum there. A push reads the readings changed since (the `seq` of records, which
also counts deletions), and for each statistic they touch recomputes its hours from the
vault and sends every hour from the first one changed (less a day, for a daily reading a
late half-hour now replaces) to the last one HA may hold, with running sums: HA's import
overwrites the rows of the same hours, so a late or revised reading moves every later sum
and nothing counts twice. A statistic is marked pushed only once HA reads its last row back
with the sum sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from ..insights import settings
from ..times import iso, now_ms
from ..vault import Vault
from ..vault.db import Connection
from . import statistics as st
from .errors import HomeAssistantError, HomeAssistantUnreachable

if TYPE_CHECKING:
    from .client import Connection as HaConnection

log = logging.getLogger("selfdata.homeassistant")

CONFIG = "homeassistant.config"
PUSHED = "homeassistant.pushed"
SECRET_OWNER = "@homeassistant"  # not a source name (those start with a letter or digit)
CHUNK = 1000  # rows per import message (about 70 kB)
VERIFY_S = 20.0
VERIFY_MAX_S = 1800.0  # however long the recorder's queue keeps working


class NotConfigured(HomeAssistantError):
    pass


@dataclass(frozen=True)
class Settings:
    url: str
    auto: bool = True


def load_settings(conn: Connection) -> Settings | None:
    raw = settings.get(conn, CONFIG)
    if not isinstance(raw, dict) or not raw.get("url"):
        return None
    return Settings(str(raw["url"]), bool(raw.get("auto", True)))


def save_settings(vault: Vault, value: Settings, token: str | None) -> None:
    if token is not None:
        vault.secrets.put(SECRET_OWNER, "token", token)
    old = load_settings(vault.conn)
    settings.put(vault, CONFIG, {"url": value.url, "auto": value.auto})
    if old is not None and old.url != value.url:
        settings.put(vault, PUSHED, {})  # another Home Assistant: everything again


def forget(vault: Vault) -> None:
    vault.secrets.delete_source(SECRET_OWNER)
    with vault.writer.transaction() as conn:
        conn.execute("DELETE FROM view_settings WHERE name IN (?, ?)", (CONFIG, PUSHED))


def token(vault: Vault) -> str | None:
    return vault.secrets.get(SECRET_OWNER, "token")


def pushed_state(conn: Connection) -> dict[str, dict[str, Any]]:
    raw = settings.get(conn, PUSHED)
    stats = raw.get("statistics") if isinstance(raw, dict) else None
    return dict(stats) if isinstance(stats, dict) else {}


# --- reading the vault ---------------------------------------------------------------


def _last_seq(conn: Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE name='last_seq'").fetchone()
    return int(row[0]) if row else 0


_FIELDS = "data->>'$.meter_id', data->>'$.commodity', data->>'$.direction', data->>'$.unit'"


@dataclass
class Changes:
    """Since a sequence number: the earliest changed reading per stream, and of any deletion."""

    earliest: dict[st.Stream, int] = field(default_factory=dict)
    deleted_from: int | None = None

    def since(self, stream: st.Stream) -> int | None:
        times = [t for t in (self.earliest.get(stream), self.deleted_from) if t is not None]
        return min(times) if times else None


def changes(conn: Connection, after: int) -> Changes:
    out = Changes()
    for ts, deleted, meter, commodity, direction, unit in conn.execute(
        f"SELECT ts, deleted, {_FIELDS} FROM records WHERE seq > ? AND dataset='energy.reading'", (after,)
    ):
        if deleted:
            out.deleted_from = ts if out.deleted_from is None else min(out.deleted_from, ts)
            continue
        try:
            stream, _ = st.stream_of(meter, commodity, direction, unit)
        except st.UnknownUnit:
            continue
        out.earliest[stream] = min(out.earliest.get(stream, ts), ts)
    return out


@dataclass
class Loaded:
    readings: dict[st.Stream, list[st.Reading]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def load_readings(conn: Connection, meters: set[str] | None = None) -> Loaded:
    """Every live reading (of `meters`, or all), grouped by stream, in the stream's unit."""
    sql = f"SELECT ts, data->>'$.end', data->>'$.quantity', seq, {_FIELDS} FROM records"
    sql += " WHERE dataset='energy.reading' AND deleted=0"
    params: list[Any] = []
    if meters is not None:
        sql += f" AND data->>'$.meter_id' IN ({','.join('?' * len(meters))})"
        params.extend(sorted(meters))
    out = Loaded()
    units: dict[tuple[str, str, str, str], tuple[st.Stream, Decimal] | None] = {}
    for ts, end, qty, seq, meter, commodity, direction, unit in conn.execute(sql, params):
        key = (meter, commodity, direction, unit)
        if key not in units:
            try:
                units[key] = st.stream_of(meter, commodity, direction, unit)
            except st.UnknownUnit as err:
                units[key] = None
                out.problems.append(f"meter {meter} {commodity} {direction}: {err}; not pushed")
        found = units[key]
        if found is None or qty is None or end is None:
            continue
        stream, factor = found
        try:
            end_ms = int(datetime.fromisoformat(end).timestamp() * 1000)
            quantity = Decimal(qty) * factor
        except (ValueError, InvalidOperation):
            continue  # the dataset's schema keeps these out; an old record is skipped, not fatal
        out.readings.setdefault(stream, []).append(st.Reading(ts, end_ms, quantity, seq))
    return out


# --- planning -------------------------------------------------------------------------


@dataclass
class Plan:
    stream: st.Stream
    statistic_id: str
    rows: list[st.Row]
    first: int | None  # the statistic's first hour after the push
    last: int | None
    total: Decimal
    too_long: int
    replaced: int
    full: bool


def _stream_key(s: st.Stream) -> dict[str, str]:
    return {"meter_id": s.meter_id, "commodity": s.commodity, "direction": s.direction, "unit": s.unit}


def plan(conn: Connection, full: bool = False) -> tuple[int, list[Plan], list[str]]:
    """What to send: the vault's sequence it reflects, one plan per statistic to update, problems.

    Sending an hour again is harmless (its values come from the vault each time), so the
    scan starts at the oldest statistic's sequence and a statistic may get a few hours more.
    """
    top = _last_seq(conn)
    pushed = pushed_state(conn)
    known = {
        sid: st.Stream(p["meter_id"], p["commodity"], p["direction"], p["unit"])
        for sid, p in pushed.items()
        if isinstance(p, dict) and {"meter_id", "commodity", "direction", "unit"} <= p.keys()
    }
    full = full or not known
    if not full and min(int(pushed[sid].get("seq", 0)) for sid in known) >= top:
        return top, [], []
    found = Changes() if full else changes(conn, min(int(pushed[sid].get("seq", 0)) for sid in known))
    if full:
        loaded = load_readings(conn)
        streams = set(loaded.readings) | set(known.values())
    else:
        streams = set(found.earliest) | (set(known.values()) if found.deleted_from is not None else set())
        loaded = load_readings(conn, {s.meter_id for s in streams}) if streams else Loaded()
    by_stream = {s: sid for sid, s in known.items()}
    ids = st.statistic_ids(streams | set(known.values()))
    plans = []
    for stream in sorted(streams):
        sid = by_stream.get(stream) or ids[stream]
        before = pushed.get(sid) if stream in by_stream else None
        hours = st.hourly(loaded.readings.get(stream, []))
        first_now = min(hours.values) if hours.values else None
        old_first = before.get("first") if before else None
        through = before.get("last") if before else None
        changed = None if full or before is None else found.since(stream)
        if changed is None:  # everything
            candidates = [h for h in (first_now, old_first) if h is not None]
            if not candidates:
                continue
            since = min(candidates)
        else:  # from the change, less a day: a daily reading it replaces starts up to 25 h before
            since = changed - st.COARSE_MAX_MS
            since -= since % st.HOUR_MS
            firsts = [h for h in (first_now, old_first) if h is not None]
            if firsts:
                since = max(since, min(firsts))
        rows = st.rows(hours.values, since, through)
        if not rows:
            continue
        last = max(rows[-1].start, through) if through is not None else rows[-1].start
        plans.append(
            Plan(stream, sid, rows, first_now, last, rows[-1].sum, hours.too_long, hours.replaced, changed is None)
        )
    return top, plans, loaded.problems


# --- pushing --------------------------------------------------------------------------


@dataclass
class Pushed:
    statistic_id: str
    name: str
    unit: str
    hours: int
    first: str | None
    last: str | None
    sum: str
    full: bool
    left_out: int


async def push(
    vault: Vault, *, full: bool = False, emit: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Send what changed since the last push; what was sent. HomeAssistantError when it cannot."""
    config = load_settings(vault.conn)
    secret = token(vault)
    if config is None or not secret:
        raise NotConfigured(
            "Home Assistant is not set up: selfdata homeassistant setup URL (see docs/homeassistant.md)"
        )
    top, plans, problems = await asyncio.to_thread(plan, vault.conn, full)
    done: list[Pushed] = []
    if plans:
        from .client import Connection as HaConnection  # aiohttp's client loads only for a push

        async with HaConnection(config.url, secret) as ha:
            for p in plans:
                await _send(ha, p)
                await _verify(ha, p)
                _mark(vault, p, top)
                done.append(
                    Pushed(
                        p.statistic_id,
                        p.stream.name,
                        p.stream.unit,
                        len(p.rows),
                        iso(p.rows[0].start) if p.rows else None,
                        iso(p.rows[-1].start) if p.rows else None,
                        str(p.total),
                        p.full,
                        p.too_long,
                    )
                )
                if emit is not None:
                    emit({"statistic_id": p.statistic_id, "hours": len(p.rows)})
            version = ha.version
    else:
        version = None
    _mark_seq(vault, top)
    return {
        "url": config.url,
        "ha_version": version,
        "statistics": [d.__dict__ for d in done],
        "hours": sum(d.hours for d in done),
        "problems": problems,
    }


async def _send(ha: HaConnection, p: Plan) -> None:
    if p.full and p.last is not None:
        # The vault's last hour may be before rows HA kept from an earlier push (a restored
        # vault, another selfdata): those go to 0 as well, so no stale sum follows ours.
        extra = await ha.hourly_sums([p.statistic_id], p.last + st.HOUR_MS)
        stale = [int(r["start"]) for r in extra.get(p.statistic_id, []) if int(r["start"]) > p.last]
        if stale:
            p.rows.extend(
                st.Row(h, Decimal(0), p.total) for h in range(p.last + st.HOUR_MS, max(stale) + 1, st.HOUR_MS)
            )
            p.last = max(stale)
    for part in st.chunks(p.rows, CHUNK):
        await ha.import_statistics(p.stream, p.statistic_id, part)


async def _verify(ha: HaConnection, p: Plan) -> None:
    """Wait until HA's recorder has written the last row (imports are queued in order).

    A year of hours takes HA's recorder a while: the wait lasts while its queue still holds
    work (`recorder/info`'s backlog), and VERIFY_S once it is empty.
    """
    if not p.rows:
        return
    last = p.rows[-1]
    expected = st.number(last.sum)
    clock = asyncio.get_running_loop().time
    deadline, ceiling = clock() + VERIFY_S, clock() + VERIFY_MAX_S
    while True:
        got = await ha.hourly_sums([p.statistic_id], last.start, last.start + st.HOUR_MS)
        row = next((r for r in got.get(p.statistic_id, []) if int(r["start"]) == last.start), None)
        if row is not None and row.get("sum") == expected:
            return
        info = await ha.command({"type": "recorder/info"})
        if isinstance(info, dict) and info.get("backlog"):
            deadline = min(clock() + VERIFY_S, ceiling)  # still writing
        if clock() > deadline:
            seen = "no row" if row is None else f"sum {row.get('sum')}"
            raise HomeAssistantUnreachable(
                f"Home Assistant at {ha.url} took the statistics of {p.statistic_id} but after {VERIFY_S:.0f} s"
                f" shows {seen} at {iso(last.start)} instead of {expected}: is its recorder running?"
            )
        await asyncio.sleep(0.25)


def _mark(vault: Vault, p: Plan, top: int) -> None:
    raw = settings.get(vault.conn, PUSHED)
    state = raw if isinstance(raw, dict) else {}
    state.setdefault("statistics", {})[p.statistic_id] = {
        **_stream_key(p.stream),
        "seq": top,
        "first": p.first,
        "last": p.last,
        "sum": str(p.total),
        "at": now_ms(),
    }
    settings.put(vault, PUSHED, state)


def _mark_seq(vault: Vault, top: int) -> None:
    raw = settings.get(vault.conn, PUSHED)
    state = raw if isinstance(raw, dict) else {}
    for entry in (state.get("statistics") or {}).values():
        entry["seq"] = max(int(entry.get("seq", 0)), top)
    state["seq"] = top
    settings.put(vault, PUSHED, state)
