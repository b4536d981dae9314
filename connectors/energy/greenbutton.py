"""Green Button Download My Data files: ESPI (NAESB REQ.21) Atom feeds of interval readings.

A feed links its resources by URL: an IntervalBlock belongs to the MeterReading whose URL
its own starts with, a MeterReading points at its ReadingType (or embeds it), and the
ReadingType says what the numbers are (unit, power of ten, commodity, direction). The
file is parsed incrementally (the iterparse pattern) by defusedxml's parser, which
refuses DTDs and entities, with a target that builds no tree: memory stays flat
whatever the file size. Blocks whose metadata comes later in the file are noted and
read in a second pass, once everything is known.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from connectors.sdk import Field, Importer, ImportFailed, Record, decimal_text
from connectors.sdk.limits import bounded

from . import units
from .units import IsoClock, Series, Skip, check_zone, reading_series, zone

ATOM_NS = "http://www.w3.org/2005/Atom"
ESPI_NS = "http://naesb.org/espi"
CHUNK = 1 << 16
MAX_EXPONENT = 100  # no meter reads 1e100 of anything
# Sanity bounds: a reading lasts at most a year and starts between 1990 and 2100.
MIN_START, MAX_START = 631_152_000, 4_102_444_800
MAX_DURATION = units.MAX_DURATION
RT_LEAVES = (
    "powerOfTenMultiplier",
    "uom",
    "commodity",
    "flowDirection",
    "intervalLength",
    "accumulationBehaviour",
    "currency",
    "kind",
)


class GreenButton(Importer):
    name = "green-button"
    title = "Green Button (Download My Data)"
    category = "energy"
    datasets = ("energy.reading",)
    extensions = (".xml",)
    description = "Interval readings (electricity, gas, water) from a utility's Green Button XML download."
    fields = (
        Field(
            "timezone",
            "Time zone to write interval starts and ends in, e.g. America/Los_Angeles (instants do not change)",
            required=False,
            default="UTC",
            check=check_zone,
        ),
    )

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        if ATOM_NS.encode() not in head or ESPI_NS.encode() not in head:
            return False
        return any(name in head for name in (b"UsagePoint", b"MeterReading", b"IntervalBlock", b"ReadingType"))

    def read(self, path: Path, settings: dict[str, Any]) -> Iterator[Record]:
        name = str(settings.get("timezone") or "UTC")
        try:
            tz: tzinfo = UTC if name == "UTC" else zone(name)
        except ValueError as err:
            raise ImportFailed(f"{path.name}: {err}") from None
        reader = FeedReader(path.name, tz)
        yield from _parse(path, reader)
        if reader.deferred:
            reader.second_pass = True
            yield from _parse(path, reader)
        if reader.count == 0:
            # A subscription feed can describe the meters only (UsagePoint, MeterReading, ReadingType).
            hint = reader.skipped_note() or (
                ": the feed holds no IntervalReading (meter descriptions only); download the usage "
                "itself (Download My Data, XML, with a date range)"
            )
            raise ImportFailed(f"{path.name}: no interval readings to import{hint}")


def _parse(path: Path, reader: FeedReader) -> Iterator[Record]:
    parser = DefusedXMLParser(target=_NoTree(), forbid_dtd=True)
    reader.attach(parser.parser)
    try:
        with path.open("rb") as raw, bounded(raw, path.name, "markup") as f:
            while chunk := f.read(CHUNK):
                parser.feed(chunk)
                if reader.out:
                    yield from reader.out
                    reader.out = []
            parser.close()
    except ParseError as err:
        line, column = getattr(err, "position", (0, 0))
        raise ImportFailed(f"{path.name}: malformed XML at line {line}, column {column}: {err}") from None
    except DefusedXmlException as err:
        raise ImportFailed(f"{path.name}: refused: {err} (Green Button files have no DTD or entities)") from None
    except OSError as err:
        raise ImportFailed(f"{path.name}: cannot read: {err}") from None
    except LookupError as err:
        if type(err) is not LookupError:  # a KeyError here is selfdata's own fault
            raise
        name = str(err).rpartition(": ")[2]  # expat: an encoding Python does not know
        raise ImportFailed(
            f"{path.name}: the XML declaration names the encoding {name!r}, which is not a known one "
            "(Green Button files are UTF-8)"
        ) from None
    yield from reader.out
    reader.out = []


class _NoTree:
    """The parser's target when FeedReader takes the element callbacks: nothing to build."""

    def close(self) -> None:
        return None


@dataclass
class MeterReadingEntry:
    href: str
    up_href: str | None
    rt_href: str | None
    embedded: dict[str, str] | None


def _path(href: str) -> str:
    return urlsplit(href.strip()).path.rstrip("/")


def _segment_after(path: str, name: str) -> str | None:
    marker = f"/{name}/"
    if marker not in path:
        return None
    return path.split(marker, 1)[1].split("/", 1)[0] or None


class FeedIndex:
    """The feed's metadata resources, by URL path. Small: one entry per resource, not per reading."""

    def __init__(self) -> None:
        self.usage_points: dict[str, int | None] = {}  # href -> ServiceCategory kind
        self.up_related: dict[str, str] = {}  # MeterReading (collection) href -> usage point href
        self.meter_readings: dict[str, MeterReadingEntry] = {}
        self.reading_types: dict[str, dict[str, str]] = {}
        self.series: dict[str, Series | Skip] = {}

    def add(self, kind: str, links: list[tuple[str, str]], content: dict[str, Any]) -> None:
        self_href = next((_path(h) for rel, h in links if rel == "self"), "")
        if kind == "UsagePoint":
            self.usage_points[self_href] = content.get("service_kind")
            for rel, href in links:
                if rel == "related" and "/MeterReading" in href:
                    self.up_related[_path(href)] = self_href
        elif kind == "MeterReading":
            up = next((_path(h) for rel, h in links if rel == "up" and "/MeterReading" in h), None)
            rt = next((_path(h) for rel, h in links if rel == "related" and "/ReadingType" in h), None)
            up_href = up.rsplit("/MeterReading", 1)[0] if up else None
            self.meter_readings[self_href] = MeterReadingEntry(self_href, up_href, rt, content.get("reading_type"))
        elif kind == "ReadingType":
            self.reading_types[self_href] = content.get("reading_type") or {}


class FeedReader:
    """Follows the feed through expat callbacks and makes a Record of each IntervalReading.

    It sits on defusedxml's parser (whose DTD and entity guards stay in place) but takes
    the element callbacks itself and builds no element objects: that keeps a million
    readings fast and memory flat. Work happens at element ends; leaf text is what was
    collected since the previous end (surrounding whitespace is harmless to numbers).
    """

    def __init__(self, filename: str, tz: tzinfo) -> None:
        self.filename = filename
        self.clock = IsoClock(tz)
        self.utc = IsoClock(UTC, zulu=True)
        self._quantity_memo: dict[str, dict[str, str]] = {}
        self.index = FeedIndex()
        self.second_pass = False
        self.deferred: dict[int, list[tuple[str, str]]] = {}  # entry number -> its links
        self.skipped: dict[str, int] = {}
        self.out: list[Record] = []
        self.count = 0
        self.text: list[str] = []
        self._links = {f"{ATOM_NS}}}link", "link"}
        self._ends: dict[str, Callable[[], None]] = {}
        ends: dict[str, Callable[[], None]] = {
            "entry": self._end_entry,
            "UsagePoint": self._end_usage_point,
            "MeterReading": self._end_meter_reading,
            "ReadingType": self._end_reading_type,
            "IntervalBlock": self._end_block,
            "interval": self._end_block_interval,
            "IntervalReading": self._end_reading,
            "value": self._end_value,
            "cost": self._end_cost,
            "quality": self._end_quality,
            "duration": self._end_duration,
            "start": self._end_start,
        }
        for leaf in (*RT_LEAVES, "kind"):
            ends[leaf] = self._field(leaf)
        for local, handler in ends.items():
            for name in (f"{ESPI_NS}}}{local}", f"{ATOM_NS}}}{local}", local):
                self._ends[name] = handler

    def attach(self, expat: Any) -> None:
        """Take over the element callbacks of `expat` for one pass over the file."""
        self.expat = expat
        expat.StartElementHandler = self._start
        expat.EndElementHandler = self._end
        expat.CharacterDataHandler = self.text.append
        self.entry_no = 1  # the entry being read
        self.links: list[tuple[str, str]] = []
        self.fields: dict[str, str] = {}
        self.kind: str | None = None
        self.content: dict[str, Any] = {}
        self.block_seen = False
        self.series: Series | None = None
        self.prev_end = -1
        self.last_end: tuple[int, str, str] = (-1, "", "")  # epoch, local text, key text
        self.quantities: dict[str, str] = {}
        self._clear_reading()

    def _clear_reading(self) -> None:
        self.r_start: str | None = None
        self.r_duration: str | None = None
        self.r_value: str | None = None
        self.r_cost: str | None = None
        self.r_quality: list[str] = []

    def _start(self, name: str, attrs: list[str]) -> None:
        # Only links matter at a start (for their attributes); readings have none.
        if attrs and name in self._links:
            attrib = dict(zip(attrs[::2], attrs[1::2], strict=True))
            self.links.append((attrib.get("rel", "alternate"), attrib.get("href", "")))

    def _end(self, name: str) -> None:
        handler = self._ends.get(name)
        if handler is not None:
            handler()
        self.text.clear()

    # --- entries and metadata ---

    def _field(self, name: str) -> Callable[[], None]:
        def end() -> None:
            self.fields[name] = "".join(self.text).strip()

        return end

    def _end_usage_point(self) -> None:
        self.kind = "UsagePoint"
        self.content["service_kind"] = _int_or_none(self.fields.get("kind"))

    def _end_meter_reading(self) -> None:
        self.kind = "MeterReading"

    def _end_reading_type(self) -> None:
        self.kind = self.kind or "ReadingType"
        self.content["reading_type"] = {k: v for k, v in self.fields.items() if k in RT_LEAVES}

    def _end_entry(self) -> None:
        if not self.second_pass:
            if self.entry_no in self.deferred:
                self.deferred[self.entry_no] = list(self.links)
            if self.kind is not None:
                self.index.add(self.kind, self.links, self.content)
        self.entry_no += 1
        self.links = []
        self.fields = {}
        self.kind = None
        self.content = {}
        self._end_block()

    # --- interval blocks and readings ---

    def _block_series(self) -> Series | None:
        """What the current block measures: resolved at its first reading."""
        self.block_seen = True
        if self.second_pass:
            if self.entry_no not in self.deferred:
                return None
            resolved = self._resolve(self.deferred[self.entry_no] or self.links, final=True)
        else:
            resolved = self._resolve(self.links, final=False)
            if resolved is None:
                self.deferred[self.entry_no] = []
                return None
        if isinstance(resolved, Skip):
            self.skipped[resolved.reason] = self.skipped.get(resolved.reason, 0) + 1
            return None
        return resolved

    def _end_block(self) -> None:
        self.block_seen = False
        self.series = None
        self.prev_end = -1
        self._clear_reading()

    def _end_block_interval(self) -> None:
        # The block's own <interval> has a start and duration too: not a reading's.
        self.r_start = self.r_duration = None

    def _end_value(self) -> None:
        self.r_value = "".join(self.text)

    def _end_cost(self) -> None:
        self.r_cost = "".join(self.text)

    def _end_quality(self) -> None:
        self.r_quality.append("".join(self.text).strip())

    def _end_duration(self) -> None:
        self.r_duration = "".join(self.text)

    def _end_start(self) -> None:
        self.r_start = "".join(self.text)

    def _end_reading(self) -> None:
        if not self.block_seen:
            self.series = self._block_series()
            if self.series is not None:
                self.quantities = self._quantity_memo.setdefault(self.series.key_prefix, {})
        if self.series is not None:
            self.out.append(self._record(self.series))
            self.count += 1
        self._clear_reading()

    def _record(self, s: Series) -> Record:
        try:
            start = int(self.r_start or "")
            duration = int(self.r_duration) if self.r_duration else s.interval_length
        except ValueError:
            period = f"{(self.r_start or '').strip()!r}/{(self.r_duration or '').strip()!r}"
            raise self._fail(f"IntervalReading timePeriod {period} is not whole seconds") from None
        if duration is None:
            raise self._fail("IntervalReading has no duration and its ReadingType no intervalLength")
        if not 0 < duration <= MAX_DURATION:
            raise self._fail(f"absurd interval: duration {duration} s (expected 1 s to 366 days)")
        if not MIN_START <= start <= MAX_START:
            raise self._fail(f"absurd interval: start {start} is not between 1990 and 2100")
        if start < self.prev_end:
            raise self._fail(
                f"IntervalReading starting {_utc(start)} overlaps or precedes the previous one in its "
                "block (a repeated hour, as when local times are written as UTC around a DST change?)"
            )
        end = self.prev_end = start + duration
        # Readings are usually contiguous: the previous end is this start.
        if self.last_end[0] == start:
            _, begin, key_time = self.last_end
        else:
            begin, key_time = self.clock.text(start), self.utc.text(start)
        self.last_end = (end, self.clock.text(end), self.utc.text(end))
        data: dict[str, Any] = {
            "meter_id": s.meter_id,
            "commodity": s.commodity,
            "direction": s.direction,
            "start": begin,
            "end": self.last_end[1],
            "quantity": self._quantity(s),
            "unit": s.unit,
        }
        if self.r_quality:
            data["quality"] = _worst_quality(self.r_quality)
        if s.net:
            data["flow"] = "net"
        if self.r_cost and s.currency:
            data["cost"] = decimal_text(self._decimal(self.r_cost, "cost").scaleb(units.ESPI_COST_SHIFT))
            data["currency"] = s.currency
        return Record("energy.reading", s.key_prefix + key_time, datetime.fromtimestamp(start, UTC), data)

    def _quantity(self, s: Series) -> str:
        """The reading's quantity text; meters repeat a small set of values, so texts are memoised."""
        text = self.r_value or ""
        quantity = self.quantities.get(text)
        if quantity is None:
            value = self._decimal(text, "value")
            if value < 0 and not s.net:
                raise self._fail(f"negative value {value} for {s.direction}, which cannot run backwards")
            if s.factor is not None:
                value *= s.factor
            quantity = decimal_text(value.scaleb(s.shift))
            if len(self.quantities) >= 100_000:
                self.quantities.clear()
            self.quantities[text] = quantity
        return quantity

    def _decimal(self, text: str | None, what: str) -> Decimal:
        try:
            value = Decimal(text or "")
        except InvalidOperation:
            raise self._fail(f"IntervalReading {what} {(text or '').strip()!r} is not a number") from None
        if not value.is_finite():
            raise self._fail(f"IntervalReading {what} {(text or '').strip()!r} is not a finite number")
        if value and abs(value.adjusted()) > MAX_EXPONENT:  # scaling it would overflow the decimal context
            raise self._fail(f"IntervalReading {what} {(text or '').strip()!r} is out of range")
        return value

    # --- resolving what a block measures ---

    def _resolve(self, links: list[tuple[str, str]], *, final: bool) -> Series | Skip | None:
        idx = self.index
        mr_href = _block_meter_reading(links)
        mr = idx.meter_readings.get(mr_href) if mr_href else None
        if mr is None and final and len(idx.meter_readings) == 1:
            mr = next(iter(idx.meter_readings.values()))
        if mr is None:
            if not final:
                return None
            if idx.meter_readings or len(idx.reading_types) != 1:
                raise self._fail(
                    f"IntervalBlock {mr_href or ''} has no MeterReading, so no ReadingType says what it is"
                )
            mr = MeterReadingEntry(mr_href or "", None, next(iter(idx.reading_types)), None)
        cached = idx.series.get(mr.href)
        if cached is not None:
            return cached
        rt = mr.embedded if mr.embedded is not None else idx.reading_types.get(mr.rt_href or "")
        if rt is None and final and len(idx.reading_types) == 1 and len(idx.meter_readings) <= 1:
            rt = next(iter(idx.reading_types.values()))
        if rt is None:
            if not final:
                return None
            raise self._fail(f"missing ReadingType for MeterReading {mr.href}: cannot tell what its values are")
        up_href = self._usage_point_of(mr, final=final)
        needs_up = not _int_or_none(rt.get("commodity")) or _segment_after(mr.href, "UsagePoint") is None
        if up_href is None and needs_up and not final:
            return None
        resolved = self._series(mr, rt, up_href)
        idx.series[mr.href] = resolved
        return resolved

    def _usage_point_of(self, mr: MeterReadingEntry, *, final: bool) -> str | None:
        ups = self.index.usage_points
        for candidate in (mr.up_href, mr.href.rsplit("/MeterReading", 1)[0]):
            if candidate in ups:
                return candidate
        collection = mr.href.rsplit("/", 1)[0]
        related = self.index.up_related.get(mr.href) or self.index.up_related.get(collection)
        if related is not None:
            return related
        return next(iter(ups)) if final and len(ups) == 1 else None

    def _series(self, mr: MeterReadingEntry, rt: dict[str, str], up_href: str | None) -> Series | Skip:
        up_id = _segment_after(mr.href, "UsagePoint") or (_segment_after(up_href or "", "UsagePoint")) or "meter"
        mr_id = _segment_after(mr.href, "MeterReading") or mr.href.rsplit("/", 1)[-1] or "1"
        service_kind = self.index.usage_points.get(up_href or "")
        try:
            return reading_series(rt, service_kind, meter_id=up_id, channel=f"{up_id}/{mr_id}")
        except ValueError as err:
            raise self._fail(f"ReadingType of {mr.href}: {err}") from None

    def _fail(self, message: str) -> ImportFailed:
        line = getattr(self.expat, "CurrentLineNumber", 0)
        return ImportFailed(f"{self.filename}: line {line}: {message}")

    def skipped_note(self) -> str:
        if not self.skipped:
            return ""
        return " (left out: " + "; ".join(f"{n} block(s): {why}" for why, n in self.skipped.items()) + ")"


def _block_meter_reading(links: list[tuple[str, str]]) -> str | None:
    for rel in ("self", "up"):
        for r, href in links:
            path = _path(href)
            if r == rel and "/IntervalBlock" in path:
                return path.rsplit("/IntervalBlock", 1)[0]
    return None


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text.strip()) if text is not None and text.strip() else None
    except ValueError:
        return None


_QUALITY_TEXT = {str(code): label for code, label in units.ESPI_QUALITY.items()}


def _worst_quality(codes: list[str]) -> str:
    if len(codes) == 1:
        return _QUALITY_TEXT.get(codes[0], "unknown")
    return max((_QUALITY_TEXT.get(c, "unknown") for c in codes), key=units.QUALITY_RANK.__getitem__)


def _utc(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()[:19] + "Z"
