"""Apple Health export: the iPhone's `export.zip` (or the `export.xml` inside it).

export.xml is streamed straight out of the zip with `iterparse`, each top-level element
cleared once mapped, so memory stays flat for millions of records:

- `Record` → `health.observation`: quantity types get a number and a unit, category types
  (sleep stages...) a `value_text`; the code is LOINC for common types, else the HealthKit
  identifier. Unknown types are kept the same way, never dropped.
- `Correlation` (blood pressure, food) → one observation with components.
- `Workout` → `health.workout`; `ActivitySummary` → an observation of the day's rings.
- `ClinicalRecord` → its FHIR file from the zip, through the FHIR mapping.
- `MetadataEntry`, heart-beat lists, workout events and statistics are kept in `raw`.

Keys hash the identifying fields with instants in UTC, because Apple writes every date in
the phone's time zone at export time: re-importing a newer export adds only what is new.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path, PurePosixPath
from typing import IO, Any, NamedTuple

import orjson

from connectors.sdk import Delete, Field, Fragment, Importer, ImportFailed, Record, datasets, decimal_text

from . import fhir_mapping
from .loinc import HEALTHKIT, HEALTHKIT_FRACTIONS, HEALTHKIT_LOINC, HEALTHKIT_UNITS

OBSERVATION, WORKOUT = "health.observation", "health.workout"
PROLOGUE_LIMIT = 4 * 1024 * 1024
MAX_RATIO = 250  # real export.xml deflates about 10-40x; a bomb goes to 1000x
RATIO_FLOOR = 64 * 1024 * 1024  # small members are never refused for their ratio
CLINICAL_FILE_LIMIT = 16 * 1024 * 1024
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


class AppleHealthImporter(Importer):
    name = "apple-health"
    title = "Apple Health export (export.zip or export.xml)"
    category = "health"
    datasets = (OBSERVATION, WORKOUT, "health.clinical")
    extensions = (".zip", ".xml")
    description = "Everything the iPhone's Health app exports: measurements, workouts, activity rings."
    fields = (
        Field(
            "max_export_gb",
            "Largest export.xml accepted, in GB: a guard against zip bombs",
            type="int",
            required=False,
            default=50,
        ),
    )

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        if head.startswith(b"PK\x03\x04"):
            name = _first_member(head)
            return name.startswith("apple_health_export/") or PurePosixPath(name).name.lower() == "export.xml"
        text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        return text.startswith(b"<?xml") and (b"<HealthData" in head or b"<!DOCTYPE HealthData" in head)

    def read(self, path: Path, settings: dict[str, Any]) -> Iterator[Record | Fragment | Delete]:
        limit = int(settings.get("max_export_gb") or 50) * 10**9
        with _open_export(path, limit) as export:
            yield from _read_export(export, path.name)

    def normalize(self, fragment: Fragment) -> Record | list[Record] | None:
        return map_element(fragment.raw)


# Opening the export


class _Export:
    def __init__(self, stream: IO[bytes], member: str, archive: zipfile.ZipFile | None) -> None:
        self.stream = stream
        self.member = member  # where export.xml lives, for messages
        self.archive = archive

    def clinical_file(self, path: str, filename: str) -> Any:
        """The FHIR JSON a ClinicalRecord points at (`/clinical-records/x.json`), from the zip."""
        assert self.archive is not None
        folder = PurePosixPath(self.member).parent
        member = str(folder / path.lstrip("/"))
        try:
            info = self.archive.getinfo(member)
        except KeyError:
            raise ImportFailed(f"{filename}: {member} is named by a ClinicalRecord but missing from the zip") from None
        if info.file_size > CLINICAL_FILE_LIMIT:
            raise ImportFailed(f"{filename}: {member} is too large for a clinical record ({info.file_size} bytes)")
        try:
            return orjson.loads(self.archive.read(member))
        except orjson.JSONDecodeError as err:
            raise ImportFailed(f"{filename}: {member} is not valid JSON: {err}") from None


@contextmanager
def _open_export(path: Path, limit: int) -> Iterator[_Export]:
    with path.open("rb") as f:
        is_zip = f.read(4) == b"PK\x03\x04"
    if not is_zip:
        with path.open("rb") as f:
            yield _Export(f, path.name, None)
        return
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise ImportFailed(f"{path.name}: not a readable zip archive ({err}); was the download cut short?") from None
    with archive:
        info = _export_member(archive, path.name)
        if info.file_size > limit:
            raise ImportFailed(
                f"{path.name}: {info.filename} would unpack to {info.file_size:,} bytes, over the "
                f"max_export_gb limit; raise it if this export is really that large"
            )
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ImportFailed(
                f"{path.name}: {info.filename} unpacks {info.file_size // max(info.compress_size, 1)}x its "
                "compressed size, which no real export does: refusing a likely zip bomb"
            )
        try:
            stream = archive.open(info)
        except NotImplementedError as err:
            raise ImportFailed(f"{path.name}: {err}; unzip it and import {info.filename} itself") from None
        with stream:
            yield _Export(stream, info.filename, archive)


def _export_member(archive: zipfile.ZipFile, filename: str) -> zipfile.ZipInfo:
    """export.xml, or the localised name of it: the .xml beside export_cda.xml that holds HealthData."""
    candidates = [i for i in archive.infolist() if i.filename.lower().endswith(".xml") and not i.is_dir()]
    for info in candidates:
        if PurePosixPath(info.filename).name.lower() == "export.xml":
            return info
    for info in candidates:
        if "cda" in PurePosixPath(info.filename).name.lower() or info.filename.count("/") > 1:
            continue
        try:
            with archive.open(info) as f:
                head = f.read(4096)
        except (zipfile.BadZipFile, NotImplementedError, OSError, zlib.error):
            continue
        if b"<!DOCTYPE HealthData" in head or b"<HealthData" in head:
            return info
    raise ImportFailed(
        f"{filename}: no export.xml in this zip; an Apple Health export holds apple_health_export/export.xml"
    )


def _first_member(head: bytes) -> str:
    if len(head) < 30:
        return ""
    size = int.from_bytes(head[26:28], "little")
    return head[30 : 30 + size].decode("utf-8", errors="replace")


# Control characters XML 1.0 forbids; some iOS versions wrote vertical tabs into names and
# metadata, which would stop the parser. UTF-8 never uses these bytes inside a character.
_FORBIDDEN = bytes([*range(9), 11, 12, *range(14, 32)])
_CONTROL = bytes.maketrans(_FORBIDDEN, b" " * len(_FORBIDDEN))


class _Prologue:
    """Reads ahead to the root element and refuses entity declarations (XML bombs), then replays,
    with forbidden control characters turned into spaces."""

    def __init__(self, stream: IO[bytes], label: str) -> None:
        self.stream = stream
        buf = b""
        while b"<HealthData" not in buf:
            chunk = stream.read(65536)
            if not chunk:
                break
            buf += chunk
            if len(buf) > PROLOGUE_LIMIT:
                break
        root = buf.find(b"<HealthData")
        if root < 0:
            raise ImportFailed(f"{label}: no <HealthData> element near the start: not an Apple Health export")
        if b"<!ENTITY" in buf[:root]:
            raise ImportFailed(
                f"{label}: the document declares XML entities, which Apple Health exports never do "
                "(entity expansion is how XML bombs work); refusing it"
            )
        self.pending = buf

    def read(self, size: int = -1) -> bytes:
        if self.pending:
            out, self.pending = self.pending, b""
            return out.translate(_CONTROL)
        return self.stream.read(size).translate(_CONTROL)


# Streaming the elements


def _read_export(export: _Export, filename: str) -> Iterator[Record]:
    label = filename if export.archive is None else f"{filename}: {export.member}"
    for index, elem in _top_level(export, label):
        tag = elem.tag
        if tag in ("ExportDate", "Me"):
            continue
        raw = element_raw(elem)
        if tag == "ClinicalRecord":
            if export.archive is None:
                continue  # the FHIR files are only in the zip
            raw["resource"] = export.clinical_file(str(raw.get("resourceFilePath", "")), filename)
        try:
            record = map_element(raw)
        except (ValueError, KeyError, fhir_mapping.FhirInvalid) as err:
            kind = raw.get("type") or raw.get("workoutActivityType") or ""
            raise ImportFailed(f"{label}: element {index:,} ({tag} {kind}): {err}".replace(" )", ")")) from None
        if record is not None:
            yield record


def _top_level(export: _Export, label: str) -> Iterator[tuple[int, ET.Element]]:
    depth, index = 0, 0
    root: ET.Element | None = None
    try:
        for event, elem in ET.iterparse(_Prologue(export.stream, label), events=("start", "end")):
            if event == "start":
                depth += 1
                if root is None:
                    root = elem
                continue
            depth -= 1
            if depth == 1 and root is not None:
                index += 1
                yield index, elem
                root.clear()  # what was mapped is freed: memory stays flat
    except ET.ParseError as err:
        line, column = err.position
        raise ImportFailed(f"{label}: malformed XML at line {line:,}, column {column}: {err.msg}") from None
    except (zipfile.BadZipFile, EOFError, zlib.error) as err:
        raise ImportFailed(f"{label}: the zip is damaged ({err}); was the download cut short?") from None
    if root is None:
        raise ImportFailed(f"{label}: no Apple Health data")


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
