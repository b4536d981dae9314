"""The FHIR R4 file importer (Bundle JSON, bulk NDJSON) against generated and real files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connectors.health.fhir import FhirImporter
from connectors.sdk import Delete, Fragment, ImportFailed, Record
from connectors.testing.contract import ImporterContract, head_of
from connectors.testing.generators.fhir import bundle, patient_record, write_bundle, write_ndjson
from connectors.testing.harness import import_file, read_file
from connectors.testing.memory import MemoryStore

SAMPLES = Path("/work/shared/samples/health")


def sample(name: str) -> Path:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"{path} is not here")
    return path


def items(path: Path) -> list[Record | Delete]:
    return read_file(FhirImporter(), path)


def records(path: Path) -> dict[str, Record]:
    return {f"{r.dataset}:{r.key}": r for r in items(path) if isinstance(r, Record)}


def write_json(tmp_path: Path, doc: Any, name: str = "bundle.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return p


def observation(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "effectiveDateTime": "2025-03-02T08:15:00+01:00",
        **extra,
    }


class TestFhirContract(ImporterContract):
    importer = FhirImporter

    def samples(self, folder: Path) -> list[Path]:
        resources = patient_record(months=3)
        return [
            write_bundle(folder / "record.json", resources),
            write_bundle(folder / "search.json", resources[:40], kind="searchset"),
            *write_ndjson(folder / "bulk", resources),
        ]

    def corrupt(self, sample: Path, folder: Path) -> Path:
        data = sample.read_bytes()
        cut = int(len(data) * 0.6)
        if data[cut - 1 : cut] == b"\n":  # a bulk file cut between lines is a valid, shorter file
            cut -= 3
        out = folder / f"corrupt-{sample.parent.name}-{sample.name}"
        out.write_bytes(data[:cut])
        return out


def test_bundle_maps_observations_and_keeps_everything_else_whole(tmp_path: Path) -> None:
    resources = patient_record(months=2)
    got = records(write_bundle(tmp_path / "b.json", resources))
    assert len(got) == len(resources)
    bp = got["health.observation:Observation/pat-1-bp-1"]
    assert bp.data["code"] == "85354-9" and "value" not in bp.data
    assert [(c["code"], c["unit"]) for c in bp.data["components"]] == [("8480-6", "mm[Hg]"), ("8462-4", "mm[Hg]")]
    source = next(r for r in resources if r["id"] == "pat-1-bp-1")
    assert bp.data["components"][0]["value"] == str(source["component"][0]["valueQuantity"]["value"])
    assert bp.raw == source
    cond = next(r for k, r in got.items() if k.startswith("health.clinical:Condition/"))
    assert cond.data["resource"]["resourceType"] == "Condition"
    assert cond.data["effective"] == cond.data["resource"]["onsetDateTime"]
    eob = next(r for k, r in got.items() if k.startswith("health.clinical:ExplanationOfBenefit/"))
    assert eob.data["effective"] == eob.data["resource"]["billablePeriod"]["start"] + "T00:00:00+00:00"


def test_bulk_ndjson_streams_each_type(tmp_path: Path) -> None:
    resources = patient_record(months=2)
    total = 0
    for path in write_ndjson(tmp_path, resources):
        got = records(path)
        kind = path.stem
        assert all(r.key.startswith(f"{kind}/") for r in got.values())
        total += len(got)
    assert total == len(resources)


def test_observation_without_a_value_is_kept_with_its_reason(tmp_path: Path) -> None:
    reason = {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                "code": "not-performed",
                "display": "Not Performed",
            }
        ]
    }
    got = records(write_json(tmp_path, observation(dataAbsentReason=reason)))
    r = got["health.observation:Observation/o1"]
    assert "value" not in r.data and "value_text" not in r.data
    assert r.data["absent_reason"] == "Not Performed"


def test_entered_in_error_removes_the_observation(tmp_path: Path) -> None:
    store = MemoryStore()
    import_file(FhirImporter(), write_json(tmp_path, observation(valueQuantity={"value": 64}), "a.json"), store)
    assert ("health.observation", "Observation/o1") in store.records
    retracted = observation(status="entered-in-error", valueQuantity={"value": 64})
    import_file(FhirImporter(), write_json(tmp_path, retracted, "b.json"), store)
    assert ("health.observation", "Observation/o1") not in store.records
    assert ("health.clinical", "Observation/o1") in store.records


def test_history_bundle_deletions(tmp_path: Path) -> None:
    doc = {
        "resourceType": "Bundle",
        "type": "history",
        "entry": [
            {"request": {"method": "DELETE", "url": "Observation/o1"}, "response": {"status": "204"}},
            {
                "fullUrl": "urn:uuid:0f1e2d3c-aaaa-bbbb-cccc-000000000001",
                "resource": {k: v for k, v in observation(valueQuantity={"value": 60}).items() if k != "id"},
            },
        ],
    }
    got = items(write_json(tmp_path, doc))
    assert Delete("health.observation", ("Observation/o1",)) in got
    assert any(isinstance(r, Record) and r.key == "Observation/0f1e2d3c-aaaa-bbbb-cccc-000000000001" for r in got)


def test_search_outcomes_are_not_data(tmp_path: Path) -> None:
    doc = bundle([observation(valueQuantity={"value": 60})], kind="searchset")
    doc["entry"].append(
        {"resource": {"resourceType": "OperationOutcome", "id": "w", "issue": []}, "search": {"mode": "outcome"}}
    )
    assert list(records(write_json(tmp_path, doc))) == ["health.observation:Observation/o1"]


def test_numbers_are_exact(tmp_path: Path) -> None:
    for value, text in ((4.39, "4.39"), (1e-7, "0.0000001"), (123456789012, "123456789012"), (98.60, "98.6")):
        got = records(write_json(tmp_path, observation(valueQuantity={"value": value, "unit": "x"})))
        assert got["health.observation:Observation/o1"].data["value"] == text


def test_normalize_maps_the_stored_raw_again(tmp_path: Path) -> None:
    got = records(write_bundle(tmp_path / "b.json", patient_record(months=1)))
    for r in got.values():
        if r.raw is not None:
            again = FhirImporter().normalize(Fragment(r.dataset, r.raw))
            assert isinstance(again, list) and len(again) == 1
            assert (again[0].key, again[0].data, again[0].ts) == (r.key, r.data, r.ts)


# Bad input: resources that break R4 cardinalities


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        (observation(valueQuantity={"value": 1}, valueString="one"), r"value\[x\] has 2 values"),
        (observation(code=[{"text": "a"}, {"text": "b"}]), "code holds one value"),
        ({k: v for k, v in observation().items() if k != "status"}, "status is required"),
        (observation(component=[{"valueQuantity": {"value": 1}}]), r"component\[0\]\.code is required"),
        (observation(category={"text": "vital-signs"}), "category is a list"),
        (observation(effectiveDateTime=["2025-01-01", "2025-01-02"]), "effectiveDateTime holds one value"),
        (observation(effectiveDateTime="last tuesday"), "not a FHIR date"),
        (observation(valueQuantity={"value": "64"}), r"valueQuantity\.value: '64' is not a number"),
        ({**observation(), "id": None}, "has no valid id"),
        ({"resourceType": "Immunization", "id": "i1", "status": "completed", "patient": {}}, "vaccineCode is required"),
        ({"resourceType": "Patient", "id": "p1", "gender": ["female", "male"]}, "gender holds one value"),
    ],
)
def test_cardinality_violations_fail_cleanly(tmp_path: Path, resource: dict[str, Any], message: str) -> None:
    good = observation(id="fine", valueQuantity={"value": 60})
    path = tmp_path / "bulk.ndjson"
    path.write_text(json.dumps(good) + "\n" + json.dumps(resource) + "\n")
    store = MemoryStore()
    with pytest.raises(ImportFailed, match=r"bulk\.ndjson: line 2: .*" + message):
        import_file(FhirImporter(), path, store)
    assert store.records == {}  # the good line before is not half-imported


def test_r5_codeable_reference_is_named_as_r5(tmp_path: Path) -> None:
    # FHIR R5's example searchset: MedicationRequest.medication is one CodeableReference
    # ({"reference": {...}}), where R4 has medicationCodeableConcept or medicationReference.
    r5 = {
        "resourceType": "MedicationRequest",
        "id": "3123",
        "status": "unknown",
        "intent": "order",
        "medication": {"reference": {"reference": "Medication/example"}},
        "subject": {"reference": "Patient/347"},
    }
    doc = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r5, "search": {"mode": "match"}}]}
    with pytest.raises(
        ImportFailed,
        match=r"entry 0: MedicationRequest/3123: has 'medication' where FHIR R4 has "
        r"medicationCodeableConcept or medicationReference: this is a FHIR R5 resource.*export",
    ):
        items(write_json(tmp_path, doc))


def test_resources_without_id_get_one_from_their_content(tmp_path: Path) -> None:
    # Early Synthea collection Bundles: CarePlan and MedicationRequest entries with neither id
    # nor fullUrl, beside resources that have both.
    care_plan = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "urn:uuid:49ed5129-4d47-4446-9957-a2ed311ba25e"},
        "period": {"start": "2008-06-02"},
    }
    patient = {"resourceType": "Patient", "id": "49ed5129-4d47-4446-9957-a2ed311ba25e"}
    doc = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"urn:uuid:{patient['id']}", "resource": patient},
            {"resource": care_plan},
            {"resource": {**care_plan, "status": "completed"}},
        ],
    }
    first = records(write_json(tmp_path, doc))
    plans = sorted(k for k in first if "CarePlan/" in k)
    assert len(plans) == 2 and all(k.startswith("health.clinical:CarePlan/sha256-") for k in plans)
    assert first[plans[0]].data["effective"].startswith("2008-06-02")
    again = records(write_json(tmp_path, {**doc, "entry": doc["entry"][::-1]}, "again.json"))
    assert set(again) == set(first)  # the same content, the same keys


def test_free_text_dates_are_not_read_as_dates(tmp_path: Path) -> None:
    # R4 allows onsetString, occurrenceString and performedString ("three days ago").
    condition = {
        "resourceType": "Condition",
        "id": "con2-onsetString",
        "subject": {"reference": "Patient/x"},
        "onsetString": "three days ago",
        "recordedDate": "2021-03-04",
    }
    immunization = {
        "resourceType": "Immunization",
        "id": "imm-occurrenceString",
        "status": "completed",
        "vaccineCode": {"text": "flu"},
        "patient": {"reference": "Patient/x"},
        "occurrenceString": "last autumn",
    }
    path = tmp_path / "bulk.ndjson"
    path.write_text(json.dumps(condition) + "\n" + json.dumps(immunization) + "\n")
    got = records(path)
    assert got["health.clinical:Condition/con2-onsetString"].data["effective"].startswith("2021-03-04")
    assert got["health.clinical:Immunization/imm-occurrenceString"].data.get("effective") is None


def test_violation_in_a_bundle_names_the_entry(tmp_path: Path) -> None:
    doc = bundle([observation(id="a", valueQuantity={"value": 1}), observation(id="b", code="8867-4")])
    with pytest.raises(ImportFailed, match=r"bundle\.json: entry 1: Observation/b: code holds one CodeableConcept"):
        items(write_json(tmp_path, doc))


def test_truncated_files(tmp_path: Path) -> None:
    resources = patient_record(months=1)
    (bulk,) = write_ndjson(tmp_path, [r for r in resources if r["resourceType"] == "Observation"])
    data = bulk.read_bytes()
    bulk.write_bytes(data[: len(data) - 40])
    with pytest.raises(ImportFailed, match=r"Observation\.ndjson: line [\d,]+ is not valid JSON \(the file ends mid"):
        items(bulk)
    doc = write_bundle(tmp_path / "b.json", resources)
    doc.write_bytes(doc.read_bytes()[:-100])
    with pytest.raises(ImportFailed, match=r"b\.json: not valid JSON .*cut short"):
        items(doc)


def test_sniff(tmp_path: Path) -> None:
    (bulk, *_) = write_ndjson(tmp_path, patient_record(months=1))
    assert FhirImporter.sniff(head_of(bulk), bulk.name)
    other = write_json(tmp_path, {"type": "FeatureCollection", "features": []}, "geo.json")
    assert not FhirImporter.sniff(head_of(other), other.name)
    lower = write_json(tmp_path, {"resourceType": "not-a-type"}, "odd.json")
    assert not FhirImporter.sniff(head_of(lower), lower.name)


# The real examples


def test_real_blood_pressure_example() -> None:
    got = records(sample("fhir_observation-example-bloodpressure.json"))
    bp = got["health.observation:Observation/blood-pressure"]
    assert bp.data["start"] == "2012-09-17T00:00:00+00:00"  # a date: midnight UTC
    assert [(c["code"], c["value"], c["unit"]) for c in bp.data["components"]] == [
        ("8480-6", "107", "mm[Hg]"),
        ("8462-4", "60", "mm[Hg]"),
    ]


def test_real_bundles_and_bulk_files() -> None:
    page1 = records(sample("fhir_bundle-example.json"))
    assert set(page1) == {"health.clinical:MedicationRequest/3123", "health.clinical:Medication/example"}
    page2 = records(sample("fhir_bundle-example-page2.json"))
    assert set(page2) == {"health.clinical:MedicationRequest/9999", "health.clinical:Medication/example2"}
    observations = records(sample("fhir_bulk_Observation.000.first28.ndjson"))
    assert len(observations) == 28
    hba1c = observations["health.observation:Observation/0bee1bc6-1a91-bcd5-018d-9635c14996ec"]
    assert (hba1c.data["code"], hba1c.data["value"], hba1c.data["unit"]) == ("4548-4", "5.34", "%")
    assert hba1c.data["start"].endswith("-03:00") and hba1c.data["status"] == "final"
    smoking = next(r for r in observations.values() if r.data["code"] == "72166-2")
    assert smoking.data["value_text"] == "Never smoked tobacco (finding)"
    patients = records(sample("fhir_bulk_10p_Patient.000.ndjson"))
    assert len(patients) == len(sample("fhir_bulk_10p_Patient.000.ndjson").read_text().splitlines()) == 13
    assert all(r.data["resource_type"] == "Patient" for r in patients.values())


def test_real_blue_button_patient() -> None:
    (patient,) = records(sample("bluebutton_patient_read_v2.json")).values()
    assert patient.key == "Patient/-20140000008325"
    assert patient.ts.isoformat() == "2020-11-09T22:50:14.146000+00:00"  # no own date: meta.lastUpdated
    assert patient.data["effective"] is None
