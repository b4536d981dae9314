"""Code tables shared by the health sources: LOINC codes for common measurements, and units.

The HealthKit → LOINC table follows the mappings used by HealthKit-on-FHIR projects; a type
that is not here keeps its HealthKit identifier as its code (code_system "HealthKit").
Units are written in UCUM where the source's unit has a plain UCUM equivalent.
"""

from __future__ import annotations

from typing import NamedTuple

LOINC = "http://loinc.org"
HEALTHKIT = "HealthKit"
UCUM = "http://unitsofmeasure.org"


class Code(NamedTuple):
    code: str
    name: str
    system: str = LOINC


# Blood pressure: one observation (the panel) with two components.
BP_PANEL = Code("85354-9", "Blood pressure panel")
BP_SYSTOLIC = Code("8480-6", "Systolic blood pressure")
BP_DIASTOLIC = Code("8462-4", "Diastolic blood pressure")
HEART_RATE = Code("8867-4", "Heart rate")
BODY_WEIGHT = Code("29463-7", "Body weight")
BODY_HEIGHT = Code("8302-2", "Body height")
BODY_FAT = Code("41982-0", "Percentage of body fat")
BODY_TEMPERATURE = Code("8310-5", "Body temperature")
SPO2 = Code("59408-5", "Oxygen saturation by pulse oximetry")

HEALTHKIT_LOINC: dict[str, Code] = {
    "HKQuantityTypeIdentifierActiveEnergyBurned": Code("41981-2", "Calories burned"),
    "HKQuantityTypeIdentifierBloodAlcoholContent": Code("74859-0", "Blood alcohol content"),
    "HKQuantityTypeIdentifierBloodGlucose": Code("41653-7", "Glucose by glucometer"),
    "HKQuantityTypeIdentifierBloodPressureDiastolic": BP_DIASTOLIC,
    "HKQuantityTypeIdentifierBloodPressureSystolic": BP_SYSTOLIC,
    "HKQuantityTypeIdentifierBodyFatPercentage": BODY_FAT,
    "HKQuantityTypeIdentifierBodyMass": BODY_WEIGHT,
    "HKQuantityTypeIdentifierBodyMassIndex": Code("39156-5", "Body mass index"),
    "HKQuantityTypeIdentifierBodyTemperature": BODY_TEMPERATURE,
    "HKQuantityTypeIdentifierDietaryEnergyConsumed": Code("9052-2", "Calorie intake total"),
    "HKQuantityTypeIdentifierDistanceSwimming": Code("93816-7", "Swimming distance"),
    "HKQuantityTypeIdentifierFlightsClimbed": Code("100304-5", "Flights climbed"),
    "HKQuantityTypeIdentifierForcedExpiratoryVolume1": Code("20150-9", "FEV1"),
    "HKQuantityTypeIdentifierForcedVitalCapacity": Code("19870-5", "Forced vital capacity"),
    "HKQuantityTypeIdentifierHeartRate": HEART_RATE,
    "HKQuantityTypeIdentifierHeartRateVariabilitySDNN": Code("80404-7", "Heart rate variability (SDNN)"),
    "HKQuantityTypeIdentifierHeight": BODY_HEIGHT,
    "HKQuantityTypeIdentifierLeanBodyMass": Code("91557-9", "Lean body weight"),
    "HKQuantityTypeIdentifierOxygenSaturation": SPO2,
    "HKQuantityTypeIdentifierPeakExpiratoryFlowRate": Code("19935-6", "Peak expiratory flow"),
    "HKQuantityTypeIdentifierPeripheralPerfusionIndex": Code("61006-3", "Perfusion index"),
    "HKQuantityTypeIdentifierPushCount": Code("96502-0", "Wheelchair pushes"),
    "HKQuantityTypeIdentifierRespiratoryRate": Code("9279-1", "Respiratory rate"),
    "HKQuantityTypeIdentifierRestingHeartRate": Code("40443-4", "Resting heart rate"),
    "HKQuantityTypeIdentifierStepCount": Code("55423-8", "Number of steps"),
    "HKQuantityTypeIdentifierWaistCircumference": Code("8280-0", "Waist circumference"),
    "HKCorrelationTypeIdentifierBloodPressure": BP_PANEL,
    "HKCorrelationTypeIdentifierFood": Code("80453-4", "Food intake panel"),
}

# HealthKit stores these as a fraction (0.97) while writing the unit "%": the export's
# value is multiplied by 100 so that "%" means percent.
HEALTHKIT_FRACTIONS = frozenset(
    {
        "HKQuantityTypeIdentifierOxygenSaturation",
        "HKQuantityTypeIdentifierBodyFatPercentage",
        "HKQuantityTypeIdentifierBloodAlcoholContent",
        "HKQuantityTypeIdentifierPeripheralPerfusionIndex",
        "HKQuantityTypeIdentifierWalkingAsymmetryPercentage",
        "HKQuantityTypeIdentifierWalkingDoubleSupportPercentage",
        "HKQuantityTypeIdentifierAppleWalkingSteadiness",
        "HKQuantityTypeIdentifierAtrialFibrillationBurden",
    }
)

# HealthKit unit strings with a plain UCUM spelling; others are kept as written.
HEALTHKIT_UNITS: dict[str, str] = {
    "count/min": "/min",
    "count": "{count}",
    "mmHg": "mm[Hg]",
    "degC": "Cel",
    "degF": "[degF]",
    "lb": "[lb_av]",
    "oz": "[oz_av]",
    "mi": "[mi_i]",
    "ft": "[ft_i]",
    "in": "[in_i]",
    "yd": "[yd_i]",
    "mcg": "ug",
    "hr": "h",
    "mmol<180.1558800000541>/L": "mmol/L",
    "dBASPL": "dB(SPL)",
    "dBHL": "dB(HL)",
    "mL/(kg*min)": "mL/(kg.min)",
    "km/hr": "km/h",
    "fl_oz_us": "[foz_us]",
    "Cal": "kcal",
}

# Withings measure types (getmeas `type`): code and unit after value * 10^unit scaling.
# Types without a LOINC code keep Withings' number, with code_system "Withings".
WITHINGS = "Withings"
WITHINGS_TYPES: dict[int, tuple[Code, str]] = {
    1: (BODY_WEIGHT, "kg"),
    4: (BODY_HEIGHT, "m"),
    5: (Code("5", "Fat free mass", WITHINGS), "kg"),
    6: (BODY_FAT, "%"),
    8: (Code("8", "Fat mass", WITHINGS), "kg"),
    9: (BP_DIASTOLIC, "mm[Hg]"),
    10: (BP_SYSTOLIC, "mm[Hg]"),
    11: (HEART_RATE, "/min"),
    12: (BODY_TEMPERATURE, "Cel"),
    54: (SPO2, "%"),
    71: (BODY_TEMPERATURE, "Cel"),
    73: (Code("73", "Skin temperature", WITHINGS), "Cel"),
    76: (Code("76", "Muscle mass", WITHINGS), "kg"),
    77: (Code("77", "Hydration", WITHINGS), "kg"),
    88: (Code("88", "Bone mass", WITHINGS), "kg"),
    91: (Code("91", "Pulse wave velocity", WITHINGS), "m/s"),
    123: (Code("123", "VO2 max", WITHINGS), "mL/(kg.min)"),
    135: (Code("135", "QRS interval duration", WITHINGS), "ms"),
    136: (Code("136", "PR interval duration", WITHINGS), "ms"),
    137: (Code("137", "QT interval duration", WITHINGS), "ms"),
    138: (Code("138", "Corrected QT interval duration", WITHINGS), "ms"),
    155: (Code("155", "Vascular age", WITHINGS), "a"),
    168: (Code("168", "Extracellular water", WITHINGS), "kg"),
    169: (Code("169", "Intracellular water", WITHINGS), "kg"),
    170: (Code("170", "Visceral fat index", WITHINGS), "1"),
    # Body Scan segmental measures: one value per body position (`position` in the measure).
    173: (Code("173", "Fat free mass", WITHINGS), "kg"),
    174: (Code("174", "Fat mass", WITHINGS), "kg"),
    175: (Code("175", "Muscle mass", WITHINGS), "kg"),
    226: (Code("226", "Basal metabolic rate", WITHINGS), "kcal/d"),
    227: (Code("227", "Metabolic age", WITHINGS), "a"),
}
# Withings' `position` of a measure: where on the body it was taken.
WITHINGS_POSITIONS = {
    0: "right wrist",
    1: "left wrist",
    2: "right arm",
    3: "left arm",
    4: "right foot",
    5: "left foot",
    6: "between legs",
    7: "whole body",
    8: "left part of body",
    9: "right part of body",
    10: "left leg",
    11: "right leg",
    12: "torso",
    13: "left hand",
    14: "right hand",
}
