"""Health trends with known answers: rolling averages, both blood pressure components, sleep
merged across stages and sources, workouts per week, clinical records, a month's summary."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from daemon.insights import health
from daemon.times import to_ms
from daemon.vault import RecordIn, Vault

LOINC = "http://loinc.org"
END = date(2026, 3, 10)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC) if "+" not in text else datetime.fromisoformat(text)


def obs(key: str, when: str, code: str, value: str | None = None, unit: str | None = None, **more: Any) -> RecordIn:
    t = at(when)
    data: dict[str, Any] = {"code": code, "code_system": more.pop("system", LOINC), "start": t.isoformat(), **more}
    if value is not None:
        data["value"], data["unit"] = value, unit
    return RecordIn("src", "health.observation", key, to_ms(t), data)


def series(t: health.HealthTrends, key: str) -> health.Series:
    return next(s for s in t.series if s.key == key)


def test_weight_per_day_and_its_7_day_rolling_mean_by_hand(vault: Vault) -> None:
    vault.writer.upsert(
        [
            obs("w1", "2026-03-01T07:00:00", "29463-7", "70.0", "kg"),
            obs("w2", "2026-03-02T07:00:00", "29463-7", "71.0", "kg"),
            obs("w3", "2026-03-04T07:00:00", "29463-7", "71.5", "kg"),
            obs("w4", "2026-03-04T23:30:00", "29463-7", "72.5", "kg"),  # 5 March in Paris
            obs("w5", "2026-03-08T07:00:00", "29463-7", "69.0", "kg"),
            obs("w6", "2026-03-10T07:00:00", "29463-7", "70.5", "kg"),
        ]
    )
    t = health.trends(vault.conn, days=10, zone="UTC", end=END)
    w = series(t, "weight")
    assert w.unit == "kg" and [o.source for o in w.origins] == ["src"]
    assert [(d.day[-2:], d.value, d.rolling) for d in w.days] == [
        ("01", "70.00", "70.00"),
        ("02", "71.00", "70.50"),
        ("03", None, "70.50"),
        ("04", "72.00", "71.00"),  # (71.5 + 72.5) / 2; (70 + 71 + 72) / 3
        ("05", None, "71.00"),
        ("06", None, "71.00"),
        ("07", None, "71.00"),
        ("08", "69.00", "70.67"),  # days 2-8: (71 + 72 + 69) / 3 = 70.666...
        ("09", None, "70.50"),  # days 3-9: (72 + 69) / 2
        ("10", "70.50", "70.50"),  # days 4-10: (72 + 69 + 70.5) / 3
    ]
    paris = series(health.trends(vault.conn, days=10, zone="Europe/Paris", end=END), "weight")
    assert [(d.day[-2:], d.value) for d in paris.days[3:5]] == [("04", "71.50"), ("05", "72.50")]


def test_blood_pressure_keeps_both_components(vault: Vault) -> None:
    def panel(key: str, when: str, sys: str, dia: str) -> RecordIn:
        comps = [{"code": "8480-6", "value": sys, "unit": "mm[Hg]"}, {"code": "8462-4", "value": dia, "unit": "mm[Hg]"}]
        return obs(key, when, "85354-9", components=comps)

    vault.writer.upsert(
        [
            panel("p1", "2026-03-09T08:00:00", "120", "80"),
            panel("p2", "2026-03-09T20:00:00", "131", "85"),
            obs("s1", "2026-03-09T08:00:00", "8480-6", "120", "mm[Hg]"),  # the panel's own part: not again
            obs("s2", "2026-03-10T08:00:00", "8480-6", "140", "mm[Hg]"),
            obs("d2", "2026-03-10T08:00:00", "8462-4", "90", "mm[Hg]"),
        ]
    )
    bp = series(health.trends(vault.conn, days=2, zone="UTC", end=END), "blood_pressure")
    assert [(d.value, d.value2, d.count) for d in bp.days] == [("125.50", "82.50", 2), ("140.00", "90.00", 1)]
    assert [(d.rolling, d.rolling2) for d in bp.days] == [("125.50", "82.50"), ("132.75", "86.25")]


def sleep_records() -> list[RecordIn]:
    def stage(key: str, start: str, end: str, stage: str, device: str) -> RecordIn:
        r = obs(key, start, "HKCategoryTypeIdentifierSleepAnalysis", system="HealthKit", device=device)
        r.data.update(value_text=f"HKCategoryValueSleepAnalysis{stage}", end=at(end).isoformat())
        return RecordIn("apple", r.dataset, r.key, r.ts, r.data)

    return [
        stage("bed", "2026-03-09T22:30:00", "2026-03-10T07:00:00", "InBed", "iPhone (iPhone12,1)"),
        stage("c", "2026-03-09T23:00:00", "2026-03-10T01:00:00", "AsleepCore", "Apple Watch (Watch6,2)"),
        stage("d", "2026-03-10T01:00:00", "2026-03-10T02:00:00", "AsleepDeep", "Apple Watch (Watch6,2)"),
        stage("a", "2026-03-10T02:00:00", "2026-03-10T02:15:00", "Awake", "Apple Watch (Watch6,2)"),
        stage("r", "2026-03-10T02:15:00", "2026-03-10T06:45:00", "AsleepREM", "Apple Watch (Watch6,2)"),
        stage("ring", "2026-03-09T23:30:00", "2026-03-10T06:30:00", "AsleepUnspecified", "Oura"),
    ]


def test_sleep_merges_stages_and_sources_and_follows_a_priority(vault: Vault) -> None:
    vault.writer.upsert(sleep_records())
    night = series(health.trends(vault.conn, days=1, zone="UTC", end=END), "sleep").days[0]
    # 23:00-02:00, 02:15-06:45 and the ring's 23:30-06:30 merge into 23:00-06:45
    assert (night.day, night.value) == ("2026-03-10", "7.75")
    health.set_priority(vault, "HKCategoryTypeIdentifierSleepAnalysis", ["Apple Watch", "Oura"])
    night = series(health.trends(vault.conn, days=1, zone="UTC", end=END), "sleep").days[0]
    assert night.value == "7.50"  # the watch's 2 + 1 + 4.5 hours; the ring left out where the watch has data


def test_steps_from_a_watch_and_a_phone_with_a_priority_are_not_counted_twice(vault: Vault) -> None:
    day = "2026-03-10T{:02d}:00:00"
    vault.writer.upsert(
        [obs(f"w{h}", day.format(h), "55423-8", "1000", "steps", device="Apple Watch") for h in (9, 10)]
        + [obs(f"p{h}", day.format(h), "55423-8", "800", "steps", device="iPhone") for h in (9, 10, 11)]
    )
    steps = series(health.trends(vault.conn, days=1, zone="UTC", end=END), "steps")
    assert steps.days[0].value == "4400.00"
    health.set_priority(vault, "55423-8", ["Apple Watch", "iPhone"])
    steps = series(health.trends(vault.conn, days=1, zone="UTC", end=END), "steps")
    assert steps.days[0].value == "2800.00" and steps.priority == ["Apple Watch", "iPhone"]
    assert sorted((o.device, o.count) for o in steps.origins) == [("Apple Watch", 2), ("iPhone", 3)]
    month = health.health_month_summary(vault.conn, "2026-03", "UTC")
    m = next(m for m in month.metrics if m.key == "steps")
    assert (m.total, m.days_with_data, m.mean) == ("2800.00", 1, "2800.00")


def workout(key: str, start: str, minutes: int, activity: str) -> RecordIn:
    t = at(start)
    data = {
        "activity": activity,
        "start": t.isoformat(),
        "end": (t + timedelta(minutes=minutes)).isoformat(),
        "duration_s": minutes * 60,
    }
    return RecordIn("apple", "health.workout", key, to_ms(t), data)


def clinical(key: str, kind: str, resource: dict[str, Any], when: str) -> RecordIn:
    data = {"resource_type": kind, "id": key, "resource": {"resourceType": kind, "id": key, **resource}}
    return RecordIn("hospital", "health.clinical", f"{kind}/{key}", to_ms(at(when)), data)


def test_workouts_per_week_and_clinical_records_with_their_dates(vault: Vault) -> None:
    vault.writer.upsert(
        [
            workout("r1", "2026-03-02T07:00:00", 30, "running"),
            workout("r2", "2026-03-04T07:00:00", 45, "running"),
            workout("s1", "2026-03-06T18:00:00", 60, "swimming"),
            workout("r3", "2026-03-09T07:00:00", 31, "running"),
        ]
    )
    vault.writer.upsert(
        [
            clinical(
                "c1",
                "Condition",
                {"code": {"text": "Hypertension"}, "onsetDateTime": "2026-03-03"},
                "2026-03-03T00:00:00",
            ),
            clinical(
                "m1",
                "MedicationRequest",
                {
                    "medicationCodeableConcept": {"coding": [{"display": "lisinopril 10 MG"}]},
                    "authoredOn": "2026-03-04",
                    "status": "active",
                },
                "2026-03-04T00:00:00",
            ),
            clinical(
                "i1",
                "Immunization",
                {"vaccineCode": {"text": "Influenza"}, "occurrenceDateTime": "2025-10-01"},
                "2025-10-01T00:00:00",
            ),
            clinical("x1", "Patient", {"name": [{"family": "Doe"}]}, "2026-03-01T00:00:00"),
        ]
    )
    t = health.trends(vault.conn, days=10, zone="UTC", end=END)
    assert [(w.week, w.count, w.minutes, w.activities) for w in t.workouts] == [
        ("2026-03-02", 3, 135, {"running": 2, "swimming": 1}),
        ("2026-03-09", 1, 31, {"running": 1}),
    ]
    assert [(c.kind, c.what, c.date, c.status) for c in t.clinical] == [
        ("Condition", "Hypertension", "2026-03-03", None),
        ("MedicationRequest", "lisinopril 10 MG", "2026-03-04", "active"),
        ("Immunization", "Influenza", "2025-10-01", None),
    ]
    month = health.health_month_summary(vault.conn, "2026-03", "UTC")
    assert (month.workouts, month.workout_minutes) == (4, 166)
    assert [c.what for c in month.clinical_new] == ["Hypertension", "lisinopril 10 MG"]


def test_bad_windows_are_refused_by_name(vault: Vault) -> None:
    import pytest

    for kw in ({"days": 0}, {"days": 5000}, {"zone": "Mars/Olympus"}):
        with pytest.raises(health.HealthViewError):
            health.trends(vault.conn, **kw)  # type: ignore[arg-type]
    with pytest.raises(health.HealthViewError, match="YYYY-MM"):
        health.health_month_summary(vault.conn, "March")
