"""FHIR R4 resources to selfdata records: pure functions shared by the FHIR file importer,
the SMART on FHIR connector and the Apple Health importer (its clinical records).

- An `Observation` becomes a `health.observation` (LOINC code preferred, `valueQuantity`,
  components); its resource is kept as `raw`. One with status `entered-in-error` removes
  the observation stored under its key and is kept only in `health.clinical`.
- Every other resource is kept whole in `health.clinical`, with its main date as
  `effective`. An Observation with no date at all goes there too.
- Resources are checked against the R4 cardinalities the mapping relies on (required
  elements, single values, one choice of `x[x]`); a violation raises `FhirInvalid` naming
  the resource and the element, so nothing wrong is stored.

Keys are `ResourceType/id`. Dates without a time (`2012-09-17`, `2012-09`, `2012`) are
read as midnight UTC of their first day. Numbers are read from JSON as the vendor wrote
them (trailing zeros of a decimal are not kept: `4.50` is stored as `4.5`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from connectors.sdk import Delete, Record, datasets

from .loinc import LOINC, UCUM

OBSERVATION = "health.observation"
CLINICAL = "health.clinical"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_TYPE_RE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_DATETIME_RE = re.compile(
    r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01])"
    r"(T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00))?)?)?)?$"
)
# FHIR data type names that can end a choice element (valueQuantity, onsetDateTime, ...).
_CHOICE_TYPES = (
    "Quantity|CodeableConcept|String|Boolean|Integer|Range|Ratio|SampledData|Time|DateTime|Period|Date|"
    "Instant|Age|Reference|Timing|Decimal|Coding|Attachment|Identifier|Money|Duration|Uri|Url|Canonical|"
    "Markdown|PositiveInt|UnsignedInt|Code|Id|Oid|Uuid|Base64Binary|Address|HumanName|ContactPoint"
)
_CHOICE_RE = re.compile(
    r"^(value|effective|onset|abatement|occurrence|performed|deceased|multipleBirth|medication|born|age|"
    rf"reported|start|timing)({_CHOICE_TYPES})$"
)
_CODED = ("Observation", "Condition", "Procedure", "DiagnosticReport", "AllergyIntolerance")

# Elements R4 requires (min 1), per resource type; "x[x]" means one of the choice types.
REQUIRED: dict[str, tuple[str, ...]] = {
    "Observation": ("status", "code"),
    "Condition": ("subject",),
    "MedicationRequest": ("status", "intent", "subject", "medication[x]"),
    "MedicationStatement": ("status", "subject", "medication[x]"),
    "Immunization": ("status", "vaccineCode", "patient", "occurrence[x]"),
    "AllergyIntolerance": ("patient",),
    "Encounter": ("status", "class"),
    "Procedure": ("status", "subject"),
    "DiagnosticReport": ("status", "code"),
    "ExplanationOfBenefit": ("status", "type", "use", "patient", "created", "insurer", "provider", "outcome"),
    "Coverage": ("status", "beneficiary", "payor"),
    "CarePlan": ("status", "intent", "subject"),
    "Goal": ("lifecycleStatus", "description", "subject"),
}
# Elements that hold one value (max 1), per resource type.
SINGLE: dict[str, tuple[str, ...]] = {
    "*": ("id", "meta", "text", "language", "implicitRules"),
    "Observation": ("status", "code", "subject", "encounter", "issued", "device", "specimen", "method", "bodySite"),
    "Condition": ("clinicalStatus", "verificationStatus", "code", "subject", "encounter", "recordedDate"),
    "MedicationRequest": ("status", "intent", "subject", "encounter", "authoredOn", "requester"),
    "Immunization": ("status", "vaccineCode", "patient", "encounter", "recorded", "lotNumber"),
    "AllergyIntolerance": ("clinicalStatus", "verificationStatus", "type", "code", "patient", "recordedDate"),
    "Encounter": ("status", "class", "subject", "period", "serviceProvider"),
    "Patient": ("gender", "birthDate", "active", "maritalStatus"),
    "ExplanationOfBenefit": ("status", "type", "use", "patient", "created", "insurer", "provider", "outcome"),
    "Procedure": ("status", "code", "subject", "encounter"),
    "DiagnosticReport": ("status", "code", "subject", "encounter", "issued"),
}
# Elements that hold a list (max *), per resource type.
LISTS: dict[str, tuple[str, ...]] = {
    "*": ("identifier", "extension", "modifierExtension", "contained"),
    "Observation": ("category", "performer", "interpretation", "component", "referenceRange", "hasMember", "note"),
    "Condition": ("category", "bodySite", "note"),
    "Patient": ("name", "telecom", "address", "contact", "communication"),
    "ExplanationOfBenefit": ("item", "diagnosis", "procedure", "insurance", "careTeam", "supportingInfo"),
}
# Where each resource type keeps its own main date, in order of preference.
MAIN_DATE: dict[str, tuple[str, ...]] = {
    "Observation": ("effective[x]", "issued"),
    "Condition": ("onset[x]", "recordedDate"),
    "MedicationRequest": ("authoredOn",),
    "MedicationStatement": ("effective[x]", "dateAsserted"),
    "MedicationAdministration": ("effective[x]",),
    "MedicationDispense": ("whenHandedOver", "whenPrepared"),
    "Immunization": ("occurrence[x]", "recorded"),
    "AllergyIntolerance": ("onset[x]", "recordedDate"),
    "Encounter": ("period",),
    "ExplanationOfBenefit": ("billablePeriod", "created"),
    "Claim": ("billablePeriod", "created"),
    "Coverage": ("period",),
    "Procedure": ("performed[x]",),
    "DiagnosticReport": ("effective[x]", "issued"),
    "CarePlan": ("period", "created"),
    "CareTeam": ("period",),
    "Goal": ("start[x]", "statusDate"),
    "DocumentReference": ("date",),
    "ImagingStudy": ("started",),
    "Provenance": ("recorded",),
    "Patient": (),
    "Practitioner": (),
    "Organization": (),
    "Location": (),
    "Medication": (),
}
_DEFAULT_DATES = ("effective[x]", "occurrence[x]", "performed[x]", "period", "date", "created", "issued")


class FhirInvalid(ValueError):
    """A resource breaks the FHIR R4 structure; the message names the resource and element."""


def parse_datetime(text: Any) -> datetime:
    """A FHIR date, dateTime or instant as a timezone-aware datetime (partial dates: UTC midnight)."""
    if not isinstance(text, str) or not _DATETIME_RE.match(text):
        raise ValueError(f"{text!r} is not a FHIR date or dateTime")
    if len(text) == 4:
        return datetime(int(text), 1, 1, tzinfo=UTC)
    if len(text) == 7:
        return datetime(int(text[:4]), int(text[5:7]), 1, tzinfo=UTC)
    if len(text) == 10:
        return datetime(int(text[:4]), int(text[5:7]), int(text[8:10]), tzinfo=UTC)
    dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace(":60", ":59"))
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def to_decimal(value: Any) -> Decimal:
    """A JSON number as an exact Decimal; floats by their shortest text, never binary noise."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(f"{value!r} is not a number")
    number = value if isinstance(value, Decimal) else Decimal(value) if isinstance(value, int) else Decimal(repr(value))
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return number


def resource_key(resource: dict[str, Any]) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def check_resource(resource: Any, *, strict: bool = True) -> None:
    """Raise FhirInvalid when the resource breaks the cardinalities the mapping relies on.

    `strict=False` skips the R4 required-element checks (for resources of other FHIR versions).
    """
    if not isinstance(resource, dict):
        raise FhirInvalid(f"expected a FHIR resource (a JSON object), got {type(resource).__name__}")
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not _TYPE_RE.match(rtype):
        raise FhirInvalid(f"resourceType {rtype!r} is not a FHIR resource type")
    rid = resource.get("id")
    if not isinstance(rid, str) or not _ID_RE.match(rid):
        raise FhirInvalid(f"{rtype} has no valid id (got {rid!r}); FHIR ids are 1-64 of A-Z a-z 0-9 - .")
    where = f"{rtype}/{rid}"
    for name in SINGLE["*"] + SINGLE.get(rtype, ()):
        if isinstance(resource.get(name), list):
            raise FhirInvalid(f"{where}: {name} holds one value in FHIR R4, not a list")
    for name in LISTS["*"] + LISTS.get(rtype, ()):
        if name in resource and not isinstance(resource[name], list):
            raise FhirInvalid(f"{where}: {name} is a list in FHIR R4, got {type(resource[name]).__name__}")
    _check_choices(resource, where)
    for name in REQUIRED.get(rtype, ()) if strict else ():
        if _get(resource, name) is None:
            if name.endswith("[x]") and isinstance(resource.get(name[:-3]), dict):
                # R5 turned medication[x] (and others) into one CodeableReference element.
                base = name[:-3]
                raise FhirInvalid(
                    f"{where}: has {base!r} where FHIR R4 has {base}CodeableConcept or {base}Reference: this is "
                    "a FHIR R5 resource; selfdata reads FHIR R4, so export the records as R4 (patient portals "
                    "and $export offer R4)"
                )
            raise FhirInvalid(f"{where}: {name} is required (1..1) in FHIR R4 and missing")
    if rtype == "Observation":
        for i, comp in enumerate(resource.get("component") or []):
            if not isinstance(comp, dict) or not isinstance(comp.get("code"), dict):
                raise FhirInvalid(f"{where}: component[{i}].code is required and must be one CodeableConcept")
            _check_choices(comp, f"{where}: component[{i}]")
    if rtype in _CODED and not isinstance(resource.get("code", {}), dict):
        raise FhirInvalid(f"{where}: code holds one CodeableConcept, got {type(resource['code']).__name__}")


def _check_choices(element: dict[str, Any], where: str) -> None:
    seen: dict[str, list[str]] = {}
    for name in element:
        m = _CHOICE_RE.match(name)
        if m:
            seen.setdefault(m.group(1), []).append(name)
    for prefix, names in seen.items():
        if len(names) > 1:
            raise FhirInvalid(
                f"{where}: {prefix}[x] has {len(names)} values ({', '.join(sorted(names))}); R4 allows one"
            )
        if isinstance(element[names[0]], list):
            raise FhirInvalid(f"{where}: {names[0]} holds one value in FHIR R4, not a list")


def _get(resource: dict[str, Any], name: str) -> Any:
    """An element's value; "x[x]" finds whichever choice type is present."""
    if name.endswith("[x]"):
        prefix = name[:-3]
        for key, value in resource.items():
            if key.startswith(prefix) and key[len(prefix) : len(prefix) + 1].isupper():
                return value
        return None
    return resource.get(name)


def map_resource(resource: Any, *, strict: bool = True) -> list[Record | Delete]:
    """The records a resource becomes (checked first: FhirInvalid on a violation)."""
    check_resource(resource, strict=strict)
    if resource["resourceType"] == "Observation":
        if resource.get("status") == "entered-in-error":
            # A retracted measurement: remove what was stored, keep the resource itself.
            return [Delete(OBSERVATION, (resource_key(resource),)), clinical_record(resource)]
        if _observation_start(resource) is not None:
            return [observation_record(resource)]
    return [clinical_record(resource)]


def main_date(resource: dict[str, Any]) -> datetime | None:
    """The resource's own main date (onset, authoredOn, period start...), or None."""
    for name in MAIN_DATE.get(resource["resourceType"], _DEFAULT_DATES):
        if name.endswith("[x]") and f"{name[:-3]}String" in resource:
            continue  # onsetString "as a child", occurrenceString, performedString: R4 allows free text
        value = _get(resource, name)
        found = _date_of(value, f"{resource_key(resource)}: {name}")
        if found is not None:
            return found
    return None


def _date_of(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, dict):  # Period (start), Timing (first event), Age/Range: no date
        if "start" in value:
            value = value["start"]
        elif isinstance(value.get("event"), list) and value["event"]:
            value = value["event"][0]
        else:
            return None
    if not isinstance(value, str):
        return None
    try:
        return parse_datetime(value)
    except ValueError as err:
        raise FhirInvalid(f"{where}: {err}") from None


def _last_updated(resource: dict[str, Any]) -> datetime | None:
    meta = resource.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("lastUpdated"), str):
        return _date_of(meta["lastUpdated"], f"{resource_key(resource)}: meta.lastUpdated")
    return None


def clinical_record(resource: dict[str, Any]) -> Record:
    """Any resource, kept whole; `ts` is its main date, else meta.lastUpdated, else 1970-01-01."""
    effective = main_date(resource)
    data = datasets.HealthClinical.make(
        resource_type=resource["resourceType"], id=resource["id"], resource=resource, effective=effective
    )
    ts = effective or _last_updated(resource) or EPOCH
    return Record(CLINICAL, resource_key(resource), ts, data)


def keep_whole(resource: Any) -> Record | None:
    """A resource kept in `health.clinical` without interpreting it (it broke a cardinality);
    None when it has no usable type and id to be stored under."""
    if not isinstance(resource, dict):
        return None
    rtype, rid = resource.get("resourceType"), resource.get("id")
    if not (isinstance(rtype, str) and _TYPE_RE.match(rtype) and isinstance(rid, str) and _ID_RE.match(rid)):
        return None
    try:
        effective = main_date(resource)
    except FhirInvalid:
        effective = None
    try:
        updated = _last_updated(resource)
    except FhirInvalid:
        updated = None
    data = datasets.HealthClinical.make(resource_type=rtype, id=rid, resource=resource, effective=effective)
    return Record(CLINICAL, f"{rtype}/{rid}", effective or updated or EPOCH, data)


def _observation_start(resource: dict[str, Any]) -> tuple[datetime, datetime | None] | None:
    where = resource_key(resource)
    eff = _get(resource, "effective[x]")
    if isinstance(eff, dict) and ("start" in eff or "end" in eff):
        start = _date_of(eff.get("start") or eff.get("end"), f"{where}: effectivePeriod")
        end = _date_of(eff.get("end"), f"{where}: effectivePeriod.end")
        return (start, end) if start is not None else None
    start = _date_of(eff, f"{where}: effective[x]") or _date_of(resource.get("issued"), f"{where}: issued")
    return (start, None) if start is not None else None


def pick_coding(concept: Any) -> tuple[str, str, str | None]:
    """(code, system, display) of a CodeableConcept: its LOINC coding first, else the first one."""
    if not isinstance(concept, dict):
        return "unknown", "text", None
    codings = [c for c in concept.get("coding") or [] if isinstance(c, dict) and isinstance(c.get("code"), str)]
    for c in codings:
        if c.get("system") == LOINC:
            return c["code"], LOINC, c.get("display") or concept.get("text")
    if codings:
        c = codings[0]
        return c["code"], str(c.get("system") or "unknown"), c.get("display") or concept.get("text")
    text = concept.get("text")
    return (text, "text", text) if isinstance(text, str) and text else ("unknown", "text", None)


def _quantity(q: Any, where: str) -> tuple[Decimal | None, str | None]:
    if not isinstance(q, dict):
        raise FhirInvalid(f"{where}: a Quantity must be one object")
    value: Decimal | None = None
    if "value" in q:
        try:
            value = to_decimal(q["value"])
        except ValueError as err:
            raise FhirInvalid(f"{where}.value: {err}") from None
    unit = q.get("code") if q.get("system") == UCUM and q.get("code") else q.get("unit") or q.get("code")
    return value, unit if isinstance(unit, str) else None


def _value(element: dict[str, Any], where: str) -> tuple[Decimal | None, str | None, str | None]:
    """(value, unit, value_text) of an element's value[x]."""
    for key, item in element.items():
        if not key.startswith("value") or not key[5:6].isupper():
            continue
        kind = key[5:]
        if kind == "Quantity":
            value, unit = _quantity(item, f"{where}.valueQuantity")
            return value, unit, None
        if kind == "Integer":
            try:
                return to_decimal(item), None, None
            except ValueError as err:
                raise FhirInvalid(f"{where}.valueInteger: {err}") from None
        if kind == "CodeableConcept":
            code, _, display = pick_coding(item)
            return None, None, display or code
        if kind == "Boolean":
            return None, None, "true" if item is True else "false"
        if kind in ("String", "DateTime", "Time"):
            return None, None, str(item)
        if kind == "Range" and isinstance(item, dict):
            low, high = item.get("low") or {}, item.get("high") or {}
            unit = high.get("unit") or low.get("unit") or ""
            return None, None, f"{low.get('value', '')}-{high.get('value', '')} {unit}".strip()
        if kind == "Ratio" and isinstance(item, dict):
            num, den = item.get("numerator") or {}, item.get("denominator") or {}
            return None, None, f"{num.get('value', '')}/{den.get('value', '')}"
        return None, None, kind  # Period, SampledData: kept in raw
    return None, None, None


def observation_record(resource: dict[str, Any]) -> Record:
    """An Observation with a date as a `health.observation`; the resource is kept as raw."""
    where = resource_key(resource)
    when = _observation_start(resource)
    if when is None:
        raise FhirInvalid(f"{where}: has no effective date or issued time")
    start, end = when
    code, system, name = pick_coding(resource.get("code"))
    value, unit, value_text = _value(resource, where)
    components = []
    for i, comp in enumerate(resource.get("component") or []):
        c_code, _, _ = pick_coding(comp["code"])
        c_value, c_unit, c_text = _value(comp, f"{where}: component[{i}]")
        component = datasets.Component.make(code=c_code, value=c_value, unit=c_unit if c_value is not None else None)
        component = {k: v for k, v in component.items() if v is not None}
        if c_text is not None:
            component["value_text"] = c_text
        components.append(component)
    device = resource.get("device")
    data = datasets.HealthObservation.make(
        code=code,
        code_system=system,
        name=name,
        value=value,
        value_text=value_text,
        unit=unit if value is not None else None,
        start=start,
        end=end,
        device=(device.get("display") or device.get("reference")) if isinstance(device, dict) else None,
        components=components or None,
    )
    data = {k: v for k, v in data.items() if v is not None}
    if isinstance(resource.get("status"), str):
        data["status"] = resource["status"]
    absent = resource.get("dataAbsentReason")
    if value is None and value_text is None and not components and isinstance(absent, dict):
        a_code, _, a_display = pick_coding(absent)
        data["absent_reason"] = a_display or a_code
    return Record(OBSERVATION, where, start, data, raw=resource)
