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

import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Any

import orjson

from connectors.sdk import Delete, Field, Fragment, Importer, ImportFailed, Record
from connectors.sdk.limits import bounded

from . import fhir_mapping
from .applehealth_mapping import OBSERVATION, WORKOUT, element_raw, map_element, parse_apple_date

__all__ = ["AppleHealthImporter", "map_element", "parse_apple_date"]

PROLOGUE_LIMIT = 4 * 1024 * 1024
MAX_RATIO = 250  # real export.xml deflates about 10-40x; a bomb goes to 1000x
RATIO_FLOOR = 64 * 1024 * 1024  # small members are never refused for their ratio
CLINICAL_FILE_LIMIT = 16 * 1024 * 1024


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
        if text.startswith((b"<HealthData", b"<!DOCTYPE HealthData")):
            return True  # an export.xml re-saved without its XML declaration (real ones are shared so)
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
            yield _Export(bounded(f, path.name, "markup"), path.name, None)
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
            yield _Export(bounded(stream, f"{path.name}: {info.filename}", "markup"), info.filename, archive)


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
    except LookupError as err:
        if type(err) is not LookupError:  # a KeyError here is selfdata's own fault
            raise
        name = str(err).rpartition(": ")[2]  # expat: an encoding Python does not know
        raise ImportFailed(
            f"{label}: the XML declaration names the encoding {name!r}, which is not a known one"
        ) from None
    if root is None:
        raise ImportFailed(f"{label}: no Apple Health data")
