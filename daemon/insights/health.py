"""Health trends: per observation code a daily series with its 7-day rolling average and
the sources it came from; blood pressure with both components; sleep per night; workouts
per week; clinical records listed with their dates; and a month's summary.

Daily values come from the vault's aggregates (`vault.aggregate`), which count overlapping
sources once where the user set a priority for the code (`set_priority`); blood pressure
and sleep, read record by record, follow the same rule here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from ..errors import SelfdataError
from ..times import now_ms
from ..vault import Vault, aggregate, healthhours, timebuckets
from ..vault.db import Connection
from ..vault.filters import parse

OBSERVATION = "health.observation"
MAX_DAYS = 3700
ROLLING_DAYS = 7
MAX_NAMES = 20
CENT = Decimal("0.01")
HOUR_MS, DAY_MS = timebuckets.HOUR_MS, timebuckets.DAY_MS

BP_PANEL, SYSTOLIC, DIASTOLIC = "85354-9", "8480-6", "8462-4"
SLEEP_HEALTHKIT, SLEEP_LOINC = "HKCategoryTypeIdentifierSleepAnalysis", "93832-4"
ASLEEP = frozenset(
    "HKCategoryValueSleepAnalysis" + s for s in ("Asleep", "AsleepUnspecified", "AsleepCore", "AsleepDeep", "AsleepREM")
)
DURATION_MS = {"h": HOUR_MS, "hour": HOUR_MS, "hours": HOUR_MS, "min": 60_000, "s": 1000}
CLINICAL_KINDS = ("Condition", "MedicationRequest", "MedicationStatement", "Immunization", "AllergyIntolerance")


class HealthViewError(SelfdataError, ValueError):
    """A health view or setting asked for in a way that cannot be served; the message says why."""


@dataclass(frozen=True)
class Metric:
    key: str
    title: str
    code: str
    daily: str  # "avg": the day's mean; "sum": the day's total


METRICS = (
    Metric("resting_heart_rate", "Resting heart rate", "40443-4", "avg"),
    Metric("heart_rate", "Heart rate", "8867-4", "avg"),
    Metric("weight", "Weight", "29463-7", "avg"),
    Metric("steps", "Steps", "55423-8", "sum"),
)


@dataclass
class Day:
    day: str
    value: str | None  # the day's mean or total; None: no data that day
    rolling: str | None  # mean of the days with data among the last 7
    count: int = 0
    value2: str | None = None  # blood pressure: diastolic beside systolic
    rolling2: str | None = None


@dataclass
class Origin:
    source: str
    device: str | None
    count: int


@dataclass
class Series:
    key: str
    title: str
    code: str
    unit: str | None
    days: list[Day]
    origins: list[Origin]
    priority: list[str]
    other_units: dict[str, int] = field(default_factory=dict)


@dataclass
class WeekOfWorkouts:
    week: str
    count: int
    minutes: int
    activities: dict[str, int]


@dataclass
class ClinicalEntry:
    kind: str
    what: str
    date: str | None
    status: str | None
    source: str


@dataclass
class HealthTrends:
    zone: str
    start: str
    end: str
    series: list[Series]
    workouts: list[WeekOfWorkouts]
    clinical: list[ClinicalEntry]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# ---- priority -------------------------------------------------------------------------


def priorities(conn: Connection) -> dict[str, list[str]]:
    return {p.code: list(p.names) for p in aggregate.stored_priorities(conn)}


def set_priority(vault: Vault, code: str, names: Sequence[str]) -> list[str]:
    """Which sources or devices count for `code`, first to last; replaces any earlier list."""
    code = code.strip()
    cleaned = [n.strip() for n in names]
    if not code or len(code) > 200:
        raise HealthViewError("a priority needs an observation code, such as 55423-8 (steps)")
    if not cleaned or len(cleaned) > MAX_NAMES:
        raise HealthViewError(f"name 1 to {MAX_NAMES} sources or devices, the one that counts first")
    if any(not n or len(n) > 200 for n in cleaned):
        raise HealthViewError("a source or device name cannot be empty (or over 200 characters)")
    if len(set(cleaned)) != len(cleaned):
        raise HealthViewError("each source or device can be named once")
    with vault.writer.transaction() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO health_priority (code, names, updated_at) VALUES (?, ?, ?)",
            (code, orjson.dumps(cleaned).decode(), now_ms()),
        )
    return cleaned


def clear_priority(vault: Vault, code: str) -> bool:
    with vault.writer.transaction() as conn:
        return bool(conn.execute("DELETE FROM health_priority WHERE code=?", (code.strip(),)).rowcount)


def rank(names: Sequence[str] | None, source: str, device: str | None) -> int | None:
    """Where a record's source or device stands in a priority (as `vault.aggregate` ranks it)."""
    if not names:
        return None
    for i, name in enumerate(names):
        if source == name or (device is not None and device.casefold().startswith(name.casefold())):
            return i
    return len(names)


def one_view(rows: Iterable[Any], names: Sequence[str] | None, tz: ZoneInfo) -> list[Any]:
    """Rows (with .ts, .source, .device) less the overlaps: per local hour, the best-ranked only."""
    rows = list(rows)
    if not names:
        return rows
    slots: dict[int, list[tuple[int, Any]]] = {}
    for r in rows:
        offset = int((datetime.fromtimestamp(r.ts / 1000, tz).utcoffset() or timedelta()).total_seconds() * 1000)
        slots.setdefault((r.ts + offset) // HOUR_MS, []).append((rank(names, r.source, r.device) or 0, r))
    kept = []
    for members in slots.values():
        best = min(m[0] for m in members)
        kept += [r for k, r in members if k == best]
    return sorted(kept, key=lambda r: r.ts)


# ---- arithmetic -----------------------------------------------------------------------


def shown(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(CENT, ROUND_HALF_UP))


def rolling(values: dict[date, Decimal], days: list[date], window: int = ROLLING_DAYS) -> list[Decimal | None]:
    """For each day, the mean of the values of the `window` days ending there that have one."""
    out: list[Decimal | None] = []
    for d in days:
        seen = [values[d - timedelta(days=i)] for i in range(window) if d - timedelta(days=i) in values]
        out.append(sum(seen, Decimal(0)) / len(seen) if seen else None)
    return out


def _series_days(
    values: dict[date, Decimal], counts: dict[date, int], days: list[date], more: dict[date, Decimal] | None = None
) -> list[Day]:
    # the rolling mean looks back a week before the window's first day
    back = [days[0] - timedelta(days=i) for i in range(ROLLING_DAYS - 1, 0, -1)] if days else []
    roll = rolling(values, back + days)[len(back) :]
    roll2 = rolling(more, back + days)[len(back) :] if more is not None else [None] * len(days)
    return [
        Day(
            d.isoformat(),
            shown(values.get(d)),
            shown(r),
            counts.get(d, 0),
            shown(more.get(d)) if more is not None else None,
            shown(r2),
        )
        for d, r, r2 in zip(days, roll, roll2, strict=True)
    ]


# ---- the view -------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    zone: str
    start_ms: int
    end_ms: int
    days: list[date]

    @property
    def tz(self) -> ZoneInfo:
        return timebuckets.zone(self.zone)


def window(conn: Connection, days: int, zone: str, end: date | None = None) -> Window:
    """`days` local days ending with `end`, else with the day of the newest observation."""
    if not 1 <= days <= MAX_DAYS:
        raise HealthViewError(f"show 1 to {MAX_DAYS} days, not {days}")
    try:
        tz = timebuckets.zone(zone)
    except timebuckets.ZoneError as err:
        raise HealthViewError(str(err)) from None
    if end is None:
        last = conn.execute(
            "SELECT max(last_ts) FROM record_counts WHERE dataset IN (?, 'health.workout')", (OBSERVATION,)
        ).fetchone()[0]
        end = datetime.fromtimestamp((last if last is not None else now_ms()) / 1000, tz).date()
    first = end - timedelta(days=days - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=tz)
    after = end + timedelta(days=1)
    stop = datetime(after.year, after.month, after.day, tzinfo=tz)
    return Window(
        zone,
        int(start.timestamp() * 1000),
        int(stop.timestamp() * 1000),
        [first + timedelta(days=i) for i in range(days)],
    )


def trends(conn: Connection, *, days: int = 90, zone: str = "UTC", end: date | None = None) -> HealthTrends:
    w = window(conn, days, zone, end)
    prio = priorities(conn)
    series = [_metric(conn, w, m, prio.get(m.code, [])) for m in METRICS]
    series.insert(3, _blood_pressure(conn, w, prio))
    series.append(_sleep(conn, w, prio))
    return HealthTrends(
        zone,
        w.days[0].isoformat(),
        w.days[-1].isoformat(),
        series,
        workouts_per_week(conn, w),
        clinical_records(conn),
    )


def _daily(
    conn: Connection, w: Window, code: str, fn: str, names: Sequence[str] = (), back_days: int = ROLLING_DAYS - 1
) -> list[dict[str, Any]]:
    start_ms = w.start_ms - back_days * DAY_MS
    quick = healthhours.daily(conn, code, fn, start_ms, w.end_ms, w.zone, names)
    if quick is not None:
        return quick
    spec = aggregate.Aggregate(
        OBSERVATION,
        fn,
        "value",
        "day",
        w.zone,
        ("unit",),
        start_ms,
        w.end_ms,
        filters=tuple(parse(OBSERVATION, [("code", code)])),
        priority=(aggregate.Priority(code, tuple(names)),) if names else (),
    )
    rows: list[dict[str, Any]] = aggregate.run(conn, spec)["rows"]
    return rows


def _metric(conn: Connection, w: Window, m: Metric, names: list[str]) -> Series:
    rows = _daily(conn, w, m.code, m.daily, names)
    by_unit: dict[str | None, int] = {}
    for r in rows:
        by_unit[r["unit"]] = by_unit.get(r["unit"], 0) + r["count"]
    unit = max(by_unit, key=lambda u: by_unit[u]) if by_unit else None
    values: dict[date, Decimal] = {}
    counts: dict[date, int] = {}
    for r in rows:
        if r["unit"] == unit and r["value"] is not None:
            d = date.fromisoformat(r["start"][:10])
            values[d], counts[d] = Decimal(r["value"]), r["count"]
    return Series(
        m.key,
        m.title,
        m.code,
        unit,
        _series_days(values, counts, w.days),
        origins(conn, w, (m.code,)),
        names,
        {str(u): n for u, n in by_unit.items() if u != unit},
    )


def origins(conn: Connection, w: Window, codes: Sequence[str]) -> list[Origin]:
    """The sources (and their devices) a code's records in the window came from."""
    quick = healthhours.origins(conn, codes, w.start_ms, w.end_ms)
    if quick is not None:
        return [Origin(s, d, n) for s, d, n in quick]
    marks = ",".join("?" * len(codes))
    rows = conn.execute(
        "SELECT source, json_extract(data, '$.device'), count(*) FROM records INDEXED BY records_observation_code"
        f" WHERE dataset='health.observation' AND json_extract(data, '$.code') IN ({marks})"
        " AND ts >= ? AND ts < ? AND deleted=0 GROUP BY 1, 2 ORDER BY 3 DESC",
        (*codes, w.start_ms, w.end_ms),
    ).fetchall()
    return [Origin(s, d, n) for s, d, n in rows]


@dataclass(frozen=True)
class _Row:
    ts: int
    source: str
    device: str | None
    data: dict[str, Any]


def _rows(conn: Connection, codes: Sequence[str], start_ms: int, end_ms: int) -> list[_Row]:
    marks = ",".join("?" * len(codes))
    return [
        _Row(ts, source, data.get("device"), data)
        for ts, source, text in conn.execute(
            "SELECT ts, source, data FROM records INDEXED BY records_observation_code"
            f" WHERE dataset='health.observation' AND json_extract(data, '$.code') IN ({marks})"
            " AND ts >= ? AND ts < ? AND deleted=0 ORDER BY ts",
            (*codes, start_ms, end_ms),
        )
        if isinstance(data := orjson.loads(text), dict)
    ]


def _number(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except ArithmeticError:
        return None


def _local_day(ms: int, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(ms / 1000, tz).date()


def _blood_pressure(conn: Connection, w: Window, prio: dict[str, list[str]]) -> Series:
    """Systolic and diastolic per day from the panels (both components); where a day has no
    panel, from lone systolic and diastolic observations."""
    start = w.start_ms - (ROLLING_DAYS - 1) * DAY_MS
    rows = _rows(conn, (BP_PANEL, SYSTOLIC, DIASTOLIC), start, w.end_ms)
    panels = one_view([r for r in rows if r.data.get("code") == BP_PANEL], prio.get(BP_PANEL), w.tz)
    sums: dict[date, list[list[Decimal]]] = {}
    for r in panels:
        parts = {c.get("code"): _number(c.get("value")) for c in r.data.get("components") or [] if isinstance(c, dict)}
        if parts.get(SYSTOLIC) is not None and parts.get(DIASTOLIC) is not None:
            day = sums.setdefault(_local_day(r.ts, w.tz), [[], []])
            day[0].append(parts[SYSTOLIC])  # type: ignore[arg-type]
            day[1].append(parts[DIASTOLIC])  # type: ignore[arg-type]
    lone: dict[date, list[list[Decimal]]] = {}
    for code, i in ((SYSTOLIC, 0), (DIASTOLIC, 1)):
        for r in one_view([r for r in rows if r.data.get("code") == code], prio.get(code), w.tz):
            d, v = _local_day(r.ts, w.tz), _number(r.data.get("value"))
            if v is not None and d not in sums:
                lone.setdefault(d, [[], []])[i].append(v)
    sums.update({d: v for d, v in lone.items() if v[0] and v[1]})
    sys = {d: sum(v[0], Decimal(0)) / len(v[0]) for d, v in sums.items()}
    dia = {d: sum(v[1], Decimal(0)) / len(v[1]) for d, v in sums.items()}
    counts = {d: len(v[0]) for d, v in sums.items()}
    return Series(
        "blood_pressure",
        "Blood pressure (systolic / diastolic)",
        BP_PANEL,
        "mm[Hg]",
        _series_days(sys, counts, w.days, dia),
        origins(conn, w, (BP_PANEL, SYSTOLIC, DIASTOLIC)),
        prio.get(BP_PANEL, []),
    )


def _sleep(conn: Connection, w: Window, prio: dict[str, list[str]]) -> Series:
    """Hours asleep per night, filed under the day the sleep ended; overlapping intervals
    (two sources, or stages inside one) are merged, never added up twice."""
    start = w.start_ms - ROLLING_DAYS * DAY_MS
    names = prio.get(SLEEP_HEALTHKIT) or prio.get(SLEEP_LOINC)
    intervals: list[tuple[int, int]] = []
    for r in one_view(_rows(conn, (SLEEP_HEALTHKIT, SLEEP_LOINC), start, w.end_ms), names, w.tz):
        end = _instant(r.data.get("end"))
        if r.data.get("code") == SLEEP_HEALTHKIT:
            if r.data.get("value_text") not in ASLEEP or end is None:
                continue
            intervals.append((r.ts, end))
        else:
            value, per = _number(r.data.get("value")), DURATION_MS.get(str(r.data.get("unit")))
            if value is not None and per is not None:
                intervals.append((r.ts, end if end is not None else r.ts + int(value * per)))
    merged: list[list[int]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        elif b > a:
            merged.append([a, b])
    hours: dict[date, Decimal] = {}
    counts: dict[date, int] = {}
    for a, b in merged:
        d = _local_day(b - 1, w.tz)
        hours[d] = hours.get(d, Decimal(0)) + Decimal(b - a) / HOUR_MS
        counts[d] = counts.get(d, 0) + 1
    return Series(
        "sleep",
        "Sleep (hours asleep per night)",
        SLEEP_HEALTHKIT,
        "h",
        _series_days(hours, counts, w.days),
        origins(conn, w, (SLEEP_HEALTHKIT, SLEEP_LOINC)),
        names or [],
    )


def _instant(text: Any) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)


def workouts_per_week(conn: Connection, w: Window) -> list[WeekOfWorkouts]:
    common = {"bucket": "week", "zone": w.zone, "start_ms": w.start_ms, "end_ms": w.end_ms}
    counted = aggregate.run(conn, aggregate.Aggregate("health.workout", group=("activity",), **common))["rows"]  # type: ignore[arg-type]
    timed = aggregate.run(conn, aggregate.Aggregate("health.workout", "sum", "duration_s", **common))["rows"]  # type: ignore[arg-type]
    weeks: dict[str, WeekOfWorkouts] = {}
    for r in counted:
        week = weeks.setdefault(r["start"][:10], WeekOfWorkouts(r["start"][:10], 0, 0, {}))
        week.count += r["count"]
        week.activities[r["activity"]] = r["count"]
    for r in timed:
        if r["value"] is not None:
            weeks[r["start"][:10]].minutes = int(r["value"]) // 60
    return [weeks[k] for k in sorted(weeks)]


def clinical_records(conn: Connection, limit: int = 200) -> list[ClinicalEntry]:
    """Conditions, medications, immunizations and allergies, newest first, `limit` of each kind."""
    out: list[ClinicalEntry] = []
    for kind in CLINICAL_KINDS:
        for source, text in conn.execute(
            "SELECT source, data FROM records WHERE dataset='health.clinical' AND deleted=0"
            " AND json_extract(data, '$.resource_type') = ? ORDER BY ts DESC LIMIT ?",
            (kind, limit),
        ):
            data = orjson.loads(text)
            resource = data.get("resource") if isinstance(data, dict) else None
            if isinstance(resource, dict):
                out.append(_clinical(kind, resource, data.get("effective"), source))
    return out


def _concept_text(concept: Any) -> str | None:
    if not isinstance(concept, dict):
        return None
    if isinstance(concept.get("text"), str):
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and (coding.get("display") or coding.get("code")):
            return str(coding.get("display") or coding.get("code"))
    return None


def _clinical(kind: str, r: dict[str, Any], effective: Any, source: str) -> ClinicalEntry:
    concept = r.get("medicationCodeableConcept") or r.get("vaccineCode") or r.get("code")
    what = _concept_text(concept)
    if what is None and isinstance(r.get("medicationReference"), dict):
        what = r["medicationReference"].get("display")
    when = next(
        (
            r[k]
            for k in ("onsetDateTime", "recordedDate", "authoredOn", "occurrenceDateTime", "effectiveDateTime")
            if isinstance(r.get(k), str)
        ),
        effective if isinstance(effective, str) else None,
    )
    status = _concept_text(r.get("clinicalStatus")) or (r.get("status") if isinstance(r.get("status"), str) else None)
    return ClinicalEntry(kind, what or "(not named)", when, status, source)


# ---- a month --------------------------------------------------------------------------


@dataclass
class MetricMonth:
    key: str
    title: str
    unit: str | None
    days_with_data: int
    mean: str | None  # mean of the daily values (for steps: steps per day)
    total: str | None  # steps only: the month's total
    low: str | None
    high: str | None
    mean2: str | None = None  # blood pressure: diastolic


@dataclass
class HealthMonth:
    month: str
    zone: str
    metrics: list[MetricMonth]
    workouts: int
    workout_minutes: int
    clinical_new: list[ClinicalEntry]


def month_days(month: str) -> tuple[date, int]:
    try:
        first = datetime.strptime(month, "%Y-%m").date()
    except ValueError:
        raise HealthViewError(f"{month!r} is not a month: write YYYY-MM") from None
    nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, (nxt - first).days


def health_month_summary(conn: Connection, month: str, zone: str = "UTC") -> HealthMonth:
    """A month of health in figures, for `selfdata report`: each measure's daily mean, range
    and (steps) total, workouts, and the clinical records dated in the month."""
    first, n = month_days(month)
    t = trends(conn, days=n, zone=zone, end=first + timedelta(days=n - 1))
    metrics = []
    for s in t.series:
        values = [Decimal(d.value) for d in s.days if d.value is not None]
        more = [Decimal(d.value2) for d in s.days if d.value2 is not None]
        metrics.append(
            MetricMonth(
                s.key,
                s.title,
                s.unit,
                len(values),
                shown(sum(values, Decimal(0)) / len(values)) if values else None,
                shown(sum(values, Decimal(0))) if values and s.key == "steps" else None,
                shown(min(values)) if values else None,
                shown(max(values)) if values else None,
                shown(sum(more, Decimal(0)) / len(more)) if more else None,
            )
        )
    clinical = [c for c in t.clinical if c.date and c.date[:7] == month]
    return HealthMonth(
        month,
        zone,
        metrics,
        sum(w.count for w in t.workouts),
        sum(w.minutes for w in t.workouts),
        clinical,
    )
