"""The pure FHIR mapping: dates and numbers from untrusted resources, and documented choices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.health.fhir_mapping import (
    EPOCH,
    FhirInvalid,
    main_date,
    map_resource,
    parse_datetime,
    to_decimal,
)
from connectors.sdk import Delete, Record, datasets


def obs(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "x",
        "status": "final",
        "code": {
            "coding": [
                {"system": "http://snomed.info/sct", "code": "1"},
                {"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"},
            ]
        },
        **extra,
    }


@settings(max_examples=200)
@given(
    st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 1, 1)),
    st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda m: m - m % 15),
    st.sampled_from(["", ".5", ".123", ".123456"]),
)
def test_datetimes_keep_their_instant(moment: datetime, offset: int, fraction: str) -> None:
    local = moment.replace(microsecond=0, tzinfo=timezone(timedelta(minutes=offset)))
    sign = "-" if offset < 0 else "+"
    text = local.strftime("%Y-%m-%dT%H:%M:%S") + fraction + f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    parsed = parse_datetime(text)
    assert parsed.replace(microsecond=0) == local
    assert parsed.utcoffset() == local.utcoffset()


@given(st.dates(min_value=datetime(1000, 1, 1).date()))
def test_partial_dates_are_midnight_utc(day: Any) -> None:
    assert parse_datetime(day.isoformat()) == datetime(day.year, day.month, day.day, tzinfo=UTC)
    assert parse_datetime(day.isoformat()[:7]) == datetime(day.year, day.month, 1, tzinfo=UTC)
    assert parse_datetime(day.isoformat()[:4]) == datetime(day.year, 1, 1, tzinfo=UTC)


@given(st.text(max_size=40))
def test_garbage_dates_raise_value_error(text: str) -> None:
    try:
        parsed = parse_datetime(text)
    except ValueError:
        return
    assert parsed.tzinfo is not None


@settings(max_examples=300)
@given(st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_json_numbers_are_stored_by_their_shortest_text(value: float) -> None:
    (r,) = map_resource(obs(effectiveDateTime="2025-01-01", valueQuantity={"value": value, "unit": "kg"}))
    assert isinstance(r, Record)
    assert Decimal(r.data["value"]) == Decimal(repr(value))
    assert float(r.data["value"]) == value
    datasets.validate(r.dataset, r.data)


def test_non_numbers_are_refused() -> None:
    for bad in (True, "1", None, float("nan"), [1]):
        with pytest.raises(ValueError):
            to_decimal(bad)


def test_loinc_coding_is_preferred_and_units_are_ucum_codes() -> None:
    q = {"value": 72.5, "unit": "kilograms", "system": "http://unitsofmeasure.org", "code": "kg"}
    (r,) = map_resource(obs(effectiveDateTime="2025-01-01T07:00:00Z", valueQuantity=q))
    assert isinstance(r, Record)
    assert (r.data["code"], r.data["code_system"], r.data["name"]) == ("29463-7", "http://loinc.org", "Body weight")
    assert (r.data["value"], r.data["unit"], r.data["start"]) == ("72.5", "kg", "2025-01-01T07:00:00+00:00")


def test_period_and_issued() -> None:
    (r,) = map_resource(obs(effectivePeriod={"start": "2025-01-01T07:00:00Z", "end": "2025-01-01T08:00:00Z"}))
    assert isinstance(r, Record) and r.data["end"] == "2025-01-01T08:00:00+00:00"
    (r,) = map_resource(obs(issued="2025-02-01T07:00:00.123Z"))
    assert isinstance(r, Record) and r.ts == datetime(2025, 2, 1, 7, 0, 0, 123000, tzinfo=UTC)


def test_an_observation_with_no_date_is_kept_whole_in_clinical() -> None:
    (r,) = map_resource(obs(valueQuantity={"value": 70}))
    assert isinstance(r, Record) and r.dataset == "health.clinical" and r.ts == EPOCH


def test_entered_in_error_deletes_and_keeps() -> None:
    out = map_resource(obs(status="entered-in-error", effectiveDateTime="2025-01-01"))
    assert out[0] == Delete("health.observation", ("Observation/x",))
    assert isinstance(out[1], Record) and out[1].dataset == "health.clinical"


def test_main_dates() -> None:
    assert main_date({"resourceType": "Condition", "id": "c", "recordedDate": "2020-02-02"}) == datetime(
        2020, 2, 2, tzinfo=UTC
    )
    assert main_date({"resourceType": "Encounter", "id": "e", "period": {"start": "2021-05-05T10:00:00+02:00"}}) == (
        datetime(2021, 5, 5, 8, tzinfo=UTC)
    )
    assert main_date({"resourceType": "Patient", "id": "p", "birthDate": "1980-01-01"}) is None
    assert main_date({"resourceType": "Flag", "id": "f", "period": {"start": "2022"}}) == datetime(
        2022, 1, 1, tzinfo=UTC
    )
    with pytest.raises(FhirInvalid, match="Condition/c: recordedDate"):
        main_date({"resourceType": "Condition", "id": "c", "recordedDate": "02/02/2020"})


def test_lenient_mode_skips_required_elements_only() -> None:
    dstu2 = {"resourceType": "Condition", "id": "c", "patient": {"reference": "Patient/1"}, "onsetDateTime": "2015"}
    with pytest.raises(FhirInvalid, match="subject is required"):
        map_resource(dstu2)
    (r,) = map_resource(dstu2, strict=False)
    assert isinstance(r, Record) and r.data["effective"] == "2015-01-01T00:00:00+00:00"
    with pytest.raises(FhirInvalid, match="onset"):
        map_resource({**dstu2, "onsetString": "as a child"}, strict=False)
