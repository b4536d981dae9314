"""Health Auto Export (iOS): the JSON its REST API automation posts, or that it saves to a file.

The app's documented format: `{"data": {"metrics": [...], "workouts": [...]}}`. A metric is
`{name, units, data: [...]}`, each point a `qty` at a `date` (`yyyy-MM-dd HH:mm:ss Z`, or the
12-hour form iOS writes when the phone is set so, with a narrow no-break space before AM/PM);
heart rate points carry `Min`/`Avg`/`Max`, blood pressure `systolic`/`diastolic`, sleep either
one aggregated night (`sleepStart`, `sleepEnd`, `asleep`, `core`, `deep`, `rem`...) or one
stage a point (`startDate`, `endDate`, `value`). Workouts (export version 1 or 2) have an
`id` (v2), `name`, `start`, `end`, `duration` and quantities as `{qty, units}`.

- Metrics → `health.observation`, coded like the Apple Health importer codes the same
  HealthKit type (LOINC where known), so the phone's pushes and a full export.zip agree.
- Workouts → `health.workout`; heart-rate series and routes stay in `raw`.
- Keys hash the metric, the instant in UTC and the reporting sources: the automation sends
  the whole day again every hour, and each push updates the points it already sent.
- The other sections (`stateOfMind`, `medications`, `symptoms`, `ecg`, `cycleTracking`,
  `heartRateNotifications`) have no normalised dataset yet: each item is kept whole in
  `health_auto_export.<section>` (e.g. `health_auto_export.state_of_mind`), filed under
  its `start`, `startDate` or `date`, so nothing the phone sends is dropped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from connectors.sdk import Delete, Fragment, Importer, ImportFailed, Record, decimal_text
from connectors.sdk.limits import check_document_size

from .loinc import BP_DIASTOLIC, BP_PANEL, BP_SYSTOLIC, HEALTHKIT, HEALTHKIT_LOINC, HEALTHKIT_UNITS, Code

OBSERVATION = "health.observation"
WORKOUT = "health.workout"
OTHER_SECTIONS = {
    "stateOfMind": "state_of_mind",
    "medications": "medications",
    "symptoms": "symptoms",
    "ecg": "ecg",
    "cycleTracking": "cycle_tracking",
    "heartRateNotifications": "heart_rate_notifications",
}
OWN_PREFIX = "health_auto_export."
SYSTEM = "HealthAutoExport"
_HEAD = re.compile(rb'^\s*\{\s*"data"\s*:\s*\{\s*"(metrics|workouts|stateOfMind|medications|symptoms|ecg)"')

# The app's metric names for HealthKit types whose identifier is not the name camel-cased.
_HK = {
    "active_energy": "HKQuantityTypeIdentifierActiveEnergyBurned",
    "basal_energy_burned": "HKQuantityTypeIdentifierBasalEnergyBurned",
    "blood_glucose": "HKQuantityTypeIdentifierBloodGlucose",
    "blood_oxygen_saturation": "HKQuantityTypeIdentifierOxygenSaturation",
    "blood_pressure": "HKCorrelationTypeIdentifierBloodPressure",
    "body_fat_percentage": "HKQuantityTypeIdentifierBodyFatPercentage",
    "body_mass_index": "HKQuantityTypeIdentifierBodyMassIndex",
    "body_temperature": "HKQuantityTypeIdentifierBodyTemperature",
    "dietary_energy": "HKQuantityTypeIdentifierDietaryEnergyConsumed",
    "flights_climbed": "HKQuantityTypeIdentifierFlightsClimbed",
    "heart_rate": "HKQuantityTypeIdentifierHeartRate",
    "heart_rate_variability": "HKQuantityTypeIdentifierHeartRateVariabilitySDNN",
    "height": "HKQuantityTypeIdentifierHeight",
    "lean_body_mass": "HKQuantityTypeIdentifierLeanBodyMass",
    "respiratory_rate": "HKQuantityTypeIdentifierRespiratoryRate",
    "resting_heart_rate": "HKQuantityTypeIdentifierRestingHeartRate",
    "sleep_analysis": "HKCategoryTypeIdentifierSleepAnalysis",
    "step_count": "HKQuantityTypeIdentifierStepCount",
    "vo2_max": "HKQuantityTypeIdentifierVO2Max",
    "waist_circumference": "HKQuantityTypeIdentifierWaistCircumference",
    "walking_heart_rate_average": "HKQuantityTypeIdentifierWalkingHeartRateAverage",
    "walking_running_distance": "HKQuantityTypeIdentifierDistanceWalkingRunning",
    "cycling_distance": "HKQuantityTypeIdentifierDistanceCycling",
    "swimming_distance": "HKQuantityTypeIdentifierDistanceSwimming",
    "weight_body_mass": "HKQuantityTypeIdentifierBodyMass",
    "apple_exercise_time": "HKQuantityTypeIdentifierAppleExerciseTime",
    "apple_stand_time": "HKQuantityTypeIdentifierAppleStandTime",
    "apple_stand_hour": "HKCategoryTypeIdentifierAppleStandHour",
    "time_in_daylight": "HKQuantityTypeIdentifierTimeInDaylight",
    "mindful_minutes": "HKCategoryTypeIdentifierMindfulSession",
}
_INF = float("inf")
_SLEEP_PARTS = ("totalSleep", "asleep", "core", "deep", "rem", "awake", "inBed")
_DATE = re.compile(
    r"^(\d{4}-\d{2}-\d{2}) (\d{1,2}):(\d{2}):(\d{2})(?:[ \u202f\u00a0]?([AaPp][Mm]))? ([+-]\d{2})(\d{2})$"
)


class HealthAutoExportImporter(Importer):
    name = "health-auto-export"
    title = "Health Auto Export (iOS) JSON: its REST API pushes or saved files"
    category = "health"
    datasets = (OBSERVATION, WORKOUT, *(OWN_PREFIX + name for name in OTHER_SECTIONS.values()))
    extensions = (".json",)
    description = "Apple Health data that the Health Auto Export app posts every hour or saves as JSON."

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        return bool(_HEAD.match(head.removeprefix(b"\xef\xbb\xbf")))

    def read(self, path: Path, settings: dict[str, Any]) -> Iterator[Record | Fragment | Delete]:
        data = _load(path)
        metrics, workouts = data.get("metrics", []), data.get("workouts", [])
        metrics, workouts = [] if metrics is None else metrics, [] if workouts is None else workouts
        if not isinstance(metrics, list) or not isinstance(workouts, list):
            raise ImportFailed(f"{path.name}: data.metrics and data.workouts must be lists")
        for i, metric in enumerate(metrics):
            where = f"{path.name}: data.metrics[{i}]"
            if not isinstance(metric, dict) or not isinstance(metric.get("name"), str):
                raise ImportFailed(f"{where}: a metric is an object with a name, units and data")
            points = metric.get("data") or []
            if not isinstance(points, list):
                raise ImportFailed(f"{where} ({metric['name']}): data must be a list")
            for j, point in enumerate(points):
                raw = {"metric": metric["name"], "units": metric.get("units"), "point": point}
                yield _checked(raw, f"{where} ({metric['name']}).data[{j}]")
        for i, workout in enumerate(workouts):
            yield _checked({"workout": workout}, f"{path.name}: data.workouts[{i}]")
        for section in OTHER_SECTIONS:
            items = data.get(section) or []
            if not isinstance(items, list):
                raise ImportFailed(f"{path.name}: data.{section} must be a list")
            for i, item in enumerate(items):
                yield _checked({"section": section, "item": item}, f"{path.name}: data.{section}[{i}]")

    def normalize(self, fragment: Fragment) -> Record | None:
        return map_fragment(fragment.raw)


def _load(path: Path) -> dict[str, Any]:
    check_document_size(
        path.stat().st_size, path.name, "export a shorter date range in Health Auto Export (or let it push hourly)"
    )
    try:
        body = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as err:
        raise ImportFailed(f"{path.name}: not valid JSON ({err})") from None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise ImportFailed(f'{path.name}: not a Health Auto Export payload: expected {{"data": {{"metrics": ...}}}}')
    return data


def _checked(raw: dict[str, Any], where: str) -> Record | Fragment:
    """The record a fragment maps to: a bad point fails the file with its place, nothing stored."""
    try:
        record = map_fragment(raw)
    except (ValueError, TypeError, ArithmeticError) as err:
        raise ImportFailed(f"{where}: {err}") from None
    return Fragment(OBSERVATION, raw) if record is None else dataclasses.replace(record, raw=raw)


def parse_date(text: Any) -> datetime:
    """`2024-02-06 07:00:00 -0800`, or `2024-09-21 7:57:00 PM +1000` (12-hour clock)."""
    m = _DATE.match(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"{text!r} is not a date like 2024-02-06 07:00:00 -0800")
    day, hour, minute, second, ampm, oh, om = m.groups()
    h = int(hour)
    if ampm:
        if not 1 <= h <= 12:
            raise ValueError(f"{text!r}: hour {h} on a 12-hour clock")
        h = h % 12 + (12 if ampm.lower() == "pm" else 0)
    return datetime.fromisoformat(f"{day}T{h:02d}:{minute}:{second}{oh}:{om}")


def _code(metric: str) -> tuple[Code, str | None]:
    """The code the Apple Health importer gives the same type, and the HealthKit type."""
    kind = _HK.get(metric)
    if kind is None:
        return Code(metric, metric.replace("_", " ").capitalize(), SYSTEM), None
    found = HEALTHKIT_LOINC.get(kind)
    if found is not None:
        return found, kind
    short = kind.removeprefix("HKQuantityTypeIdentifier").removeprefix("HKCategoryTypeIdentifier")
    return Code(kind, re.sub(r"(?<=[a-z])(?=[A-Z])", " ", short).capitalize(), HEALTHKIT), kind


def _unit(units: Any) -> str | None:
    return HEALTHKIT_UNITS.get(units, units) if isinstance(units, str) and units else None


def _number(value: Any, name: str) -> str:
    """The app writes Swift doubles: the shortest text that reads back as the same double is
    what it meant (0.1, not 0.1000000000000000055)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value in (_INF, -_INF):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return decimal_text(Decimal(repr(value)) if isinstance(value, float) else Decimal(value))


def _key(metric: str, at: datetime, source: Any) -> str:
    stamp = int(at.timestamp())
    digest = hashlib.blake2b(f"{metric}\x1f{stamp}\x1f{source or ''}".encode(), digest_size=6).hexdigest()
    return f"{metric}/{stamp}/{digest}"


def map_fragment(raw: dict[str, Any]) -> Record | None:
    if "workout" in raw:
        return _workout(raw["workout"])
    if "section" in raw:
        return _kept(raw["section"], raw.get("item"))
    point, metric = raw.get("point"), raw.get("metric")
    if not isinstance(point, dict) or not isinstance(metric, str):
        raise ValueError("a data point is an object")
    if metric == "sleep_analysis":
        return _sleep(point, raw.get("units"))
    code, _ = _code(metric)
    at = parse_date(point.get("date"))
    data: dict[str, Any] = {"code": code.code, "code_system": code.system, "name": code.name, "start": at.isoformat()}
    unit = _unit(raw.get("units"))
    if metric == "blood_pressure":
        data.update(code=BP_PANEL.code, code_system=BP_PANEL.system, name=BP_PANEL.name)
        data["components"] = [
            {"code": c.code, "value": _number(point.get(f), f), "unit": "mm[Hg]"}
            for c, f in ((BP_SYSTOLIC, "systolic"), (BP_DIASTOLIC, "diastolic"))
        ]
    elif "qty" in point:
        data["value"] = _number(point["qty"], "qty")
    elif "Avg" in point:  # heart rate: the minute's average, its range as components
        data["value"] = _number(point["Avg"], "Avg")
        data["components"] = [
            {"code": f, "value": _number(point[f], f), **({"unit": unit} if unit else {})}
            for f in ("Min", "Max")
            if f in point
        ]
    else:
        raise ValueError("no qty (nor Avg, nor systolic/diastolic) in the point")
    if unit and metric != "blood_pressure":
        data["unit"] = unit
    if isinstance(point.get("source"), str):
        data["device"] = point["source"]
    return Record(OBSERVATION, _key(metric, at, point.get("source")), at, data)


def _sleep(point: dict[str, Any], units: Any) -> Record:
    code, _ = _code("sleep_analysis")
    unit = _unit(units) or "h"
    base: dict[str, Any] = {"code": code.code, "code_system": code.system, "name": code.name}
    source = point.get("source") or point.get("sleepSource")
    if "startDate" in point:  # one stage
        start, end = parse_date(point["startDate"]), parse_date(point.get("endDate"))
        data = {**base, "start": start.isoformat(), "end": end.isoformat(), "value_text": str(point.get("value", ""))}
        if "qty" in point:
            data.update(value=_number(point["qty"], "qty"), unit=unit)
    else:  # one aggregated night
        start, end = parse_date(point.get("sleepStart")), parse_date(point.get("sleepEnd"))
        total = _night_total(point)
        data = {**base, "start": start.isoformat(), "end": end.isoformat(), "value_text": "night"}
        if total is not None:
            data.update(value=_number(total, "totalSleep"), unit=unit)
        data["components"] = [
            {"code": f, "value": _number(point[f], f), "unit": unit} for f in _SLEEP_PARTS if point.get(f) is not None
        ]
    if isinstance(source, str):
        data["device"] = source
    return Record(OBSERVATION, _key(f"sleep_analysis/{data['value_text']}", start, source), start, data)


def _kept(section: str, item: Any) -> Record:
    """An item of a section with no normalised dataset yet, whole, under its own time."""
    if not isinstance(item, dict):
        raise ValueError("an item is an object")
    field = next((f for f in ("start", "startDate", "date") if item.get(f) is not None), None)
    if field is None:
        raise ValueError("no start, startDate or date to file it under")
    at = parse_date(item[field])
    ident = item.get("id")
    if isinstance(ident, str) and ident:
        key = f"{section}/{ident}"
    else:
        key = _key(section, at, orjson.dumps(item, option=orjson.OPT_SORT_KEYS).decode())
    return Record(OWN_PREFIX + OTHER_SECTIONS[section], key, at, item)


def _night_total(point: dict[str, Any]) -> Any:
    """Hours asleep: `totalSleep` (newer versions), else `asleep`, which newer versions leave at 0
    beside the stages, else the stages' sum."""
    if point.get("totalSleep") is not None:
        return point["totalSleep"]
    if point.get("asleep"):
        return point["asleep"]
    stages = [point[f] for f in ("core", "deep", "rem") if isinstance(point.get(f), (int, float))]
    return sum(stages) if stages else point.get("asleep")


def _workout(w: Any) -> Record:
    if not isinstance(w, dict) or not isinstance(w.get("name"), str):
        raise ValueError("a workout is an object with a name, start and end")
    start, end = parse_date(w.get("start")), parse_date(w.get("end"))
    data: dict[str, Any] = {"activity": w["name"], "start": start.isoformat(), "end": end.isoformat()}
    duration = w.get("duration")
    data["duration_s"] = (
        round(duration)
        if isinstance(duration, (int, float)) and duration == duration
        else int((end - start).total_seconds())
    )
    for field, names in (("distance", ("distance",)), ("energy", ("activeEnergyBurned", "activeEnergy"))):
        q = next((w[n] for n in names if isinstance(w.get(n), dict)), None)
        if q is not None and "qty" in q:
            data[field] = {"value": _number(q["qty"], f"{field}.qty"), "unit": _unit(q.get("units")) or ""}
    if isinstance(w.get("source"), str):
        data["source_device"] = w["source"]
    key = f"workout/{w['id']}" if isinstance(w.get("id"), str) and w["id"] else _key(f"workout/{w['name']}", start, "")
    return Record(WORKOUT, key, start, data)
