"""The Apple Health importer against exports written by the project's generator."""

from __future__ import annotations

import tracemalloc
import zipfile
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.health import applehealth, applehealth_mapping
from connectors.health.applehealth import AppleHealthImporter, parse_apple_date
from connectors.sdk import Fragment, ImportFailed, Record
from connectors.testing.contract import ImporterContract, head_of
from connectors.testing.generators.applehealth import DTD, write_export_xml, write_export_zip, zip_bytes
from connectors.testing.harness import import_file, read_file
from connectors.testing.memory import MemoryStore

HR = "HKQuantityTypeIdentifierHeartRate"


def records(path: Path) -> list[Record]:
    return [i for i in read_file(AppleHealthImporter(), path) if isinstance(i, Record)]


def by_code(items: list[Record], code: str) -> list[Record]:
    return [r for r in items if r.data.get("code") == code]


def xml_doc(body: str, prologue: str = DTD) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n{prologue}<HealthData locale="en_GB">\n'
        f' <ExportDate value="2024-02-01 10:00:00 +0000"/>\n{body}</HealthData>\n'
    ).encode()


def write(tmp_path: Path, data: bytes, name: str = "export.xml") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


class TestAppleHealthContract(ImporterContract):
    importer = AppleHealthImporter

    def samples(self, folder: Path) -> list[Path]:
        return [
            write_export_zip(folder / "export.zip", days=12),
            write_export_xml(folder / "export.xml", days=4, seed=2),
        ]


@pytest.fixture(scope="module")
def export_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_export_zip(tmp_path_factory.mktemp("ah") / "export.zip", days=14)


@pytest.fixture(scope="module")
def items(export_zip: Path) -> list[Record]:
    return records(export_zip)


def test_quantities_are_exact_with_loinc_codes_and_ucum_units(items: list[Record]) -> None:
    hr = by_code(items, "8867-4")[0]
    assert hr.data["code_system"] == "http://loinc.org"
    assert hr.data["source_code"] == HR
    assert hr.data["unit"] == "/min"
    assert hr.data["value"] == hr.raw["value"]  # written exactly as Apple wrote it
    assert hr.data["start"] == datetime.fromisoformat(hr.data["start"]).isoformat()
    assert hr.ts == datetime.fromisoformat(hr.data["start"])
    steps = by_code(items, "55423-8")[0]
    assert (steps.data["value"], steps.data["unit"]) == (steps.raw["value"], "{count}")


def test_fractions_written_with_a_percent_unit_become_percent(items: list[Record]) -> None:
    spo2 = by_code(items, "59408-5")[0]
    assert Decimal(spo2.data["value"]) == Decimal(spo2.raw["value"]) * 100
    assert spo2.data["unit"] == "%"
    fat = by_code(items, "41982-0")[0]
    assert Decimal(fat.data["value"]) == Decimal(fat.raw["value"]) * 100
    assert 10 < Decimal(fat.data["value"]) < 30


def test_category_types_keep_their_value_as_text(items: list[Record]) -> None:
    sleep = by_code(items, "HKCategoryTypeIdentifierSleepAnalysis")
    assert sleep and all(r.data["value_text"].startswith("HKCategoryValueSleepAnalysis") for r in sleep)
    assert all("value" not in r.data for r in sleep)
    assert sleep[0].data["code_system"] == "HealthKit" and sleep[0].data["name"] == "Sleep analysis"


def test_blood_pressure_correlation_is_one_observation_with_components(items: list[Record]) -> None:
    panels = by_code(items, "85354-9")
    assert panels
    for panel in panels:
        members = {m["type"]: m["value"] for m in panel.raw["records"]}
        comps = {c["code"]: c for c in panel.data["components"]}
        assert comps["8480-6"]["value"] == members["HKQuantityTypeIdentifierBloodPressureSystolic"]
        assert comps["8462-4"]["value"] == members["HKQuantityTypeIdentifierBloodPressureDiastolic"]
        assert {c["unit"] for c in comps.values()} == {"mm[Hg]"}
        assert panel.raw["metadata"] == {"HKWasUserEntered": "0"}
    # Apple lists the members at the top level too: they stay single observations.
    assert len(by_code(items, "8480-6")) == len(panels)


def test_workouts(items: list[Record]) -> None:
    workouts = [r for r in items if r.dataset == "health.workout"]
    assert len(workouts) == 7
    w = workouts[0]
    assert w.data["activity"] in ("running", "cycling", "walking")
    minutes = Decimal(w.raw["duration"])
    assert w.data["duration_s"] == int((minutes * 60).to_integral_value())
    stats = {s["type"]: s for s in w.raw["statistics"]}
    assert w.data["energy"] == {"value": stats["HKQuantityTypeIdentifierActiveEnergyBurned"]["sum"], "unit": "kcal"}
    assert w.data["distance"]["unit"] == "km"
    assert w.data["source_device"] == "Apple Watch (Watch6,2)"
    assert w.raw["metadata"]["HKTimeZone"] == "Europe/London"
    assert [e["type"] for e in w.raw["events"]] == ["HKWorkoutEventTypePause", "HKWorkoutEventTypeResume"]
    assert w.raw["routes"][0]["files"][0].startswith("/workout-routes/route_")


def test_workout_totals_from_older_exports(tmp_path: Path) -> None:
    body = (
        ' <Workout workoutActivityType="HKWorkoutActivityTypeTraditionalStrengthTraining" duration="1.5" '
        'durationUnit="hr" totalDistance="0" totalDistanceUnit="mi" totalEnergyBurned="310.5" '
        'totalEnergyBurnedUnit="kcal" sourceName="Watch" startDate="2019-06-11 15:00:00 +0100" '
        'endDate="2019-06-11 16:30:00 +0100"/>\n'
    )
    (w,) = records(write(tmp_path, xml_doc(body)))
    assert w.data["activity"] == "traditional_strength_training"
    assert w.data["duration_s"] == 5400
    assert w.data["distance"] == {"value": "0", "unit": "[mi_i]"}
    assert w.data["energy"] == {"value": "310.5", "unit": "kcal"}
    assert w.data["start"] == "2019-06-11T15:00:00+01:00"


def test_activity_summaries_are_daily_observations(items: list[Record]) -> None:
    days = [r for r in items if r.data.get("code") == "HKActivitySummary"]
    assert len(days) == 14
    first = days[0]
    assert first.key == "activity:2024-01-01"
    assert first.data["start"] == "2024-01-01T00:00:00+00:00" and first.data["end"] == "2024-01-02T00:00:00+00:00"
    comps = {c["code"]: c for c in first.data["components"]}
    assert comps["activeEnergyBurned"] == {
        "code": "activeEnergyBurned",
        "value": first.raw["activeEnergyBurned"],
        "unit": "kcal",
    }
    assert comps["appleStandHoursGoal"]["unit"] == "h"


def test_metadata_and_beats_are_kept_in_raw_and_device_addresses_dropped(items: list[Record]) -> None:
    with_meta = [r for r in by_code(items, "8867-4") if "metadata" in r.raw]
    assert with_meta and "HKMetadataKeyHeartRateMotionContext" in with_meta[0].raw["metadata"]
    hrv = by_code(items, "80404-7")[0]
    assert len(hrv.raw["beats"]) == 3 and "bpm" in hrv.raw["beats"][0]
    assert all("0x" not in str(r.raw.get("device", "")) for r in items)
    assert by_code(items, "8867-4")[0].data["device"] == "Apple Watch (Watch6,2)"


def test_clinical_records_come_from_their_fhir_files_in_the_zip(items: list[Record], tmp_path: Path) -> None:
    labs = by_code(items, "4548-4")
    assert [r.key for r in labs] == ["Observation/lab-3", "Observation/lab-13"]
    assert labs[0].data["value"] == "5.7" and labs[0].data["unit"] == "%"
    # A bare export.xml has no FHIR files: its ClinicalRecords are skipped, the rest imported.
    xml = write_export_xml(tmp_path / "export.xml", days=5, clinical=True)
    assert not [r for r in records(xml) if r.key.startswith("Observation/")]


def test_unknown_types_are_kept_not_dropped(tmp_path: Path) -> None:
    body = (
        ' <Record type="HKQuantityTypeIdentifierFutureMetric" sourceName="Phone" unit="zz/s" '
        'startDate="2024-01-05 10:00:00 +0000" endDate="2024-01-05 10:01:00 +0000" value="12.5"/>\n'
        ' <Record type="HKCategoryTypeIdentifierSomethingNew" sourceName="Phone" '
        'startDate="2024-01-05 10:00:00 +0000" endDate="2024-01-05 10:00:00 +0000" value="HKCategoryValueX"/>\n'
        ' <Audiogram type="HKDataTypeIdentifierAudiogram" sourceName="Mimi" startDate="2024-01-06 10:00:00 +0000" '
        'endDate="2024-01-06 10:10:00 +0000"><SensitivityPoint frequencyValue="1000" leftEarValue="15"/></Audiogram>\n'
    )
    got = records(write(tmp_path, xml_doc(body)))
    assert [r.data["code"] for r in got] == [
        "HKQuantityTypeIdentifierFutureMetric",
        "HKCategoryTypeIdentifierSomethingNew",
        "HKDataTypeIdentifierAudiogram",
    ]
    assert (got[0].data["value"], got[0].data["unit"], got[0].data["name"]) == ("12.5", "zz/s", "Future metric")
    assert got[1].data["value_text"] == "HKCategoryValueX"
    assert got[2].raw["children"] == [{"element": "SensitivityPoint", "frequencyValue": "1000", "leftEarValue": "15"}]


def test_control_characters_older_ios_wrote_do_not_stop_the_import(tmp_path: Path) -> None:
    body = (
        f' <Record type="{HR}" sourceName="Anna\x0bs Watch" unit="count/min" startDate="2024-01-05 10:00:00 +0000" '
        'endDate="2024-01-05 10:00:00 +0000" value="61"/>\n'
    )
    (r,) = records(write(tmp_path, xml_doc(body)))
    assert r.raw["sourceName"] == "Anna s Watch" and r.data["value"] == "61"


def test_a_value_that_is_not_a_number_is_never_stored_as_a_quantity(tmp_path: Path) -> None:
    body = (
        f' <Record type="{HR}" sourceName="W" unit="count/min" startDate="2024-01-05 10:00:00 +0000" '
        'endDate="2024-01-05 10:00:00 +0000" value="NaN"/>\n'
    )
    (r,) = records(write(tmp_path, xml_doc(body)))
    assert "value" not in r.data and r.data["value_text"] == "NaN"


def test_newer_export_adds_only_what_is_new(tmp_path: Path) -> None:
    older = write_export_zip(tmp_path / "2024-01" / "export.zip", days=6)
    newer = write_export_zip(tmp_path / "2024-02" / "export.zip", days=9)
    store = MemoryStore()
    first = import_file(AppleHealthImporter(), older, store)
    second = import_file(AppleHealthImporter(), newer, store)
    assert first.new > 2000
    assert second.changed == 0
    assert second.new == len({(r.dataset, r.key) for r in records(newer)}) - first.new


def test_an_export_made_in_another_time_zone_adds_nothing(tmp_path: Path) -> None:
    london = write_export_xml(tmp_path / "london.xml", days=3, offset_minutes=0)
    new_york = write_export_xml(tmp_path / "ny.xml", days=3, offset_minutes=-300)
    store = MemoryStore()
    import_file(AppleHealthImporter(), london, store)
    again = import_file(AppleHealthImporter(), new_york, store)
    assert again.new == 0  # same instants, same keys: updated in place
    a = {r.key: r.ts for r in records(london)}
    b = {r.key: r.ts for r in records(new_york)}
    assert a == b


def test_normalize_gives_back_the_same_record_from_raw(items: list[Record]) -> None:
    importer = AppleHealthImporter()
    for r in items[::97]:
        again = importer.normalize(Fragment(r.dataset, r.raw))
        assert isinstance(again, Record)
        assert (again.dataset, again.key, again.ts, again.data) == (r.dataset, r.key, r.ts, r.data)


def test_sniff(tmp_path: Path, export_zip: Path) -> None:
    assert AppleHealthImporter.sniff(head_of(export_zip), "upload.bin")
    photos = write(tmp_path, zip_bytes({"photos/a.jpg": b"\xff\xd8", "export.txt": b"x"}), "photos.zip")
    assert not AppleHealthImporter.sniff(head_of(photos), photos.name)
    cda = write(tmp_path, b'<?xml version="1.0"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3"/>', "export_cda.xml")
    assert not AppleHealthImporter.sniff(head_of(cda), cda.name)


def test_export_xml_without_declaration_is_recognised_and_read(tmp_path: Path) -> None:
    # Exports shared in public test data start at <HealthData> (no <?xml ...?>, no DTD), the
    # Me element before the records and a device string with escaped angle brackets.
    body = (
        ' <Me HKCharacteristicTypeIdentifierBiologicalSex="HKBiologicalSexFemale"/>\n'
        f' <Record creationDate="2020-04-10 03:38:56 +0200" device="&lt;&lt;HKDevice: 0x, name:Apple Watch&gt;" '
        f'endDate="2020-04-10 03:33:34 +0200" sourceName="User&#8217;s Apple&#160;Watch" sourceVersion="6.1.3" '
        f'startDate="2020-04-10 03:33:34 +0200" type="{HR}" unit="count/min" value="60">\n'
        '  <MetadataEntry key="HKMetadataKeyHeartRateMotionContext" value="1" />\n </Record>\n'
    )
    doc = f'<HealthData locale="en_ZA">\n <ExportDate value="2020-04-17 13:23:53 +0200" />\n{body}</HealthData>\n'
    path = write(tmp_path, doc.encode(), "export.xml")
    assert AppleHealthImporter.sniff(head_of(path), path.name)
    (r,) = records(path)
    assert r.data["value"] == "60"
    assert r.data["start"] == "2020-04-10T03:33:34+02:00"


def test_localised_export_name_is_found_by_content(tmp_path: Path) -> None:
    body = (
        f' <Record type="{HR}" sourceName="W" unit="count/min" startDate="2024-01-05 10:00:00 +0000" '
        'endDate="2024-01-05 10:00:00 +0000" value="61"/>\n'
    )
    members = {
        "apple_health_export/exportar_cda.xml": b"<ClinicalDocument/>",
        "apple_health_export/exportar.xml": xml_doc(body),
    }
    (r,) = records(write(tmp_path, zip_bytes(members), "exportar.zip"))
    assert r.data["value"] == "61"


# Bad input


def test_zip_without_export_xml(tmp_path: Path) -> None:
    bad = write(tmp_path, zip_bytes({"apple_health_export/export_cda.xml": b"<x/>"}), "export.zip")
    assert AppleHealthImporter.sniff(head_of(bad), bad.name)
    with pytest.raises(ImportFailed, match=r"export\.zip: no export\.xml in this zip"):
        records(bad)


def test_zip_bomb_is_refused_before_unpacking(tmp_path: Path) -> None:
    bomb = tmp_path / "export.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("apple_health_export/export.xml", "w", force_zip64=True) as f:
            f.write(xml_doc("")[:-14])
            block = b" " * (1 << 20)
            for _ in range(80):  # 80 MB of blanks deflate to about 80 KB
                f.write(block)
            f.write(b"</HealthData>\n")
    assert bomb.stat().st_size < 1_000_000
    store = MemoryStore()
    with pytest.raises(ImportFailed, match="zip bomb") as err:
        import_file(AppleHealthImporter(), bomb, store)
    assert "export.zip" in str(err.value)
    assert store.records == {}


@pytest.mark.parametrize("where", ["xml", "zip"])
def test_xml_bomb_is_refused(tmp_path: Path, where: str) -> None:
    laughs = "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">\n' for i in range(1, 10))
    prologue = f'<!DOCTYPE HealthData [\n<!ENTITY lol0 "lol">\n{laughs}]>\n'
    body = (
        f' <Record type="{HR}" sourceName="&lol9;" unit="count/min" startDate="2024-01-05 10:00:00 +0000" '
        'endDate="2024-01-05 10:00:00 +0000" value="61"/>\n'
    )
    data = xml_doc(body, prologue)
    path = (
        write(tmp_path, data)
        if where == "xml"
        else write(tmp_path, zip_bytes({"apple_health_export/export.xml": data}), "export.zip")
    )
    with pytest.raises(ImportFailed, match="declares XML entities"):
        records(path)


def test_external_entities_are_refused(tmp_path: Path) -> None:
    prologue = '<!DOCTYPE HealthData [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    body = f' <Record type="{HR}" sourceName="&xxe;" startDate="2024-01-05 10:00:00 +0000" value="1"/>\n'
    with pytest.raises(ImportFailed, match="declares XML entities"):
        records(write(tmp_path, xml_doc(body, prologue)))


def test_an_unknown_declared_encoding_is_a_clear_error(tmp_path: Path) -> None:
    text = write_export_xml(tmp_path / "export.xml", days=1).read_text()
    path = write(tmp_path, text.replace('encoding="UTF-8"', 'encoding="U-F-8"', 1).encode(), "export.xml")
    with pytest.raises(ImportFailed, match="export.xml: the XML declaration names the encoding 'U-F-8', which is not"):
        records(path)


def test_truncated_xml_names_the_line(tmp_path: Path) -> None:
    full = write_export_xml(tmp_path / "full.xml", days=2).read_bytes()
    cut = write(tmp_path, full[: len(full) // 2], "export.xml")
    store = MemoryStore()
    with pytest.raises(ImportFailed, match=r"export\.xml: malformed XML at line [\d,]+, column \d+"):
        import_file(AppleHealthImporter(), cut, store)
    assert store.records == {}


def test_truncated_member_inside_a_whole_zip(tmp_path: Path) -> None:
    full = write_export_xml(tmp_path / "full.xml", days=2).read_bytes()
    bad = write(tmp_path, zip_bytes({"apple_health_export/export.xml": full[:-5000]}), "export.zip")
    with pytest.raises(ImportFailed, match=r"export\.zip: apple_health_export/export\.xml: malformed XML at line"):
        records(bad)


def test_damaged_zip_data(tmp_path: Path) -> None:
    full = write_export_xml(tmp_path / "full.xml", days=2).read_bytes()
    data = bytearray(zip_bytes({"apple_health_export/export.xml": full}))
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)  # the central directory survives, the deflate stream does not
    with pytest.raises(ImportFailed, match=r"export\.zip"):
        records(write(tmp_path, bytes(data), "export.zip"))


def test_a_bad_date_names_the_element(tmp_path: Path) -> None:
    body = (
        f' <Record type="{HR}" sourceName="W" unit="count/min" startDate="2024-01-05 10:00:00 +0000" '
        'endDate="2024-01-05 10:00:00 +0000" value="61"/>\n'
        f' <Record type="{HR}" sourceName="W" unit="count/min" startDate="yesterday" endDate="today" value="62"/>\n'
    )
    with pytest.raises(ImportFailed, match=r"export\.xml: element 3 \(Record HKQuantityTypeIdentifierHeartRate\)"):
        records(write(tmp_path, xml_doc(body)))


def test_not_an_export(tmp_path: Path) -> None:
    with pytest.raises(ImportFailed, match="not an Apple Health export"):
        records(write(tmp_path, b'<?xml version="1.0"?>\n<catalog>' + b" " * 70000 + b"</catalog>"))


def test_memory_stays_flat_as_the_export_grows(tmp_path: Path) -> None:
    def peak(days: int) -> int:
        path = write_export_xml(tmp_path / f"e{days}.xml", days=days, seed=3)
        tracemalloc.start()
        try:
            for _ in AppleHealthImporter().read(path, {}):
                pass
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(2), peak(12)
    assert large < small * 1.5 + 256 * 1024, (small, large)


# Dates and numbers from an untrusted file


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_apple_dates_parse_to_the_same_instant(moment: datetime, offset: int) -> None:
    tz = timezone(timedelta(minutes=offset))
    local = moment.replace(microsecond=0, tzinfo=tz)
    sign = "-" if offset < 0 else "+"
    text = local.strftime("%Y-%m-%d %H:%M:%S ") + f"{sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"
    iso, dt = parse_apple_date(text)
    assert dt == local and dt.utcoffset() == local.utcoffset()
    assert datetime.fromisoformat(iso) == local
    assert applehealth_mapping._epoch({"d": text}, "d") == int(local.timestamp())
    assert applehealth_mapping._epoch({"d": text}, "d") == int(local.astimezone(UTC).timestamp())  # cached day path


@given(st.text(max_size=30))
def test_garbage_dates_are_refused(text: str) -> None:
    try:
        iso, dt = parse_apple_date(text)
    except ValueError:
        return
    assert dt.tzinfo is not None and datetime.fromisoformat(iso) == dt


@settings(max_examples=200)
@given(st.decimals(allow_nan=False, allow_infinity=False, places=6, min_value=-(10**9), max_value=10**9))
def test_quantities_keep_every_digit(value: Decimal) -> None:
    raw: dict[str, Any] = {
        "type": "HKQuantityTypeIdentifierBodyMass",
        "sourceName": "Scale",
        "unit": "kg",
        "startDate": "2024-01-05 10:00:00 +0000",
        "endDate": "2024-01-05 10:00:00 +0000",
        "value": str(value),
    }
    r = applehealth.map_element(raw)
    assert r is not None and Decimal(r.data["value"]) == value
