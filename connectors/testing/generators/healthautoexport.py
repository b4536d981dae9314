"""Health Auto Export (iOS) REST payloads as the app posts them, seeded.

Written from the app's published JSON format (API Export - JSON Format; Workouts - JSON
Export Format, version 2) and the payloads open-source receivers of it test against: a
`data` object with `metrics` (name, units, data points with `qty` and `date`, heart rate
with `Min`/`Avg`/`Max`, blood pressure with `systolic`/`diastolic`, sleep aggregated per
night) and `workouts` (`id`, `name`, `start`, `end`, `duration`, `{qty, units}` quantities,
`heartRateData`, `route`). Dates are `yyyy-MM-dd HH:mm:ss Z` in the phone's offset, or the
12-hour form (`7:57:00 PM`, with the narrow no-break space newer iOS writes) with `clock=12`.

A point's value depends only on the seed and its minute, so the payload for a later hour
holds the earlier hours' points unchanged: what the "Default" sync period sends each hour.

    payload(start, hours=24)  ->  dict, ready for json.dumps
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

PARIS = timezone(timedelta(hours=1))
WATCH = "Alex’s Apple Watch"  # the app writes the device's name, apostrophe and all
PHONE = "Alex’s iPhone"


def fmt(dt: datetime, clock: int = 24) -> str:
    """The app's date: `2024-02-06 07:00:00 -0800`, or `2024-02-06 7:00:00\u202fAM -0800`."""
    offset = dt.strftime("%z")
    if clock == 12:
        hour = dt.hour % 12 or 12
        return f"{dt:%Y-%m-%d} {hour}:{dt:%M:%S}\u202f{'AM' if dt.hour < 12 else 'PM'} {offset}"
    return f"{dt:%Y-%m-%d %H:%M:%S} {offset}"


def _rng(seed: int, *parts: object) -> random.Random:
    return random.Random(f"{seed}/" + "/".join(str(p) for p in parts))


def _minutes(start: datetime, hours: int) -> list[datetime]:
    return [start + timedelta(minutes=m) for m in range(hours * 60)]


def payload(
    start: datetime,
    hours: int = 24,
    *,
    seed: int = 7,
    clock: int = 24,
    tz: timezone = PARIS,
    workouts: bool = True,
    sleep: bool = True,
) -> dict[str, Any]:
    """Metrics minute by minute from `start` for `hours`, in the phone's zone `tz`."""
    start = start.astimezone(tz)
    minutes = _minutes(start, hours)
    steps, hr, energy = [], [], []
    for t in minutes:
        r = _rng(seed, "min", int(t.timestamp()))
        awake = 7 <= t.hour < 23
        if awake and r.random() < 0.55:
            steps.append({"qty": r.randint(1, 120), "date": fmt(t, clock), "source": f"{WATCH}|{PHONE}"})
        if r.random() < 0.3:
            avg = r.randint(55, 95) + (20 if awake else 0)
            hr.append({"Min": avg - r.randint(0, 6), "Avg": avg + r.random(), "Max": avg + r.randint(0, 9),
                       "date": fmt(t, clock), "source": WATCH})  # fmt: skip
        if awake:
            energy.append({"qty": round(r.uniform(0.05, 4.0), 12), "date": fmt(t, clock), "source": WATCH})
    metrics: list[dict[str, Any]] = [
        {"name": "step_count", "units": "count", "data": steps},
        {"name": "heart_rate", "units": "count/min", "data": hr},
        {"name": "active_energy", "units": "kcal", "data": energy},
        {"name": "basal_body_temperature", "units": "degC", "data": []},
    ]
    hourly = [t for t in minutes if t.minute == 0]
    spo2 = [{"qty": _rng(seed, "spo2", t.isoformat()).randint(94, 100), "date": fmt(t, clock), "source": WATCH}
            for t in hourly if t.hour % 3 == 0]  # fmt: skip
    metrics.append({"name": "blood_oxygen_saturation", "units": "%", "data": spo2})
    mornings = [t for t in hourly if t.hour == 8]
    metrics.append({"name": "weight_body_mass", "units": "kg", "data": [
        {"qty": round(71 + _rng(seed, "kg", t.date()).uniform(-1, 1), 1), "date": fmt(t, clock), "source": "Withings"}
        for t in mornings]})  # fmt: skip
    metrics.append({"name": "blood_pressure", "units": "mmHg", "data": [
        {"systolic": 118 + _rng(seed, "bp", t.date()).randint(0, 14), "diastolic": 76, "date": fmt(t, clock)}
        for t in mornings]})  # fmt: skip
    if sleep:
        metrics.append({"name": "sleep_analysis", "units": "hr", "data": _nights(start, hours, seed, clock)})
    out: dict[str, Any] = {"metrics": metrics}
    if workouts:
        out["workouts"] = _workouts(start, hours, seed, clock)
    return {"data": out}


def _nights(start: datetime, hours: int, seed: int, clock: int) -> list[dict[str, Any]]:
    nights = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day < start + timedelta(hours=hours):
        r = _rng(seed, "night", day.date())
        asleep_at = day - timedelta(minutes=r.randint(20, 90))  # the evening before
        woke = day + timedelta(hours=6, minutes=r.randint(0, 120))
        if start <= woke <= start + timedelta(hours=hours):
            core, deep, rem, awake = (round(r.uniform(a, b), 6) for a, b in ((3, 4), (0.7, 1.3), (1, 2), (0.1, 0.4)))
            nights.append({
                "date": f"{day:%Y-%m-%d}", "totalSleep": round(core + deep + rem, 6), "asleep": 0,
                "core": core, "deep": deep, "rem": rem, "awake": awake,
                "sleepStart": fmt(asleep_at, clock), "sleepEnd": fmt(woke, clock),
                "inBed": round((woke - asleep_at).total_seconds() / 3600, 6),
                "inBedStart": fmt(asleep_at, clock), "inBedEnd": fmt(woke, clock), "source": f"{WATCH}|{PHONE}",
            })  # fmt: skip
        day += timedelta(days=1)
    return nights


def _workouts(start: datetime, hours: int, seed: int, clock: int) -> list[dict[str, Any]]:
    out = []
    day = start.replace(hour=18, minute=0, second=0, microsecond=0)
    while day < start + timedelta(hours=hours):
        r = _rng(seed, "run", day.date())
        begin = day + timedelta(minutes=r.randint(0, 50))
        minutes = r.randint(25, 55)
        end = begin + timedelta(minutes=minutes)
        if start <= begin and end <= start + timedelta(hours=hours) and r.random() < 0.7:
            km = round(minutes / r.uniform(5, 6.5), 6)
            out.append({
                "id": str(uuid.UUID(int=r.getrandbits(128), version=4)).upper(),
                "name": "Outdoor Run", "start": fmt(begin, clock), "end": fmt(end, clock),
                "duration": minutes * 60 + r.random(), "location": "Outdoor", "isIndoor": False,
                "activeEnergyBurned": {"qty": round(km * 62.3, 6), "units": "kcal"},
                "totalEnergy": {"qty": round(km * 75.1, 6), "units": "kcal"},
                "intensity": {"qty": round(r.uniform(8, 11), 3), "units": "kcal/hr·kg"},
                "distance": {"qty": km, "units": "km"},
                "heartRateData": [
                    {"date": fmt(begin + timedelta(minutes=m), clock), "Min": 120, "Avg": 140 + m % 9, "Max": 160,
                     "units": "bpm", "source": WATCH} for m in range(0, minutes, 5)],
                "route": [
                    {"latitude": 48.85 + i * 1e-4, "longitude": 2.35 + i * 1e-4, "altitude": 35.2, "course": 90.0,
                     "speed": 2.9, "timestamp": fmt(begin + timedelta(seconds=10 * i), clock)} for i in range(30)],
            })  # fmt: skip
        day += timedelta(days=1)
    return out
