"""FHIR R4 resources for one patient's record over months, seeded, written from the public R4
structures: Bundles (searchset, collection, transaction), bulk-data NDJSON, and the data the
fake SMART on FHIR server serves.

    resources = patient_record(months=6)
    write_bundle(tmp / "bundle.json", resources)
    write_ndjson(tmp / "bulk", resources)   # Patient.ndjson, Observation.ndjson, ...
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

Resource = dict[str, Any]

START = datetime(2025, 6, 1, tzinfo=UTC)
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

VITALS = (
    ("8867-4", "Heart rate", "/min", "beats/minute", (58, 96)),
    ("29463-7", "Body weight", "kg", "kg", (70.0, 74.0)),
    ("8310-5", "Body temperature", "Cel", "C", (36.2, 37.4)),
    ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", "%", (94, 100)),
)
LABS = (
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", (5.1, 6.2)),
    ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", (160.0, 240.0)),
)
CONDITIONS = (("44054006", "Diabetes mellitus type 2"), ("38341003", "Hypertensive disorder"))
MEDICATIONS = (
    ("860975", "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet"),
    ("314076", "lisinopril 10 MG Oral Tablet"),
)
VACCINES = (("140", "Influenza, seasonal, injectable, preservative free"), ("208", "SARS-COV-2 (COVID-19) vaccine"))


def _cc(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _quantity(value: float | int, code: str, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def patient_record(
    *, months: int = 6, seed: int = 1, patient_id: str = "pat-1", start: datetime = START
) -> list[Resource]:
    """A patient, encounters, vitals, labs, conditions, medications, immunizations, allergies,
    procedures, reports, coverage and claims, in time order; meta.lastUpdated = time written."""
    rng = random.Random(seed)
    ref = {"reference": f"Patient/{patient_id}"}
    out: list[Resource] = [
        {
            "resourceType": "Patient",
            "id": patient_id,
            "meta": {"lastUpdated": _iso(start)},
            "identifier": [{"system": "urn:oid:2.16.840.1.113883.4.3.25", "value": f"MRN{rng.randint(10**6, 10**7)}"}],
            "name": [{"use": "official", "family": "Rivera", "given": ["Alex"]}],
            "gender": "female",
            "birthDate": "1979-03-14",
        },
        {
            "resourceType": "Coverage",
            "id": f"{patient_id}-cov",
            "meta": {"lastUpdated": _iso(start)},
            "status": "active",
            "beneficiary": ref,
            "payor": [{"display": "Medicare Part A"}],
            "period": {"start": "2020-01-01"},
        },
        {
            "resourceType": "AllergyIntolerance",
            "id": f"{patient_id}-allergy-1",
            "meta": {"lastUpdated": _iso(start)},
            "clinicalStatus": _cc(
                "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active"
            ),
            "code": _cc(SNOMED, "91936005", "Allergy to penicillin"),
            "patient": ref,
            "onsetDateTime": "2004",
            "recordedDate": "2015-08-02",
        },
    ]
    n = 0
    for week in range(months * 30 // 7):
        t = start + timedelta(days=week * 7 + rng.randint(0, 4), hours=rng.randint(8, 17))
        n += 1
        enc = f"{patient_id}-enc-{n}"
        out.append(
            {
                "resourceType": "Encounter",
                "id": enc,
                "meta": {"lastUpdated": _iso(t + timedelta(hours=2))},
                "status": "finished",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "AMB",
                    "display": "ambulatory",
                },
                "type": [_cc(SNOMED, "185349003", "Encounter for check up")],
                "subject": ref,
                "period": {"start": _iso(t), "end": _iso(t + timedelta(minutes=30))},
            }
        )
        out.extend(_vitals(rng, patient_id, enc, t, n))
        if week % 4 == 0:
            out.extend(_labs(rng, patient_id, enc, t, n))
        if week % 8 == 1:
            code, name = CONDITIONS[(week // 8) % len(CONDITIONS)]
            out.append(
                {
                    "resourceType": "Condition",
                    "id": f"{patient_id}-cond-{n}",
                    "meta": {"lastUpdated": _iso(t + timedelta(hours=1))},
                    "clinicalStatus": _cc(
                        "http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"
                    ),
                    "category": [
                        _cc(
                            "http://terminology.hl7.org/CodeSystem/condition-category",
                            "problem-list-item",
                            "Problem List Item",
                        )
                    ],
                    "code": _cc(SNOMED, code, name),
                    "subject": ref,
                    "encounter": {"reference": f"Encounter/{enc}"},
                    "onsetDateTime": _iso(t - timedelta(days=rng.randint(10, 400))),
                    "recordedDate": _iso(t),
                }
            )
            rx, rx_name = MEDICATIONS[(week // 8) % len(MEDICATIONS)]
            out.append(
                {
                    "resourceType": "MedicationRequest",
                    "id": f"{patient_id}-rx-{n}",
                    "meta": {"lastUpdated": _iso(t + timedelta(hours=1))},
                    "status": "active",
                    "intent": "order",
                    "medicationCodeableConcept": _cc("http://www.nlm.nih.gov/research/umls/rxnorm", rx, rx_name),
                    "subject": ref,
                    "encounter": {"reference": f"Encounter/{enc}"},
                    "authoredOn": _iso(t),
                    "dosageInstruction": [
                        {
                            "text": "1 tablet daily",
                            "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                        }
                    ],
                }
            )
        if week % 13 == 2:
            cvx, vname = VACCINES[(week // 13) % len(VACCINES)]
            out.append(
                {
                    "resourceType": "Immunization",
                    "id": f"{patient_id}-imm-{n}",
                    "meta": {"lastUpdated": _iso(t + timedelta(hours=1))},
                    "status": "completed",
                    "vaccineCode": _cc("http://hl7.org/fhir/sid/cvx", cvx, vname),
                    "patient": ref,
                    "encounter": {"reference": f"Encounter/{enc}"},
                    "occurrenceDateTime": _iso(t),
                    "primarySource": True,
                }
            )
        if week % 10 == 5:
            out.append(
                {
                    "resourceType": "Procedure",
                    "id": f"{patient_id}-proc-{n}",
                    "meta": {"lastUpdated": _iso(t + timedelta(hours=1))},
                    "status": "completed",
                    "code": _cc(SNOMED, "430193006", "Medication reconciliation"),
                    "subject": ref,
                    "performedPeriod": {"start": _iso(t), "end": _iso(t + timedelta(minutes=15))},
                }
            )
            out.append(_claim(rng, patient_id, enc, t, n))
    out.sort(key=lambda r: r["meta"]["lastUpdated"])
    return out


def _vitals(rng: random.Random, pid: str, enc: str, t: datetime, n: int) -> list[Resource]:
    out = []
    for code, name, ucum, unit, (lo, hi) in VITALS:
        value: float | int = round(rng.uniform(lo, hi), 1) if isinstance(lo, float) else rng.randint(int(lo), int(hi))
        out.append(
            _observation(
                pid, f"{pid}-{code}-{n}", enc, t, "vital-signs", code, name, valueQuantity=_quantity(value, ucum, unit)
            )
        )
    sys_v, dia_v = rng.randint(105, 142), rng.randint(65, 92)
    out.append(
        _observation(
            pid,
            f"{pid}-bp-{n}",
            enc,
            t,
            "vital-signs",
            "85354-9",
            "Blood pressure panel",
            component=[
                {
                    "code": _cc(LOINC, "8480-6", "Systolic blood pressure"),
                    "valueQuantity": _quantity(sys_v, "mm[Hg]", "mmHg"),
                },
                {
                    "code": _cc(LOINC, "8462-4", "Diastolic blood pressure"),
                    "valueQuantity": _quantity(dia_v, "mm[Hg]", "mmHg"),
                },
            ],
        )
    )
    return out


def _labs(rng: random.Random, pid: str, enc: str, t: datetime, n: int) -> list[Resource]:
    out = [
        _observation(
            pid,
            f"{pid}-{code}-{n}",
            enc,
            t,
            "laboratory",
            code,
            name,
            valueQuantity=_quantity(round(rng.uniform(lo, hi), 1), unit, unit),
        )
        for code, name, unit, (lo, hi) in LABS
    ]
    out.append(
        _observation(
            pid,
            f"{pid}-smoking-{n}",
            enc,
            t,
            "social-history",
            "72166-2",
            "Tobacco smoking status",
            valueCodeableConcept=_cc(SNOMED, "266919005", "Never smoked tobacco"),
        )
    )
    # A test ordered but not resulted: no value, a dataAbsentReason instead.
    out.append(
        _observation(
            pid,
            f"{pid}-vitd-{n}",
            enc,
            t,
            "laboratory",
            "1989-3",
            "Vitamin D [Mass/volume]",
            dataAbsentReason=_cc(
                "http://terminology.hl7.org/CodeSystem/data-absent-reason", "not-performed", "Not Performed"
            ),
        )
    )
    out.append(
        {
            "resourceType": "DiagnosticReport",
            "id": f"{pid}-report-{n}",
            "meta": {"lastUpdated": _iso(t + timedelta(days=1))},
            "status": "final",
            "category": [_cc("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB", "Laboratory")],
            "code": _cc(LOINC, "24323-8", "Comprehensive metabolic panel"),
            "subject": {"reference": f"Patient/{pid}"},
            "effectiveDateTime": _iso(t),
            "issued": _iso(t + timedelta(days=1)),
            "result": [{"reference": f"Observation/{pid}-{code}-{n}"} for code, *_ in LABS],
        }
    )
    return out


def _observation(
    pid: str, oid: str, enc: str, t: datetime, category: str, code: str, name: str, **value: Any
) -> Resource:
    return {
        "resourceType": "Observation",
        "id": oid,
        "meta": {"lastUpdated": _iso(t + timedelta(hours=1))},
        "status": "final",
        "category": [_cc(OBS_CATEGORY, category, category.replace("-", " ").title())],
        "code": _cc(LOINC, code, name),
        "subject": {"reference": f"Patient/{pid}"},
        "encounter": {"reference": f"Encounter/{enc}"},
        "effectiveDateTime": _iso(t),
        "issued": _iso(t + timedelta(minutes=20)),
        **value,
    }


def _claim(rng: random.Random, pid: str, enc: str, t: datetime, n: int) -> Resource:
    amount = round(rng.uniform(80, 400), 2)
    return {
        "resourceType": "ExplanationOfBenefit",
        "id": f"carrier-{pid}-{n}",
        "meta": {"lastUpdated": _iso(t + timedelta(days=14))},
        "status": "active",
        "type": _cc("http://terminology.hl7.org/CodeSystem/claim-type", "professional", "Professional"),
        "use": "claim",
        "patient": {"reference": f"Patient/{pid}"},
        "billablePeriod": {"start": t.date().isoformat(), "end": t.date().isoformat()},
        "created": _iso(t + timedelta(days=14)),
        "insurer": {"identifier": {"value": "CMS"}},
        "provider": {"identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": "9999999993"}},
        "outcome": "complete",
        "insurance": [{"focal": True, "coverage": {"reference": f"Coverage/{pid}-cov"}}],
        "item": [
            {
                "sequence": 1,
                "productOrService": _cc(
                    "https://bluebutton.cms.gov/resources/codesystem/hcpcs", "99213", "Office visit"
                ),
                "net": {"value": amount, "currency": "USD"},
            }
        ],
        "total": [
            {
                "category": _cc("http://terminology.hl7.org/CodeSystem/adjudication", "submitted", "Submitted"),
                "amount": {"value": amount, "currency": "USD"},
            }
        ],
    }


def bundle(
    resources: Iterable[Resource], *, kind: str = "collection", base: str = "https://fhir.example.org/r4"
) -> Resource:
    entries = [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources]
    return {"resourceType": "Bundle", "id": f"bundle-{kind}", "type": kind, "total": len(entries), "entry": entries}


def write_bundle(path: Path, resources: Iterable[Resource], **kw: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(bundle(resources, **kw), indent=2))
    return path


def write_ndjson(folder: Path, resources: Iterable[Resource]) -> list[Path]:
    """Bulk-data export layout: one `<Type>.ndjson` per resource type, one resource a line."""
    folder.mkdir(parents=True, exist_ok=True)
    by_type: dict[str, list[str]] = {}
    for r in resources:
        by_type.setdefault(r["resourceType"], []).append(json.dumps(r, separators=(",", ":")))
    paths = []
    for kind, lines in sorted(by_type.items()):
        p = folder / f"{kind}.ndjson"
        p.write_text("\n".join(lines) + "\n")
        paths.append(p)
    return paths
