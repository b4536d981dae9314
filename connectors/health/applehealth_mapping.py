"""Apple Health's elements as records: pure functions of the `raw` kept for each one
(a Record, Correlation, Workout, ActivitySummary or ClinicalRecord with its metadata),
which `normalize` and `selfdata renormalize` reuse, and the keys they are stored under."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from connectors.sdk import Record, datasets, decimal_text

from . import fhir_mapping
from .loinc import HEALTHKIT, HEALTHKIT_FRACTIONS, HEALTHKIT_LOINC, HEALTHKIT_UNITS

OBSERVATION, WORKOUT = "health.observation", "health.workout"
_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_PLAIN = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]+)?$|^-[1-9][0-9]*(\.[0-9]+)?$")
_PREFIXES = (
    "HKQuantityTypeIdentifier",
    "HKCategoryTypeIdentifier",
    "HKCorrelationTypeIdentifier",
    "HKWorkoutActivityType",
    "HKDataType",
)
_SUMMARY_PARTS = (
    ("activeEnergyBurned", None),
    ("activeEnergyBurnedGoal", None),
    ("appleMoveTime", "min"),
    ("appleMoveTimeGoal", "min"),
    ("appleExerciseTime", "min"),
    ("appleExerciseTimeGoal", "min"),
    ("appleStandHours", "h"),
    ("appleStandHoursGoal", "h"),
)
_DURATION_S: dict[str, Decimal] = {
    "s": Decimal(1),
    "min": Decimal(60),
    "hr": Decimal(3600),
    "h": Decimal(3600),
    "ms": Decimal("0.001"),
    "d": Decimal(86400),
}


def element_raw(elem: ET.Element) -> dict[str, Any]:
    """The element's attributes and children as plain JSON (kept as the record's raw)."""
    raw: dict[str, Any] = dict(elem.attrib)
    if elem.tag != "Record":
        raw["element"] = elem.tag
    if "device" in raw:
        raw["device"] = clean_device(raw["device"])
    if len(elem):
        meta: dict[str, str] = {}
        for child in elem:
            tag = child.tag
            if tag == "MetadataEntry":
                meta[child.get("key", "")] = child.get("value", "")
            elif tag == "HeartRateVariabilityMetadataList":
                raw["beats"] = [dict(b.attrib) for b in child]
            elif tag == "Record":
                raw.setdefault("records", []).append(element_raw(child))
            elif tag == "WorkoutEvent":
                raw.setdefault("events", []).append(dict(child.attrib))
            elif tag == "WorkoutStatistics":
                raw.setdefault("statistics", []).append(dict(child.attrib))
            elif tag == "WorkoutRoute":
                paths = [ref.get("path") for ref in child.iter("FileReference")]
                raw.setdefault("routes", []).append({**child.attrib, "files": paths})
            else:
                raw.setdefault("children", []).append({"element": tag, **child.attrib})
        if meta:
            raw["metadata"] = meta
    return raw


def clean_device(text: str) -> str:
    """Drop the object address Apple prints (`<<HKDevice: 0x283e8d450>, ...>`): it changes every export."""
    if text.startswith("<<HKDevice: 0x"):
        cut = text.find(">, ")
        if cut > 0:
            return text[cut + 3 :].removesuffix(">")
    return text


# Mapping (pure: the same functions serve read and normalize)


def map_element(raw: dict[str, Any]) -> Record | None:
    element = raw.get("element", "Record")
    if element == "Record":
        return _observation(raw)
    if element == "Correlation":
        return _correlation(raw)
    if element == "Workout":
        return _workout(raw)
    if element == "ActivitySummary":
        return _activity_summary(raw)
    if element == "ClinicalRecord":
        # Lenient: Apple also carries DSTU2 resources, whose required elements differ from R4's.
        items = fhir_mapping.map_resource(raw.get("resource"), strict=False)
        found = next((i for i in items if isinstance(i, Record)), None)
        return None if found is None else dataclasses.replace(found, raw=raw)
    if "startDate" in raw:  # an element type newer than this importer: kept as an observation
        return _observation(raw)
    return None


def parse_apple_date(text: str) -> tuple[str, datetime]:
    """Apple's `2019-06-11 15:00:00 +0100` as (ISO 8601 text, aware datetime)."""
    if len(text) == 25 and text[10] == " " and text[19] == " " and text[20] in "+-":
        iso = f"{text[:10]}T{text[11:19]}{text[20:23]}:{text[23:]}"
        try:
            return iso, datetime.fromisoformat(iso)
        except ValueError:
            pass
    raise ValueError(f"{text!r} is not a date like 2019-06-11 15:00:00 +0100")


def _instant(raw: dict[str, Any], name: str) -> tuple[str, datetime]:
    text = raw.get(name)
    if not isinstance(text, str):
        raise ValueError(f"{name} is missing")
    try:
        return parse_apple_date(text)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None


_DAYS: dict[str, int] = {}


def _epoch(raw: dict[str, Any], name: str) -> int:
    """Seconds since 1970 (UTC) of an Apple date: the time zone it was written in does not matter."""
    text = raw.get(name)
    if type(text) is str and len(text) == 25:
        base = _DAYS.get(text[:10] + text[19:])  # the day and the offset, seen before
        if base is not None:
            try:
                return base + int(text[11:13]) * 3600 + int(text[14:16]) * 60 + int(text[17:19])
            except ValueError:
                pass
    if not isinstance(text, str):
        raise ValueError(f"{name} is missing")
    try:
        dt = parse_apple_date(text)[1]
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None
    if len(_DAYS) < 50_000:
        _DAYS[text[:10] + text[19:]] = int(dt.replace(hour=0, minute=0, second=0).timestamp())
    return int(dt.timestamp())


def _iso(raw: dict[str, Any], name: str) -> str:
    """The ISO 8601 form of an Apple date (checked in full by the pipeline's validation)."""
    text = raw.get(name)
    if type(text) is str and len(text) == 25 and text[10] == " " and text[19] == " " and text[20] in "+-":
        return f"{text[:10]}T{text[11:19]}{text[20:23]}:{text[23:]}"
    return _instant(raw, name)[0]


def _number(text: Any) -> Decimal | None:
    if not isinstance(text, str):
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


_NAMES: dict[str, str] = {}


def type_name(kind: str) -> str:
    """`HKQuantityTypeIdentifierTimeInDaylight` → `Time in daylight`."""
    name = _NAMES.get(kind)
    if name is None:
        short = kind
        for prefix in _PREFIXES:
            short = short.removeprefix(prefix)
        words = _CAMEL_RE.sub(" ", short).split(" ")
        name = " ".join([words[0]] + [w if w.isupper() else w.lower() for w in words[1:]])
        _NAMES[kind] = name
    return name


_SHORT: dict[str, str] = {}


def _key(kind: str, start: int, *parts: object) -> str:
    """`HeartRate/1704067268/3fa9c2d1e0b4`: type and start first, so that keys of one type
    arrive in order (the vault's index grows at its end), then a hash of what identifies it."""
    short = _SHORT.get(kind)
    if short is None:
        short = kind
        for prefix in _PREFIXES:
            short = short.removeprefix(prefix)
        _SHORT[kind] = short = short or kind
    text = f"{kind}\x1f{start}\x1f" + "\x1f".join([str(p) for p in parts])
    digest = hashlib.blake2b(text.encode(), digest_size=6).hexdigest()
    return f"{short}/{start}/{digest}"


_DEVICES: dict[str, str] = {}


def _device(raw: dict[str, Any]) -> str | None:
    """`Apple Watch (Watch6,2)` from the device description, else the source's name."""
    device = raw.get("device")
    if device:
        name = _DEVICES.get(device)
        if name is None:
            fields = dict(p.split(":", 1) for p in device.split(", ") if ":" in p)
            hardware = fields.get("hardware") or fields.get("model")
            name = fields.get("name", device)
            name = f"{name} ({hardware})" if hardware else name
            if len(_DEVICES) < 10_000:
                _DEVICES[device] = name
        return name
    source = raw.get("sourceName")
    return source if isinstance(source, str) else None


def _measure(kind: str, value: Decimal, unit: str | None) -> tuple[str, str | None]:
    if unit == "%" and kind in HEALTHKIT_FRACTIONS:
        value = value.scaleb(2)  # HealthKit's percent is a fraction
    return decimal_text(value), HEALTHKIT_UNITS.get(unit, unit) if unit else None


class _Kind(NamedTuple):
    code: str
    system: str
    name: str
    source_code: str | None
    category: bool
    fraction: bool


_KINDS: dict[str, _Kind] = {}


def _kind(kind: str) -> _Kind:
    found = _KINDS.get(kind)
    if found is None:
        code = HEALTHKIT_LOINC.get(kind)
        found = _Kind(
            code.code if code else kind,
            code.system if code else HEALTHKIT,
            code.name if code else type_name(kind),
            kind if code else None,
            kind.startswith("HKCategoryTypeIdentifier"),
            kind in HEALTHKIT_FRACTIONS,
        )
        if len(_KINDS) < 10_000:
            _KINDS[kind] = found
    return found


def _observation(raw: dict[str, Any]) -> Record:
    kind = str(raw.get("type") or raw.get("element") or "unknown")
    info = _kind(kind)
    start_iso, start = _instant(raw, "startDate")
    has_end = "endDate" in raw
    # Built directly (not with make()): this runs millions of times; the pipeline validates it.
    data: dict[str, Any] = {
        "code": info.code,
        "code_system": info.system,
        "name": info.name,
        "start": start_iso,
        "end": _iso(raw, "endDate") if has_end else start_iso,
    }
    if info.source_code:
        data["source_code"] = info.source_code
    text = raw.get("value")
    unit = raw.get("unit")
    if text is not None:
        if info.category:
            data["value_text"] = str(text)
        elif not info.fraction and _PLAIN.match(text):
            data["value"] = text  # already a plain decimal: kept exactly as written
            if unit:
                data["unit"] = HEALTHKIT_UNITS.get(unit, unit)
        else:
            number = _number(text)
            if number is not None:
                data["value"], out_unit = _measure(kind, number, unit)
                if out_unit:
                    data["unit"] = out_unit
            else:
                data["value_text"] = str(text)
    device = _device(raw)
    if device:
        data["device"] = device
    key = _key(
        kind,
        _epoch(raw, "startDate"),
        raw.get("sourceName", ""),
        _epoch(raw, "endDate") if has_end else "",
        text,
        unit,
        _epoch(raw, "creationDate") if "creationDate" in raw else "",
    )
    return Record(OBSERVATION, key, start, data, raw)


def _correlation(raw: dict[str, Any]) -> Record:
    kind = str(raw.get("type") or "unknown")
    start_iso, start = _instant(raw, "startDate")
    end_iso, end = _instant(raw, "endDate") if "endDate" in raw else (start_iso, start)
    components = []
    for member in raw.get("records", []):
        m_kind = str(member.get("type") or "unknown")
        m_code = HEALTHKIT_LOINC.get(m_kind)
        number = _number(member.get("value"))
        value, unit = _measure(m_kind, number, member.get("unit")) if number is not None else (None, None)
        components.append(datasets.Component.make(code=m_code.code if m_code else m_kind, value=value, unit=unit))
    code = HEALTHKIT_LOINC.get(kind)
    data = datasets.HealthObservation.make(
        code=code.code if code else kind,
        code_system=code.system if code else HEALTHKIT,
        name=code.name if code else type_name(kind),
        start=start_iso,
        end=end_iso,
        device=_device(raw),
        components=components,
    )
    if code:
        data["source_code"] = kind
    created = _epoch(raw, "creationDate") if "creationDate" in raw else ""
    key = _key(kind, _epoch(raw, "startDate"), "Correlation", raw.get("sourceName", ""), int(end.timestamp()), created)
    return Record(OBSERVATION, key, start, data, raw)


def _workout(raw: dict[str, Any]) -> Record:
    kind = str(raw.get("workoutActivityType") or "HKWorkoutActivityTypeOther")
    start_iso, start = _instant(raw, "startDate")
    end_iso, end = _instant(raw, "endDate")
    duration = _number(raw.get("duration"))
    factor = _DURATION_S.get(str(raw.get("durationUnit", "min")))
    duration_s = int((duration * factor).to_integral_value()) if duration is not None and factor else None
    if duration_s is None:
        duration_s = int((end - start).total_seconds())
    stats = {s.get("type", ""): s for s in raw.get("statistics", [])}
    distance = _total(raw, "totalDistance") or _statistic(stats, "HKQuantityTypeIdentifierDistance")
    energy = _total(raw, "totalEnergyBurned") or _statistic(stats, "HKQuantityTypeIdentifierActiveEnergyBurned")
    data = datasets.HealthWorkout.make(
        activity=_CAMEL_RE.sub("_", kind.removeprefix("HKWorkoutActivityType")).lower(),
        start=start_iso,
        end=end_iso,
        duration_s=duration_s,
        distance=distance,
        energy=energy,
        source_device=_device(raw),
    )
    key = _key(kind, _epoch(raw, "startDate"), "Workout", raw.get("sourceName", ""), _epoch(raw, "endDate"))
    return Record(WORKOUT, key, start, data, raw)


def _total(raw: dict[str, Any], name: str) -> dict[str, str] | None:
    value, unit = _number(raw.get(name)), raw.get(name + "Unit")
    if value is None or not unit:
        return None
    return {"value": decimal_text(value), "unit": HEALTHKIT_UNITS.get(unit, unit)}


def _statistic(stats: dict[str, dict[str, Any]], prefix: str) -> dict[str, str] | None:
    for kind, stat in stats.items():
        value = _number(stat.get("sum"))
        if kind.startswith(prefix) and value is not None and stat.get("unit"):
            return {"value": decimal_text(value), "unit": HEALTHKIT_UNITS.get(stat["unit"], stat["unit"])}
    return None


def _activity_summary(raw: dict[str, Any]) -> Record | None:
    day = raw.get("dateComponents")
    if not isinstance(day, str):
        return None
    try:
        start = datetime.fromisoformat(day).replace(tzinfo=UTC)  # a calendar day: filed at midnight UTC
    except ValueError:
        raise ValueError(f"dateComponents {day!r} is not a date") from None
    components = []
    for name, unit in _SUMMARY_PARTS:
        value = _number(raw.get(name))
        if value is not None:
            u = unit or HEALTHKIT_UNITS.get(raw.get("activeEnergyBurnedUnit", "kcal"), "kcal")
            components.append(datasets.Component.make(code=name, value=value, unit=u))
    data = datasets.HealthObservation.make(
        code="HKActivitySummary",
        code_system=HEALTHKIT,
        name="Activity rings",
        start=start,
        end=start + timedelta(days=1),
        components=components,
    )
    return Record(OBSERVATION, f"activity:{day}", start, data, raw)
