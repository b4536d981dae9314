"""Green Button Download My Data files (ESPI Atom feeds), written deterministically.

    from connectors.testing.generators.greenbutton import Channel, write_feed, electricity_feed

A feed holds usage points, each with meter readings (`Channel` here: one MeterReading,
its ReadingType and its IntervalBlocks). Every ReadingType feature the importer reads
can be set per channel; `layout` moves the metadata around as real feeds do. Files are
written as they are generated, so a million readings cost no memory.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Literal
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"
BASE = "https://utility.example.com/DataCustodian/espi/1_1/resource"

Layout = Literal["standard", "metadata_last", "links_after_content", "embedded_reading_type"]


@dataclass
class Channel:
    """One MeterReading of a usage point with its ReadingType and readings.

    `periods` lists (start epoch, duration s) of each reading; by default `count`
    readings of `interval_length` from `start`. None leaves an element out of the file.
    """

    usage_point: str = "5446AF3F"
    meter_reading: str = "01"
    reading_type: str = "07"
    title: str = "Front Electric Meter"
    service_kind: int | None = 0
    commodity: int | None = 1
    flow_direction: int | None = 1
    uom: int | None = 72
    power_of_ten: int | None = 0
    interval_length: int | None = 900
    accumulation: int | None = 4
    kind: int | None = 12
    currency: int | None = 840
    start: int = 1_767_225_600  # 2026-01-01T00:00:00Z
    count: int = 96
    block_seconds: int = 86_400
    periods: list[tuple[int, int]] | None = None
    quality: Callable[[int], list[int]] | None = None
    cost: bool = False
    seed: int = 1
    values: Callable[[int, int], int] | None = None
    write_reading_type: bool = True

    def value(self, index: int, start: int) -> int:
        """The raw `value` of reading `index`: a daily load shape with noise, deterministic."""
        if self.values is not None:
            return self.values(index, start)
        hour = (start // 3600) % 24
        shape = 120 + (260 if 17 <= hour < 22 else 0) + (140 if 7 <= hour < 9 else 0)
        noise = (self.seed * 7919 + index * 104_729) % 97
        return shape + noise

    def readings(self) -> Iterator[tuple[int, int, int, int]]:
        """(index, start, duration, value) of each reading."""
        if self.periods is not None:
            for i, (start, duration) in enumerate(self.periods):
                yield i, start, duration, self.value(i, start)
            return
        step = self.interval_length or 900
        for i in range(self.count):
            start = self.start + i * step
            yield i, start, step, self.value(i, start)

    @property
    def up_href(self) -> str:
        return f"{BASE}/RetailCustomer/9B6C7066/UsagePoint/{self.usage_point}"

    @property
    def mr_href(self) -> str:
        return f"{self.up_href}/MeterReading/{self.meter_reading}"

    @property
    def rt_href(self) -> str:
        return f"{BASE}/ReadingType/{self.reading_type}"


@dataclass
class Feed:
    channels: list[Channel] = field(default_factory=list)
    layout: Layout = "standard"
    tz_offset: int = 0
    dst_offset: int = 3600


def local_days(tz: str, first: date, days: int) -> list[tuple[int, int]]:
    """(start, duration) of `days` local calendar days: 23 or 25 hours on DST days."""
    zone = ZoneInfo(tz)
    out = []
    for n in range(days):
        d = first + timedelta(days=n)
        a = datetime(d.year, d.month, d.day, tzinfo=zone)
        nxt = d + timedelta(days=1)
        b = datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone)
        out.append((int(a.timestamp()), int(b.timestamp() - a.timestamp())))
    return out


def local_day_intervals(tz: str, day: date, minutes: int) -> list[tuple[int, int]]:
    """The intervals of one local day: 46 half hours on a spring-forward day, 50 in autumn."""
    ((start, duration),) = local_days(tz, day, 1)
    step = minutes * 60
    return [(t, step) for t in range(start, start + duration, step)]


def write_feed(path: Path, feed: Feed | Iterable[Channel]) -> Path:
    """Write `feed` (or a standard feed of channels) to `path`, streaming."""
    if not isinstance(feed, Feed):
        feed = Feed(list(feed))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        out.write(f'<feed xmlns="{ATOM}" xmlns:espi="{ESPI}">\n')
        out.write("  <id>urn:uuid:15B0A4ED-CCF4-4521-A0A1-9FF650EC8A6B</id>\n")
        out.write("  <title>Green Button Usage Feed</title>\n  <updated>2026-06-01T00:00:00Z</updated>\n")
        if feed.layout != "metadata_last":
            _metadata(out, feed)
        for channel in feed.channels:
            _blocks(out, channel, links_after=feed.layout == "links_after_content")
        if feed.layout == "metadata_last":
            _metadata(out, feed)
        out.write("</feed>\n")
    return path


def _entry(out: IO[str], self_href: str, title: str, content: str, links: Iterable[tuple[str, str]] = ()) -> None:
    out.write(f"  <entry>\n    <id>urn:uuid:{zlib.crc32(self_href.encode()):010d}</id>\n")
    out.write(f'    <link rel="self" href={quoteattr(self_href)}/>\n')
    for rel, href in links:
        out.write(f"    <link rel={quoteattr(rel)} href={quoteattr(href)}/>\n")
    out.write(f"    <title>{escape(title)}</title>\n    <content>\n{content}    </content>\n")
    out.write("    <published>2026-06-01T00:00:00Z</published>\n    <updated>2026-06-01T00:00:00Z</updated>\n")
    out.write("  </entry>\n")


def _elements(values: dict[str, int | None], indent: str) -> str:
    return "".join(f"{indent}<{k}>{v}</{k}>\n" for k, v in values.items() if v is not None)


def _reading_type(c: Channel) -> str:
    fields = {
        "accumulationBehaviour": c.accumulation,
        "commodity": c.commodity,
        "currency": c.currency,
        "dataQualifier": 12,
        "flowDirection": c.flow_direction,
        "intervalLength": c.interval_length,
        "kind": c.kind,
        "phase": 769,
        "powerOfTenMultiplier": c.power_of_ten,
        "timeAttribute": 0,
        "uom": c.uom,
    }
    return f"      <ReadingType xmlns={quoteattr(ESPI)}>\n{_elements(fields, '        ')}      </ReadingType>\n"


def _metadata(out: IO[str], feed: Feed) -> None:
    seen: set[str] = set()
    ltp = f"{BASE}/LocalTimeParameters/01"
    for c in feed.channels:
        if c.usage_point not in seen:
            seen.add(c.usage_point)
            kind = _elements({"kind": c.service_kind}, "          ")
            content = f"      <UsagePoint xmlns={quoteattr(ESPI)}>\n        <ServiceCategory>\n{kind}"
            content += "        </ServiceCategory>\n      </UsagePoint>\n"
            links = [("up", c.up_href.rsplit("/", 1)[0]), ("related", f"{c.up_href}/MeterReading"), ("related", ltp)]
            _entry(out, c.up_href, c.title, content, links)
    offsets = {"dstEndRule": "B40E2000", "dstOffset": feed.dst_offset, "dstStartRule": "360E2000"}
    params = "".join(f"        <{k}>{v}</{k}>\n" for k, v in {**offsets, "tzOffset": feed.tz_offset}.items())
    _entry(
        out,
        ltp,
        "DST rules",
        f"      <LocalTimeParameters xmlns={quoteattr(ESPI)}>\n{params}      </LocalTimeParameters>\n",
    )
    embedded = feed.layout == "embedded_reading_type"
    for c in feed.channels:
        links = [("up", f"{c.up_href}/MeterReading"), ("related", f"{c.mr_href}/IntervalBlock")]
        if not embedded and c.write_reading_type:
            links.append(("related", c.rt_href))
        if embedded and c.write_reading_type:
            inner = _reading_type(c).replace(f" xmlns={quoteattr(ESPI)}", "")
            content = f"      <MeterReading xmlns={quoteattr(ESPI)}>\n{inner}      </MeterReading>\n"
        else:
            content = f"      <MeterReading xmlns={quoteattr(ESPI)}/>\n"
        _entry(out, c.mr_href, "Electricity consumption", content, links)
        if not embedded and c.write_reading_type:
            _entry(out, c.rt_href, "Type of Meter Reading Data", _reading_type(c), [("up", f"{BASE}/ReadingType")])


def _blocks(out: IO[str], c: Channel, *, links_after: bool) -> None:
    block: list[str] = []
    block_start: int | None = None
    number = 0

    def flush() -> None:
        nonlocal block, number
        if block_start is None or not block:
            return
        number += 1
        href = f"{c.mr_href}/IntervalBlock/{number}"
        links = f'    <link rel="self" href="{href}"/>\n    <link rel="up" href="{c.mr_href}/IntervalBlock"/>\n'
        out.write(f"  <entry>\n    <id>urn:uuid:block-{c.usage_point}-{c.meter_reading}-{number}</id>\n")
        if not links_after:
            out.write(links)
        out.write(f"    <title/>\n    <content>\n      <IntervalBlock xmlns={quoteattr(ESPI)}>\n")
        out.write(f"        <interval><duration>{c.block_seconds}</duration><start>{block_start}</start></interval>\n")
        out.write("".join(block))
        out.write("      </IntervalBlock>\n    </content>\n")
        if links_after:
            out.write(links)
        out.write("  </entry>\n")
        block = []

    for i, start, duration, value in c.readings():
        if block_start is None or start >= block_start + c.block_seconds:
            flush()
            block_start = start
        parts = ["        <IntervalReading>\n"]
        if c.cost:
            parts.append(f"          <cost>{value * 31}</cost>\n")
        for q in c.quality(i) if c.quality else ():
            parts.append(f"          <ReadingQuality><quality>{q}</quality></ReadingQuality>\n")
        parts.append(
            f"          <timePeriod><duration>{duration}</duration><start>{start}</start></timePeriod>\n"
            f"          <value>{value}</value>\n        </IntervalReading>\n"
        )
        block.append("".join(parts))
    flush()


# --- presets ------------------------------------------------------------------------------


def _some_estimated(i: int) -> list[int]:
    return [8] if i % 41 == 7 else [7] if i % 53 == 11 else [0]


def electricity_feed(path: Path, *, days: int = 3, interval: int = 900, seed: int = 1) -> Path:
    """A household's 15-minute electricity consumption in Wh, with estimated and edited readings."""
    channel = Channel(count=days * 86400 // interval, interval_length=interval, quality=_some_estimated, cost=True)
    channel.seed = seed
    return write_feed(path, [channel])


def solar_feed(path: Path, *, days: int = 2, seed: int = 2) -> Path:
    """Net metering: hourly consumption and production (flowDirection 19) of one usage point, in kWh
    (uom Wh with powerOfTenMultiplier 3)."""
    start = 1_751_328_000  # 2025-07-01T00:00:00Z

    def sun(i: int, t: int) -> int:
        hour = (t // 3600) % 24
        return max(0, 6 - abs(13 - hour)) * (3 + (seed + i) % 2)

    used = Channel(usage_point="SOLAR-1", meter_reading="1", reading_type="1", interval_length=3600, count=days * 24)
    used.start, used.seed, used.power_of_ten, used.values = start, seed, 3, lambda i, t: 1 + (i % 3)
    made = Channel(usage_point="SOLAR-1", meter_reading="2", reading_type="2", interval_length=3600, count=days * 24)
    made.start, made.seed, made.power_of_ten, made.values, made.flow_direction = start, seed, 3, sun, 19
    return write_feed(path, Feed([used, made], tz_offset=-28800))


def gas_feed(path: Path, *, days: int = 60, seed: int = 3) -> Path:
    """Daily natural gas in therms (uom 169, powerOfTenMultiplier -3), no commodity in the
    ReadingType: the usage point's ServiceCategory says gas."""
    channel = Channel(
        usage_point="GAS-77",
        title="1 Main St gas",
        service_kind=1,
        commodity=None,
        flow_direction=None,
        uom=169,
        power_of_ten=-3,
        interval_length=86400,
        count=days,
        start=1_733_011_200,  # 2024-12-01T00:00:00Z
        block_seconds=86400 * 30,
        seed=seed,
        values=lambda i, t: 1800 + (i * 37) % 900,
    )
    return write_feed(path, [channel])


def large_feed(path: Path, *, readings: int = 1_000_000, interval: int = 900) -> Path:
    """A long 15-minute history: `readings` readings in daily IntervalBlocks."""
    return write_feed(path, [Channel(count=readings, interval_length=interval, quality=lambda i: [0])])


def as_datetime(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
