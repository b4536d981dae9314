"""A second Apple Health export generator, written apart from connectors/testing/generators.

The bench runs every importer on the project's own generator and on this one, so a speed
figure never depends on one author's idea of an export. It follows what a real iPhone
export looks like (checked against public exports such as healthkit-to-sqlite's test
files): `<!DOCTYPE HealthData [...]>` with the ATTLIST declarations, then `HealthData`,
`ExportDate`, `Me`; `Record` attributes in Apple's order (type, sourceName, sourceVersion,
device, unit, creationDate, startDate, endDate, value); dates like
`2024-01-02 08:00:00 +0100` in the phone's zone (Europe/Berlin here, so +0100 in winter
and +0200 in summer); `MetadataEntry` children; blood pressure as a `Correlation` whose
members are also top-level records; `Workout` with `WorkoutEvent`, `WorkoutStatistics`
and `WorkoutRoute`; one `ActivitySummary` a day. Deflated at zlib's default level, as
the phone does.

    python -m bench._health_export OUT.zip N
"""

from __future__ import annotations

import random
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("Europe/Berlin")
FIRST_DAY = datetime(2021, 3, 1, tzinfo=UTC)

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!-- HealthKit Export Version: 13 -->
<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout|ActivitySummary)*)>
<!ATTLIST HealthData locale CDATA #REQUIRED>
<!ELEMENT ExportDate EMPTY>
<!ATTLIST ExportDate value CDATA #REQUIRED>
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
<!ELEMENT Correlation ((MetadataEntry|Record)*)>
<!ELEMENT Workout ((MetadataEntry|WorkoutEvent|WorkoutRoute|WorkoutStatistics)*)>
<!ELEMENT WorkoutEvent EMPTY>
<!ELEMENT WorkoutStatistics EMPTY>
<!ELEMENT WorkoutRoute ((MetadataEntry|FileReference)*)>
<!ELEMENT FileReference EMPTY>
<!ELEMENT ActivitySummary EMPTY>
<!ELEMENT MetadataEntry EMPTY>
<!ATTLIST MetadataEntry
  key   CDATA #REQUIRED
  value CDATA #REQUIRED
>
]>
<HealthData locale="de_DE">
 <ExportDate value="2024-05-02 21:14:09 +0200"/>
"""
ME = (
    ' <Me HKCharacteristicTypeIdentifierDateOfBirth="1979-11-23"'
    ' HKCharacteristicTypeIdentifierBiologicalSex="HKBiologicalSexMale"'
    ' HKCharacteristicTypeIdentifierBloodType="HKBloodTypeAPositive"'
    ' HKCharacteristicTypeIdentifierFitzpatrickSkinType="HKFitzpatrickSkinTypeNotSet"/>\n'
)

WATCH, WATCH_VERSION = "Jonas\u2019s Apple Watch", "9.4"
PHONE, PHONE_VERSION = "Jonas\u2019s iPhone", "16.4.1"
SCALE, SCALE_VERSION = "Withings", "6040400"
WATCH_DEVICE = (
    "&lt;&lt;HKDevice: 0x28{:07x}&gt;, name:Apple Watch, manufacturer:Apple Inc., model:Watch, "
    "hardware:Watch5,4, software:9.4&gt;"
)
PHONE_DEVICE = (
    "&lt;&lt;HKDevice: 0x28{:07x}&gt;, name:iPhone, manufacturer:Apple Inc., model:iPhone, "
    "hardware:iPhone12,8, software:16.4.1&gt;"
)
HK = "HKQuantityTypeIdentifier"


class Dates:
    """Apple's `yyyy-MM-dd HH:mm:ss Z` in Europe/Berlin, the offset looked up once an hour."""

    def __init__(self) -> None:
        self.hour_start = 0
        self.offset = timedelta(0)
        self.suffix = ""

    def __call__(self, epoch: int) -> str:
        hour = epoch - epoch % 3600
        if hour != self.hour_start or not self.suffix:
            self.hour_start = hour
            local = datetime.fromtimestamp(hour, UTC).astimezone(ZONE)
            self.offset = local.utcoffset() or timedelta(0)
            minutes = int(self.offset.total_seconds()) // 60
            self.suffix = f" {'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
        local = datetime.fromtimestamp(epoch, UTC) + self.offset
        return f"{local:%Y-%m-%d %H:%M:%S}" + self.suffix


def record(
    d: Dates, kind: str, source: str, unit: str | None, t0: int, t1: int, value: str, device: str = "", meta: str = ""
) -> str:
    version = WATCH_VERSION if source == WATCH else PHONE_VERSION if source == PHONE else SCALE_VERSION
    parts = [f'<Record type="{kind}" sourceName="{source}" sourceVersion="{version}"']
    if device:
        parts.append(f' device="{device}"')
    if unit is not None:
        parts.append(f' unit="{unit}"')
    parts.append(f' creationDate="{d(t1 + 7)}" startDate="{d(t0)}" endDate="{d(t1)}" value="{value}"')
    if meta:
        return " " + "".join(parts) + ">\n" + meta + " </Record>\n"
    return " " + "".join(parts) + "/>\n"


def day_elements(rng: random.Random, d: Dates, day: int) -> list[str]:
    """One day of a watch wearer's data, in the order the export lists it (by type, then time)."""
    midnight = int(FIRST_DAY.timestamp()) + day * 86400
    out: list[str] = []
    watch = WATCH_DEVICE.format(rng.getrandbits(28))
    phone = PHONE_DEVICE.format(rng.getrandbits(28))
    # Heart rate: every 3-7 minutes, some samples with a motion context.
    t = midnight + rng.randrange(200)
    while t < midnight + 86400:
        meta = ""
        if rng.random() < 0.25:
            meta = f'  <MetadataEntry key="HKMetadataKeyHeartRateMotionContext" value="{rng.choice("012")}"/>\n'
        bpm = rng.randint(48, 70) if (t - midnight) < 6 * 3600 else rng.randint(58, 132)
        out.append(record(d, HK + "HeartRate", WATCH, "count/min", t, t, str(bpm), watch, meta))
        t += rng.randint(180, 420)
    # Steps and distance from the phone, in bouts, energy from the watch.
    for _ in range(rng.randint(30, 45)):
        t0 = midnight + 6 * 3600 + rng.randrange(16 * 3600)
        t1 = t0 + rng.randint(30, 900)
        steps = rng.randint(10, 1500)
        out.append(record(d, HK + "StepCount", PHONE, "count", t0, t1, str(steps), phone))
        out.append(record(d, HK + "DistanceWalkingRunning", PHONE, "km", t0, t1, f"{steps * 0.00071:.6f}", phone))
        out.append(record(d, HK + "ActiveEnergyBurned", WATCH, "Cal", t0, t1, f"{steps * 0.041:.3f}", watch))
        out.append(record(d, HK + "AppleExerciseTime", WATCH, "min", t0, t1, str(rng.randint(0, 3)), watch))
    for _ in range(rng.randint(6, 12)):
        t0 = midnight + 7 * 3600 + rng.randrange(14 * 3600)
        out.append(record(d, HK + "FlightsClimbed", PHONE, "count", t0, t0 + 60, str(rng.randint(1, 4)), phone))
    for h in range(7, 22):
        t0 = midnight + h * 3600
        out.append(
            record(
                d,
                "HKCategoryTypeIdentifierAppleStandHour",
                WATCH,
                None,
                t0,
                t0 + 3600,
                rng.choice(("HKCategoryValueAppleStandHourStood", "HKCategoryValueAppleStandHourIdle")),
                watch,
            )
        )
    t0 = midnight + 4 * 3600 + rng.randrange(3600)
    out.append(record(d, HK + "RespiratoryRate", WATCH, "count/min", t0, t0 + 60, f"{rng.uniform(12, 17):.1f}", watch))
    out.append(record(d, HK + "OxygenSaturation", WATCH, "%", t0, t0, f"{rng.randint(94, 100) / 100:g}", watch))
    out.append(record(d, HK + "RestingHeartRate", WATCH, "count/min", t0, t0 + 86000, str(rng.randint(49, 61)), watch))
    out.append(
        record(d, HK + "HeartRateVariabilitySDNN", WATCH, "ms", t0, t0 + 61, f"{rng.uniform(25, 95):.5f}", watch)
    )
    out.append(record(d, HK + "WalkingSpeed", PHONE, "km/hr", t0, t0 + 600, f"{rng.uniform(4, 6):.4f}", phone))
    # Sleep: in bed, then stages.
    t = midnight - 3600 + rng.randrange(3600)
    out.append(
        record(
            d,
            "HKCategoryTypeIdentifierSleepAnalysis",
            PHONE,
            None,
            t,
            t + 8 * 3600,
            "HKCategoryValueSleepAnalysisInBed",
            phone,
        )
    )
    for _ in range(rng.randint(6, 10)):
        t1 = t + rng.randint(600, 3600)
        stage = rng.choice(("AsleepCore", "AsleepDeep", "AsleepREM", "Awake"))
        out.append(
            record(
                d,
                "HKCategoryTypeIdentifierSleepAnalysis",
                WATCH,
                None,
                t,
                t1,
                f"HKCategoryValueSleepAnalysis{stage}",
                watch,
            )
        )
        t = t1
    if day % 2 == 0:  # the scale, every other morning
        t0 = midnight + 6 * 3600 + rng.randrange(1800)
        meta = '  <MetadataEntry key="HKWasUserEntered" value="0"/>\n'
        out.append(record(d, HK + "BodyMass", SCALE, "kg", t0, t0, f"{rng.uniform(80, 83):.1f}", "", meta))
        out.append(record(d, HK + "BodyFatPercentage", SCALE, "%", t0, t0, f"{rng.uniform(0.21, 0.24):.3f}", "", meta))
    if day % 3 == 0:  # blood pressure: the members at the top level, then the correlation
        t0 = midnight + 20 * 3600 + rng.randrange(1800)
        systolic, diastolic = rng.randint(112, 140), rng.randint(70, 92)
        members = [
            record(d, HK + "BloodPressureSystolic", SCALE, "mmHg", t0, t0, str(systolic)),
            record(d, HK + "BloodPressureDiastolic", SCALE, "mmHg", t0, t0, str(diastolic)),
        ]
        out.extend(members)
        out.append(
            f' <Correlation type="HKCorrelationTypeIdentifierBloodPressure" sourceName="{SCALE}" '
            f'sourceVersion="{SCALE_VERSION}" creationDate="{d(t0 + 7)}" startDate="{d(t0)}" endDate="{d(t0)}">\n'
            '  <MetadataEntry key="HKWasUserEntered" value="0"/>\n'
            + "".join(" " + m for m in members)
            + " </Correlation>\n"
        )
    if day % 3 == 1:
        out.append(workout(rng, d, midnight + 18 * 3600 + rng.randrange(3600), watch))
    out.append(
        f' <ActivitySummary dateComponents="{datetime.fromtimestamp(midnight, UTC):%Y-%m-%d}" '
        f'activeEnergyBurned="{rng.uniform(300, 900):.4f}" activeEnergyBurnedGoal="600" activeEnergyBurnedUnit="Cal" '
        f'appleMoveTime="0" appleMoveTimeGoal="0" appleExerciseTime="{rng.randint(5, 90)}" appleExerciseTimeGoal="30" '
        f'appleStandHours="{rng.randint(6, 15)}" appleStandHoursGoal="12"/>\n'
    )
    return out


def workout(rng: random.Random, d: Dates, t0: int, device: str) -> str:
    kind = rng.choice(("Running", "Cycling", "Swimming", "HighIntensityIntervalTraining"))
    seconds = rng.randint(1200, 5400)
    t1 = t0 + seconds
    kcal = seconds / 60 * rng.uniform(8, 12)
    return (
        f' <Workout workoutActivityType="HKWorkoutActivityType{kind}" duration="{seconds / 60:.13f}" '
        f'durationUnit="min" sourceName="{WATCH}" sourceVersion="{WATCH_VERSION}" device="{device}" '
        f'creationDate="{d(t1 + 3)}" startDate="{d(t0)}" endDate="{d(t1)}">\n'
        '  <MetadataEntry key="HKIndoorWorkout" value="0"/>\n'
        f'  <MetadataEntry key="HKAverageMETs" value="{rng.uniform(7, 11):.5f} kcal/hr\u00b7kg"/>\n'
        '  <MetadataEntry key="HKTimeZone" value="Europe/Berlin"/>\n'
        f'  <WorkoutEvent type="HKWorkoutEventTypeSegment" date="{d(t0)}" duration="{seconds / 120:.6f}" '
        'durationUnit="min"/>\n'
        f'  <WorkoutStatistics type="HKQuantityTypeIdentifierActiveEnergyBurned" startDate="{d(t0)}" '
        f'endDate="{d(t1)}" sum="{kcal:.5f}" unit="Cal"/>\n'
        f'  <WorkoutStatistics type="HKQuantityTypeIdentifierHeartRate" startDate="{d(t0)}" endDate="{d(t1)}" '
        f'average="{rng.randint(125, 165)}" minimum="{rng.randint(80, 100)}" maximum="{rng.randint(170, 190)}" '
        'unit="count/min"/>\n'
        f'  <WorkoutRoute sourceName="{WATCH}" sourceVersion="{WATCH_VERSION}" creationDate="{d(t1 + 60)}" '
        f'startDate="{d(t0)}" endDate="{d(t1)}">\n'
        f'   <FileReference path="/workout-routes/route_{datetime.fromtimestamp(t0, UTC):%Y-%m-%d_%-I.%M%p}.gpx"/>\n'
        "  </WorkoutRoute>\n"
        " </Workout>\n"
    )


def write(path: Path, n: int, seed: int = 7) -> Path:
    """export.zip holding `n` top-level elements after ExportDate and Me."""
    rng = random.Random(seed)
    d = Dates()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("apple_health_export/export.xml", "w", force_zip64=True) as f:
            f.write((HEAD + ME).encode())
            left, day = n, 0
            while left > 0:
                chunk = day_elements(rng, d, day)[:left]
                f.write("".join(chunk).encode())
                left -= len(chunk)
                day += 1
            f.write(b"</HealthData>\n")
        z.writestr(
            "apple_health_export/export_cda.xml",
            '<?xml version="1.0" encoding="UTF-8"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3"/>\n',
        )
    return path


if __name__ == "__main__":
    write(Path(sys.argv[1]), int(sys.argv[2]))
