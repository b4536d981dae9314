"""The Green Button importer against generated ESPI feeds and the real feeds in ../shared/samples."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connectors.energy.greenbutton import MAX_START, MIN_START, FeedReader, GreenButton
from connectors.energy.units import IsoClock
from connectors.sdk import ImportFailed, Record, datasets
from connectors.testing.contract import ImporterContract, head_of
from connectors.testing.generators.greenbutton import (
    Channel,
    Feed,
    electricity_feed,
    gas_feed,
    local_day_intervals,
    local_days,
    solar_feed,
    write_feed,
)
from connectors.testing.harness import import_file, read_file
from connectors.testing.memory import MemoryStore

from ..conftest import Cli

SAMPLES = Path("/work/shared/samples/energy")
EPOCH_2026 = 1_767_225_600  # 2026-01-01T00:00:00Z


def records(path: Path, **settings: Any) -> list[Record]:
    return [r for r in read_file(GreenButton(), path, settings) if isinstance(r, Record)]


def one_channel(tmp_path: Path, name: str = "feed.xml", layout: Any = "standard", **fields: Any) -> Path:
    return write_feed(tmp_path / name, Feed([Channel(**fields)], layout=layout))


class TestGreenButtonContract(ImporterContract):
    importer = GreenButton

    def samples(self, folder: Path) -> list[Path]:
        return [
            electricity_feed(folder / "electricity.xml", days=2),
            gas_feed(folder / "gas.xml", days=20),
            solar_feed(folder / "solar.xml", days=1),
            write_feed(folder / "late-metadata.xml", Feed([Channel(count=30)], layout="metadata_last")),
        ]


# --- the real feeds -------------------------------------------------------------------------

real = pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared samples not present")


@real
def test_real_feeds_are_recognised() -> None:
    for path in SAMPLES.glob("*.xml"):
        assert GreenButton.sniff(head_of(path), path.name), path.name


@real
def test_real_containerized_feed_hourly_wh_to_kwh() -> None:
    recs = records(SAMPLES / "greenbutton_electric_containerized.xml", timezone="America/Los_Angeles")
    assert len(recs) == 8
    first = recs[0]
    assert first.key == "1/01:electricity:consumption:2011-01-01T08:00:00Z"
    assert first.data["start"] == "2011-01-01T00:00:00-08:00"
    assert first.data["end"] == "2011-01-01T01:00:00-08:00"
    assert (first.data["quantity"], first.data["unit"]) == ("0.450", "kWh")  # 450 Wh
    assert sum(Decimal(r.data["quantity"]) for r in recs) == Decimal(
        "4.086"
    )  # 450 + 430 + 418 + 410 + 595 + 591 + 611 + 581 Wh


@real
def test_real_usage_data_15_minutes_with_quality_and_cost() -> None:
    recs = records(SAMPLES / "greenbutton_test_usage_data_01.xml")
    assert len(recs) == 96
    assert {r.data["meter_id"] for r in recs} == {"5446AF3F"}
    assert recs[0].data["quantity"] == "0.282"
    assert recs[0].data["quality"] == "estimated"  # quality 8: estimated using a reference day
    assert recs[1].data["quality"] == "revised"  # quality 7: manually edited
    assert "quality" not in recs[2].data
    assert (recs[0].data["cost"], recs[0].data["currency"]) == ("0.00974", "USD")
    starts = [datetime.fromisoformat(r.data["start"]) for r in recs]
    assert all((b - a).total_seconds() == 900 for a, b in itertools.pairwise(starts))


@real
def test_real_gas_feed_therms_from_service_category() -> None:
    recs = records(SAMPLES / "greenbutton_gas_direct.xml")
    assert [r.data["quantity"] for r in recs] == ["37.000", "14.000", "21.000", "27.000", "41.000"]
    assert {(r.data["commodity"], r.data["unit"], r.data["meter_id"]) for r in recs} == {("gas", "therm", "NET_USAGE")}
    # Billing periods of 35 days and so on, filed under the period measured.
    assert recs[0].data["start"] == "2021-05-26T00:00:00+00:00"
    assert recs[0].data["end"] == "2021-06-30T00:00:00+00:00"


def test_feed_of_meter_descriptions_only_says_what_to_download(tmp_path: Path) -> None:
    # The Green Button Alliance's anonymised subscription feed has this shape: UsagePoint,
    # MeterReading and ReadingType, no IntervalBlock.
    path = electricity_feed(tmp_path / "subscription.xml", days=0)
    with pytest.raises(
        ImportFailed,
        match=r"subscription\.xml: no interval readings to import: the feed holds no "
        r"IntervalReading \(meter descriptions only\); download the usage itself",
    ):
        records(path)


@real
def test_real_feed_without_readings_is_a_clear_error() -> None:
    path = SAMPLES / "greenbutton_usage_subscription_feed_anonymized.xml"
    with pytest.raises(ImportFailed, match="no interval readings"):
        records(path)


# --- what the ReadingType says ------------------------------------------------------------


@pytest.mark.parametrize(
    ("uom", "power", "raw", "quantity", "unit"),
    [
        (72, 0, 282, "0.282", "kWh"),  # Wh
        (72, 3, 2, "2", "kWh"),  # kWh written as Wh x 10^3
        (72, -1, 2820, "0.2820", "kWh"),  # tenths of Wh
        (169, -3, 37000, "37.000", "therm"),
        (42, -2, 153, "1.53", "m3"),
        (119, 2, 3, "300", "ft3"),
        (132, 0, 250000, "2.50000", "therm"),  # BTU: 100,000 to the therm
        (128, 0, 10, "37.854117840", "L"),  # US gallons, exactly
        (134, 0, 12, "12", "L"),
    ],
)
def test_values_are_scaled_into_their_unit(
    tmp_path: Path, uom: int, power: int, raw: int, quantity: str, unit: str
) -> None:
    commodity = 1 if uom == 72 else 7 if uom in (169, 42, 119, 132) else 9
    path = one_channel(tmp_path, uom=uom, power_of_ten=power, commodity=commodity, count=2, values=lambda i, t: raw)
    (first, _) = records(path)
    assert (first.data["quantity"], first.data["unit"]) == (quantity, unit)


def test_data_is_the_normalised_shape(tmp_path: Path) -> None:
    path = one_channel(tmp_path, count=1, quality=lambda i: [0], values=lambda i, t: 182)
    (rec,) = records(path, timezone="Europe/Paris")
    paris = ZoneInfo("Europe/Paris")
    expected = datasets.EnergyReading.make(
        meter_id="5446AF3F",
        commodity="electricity",
        direction="consumption",
        start=datetime(2026, 1, 1, 1, 0, tzinfo=paris),
        end=datetime(2026, 1, 1, 1, 15, tzinfo=paris),
        quantity=Decimal("0.182"),
        unit="kWh",
        quality="actual",
    )
    assert {k: v for k, v in rec.data.items() if k not in ("cost", "currency")} == expected
    assert rec.ts == datetime(2026, 1, 1, tzinfo=UTC)
    assert rec.key == "5446AF3F/01:electricity:consumption:2026-01-01T00:00:00Z"


def test_production_is_apart_from_consumption(tmp_path: Path) -> None:
    recs = records(solar_feed(tmp_path / "solar.xml", days=1))
    by_direction = {d: [r for r in recs if r.data["direction"] == d] for d in ("consumption", "production")}
    assert len(by_direction["consumption"]) == len(by_direction["production"]) == 24
    noon = "2025-07-01T13:00:00Z"
    assert by_direction["production"][13].key == f"SOLAR-1/2:electricity:production:{noon}"
    assert by_direction["consumption"][13].key == f"SOLAR-1/1:electricity:consumption:{noon}"
    assert Decimal(by_direction["production"][13].data["quantity"]) > 0
    assert len({r.key for r in recs}) == 48


def test_net_flow_keeps_its_sign(tmp_path: Path) -> None:
    path = one_channel(tmp_path, flow_direction=4, count=3, values=lambda i, t: [500, -1200, 0][i])
    recs = records(path)
    assert [r.data["quantity"] for r in recs] == ["0.500", "-1.200", "0.000"]
    assert {(r.data["direction"], r.data["flow"]) for r in recs} == {("consumption", "net")}


def test_gas_commodity_from_reading_type_or_usage_point(tmp_path: Path) -> None:
    from_rt = records(one_channel(tmp_path, "a.xml", commodity=7, service_kind=None, uom=42, count=1))
    from_up = records(one_channel(tmp_path, "b.xml", commodity=None, service_kind=1, uom=42, count=1))
    assert from_rt[0].data["commodity"] == from_up[0].data["commodity"] == "gas"
    water = records(one_channel(tmp_path, "c.xml", commodity=9, uom=134, count=1))
    assert (water[0].data["commodity"], water[0].data["unit"]) == ("water", "L")


def test_electricity_in_cubic_metres_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImportFailed, match="electricity measured in m3"):
        records(one_channel(tmp_path, commodity=1, uom=42, count=1))


def test_duration_comes_from_interval_length_when_the_period_has_none(tmp_path: Path) -> None:
    path = one_channel(tmp_path, count=2, interval_length=3600)
    path.write_text(path.read_text().replace("<duration>3600</duration>", ""))
    recs = records(path)
    assert [r.data["end"] for r in recs] == ["2026-01-01T01:00:00+00:00", "2026-01-01T02:00:00+00:00"]


def test_no_duration_anywhere_is_an_error(tmp_path: Path) -> None:
    path = one_channel(tmp_path, count=2, interval_length=None)
    path.write_text(path.read_text().replace("<duration>900</duration>", ""))
    with pytest.raises(ImportFailed, match="no duration"):
        records(path)


def test_register_readings_are_left_out_and_said_so(tmp_path: Path) -> None:
    cumulative = Channel(meter_reading="2", reading_type="2", accumulation=3, count=4)
    delta = Channel(count=4)
    recs = records(write_feed(tmp_path / "mixed.xml", [delta, cumulative]))
    assert {r.key.split(":")[0] for r in recs} == {"5446AF3F/01"}
    with pytest.raises(ImportFailed, match="cumulative"):
        records(write_feed(tmp_path / "only.xml", [cumulative]))


def test_power_series_are_left_out(tmp_path: Path) -> None:
    demand = Channel(meter_reading="9", reading_type="9", uom=38, kind=8, count=3)
    recs = records(write_feed(tmp_path / "demand.xml", [Channel(count=3), demand]))
    assert len(recs) == 3


def test_worst_quality_wins(tmp_path: Path) -> None:
    path = one_channel(tmp_path, count=3, quality=lambda i: [[0, 8], [17], [0, 13]][i])
    assert [r.data["quality"] for r in records(path)] == ["estimated", "actual", "unknown"]


@pytest.mark.parametrize("layout", ["metadata_last", "links_after_content", "embedded_reading_type"])
def test_metadata_anywhere_in_the_feed_gives_the_same_records(tmp_path: Path, layout: str) -> None:
    standard = records(one_channel(tmp_path, "a.xml", count=200))
    moved = records(one_channel(tmp_path, "b.xml", layout=layout, count=200))
    assert [(r.key, r.data) for r in moved] == [(r.key, r.data) for r in standard]


def test_reading_is_streamed(tmp_path: Path) -> None:
    path = one_channel(tmp_path, count=20_000, quality=None)
    items = GreenButton().read(path, {})
    assert len(list(itertools.islice(items, 10))) == 10
    frame = items.gi_frame  # type: ignore[attr-defined]
    reader = next(v for v in frame.f_locals.values() if isinstance(v, FeedReader))
    # Only the chunks read so far have become records, not the whole file.
    assert 10 <= reader.count < 2_000


def test_a_newer_overlapping_export_adds_only_what_is_new(tmp_path: Path) -> None:
    def by_time(i: int, t: int) -> int:
        return 100 + (t // 900) % 400

    older = one_channel(tmp_path, "older.xml", count=3 * 96, values=by_time)
    newer = one_channel(tmp_path, "newer.xml", count=3 * 96, start=EPOCH_2026 + 2 * 86400, values=by_time)
    store = MemoryStore()
    assert import_file(GreenButton(), older, store).new == 288
    again = import_file(GreenButton(), newer, store)
    assert (again.new, again.changed, again.unchanged) == (192, 0, 96)
    assert len(store.records) == 5 * 96


# --- times and DST -------------------------------------------------------------------------


def test_spring_forward_day_in_london(tmp_path: Path) -> None:
    periods = local_day_intervals("Europe/London", date(2026, 3, 29), 60)
    recs = records(one_channel(tmp_path, periods=periods, interval_length=3600), timezone="Europe/London")
    assert len(recs) == 23
    assert recs[0].data["start"] == "2026-03-29T00:00:00+00:00"
    assert recs[1].data["start"] == "2026-03-29T02:00:00+01:00"  # 01:00 local never happened
    assert recs[-1].data["end"] == "2026-03-30T00:00:00+01:00"


def test_fall_back_day_in_paris_keeps_both_hours(tmp_path: Path) -> None:
    periods = local_day_intervals("Europe/Paris", date(2026, 10, 25), 30)
    recs = records(one_channel(tmp_path, periods=periods, interval_length=1800), timezone="Europe/Paris")
    assert len(recs) == 50
    repeated = [r.data["start"] for r in recs if r.data["start"][11:16] == "02:00"]
    assert repeated == ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00"]
    assert len({r.key for r in recs}) == 50


def test_daily_readings_on_dst_days_last_23_and_25_hours(tmp_path: Path) -> None:
    periods = local_days("Europe/London", date(2026, 3, 28), 3) + local_days("Europe/London", date(2026, 10, 25), 1)
    recs = records(one_channel(tmp_path, periods=periods, interval_length=86400), timezone="Europe/London")
    hours = [
        (datetime.fromisoformat(r.data["end"]) - datetime.fromisoformat(r.data["start"])).total_seconds() / 3600
        for r in recs
    ]
    assert hours == [24, 23, 24, 25]
    assert recs[1].data["start"] == "2026-03-29T00:00:00+00:00"
    assert recs[1].data["end"] == "2026-03-30T00:00:00+01:00"


def test_utc_is_the_default_and_keys_do_not_depend_on_the_zone(tmp_path: Path) -> None:
    path = one_channel(tmp_path, count=4)
    utc, paris = records(path), records(path, timezone="Europe/Paris")
    assert [r.key for r in utc] == [r.key for r in paris]
    assert utc[0].data["start"] == "2026-01-01T00:00:00+00:00"
    assert paris[0].data["start"] == "2026-01-01T01:00:00+01:00"
    assert [r.ts for r in utc] == [r.ts for r in paris]


def test_a_repeated_hour_mid_day_is_refused(tmp_path: Path) -> None:
    # A utility that wrote local wall-clock times as UTC repeats 01:00 on the fall-back day.
    hour = 3600
    day = 1_792_540_800  # 2026-10-25T00:00:00Z
    periods = [(day, hour), (day + hour, hour), (day + hour, hour), (day + 2 * hour, hour)]
    with pytest.raises(ImportFailed, match=r"feed.xml: line \d+: .*overlaps"):
        records(one_channel(tmp_path, periods=periods, interval_length=3600))


def test_unknown_timezone_setting(tmp_path: Path) -> None:
    with pytest.raises(ImportFailed, match="Mars/Olympus"):
        records(one_channel(tmp_path, count=1), timezone="Mars/Olympus")


# --- bad input ----------------------------------------------------------------------------


def test_malformed_xml_names_file_and_line(tmp_path: Path) -> None:
    path = one_channel(tmp_path, count=5)
    text = path.read_text().replace("</value>", "</valeu>", 1)
    path.write_text(text)
    with pytest.raises(ImportFailed, match=r"feed.xml: malformed XML at line \d+, column \d+"):
        records(path)


def test_entity_expansion_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "laughs.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE feed [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom"><entry><content>'
        '<UsagePoint xmlns="http://naesb.org/espi">&lol2;</UsagePoint></content></entry></feed>\n'
    )
    with pytest.raises(ImportFailed, match="laughs.xml: refused"):
        records(path)


def test_an_unknown_declared_encoding_is_a_clear_error(initialised: Path, run: Cli, tmp_path: Path) -> None:
    path = one_channel(tmp_path, count=2)
    path.write_text(path.read_text().replace('encoding="UTF-8"', 'encoding="U-F-8"', 1))
    said = "feed.xml: the XML declaration names the encoding 'U-F-8', which is not a known one"
    with pytest.raises(ImportFailed, match=said):
        records(path)
    result = run("import", str(path), ok=False)
    print(result.output)
    assert result.exit_code == 1 and said in result.output
    assert "Traceback" not in result.output and "LookupError" not in result.output


def test_unknown_uom_code(tmp_path: Path) -> None:
    with pytest.raises(ImportFailed, match="unknown uom code 999"):
        records(one_channel(tmp_path, uom=999, count=2))


def test_missing_uom(tmp_path: Path) -> None:
    with pytest.raises(ImportFailed, match="no uom: cannot tell"):
        records(one_channel(tmp_path, uom=None, count=2))


def test_missing_reading_type(tmp_path: Path) -> None:
    lonely = Channel(count=2, write_reading_type=False)
    other = Channel(usage_point="OTHER", meter_reading="3", reading_type="3", count=2)
    path = write_feed(tmp_path / "feed.xml", [lonely, other])
    with pytest.raises(ImportFailed, match="feed.xml: line \\d+: missing ReadingType"):
        records(path)


def test_a_single_reading_type_serves_a_meter_reading_without_link(tmp_path: Path) -> None:
    # Some feeds do not link MeterReading to ReadingType; with only one in the file there is no doubt.
    path = one_channel(tmp_path, count=2)
    text = path.read_text().replace('<link rel="related" href="https://utility.example.com/', '<link rel="x" href="')
    path.write_text(text)
    assert len(records(path)) == 2


@pytest.mark.parametrize(
    ("periods", "message"),
    [
        ([(EPOCH_2026, 0)], "duration 0 s"),
        ([(EPOCH_2026, -900)], "duration -900 s"),
        ([(EPOCH_2026, 400 * 86400)], "absurd interval"),
        ([(12, 900)], "not between 1990 and 2100"),
        ([(EPOCH_2026, 900), (EPOCH_2026 + 300, 900)], "overlaps"),
    ],
)
def test_negative_or_absurd_intervals(tmp_path: Path, periods: list[tuple[int, int]], message: str) -> None:
    with pytest.raises(ImportFailed, match=message):
        records(one_channel(tmp_path, periods=periods))


def test_absurd_interval_length(tmp_path: Path) -> None:
    with pytest.raises(ImportFailed, match="absurd intervalLength"):
        records(one_channel(tmp_path, interval_length=-60, count=1, periods=[(EPOCH_2026, 60)]))


def test_negative_consumption_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImportFailed, match="negative value -5 for consumption"):
        records(one_channel(tmp_path, count=2, values=lambda i, t: -5))


def test_non_numeric_value(tmp_path: Path) -> None:
    path = one_channel(tmp_path, count=2, values=lambda i, t: 7)
    path.write_text(path.read_text().replace("<value>7</value>", "<value>seven</value>", 1))
    with pytest.raises(ImportFailed, match="value 'seven' is not a number"):
        records(path)


def test_unsupported_commodity_and_flow(tmp_path: Path) -> None:
    with pytest.raises(ImportFailed, match="commodity 10"):
        records(one_channel(tmp_path, "a.xml", commodity=10, count=1))
    with pytest.raises(ImportFailed, match="flowDirection 2"):
        records(one_channel(tmp_path, "b.xml", flow_direction=2, count=1))


def test_sniff_rejects_plain_atom_and_other_xml() -> None:
    atom = b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry><title>x</title></entry></feed>'
    assert not GreenButton.sniff(atom, "blog.xml")
    assert not GreenButton.sniff(b"<OFX><SIGNONMSGSRSV1/></OFX>", "bank.xml")


# --- properties ----------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    raw=st.integers(min_value=0, max_value=10**12),
    power=st.integers(min_value=-6, max_value=6),
)
def test_quantity_is_exactly_value_times_power_of_ten(tmp_path: Path, raw: int, power: int) -> None:
    path = one_channel(tmp_path, power_of_ten=power, count=1, values=lambda i, t: raw)
    (rec,) = records(path)
    assert Decimal(rec.data["quantity"]) == Decimal(raw).scaleb(power - 3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet="0123456789-.eE+ xNaInf", min_size=0, max_size=12))
@example(text="1E1000003")  # scaled by the unit's power of ten, it overflowed the decimal context
def test_any_value_text_is_parsed_exactly_or_refused(tmp_path: Path, text: str) -> None:
    path = one_channel(tmp_path, count=1, values=lambda i, t: 424242)
    path.write_text(path.read_text().replace("424242", text))
    try:
        (rec,) = records(path)
    except ImportFailed:
        return
    assert Decimal(rec.data["quantity"]) == Decimal(text).scaleb(-3)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=4000), junk=st.binary(min_size=1, max_size=8))
def test_damaged_files_fail_cleanly(tmp_path: Path, cut: int, junk: bytes) -> None:
    path = one_channel(tmp_path, count=8)
    data = path.read_bytes()
    cut = cut % len(data)
    path.write_bytes(data[:cut] + junk + data[cut + len(junk) :])
    try:
        recs = records(path)
    except ImportFailed as err:
        assert "feed.xml" in str(err)
        return
    assert len(recs) <= 8


@given(
    epoch=st.integers(min_value=MIN_START, max_value=MAX_START),
    name=st.sampled_from(["UTC", "Europe/London", "Europe/Paris", "America/New_York", "Australia/Lord_Howe"]),
)
def test_iso_clock_writes_what_isoformat_writes(epoch: int, name: str) -> None:
    tz = ZoneInfo(name)
    for offset in (0, 1800, 3600, 86400):  # around each instant too: the cache must not leak across days
        assert IsoClock(tz).text(epoch + offset) == datetime.fromtimestamp(epoch + offset, tz).isoformat()
    clock = IsoClock(tz)
    texts = [clock.text(epoch + step * 900) for step in range(200)]
    assert texts == [datetime.fromtimestamp(epoch + step * 900, tz).isoformat() for step in range(200)]
    assert IsoClock(UTC, zulu=True).text(epoch) == datetime.fromtimestamp(epoch, UTC).isoformat()[:19] + "Z"
