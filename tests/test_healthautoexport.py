"""The Health Auto Export importer against payloads written from the app's published format."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.health.healthautoexport import HealthAutoExportImporter, parse_date
from connectors.sdk import ImportFailed, Record
from connectors.testing.contract import ImporterContract
from connectors.testing.generators.healthautoexport import fmt, payload
from connectors.testing.harness import import_file, read_file
from connectors.testing.memory import MemoryStore

START = datetime(2025, 3, 1, tzinfo=UTC)


def write(folder: Path, body: Any, name: str = "hae.json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(json.dumps(body, ensure_ascii=False))
    return p


def records(path: Path) -> list[Record]:
    return [i for i in read_file(HealthAutoExportImporter(), path) if isinstance(i, Record)]


class TestHealthAutoExportContract(ImporterContract):
    importer = HealthAutoExportImporter
    datasets_without_sample = tuple(d for d in HealthAutoExportImporter.datasets if d.startswith("health_auto_export."))

    def samples(self, folder: Path) -> list[Path]:
        return [
            write(folder, payload(START, hours=30)),
            write(folder, payload(START, hours=26, clock=12, seed=3), "twelve-hour.json"),
        ]


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2021-11-26 02:35:10 +0800", "2021-11-26T02:35:10+08:00"),
        ("2024-09-21 7:57:00 am +1000", "2024-09-21T07:57:00+10:00"),
        ("2024-09-21 7:57:00\u202fPM +1000", "2024-09-21T19:57:00+10:00"),
        ("2024-09-21 12:05:00 AM -0330", "2024-09-21T00:05:00-03:30"),
        ("2024-09-21 12:05:00 PM +0000", "2024-09-21T12:05:00+00:00"),
    ],
)
def test_dates_in_every_form_the_phone_writes(text: str, iso: str) -> None:
    assert parse_date(text).isoformat() == iso


@given(st.text(max_size=40))
def test_anything_else_is_a_clear_error(text: str) -> None:
    try:
        dt = parse_date(text)
    except ValueError as err:
        assert "is not a date like" in str(err) or "12-hour clock" in str(err)
    else:
        assert dt.tzinfo is not None


def test_each_metric_becomes_observations_coded_like_apple_health(tmp_path: Path) -> None:
    body = payload(START, hours=24)
    got = records(write(tmp_path, body))
    steps = [r for r in got if r.data.get("code") == "55423-8"]
    sent = next(m for m in body["data"]["metrics"] if m["name"] == "step_count")["data"]
    assert len(steps) == len(sent) and steps[0].data["unit"] == "{count}"
    assert sum(Decimal(r.data["value"]) for r in steps) == sum(p["qty"] for p in sent)
    energy = [r for r in got if r.data.get("code") == "41981-2"]
    sent_kcal = next(m for m in body["data"]["metrics"] if m["name"] == "active_energy")["data"]
    # Each value is the double's shortest text, never its binary expansion.
    assert [r.data["value"] for r in energy[:5]] == [repr(p["qty"]).rstrip("0").rstrip(".") for p in sent_kcal[:5]]
    hr = next(r for r in got if r.data.get("code") == "8867-4")
    assert hr.data["unit"] == "/min" and {c["code"] for c in hr.data["components"]} == {"Min", "Max"}
    bp = next(r for r in got if r.data.get("code") == "85354-9")
    assert [(c["code"], c["unit"]) for c in bp.data["components"]] == [("8480-6", "mm[Hg]"), ("8462-4", "mm[Hg]")]
    night = next(r for r in got if r.data.get("code") == "HKCategoryTypeIdentifierSleepAnalysis")
    assert night.data["unit"] == "h" and night.data["end"] > night.data["start"]
    assert {c["code"] for c in night.data["components"]} >= {"core", "deep", "rem", "awake"}
    assert all(r.ts.tzinfo is not None for r in got)


def test_workouts_keep_their_id_and_units(tmp_path: Path) -> None:
    body = payload(START, hours=72)
    sent = body["data"]["workouts"]
    got = [r for r in records(write(tmp_path, body)) if r.dataset == "health.workout"]
    assert sent and [r.key for r in got] == [f"workout/{w['id']}" for w in sent]
    w = got[0]
    assert w.data["activity"] == "Outdoor Run" and w.data["distance"]["unit"] == "km"
    assert w.data["energy"]["unit"] == "kcal" and w.data["duration_s"] == round(sent[0]["duration"])
    assert "route" in w.raw["workout"]  # kept for later, not mapped


def test_a_later_push_repeats_earlier_points_under_the_same_keys(tmp_path: Path) -> None:
    store = MemoryStore()
    first = import_file(HealthAutoExportImporter(), write(tmp_path, payload(START, hours=2)), store)
    second = import_file(HealthAutoExportImporter(), write(tmp_path, payload(START, hours=3), "b.json"), store)
    assert first.new > 0 and second.changed == 0 and second.unchanged == first.new
    # The same minute written in another offset (the phone crossed a time zone) is the same point.
    store = MemoryStore()
    for i, date in enumerate(("2025-03-01 10:00:00 +0100", "2025-03-01 09:00:00 +0000")):
        body = {"data": {"metrics": [{"name": "step_count", "units": "count", "data": [{"qty": 5, "date": date}]}]}}
        counts = import_file(HealthAutoExportImporter(), write(tmp_path, body, f"{i}.json"), store)
    assert len(store.records) == 1 and counts.new == 0


def test_a_bad_point_names_its_place_and_stores_nothing(tmp_path: Path) -> None:
    day = START.replace(hour=9)
    body = payload(day, hours=2)
    body["data"]["metrics"][1]["data"][3]["date"] = "yesterday"
    with pytest.raises(ImportFailed) as err:
        import_file(HealthAutoExportImporter(), write(tmp_path, body), MemoryStore())
    assert "data.metrics[1] (heart_rate).data[3]" in str(err.value) and "yesterday" in str(err.value)
    body = payload(day, hours=2)
    body["data"]["metrics"][0]["data"][0]["qty"] = "many"
    with pytest.raises(ImportFailed, match=r"qty must be a number, got 'many'"):
        import_file(HealthAutoExportImporter(), write(tmp_path, body), MemoryStore())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "not a Health Auto Export payload"),
        ({"data": {"metrics": {}}}, "must be lists"),
        ({"data": {"metrics": [{"units": "kg"}]}}, "a metric is an object with a name"),
        ({"data": {"workouts": [{"name": "Run", "start": fmt(START)}]}}, "data.workouts[0]"),
    ],
)
def test_payloads_that_are_not_the_apps_are_refused(tmp_path: Path, body: Any, message: str) -> None:
    with pytest.raises(ImportFailed) as err:
        import_file(HealthAutoExportImporter(), write(tmp_path, body), MemoryStore())
    assert message in str(err.value)


def test_empty_metrics_and_unknown_names_are_kept(tmp_path: Path) -> None:
    body = {"data": {"metrics": [
        {"name": "basal_body_temperature", "units": "degC", "data": []},
        {"name": "time_in_daylight", "units": "min", "data": [{"qty": 12, "date": fmt(START), "source": "Watch"}]},
        {"name": "cardio_recovery", "units": "count/min", "data": [{"qty": 31, "date": fmt(START)}]},
    ]}}  # fmt: skip
    got = records(write(tmp_path, body))
    assert [(r.data["code"], r.data["code_system"], r.data["unit"]) for r in got] == [
        ("HKQuantityTypeIdentifierTimeInDaylight", "HealthKit", "min"),
        ("cardio_recovery", "HealthAutoExport", "/min"),
    ]


def test_sniff_takes_the_apps_json_and_not_other_json() -> None:
    sniff = HealthAutoExportImporter.sniff
    assert sniff(b'{"data":{"metrics":[', "x.json") and sniff(b'{\n  "data" : {\n "workouts": [', "")
    assert not sniff(b'{"resourceType": "Bundle", "data": {}}', "b.json")
    assert not sniff(b'{"records": []}', "r.json")


def test_sections_without_a_dataset_are_kept_whole(tmp_path: Path) -> None:
    mood = {"id": "A1", "kind": "dailyMood", "start": fmt(START), "end": fmt(START), "valence": 0.4, "labels": ["calm"]}
    body = {
        "data": {"stateOfMind": [mood], "symptoms": [{"name": "Headache", "start": fmt(START), "severity": "mild"}]}
    }
    got = records(write(tmp_path, body))
    assert [(r.dataset, r.data) for r in got] == [
        ("health_auto_export.state_of_mind", mood),
        ("health_auto_export.symptoms", body["data"]["symptoms"][0]),
    ]
    assert got[0].key == "stateOfMind/A1"
    with pytest.raises(ImportFailed, match=r"data.ecg\[0\]: no start, startDate or date"):
        import_file(
            HealthAutoExportImporter(), write(tmp_path, {"data": {"ecg": [{"classification": "x"}]}}), MemoryStore()
        )


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@given(
    name=st.sampled_from(["step_count", "heart_rate", "blood_pressure", "sleep_analysis", "x"]),
    point=st.dictionaries(
        st.sampled_from(["qty", "date", "Avg", "Min", "systolic", "startDate", "sleepStart", "source"]), JSONISH
    ),
)
def test_any_point_is_a_record_or_a_clear_refusal(
    tmp_path_factory: pytest.TempPathFactory, name: str, point: Any
) -> None:
    folder = tmp_path_factory.mktemp("p")
    body = {"data": {"metrics": [{"name": name, "units": "count", "data": [point]}]}}
    try:
        got = records(write(folder, body))
    except ImportFailed as err:
        assert "data.metrics[0]" in str(err)
    else:
        assert all(r.ts.tzinfo is not None for r in got)
