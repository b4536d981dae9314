"""Apple Health exports as the iPhone writes them (export.zip or a bare export.xml), seeded.

Generation walks forward in time from `start`, drawing from one seeded random stream, so
an export made with a later `end` (or more `records`) holds every element of an earlier
one, unchanged: exactly what a user's "export all health data" gives month after month.
`offset_minutes` renders every date in another UTC offset (a phone that moved time zone).

    write_export_zip(tmp / "export.zip", days=30)
    write_export_xml(tmp / "export.xml", records=1_000_000)
"""

from __future__ import annotations

import io
import json
import random
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import IO

START = datetime(2024, 1, 1, tzinfo=UTC)

# Apple's DTD, abridged to the declarations of the elements generated here.
DTD = """<!DOCTYPE HealthData [
<!-- HealthKit Export Version: 14 -->
<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout|ActivitySummary|ClinicalRecord)*)>
<!ATTLIST HealthData
  locale CDATA #REQUIRED
>
<!ELEMENT ExportDate EMPTY>
<!ATTLIST ExportDate
  value CDATA #REQUIRED
>
<!ELEMENT Me EMPTY>
<!ATTLIST Me
  HKCharacteristicTypeIdentifierDateOfBirth         CDATA #REQUIRED
  HKCharacteristicTypeIdentifierBiologicalSex       CDATA #REQUIRED
  HKCharacteristicTypeIdentifierBloodType           CDATA #REQUIRED
  HKCharacteristicTypeIdentifierFitzpatrickSkinType CDATA #REQUIRED
>
<!ELEMENT Record ((MetadataEntry|HeartRateVariabilityMetadataList)*)>
<!ATTLIST Record
  type          CDATA #REQUIRED
  unit          CDATA #IMPLIED
  value         CDATA #IMPLIED
  sourceName    CDATA #REQUIRED
  sourceVersion CDATA #IMPLIED
  device        CDATA #IMPLIED
  creationDate  CDATA #IMPLIED
  startDate     CDATA #REQUIRED
  endDate       CDATA #REQUIRED
>
<!-- Note: Any Records that appear as children of a correlation also appear as top-level records in this document. -->
<!ELEMENT Correlation ((MetadataEntry|Record)*)>
<!ATTLIST Correlation
  type          CDATA #REQUIRED
  sourceName    CDATA #REQUIRED
  sourceVersion CDATA #IMPLIED
  device        CDATA #IMPLIED
  creationDate  CDATA #IMPLIED
  startDate     CDATA #REQUIRED
  endDate       CDATA #REQUIRED
>
<!ELEMENT Workout ((MetadataEntry|WorkoutEvent|WorkoutRoute|WorkoutStatistics)*)>
<!ATTLIST Workout
  workoutActivityType   CDATA #REQUIRED
  duration              CDATA #IMPLIED
  durationUnit          CDATA #IMPLIED
  totalDistance         CDATA #IMPLIED
  totalDistanceUnit     CDATA #IMPLIED
  totalEnergyBurned     CDATA #IMPLIED
  totalEnergyBurnedUnit CDATA #IMPLIED
  sourceName            CDATA #REQUIRED
  sourceVersion         CDATA #IMPLIED
  device                CDATA #IMPLIED
  creationDate          CDATA #IMPLIED
  startDate             CDATA #REQUIRED
  endDate               CDATA #REQUIRED
>
<!ELEMENT ActivitySummary EMPTY>
<!ATTLIST ActivitySummary
  dateComponents           CDATA #IMPLIED
  activeEnergyBurned       CDATA #IMPLIED
  activeEnergyBurnedGoal   CDATA #IMPLIED
  activeEnergyBurnedUnit   CDATA #IMPLIED
  appleMoveTime            CDATA #IMPLIED
  appleMoveTimeGoal        CDATA #IMPLIED
  appleExerciseTime        CDATA #IMPLIED
  appleExerciseTimeGoal    CDATA #IMPLIED
  appleStandHours          CDATA #IMPLIED
  appleStandHoursGoal      CDATA #IMPLIED
>
<!ELEMENT MetadataEntry EMPTY>
<!ATTLIST MetadataEntry
  key   CDATA #REQUIRED
  value CDATA #REQUIRED
>
]>
"""

WATCH = "Anna\u2019s Apple\u00a0Watch"
PHONE = "Anna\u2019s iPhone"
WATCH_DEVICE = (
    "&lt;&lt;HKDevice: 0x{addr:x}&gt;, name:Apple Watch, manufacturer:Apple Inc., model:Watch, "
    "hardware:Watch6,2, software:10.1&gt;"
)
PHONE_DEVICE = (
    "&lt;&lt;HKDevice: 0x{addr:x}&gt;, name:iPhone, manufacturer:Apple Inc., model:iPhone, "
    "hardware:iPhone14,5, software:17.1&gt;"
)
SLEEP_STAGES = (
    "HKCategoryValueSleepAnalysisAsleepCore",
    "HKCategoryValueSleepAnalysisAsleepDeep",
    "HKCategoryValueSleepAnalysisAsleepREM",
    "HKCategoryValueSleepAnalysisAwake",
)
WORKOUTS = (
    ("HKWorkoutActivityTypeRunning", "HKQuantityTypeIdentifierDistanceWalkingRunning", 9.5),
    ("HKWorkoutActivityTypeCycling", "HKQuantityTypeIdentifierDistanceCycling", 22.0),
    ("HKWorkoutActivityTypeWalking", "HKQuantityTypeIdentifierDistanceWalkingRunning", 5.0),
)


class _Clock:
    """Apple's date format in one fixed UTC offset: `2019-06-11 15:00:00 +0100`."""

    def __init__(self, offset_minutes: int) -> None:
        self.tz = timezone(timedelta(minutes=offset_minutes))
        sign = "-" if offset_minutes < 0 else "+"
        m = abs(offset_minutes)
        self.suffix = f" {sign}{m // 60:02d}{m % 60:02d}"

    def fmt(self, t: datetime) -> str:
        return t.astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S") + self.suffix


def export_elements(
    *,
    start: datetime = START,
    days: int | None = 30,
    records: int | None = None,
    seed: int = 1,
    offset_minutes: int = 60,
    unknown_types: bool = True,
    clinical: bool = False,
) -> Iterator[str]:
    """The top-level elements of export.xml in time order, each as a line of XML text.

    Stops after `days` days or after `records` top-level elements, whichever comes first.
    """
    rng = random.Random(seed)
    clock = _Clock(offset_minutes)
    count = 0
    day = 0
    while (days is None or day < days) and (records is None or count < records):
        for element in _day(rng, clock, start + timedelta(days=day), day, unknown_types, clinical):
            yield element
            count += 1
            if records is not None and count >= records:
                return
        day += 1


def _record(
    clock: _Clock,
    rng: random.Random,
    kind: str,
    source: str,
    unit: str | None,
    t0: datetime,
    t1: datetime,
    value: str,
    children: str = "",
) -> str:
    device = WATCH_DEVICE if source == WATCH else PHONE_DEVICE
    version = "10.1" if source == WATCH else "17.1"
    created = clock.fmt(t1 + timedelta(seconds=rng.randint(1, 300)))
    unit_attr = f' unit="{unit}"' if unit is not None else ""
    head = (
        f' <Record type="{kind}" sourceName="{source}" sourceVersion="{version}" '
        f'device="{device.format(addr=rng.getrandbits(36))}"{unit_attr} creationDate="{created}" '
        f'startDate="{clock.fmt(t0)}" endDate="{clock.fmt(t1)}" value="{value}"'
    )
    return f"{head}>\n{children} </Record>\n" if children else head + "/>\n"


def _day(rng: random.Random, clock: _Clock, midnight: datetime, n: int, unknown: bool, clinical: bool) -> Iterator[str]:
    q = "HKQuantityTypeIdentifier"
    # Heart rate every ~6 minutes from the watch, some with a motion context.
    t = midnight + timedelta(seconds=rng.randint(0, 300))
    while t < midnight + timedelta(days=1):
        bpm = rng.randint(52, 75) if t.hour < 7 else rng.randint(60, 120)
        meta = ""
        if rng.random() < 0.3:
            meta = f'  <MetadataEntry key="HKMetadataKeyHeartRateMotionContext" value="{rng.randint(0, 2)}"/>\n'
        yield _record(clock, rng, q + "HeartRate", WATCH, "count/min", t, t, str(bpm), meta)
        t += timedelta(seconds=rng.randint(240, 480))
    # Steps, distance and active energy in walking bouts, from the phone and the watch.
    for _ in range(rng.randint(25, 40)):
        t0 = midnight + timedelta(hours=7, seconds=rng.randint(0, 15 * 3600))
        t1 = t0 + timedelta(seconds=rng.randint(60, 600))
        steps = rng.randint(20, 1200)
        source = rng.choice((PHONE, WATCH))
        yield _record(clock, rng, q + "StepCount", source, "count", t0, t1, str(steps))
        yield _record(clock, rng, q + "DistanceWalkingRunning", source, "km", t0, t1, f"{steps * 0.00074:.5f}")
        yield _record(clock, rng, q + "ActiveEnergyBurned", WATCH, "kcal", t0, t1, f"{steps * 0.045:.3f}")
        yield _record(clock, rng, q + "BasalEnergyBurned", WATCH, "kcal", t0, t1, f"{rng.uniform(5, 30):.3f}")
    # A few vitals.
    t = midnight + timedelta(hours=3, minutes=rng.randint(0, 59))
    yield _record(clock, rng, q + "OxygenSaturation", WATCH, "%", t, t, f"{rng.randint(93, 100) / 100:.2f}")
    yield _record(clock, rng, q + "RestingHeartRate", WATCH, "count/min", t, t, str(rng.randint(50, 62)))
    beats = "".join(
        f'   <InstantaneousBeatsPerMinute bpm="{rng.randint(55, 70)}" time="{i}:02:0{i}.00 AM"/>\n' for i in range(3)
    )
    hrv = f"  <HeartRateVariabilityMetadataList>\n{beats}  </HeartRateVariabilityMetadataList>\n"
    sdnn = f"{rng.uniform(20, 80):.4f}"
    yield _record(clock, rng, q + "HeartRateVariabilitySDNN", WATCH, "ms", t, t + timedelta(minutes=1), sdnn, hrv)
    # Sleep stages overnight (a category type: the value is a text).
    t = midnight + timedelta(hours=-1, minutes=rng.randint(0, 60))
    for _ in range(rng.randint(5, 9)):
        t1 = t + timedelta(minutes=rng.randint(10, 70))
        yield _record(clock, rng, "HKCategoryTypeIdentifierSleepAnalysis", WATCH, None, t, t1, rng.choice(SLEEP_STAGES))
        t = t1
    if n % 3 == 0:
        t = midnight + timedelta(hours=7, minutes=rng.randint(0, 30))
        yield _record(clock, rng, q + "BodyMass", "Health Mate", "kg", t, t, f"{rng.uniform(70, 74):.2f}")
        yield _record(clock, rng, q + "BodyFatPercentage", "Health Mate", "%", t, t, f"{rng.uniform(0.17, 0.2):.3f}")
    if n % 4 == 1:
        yield from _blood_pressure(rng, clock, midnight + timedelta(hours=8, minutes=rng.randint(0, 50)))
    if n % 2 == 0:
        yield _workout(rng, clock, midnight + timedelta(hours=17, minutes=rng.randint(0, 90)))
    if unknown and n % 5 == 2:
        # Types selfdata has no table entry for: kept with their HealthKit identifier.
        t = midnight + timedelta(hours=12)
        yield _record(
            clock, rng, q + "TimeInDaylight", PHONE, "min", t, t + timedelta(hours=1), str(rng.randint(0, 60))
        )
        yield _record(clock, rng, "HKDataTypeSleepDurationGoal", PHONE, "hr", t, t, "8")
    if clinical and n % 10 in (3, 8):
        yield _clinical_record(midnight + timedelta(hours=10), clock, n)
    yield _activity_summary(rng, midnight)


def _blood_pressure(rng: random.Random, clock: _Clock, t: datetime) -> Iterator[str]:
    sys_v, dia_v = rng.randint(108, 135), rng.randint(68, 88)
    created = clock.fmt(t + timedelta(seconds=40))
    common = f'sourceName="Health Mate" sourceVersion="6.2.1" creationDate="{created}"'
    dates = f'startDate="{clock.fmt(t)}" endDate="{clock.fmt(t)}"'
    bp = "HKQuantityTypeIdentifierBloodPressure"
    inner = [
        f'  <Record type="{bp}Diastolic" {common} unit="mmHg" {dates} value="{dia_v}"/>',
        f'  <Record type="{bp}Systolic" {common} unit="mmHg" {dates} value="{sys_v}"/>',
    ]
    # Apple lists the members of a correlation at the top level too.
    for line in inner:
        yield line[1:] + "\n"
    yield (
        f' <Correlation type="HKCorrelationTypeIdentifierBloodPressure" {common} {dates}>\n'
        f'  <MetadataEntry key="HKWasUserEntered" value="0"/>\n' + "\n".join(inner) + "\n </Correlation>\n"
    )


def _workout(rng: random.Random, clock: _Clock, t0: datetime) -> str:
    kind, distance_type, speed = rng.choice(WORKOUTS)
    minutes = rng.randint(20, 75)
    t1 = t0 + timedelta(minutes=minutes, seconds=rng.randint(0, 59))
    km = speed * minutes / 60 * rng.uniform(0.85, 1.15)
    kcal = minutes * rng.uniform(7, 11)
    route = f"/workout-routes/route_{t0.strftime('%Y-%m-%d_%H.%M')}.gpx"
    pause = t0 + timedelta(minutes=minutes // 2)
    return (
        f' <Workout workoutActivityType="{kind}" duration="{(t1 - t0).total_seconds() / 60:.6f}" '
        f'durationUnit="min" sourceName="{WATCH}" sourceVersion="10.1" '
        f'device="{WATCH_DEVICE.format(addr=rng.getrandbits(36))}" creationDate="{clock.fmt(t1)}" '
        f'startDate="{clock.fmt(t0)}" endDate="{clock.fmt(t1)}">\n'
        f'  <MetadataEntry key="HKIndoorWorkout" value="0"/>\n'
        f'  <MetadataEntry key="HKTimeZone" value="Europe/London"/>\n'
        f'  <MetadataEntry key="HKAverageMETs" value="{rng.uniform(6, 10):.4f} kcal/hr·kg"/>\n'
        f'  <WorkoutEvent type="HKWorkoutEventTypePause" date="{clock.fmt(pause)}"/>\n'
        f'  <WorkoutEvent type="HKWorkoutEventTypeResume" date="{clock.fmt(pause + timedelta(seconds=45))}"/>\n'
        f'  <WorkoutStatistics type="HKQuantityTypeIdentifierActiveEnergyBurned" startDate="{clock.fmt(t0)}" '
        f'endDate="{clock.fmt(t1)}" sum="{kcal:.4f}" unit="kcal"/>\n'
        f'  <WorkoutStatistics type="{distance_type}" startDate="{clock.fmt(t0)}" endDate="{clock.fmt(t1)}" '
        f'sum="{km:.5f}" unit="km"/>\n'
        f'  <WorkoutStatistics type="HKQuantityTypeIdentifierHeartRate" startDate="{clock.fmt(t0)}" '
        f'endDate="{clock.fmt(t1)}" average="{rng.randint(120, 160)}" minimum="95" maximum="178" unit="count/min"/>\n'
        f'  <WorkoutRoute sourceName="{WATCH}" sourceVersion="10.1" creationDate="{clock.fmt(t1)}" '
        f'startDate="{clock.fmt(t0)}" endDate="{clock.fmt(t1)}">\n'
        f'   <FileReference path="{route}"/>\n'
        f"  </WorkoutRoute>\n"
        f" </Workout>\n"
    )


def _activity_summary(rng: random.Random, midnight: datetime) -> str:
    return (
        f' <ActivitySummary dateComponents="{midnight.date().isoformat()}" '
        f'activeEnergyBurned="{rng.uniform(250, 800):.4f}" activeEnergyBurnedGoal="500" '
        f'activeEnergyBurnedUnit="Cal" appleMoveTime="0" appleMoveTimeGoal="0" '
        f'appleExerciseTime="{rng.randint(5, 90)}" appleExerciseTimeGoal="30" '
        f'appleStandHours="{rng.randint(6, 14)}" appleStandHoursGoal="12"/>\n'
    )


def _clinical_file(n: int) -> str:
    return f"Observation-lab-{n}.json" if n % 10 == 3 else f"Immunization-imm-{n}.json"


def _clinical_record(t: datetime, clock: _Clock, n: int) -> str:
    kind = "LabResultRecord" if n % 10 == 3 else "ImmunizationRecord"
    return (
        f' <ClinicalRecord type="HKClinicalTypeIdentifier{kind}" identifier="rec-{n}" '
        f'sourceName="Springfield General" sourceURL="https://fhir.springfield.example/r4" fhirVersion="4.0.1" '
        f'receivedDate="{clock.fmt(t)}" resourceFilePath="/clinical-records/{_clinical_file(n)}"/>\n'
    )


def clinical_resource(n: int, t: datetime) -> dict[str, object]:
    """The FHIR file a ClinicalRecord element points at: a lab result or an immunization."""
    if n % 10 != 3:
        return {
            "resourceType": "Immunization",
            "id": f"imm-{n}",
            "status": "completed",
            "vaccineCode": {
                "coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140", "display": "Influenza"}]
            },
            "patient": {"reference": "Patient/example"},
            "occurrenceDateTime": t.isoformat(),
        }
    return {
        "resourceType": "Observation",
        "id": f"lab-{n}",
        "status": "final",
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4", "display": "Hemoglobin A1c"}]},
        "effectiveDateTime": t.isoformat(),
        "valueQuantity": {"value": 5.4 + (n % 5) / 10, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"},
    }


def write_xml(out: IO[bytes], *, export_date: datetime | None = None, offset_minutes: int = 60, **kw: object) -> int:
    """Write export.xml to a binary stream; returns the number of top-level elements."""
    clock = _Clock(offset_minutes)
    out.write(b'<?xml version="1.0" encoding="UTF-8"?>\n' + DTD.encode())
    out.write(b'<HealthData locale="en_GB">\n')
    out.write(f' <ExportDate value="{clock.fmt(export_date or datetime(2026, 6, 1, tzinfo=UTC))}"/>\n'.encode())
    out.write(
        b' <Me HKCharacteristicTypeIdentifierDateOfBirth="1988-04-02" '
        b'HKCharacteristicTypeIdentifierBiologicalSex="HKBiologicalSexFemale" '
        b'HKCharacteristicTypeIdentifierBloodType="HKBloodTypeNotSet" '
        b'HKCharacteristicTypeIdentifierFitzpatrickSkinType="HKFitzpatrickSkinTypeNotSet" '
        b'HKCharacteristicTypeIdentifierCardioFitnessMedicationsUse="None"/>\n'
    )
    n = 0
    buf: list[str] = []
    for element in export_elements(offset_minutes=offset_minutes, **kw):  # type: ignore[arg-type]
        buf.append(element)
        n += 1
        if len(buf) >= 2000:
            out.write("".join(buf).encode())
            buf = []
    out.write(("".join(buf) + "</HealthData>\n").encode())
    return n


def write_export_xml(path: Path, **kw: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_xml(f, **kw)  # type: ignore[arg-type]
    return path


def write_export_zip(
    path: Path, *, folder: str = "apple_health_export", xml_name: str = "export.xml", **kw: object
) -> Path:
    """An export.zip laid out like the iPhone's: export.xml, export_cda.xml, routes, clinical records."""
    path.parent.mkdir(parents=True, exist_ok=True)
    kw.setdefault("clinical", True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open(f"{folder}/{xml_name}", "w", force_zip64=True) as f:
            write_xml(f, **kw)  # type: ignore[arg-type]
        z.writestr(
            f"{folder}/export_cda.xml",
            '<?xml version="1.0"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3"><title>Health Data</title>'
            "</ClinicalDocument>\n",
        )
        z.writestr(f"{folder}/workout-routes/route_2024-01-01_17.00.gpx", _GPX)
        if kw.get("clinical"):
            days, records = kw.get("days", 30), kw.get("records")
            # A day holds about 450 elements; files nobody references are ignored by importers.
            span = int(days) if isinstance(days, int) else int(records) // 400 + 1  # type: ignore[call-overload]
            for n in range(span):
                if n % 10 in (3, 8):
                    t = START + timedelta(days=n, hours=10)
                    body = json.dumps(clinical_resource(n, t), indent=2)
                    z.writestr(f"{folder}/clinical-records/{_clinical_file(n)}", body)
    return path


_GPX = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="Apple Health Export" xmlns="http://www.topografix.com/GPX/1/1">
 <trk><name>Route 2024-01-01 5:00pm</name><trkseg>
  <trkpt lon="-0.127600" lat="51.507200"><ele>11.2</ele><time>2024-01-01T17:00:00Z</time></trkpt>
 </trkseg></trk>
</gpx>
"""


def zip_bytes(members: dict[str, bytes]) -> bytes:
    """A small zip in memory (for tests of odd archives)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()
