"""Gadgetbridge database exports, built from Gadgetbridge's own schema, seeded.

The tables follow the greenDAO entities of Gadgetbridge's GBDaoGenerator (schema 86): each
entity's properties become UPPER_SNAKE columns, `addIdProperty` an `"_id" INTEGER PRIMARY KEY
AUTOINCREMENT`, and samples a composite primary key (TIMESTAMP, DEVICE_ID). Activity samples
(`addCommonActivitySampleProperties`) count TIMESTAMP in seconds; time samples
(`addCommonTimeSampleProperties`) and sleep in milliseconds, with durations in minutes. Heart
rates of 255 (and 0, -1) are what the bands write for "no reading", and are generated too.
No real database is copied: the values are drawn from a seeded stream.

    write_database(tmp / "Gadgetbridge", days=2)
"""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2025, 3, 1, tzinfo=UTC)
SAMPLE = [("TIMESTAMP", "INTEGER NOT NULL"), ("DEVICE_ID", "INTEGER NOT NULL"), ("USER_ID", "INTEGER NOT NULL")]
ACTIVITY = [("RAW_INTENSITY", "INTEGER NOT NULL"), ("STEPS", "INTEGER NOT NULL"), ("RAW_KIND", "INTEGER NOT NULL"),
            ("HEART_RATE", "INTEGER NOT NULL")]  # fmt: skip

# Entity → columns after the common ones, as GBDaoGenerator adds them (those generated here).
SAMPLE_TABLES: dict[str, list[tuple[str, str]]] = {
    "MI_BAND_ACTIVITY_SAMPLE": ACTIVITY,
    "HUAMI_EXTENDED_ACTIVITY_SAMPLE": ACTIVITY
    + [("UNKNOWN1", "INTEGER"), ("SLEEP", "INTEGER"), ("DEEP_SLEEP", "INTEGER"), ("REM_SLEEP", "INTEGER")],
    "HUAMI_SPO2_SAMPLE": [("TYPE_NUM", "INTEGER NOT NULL"), ("SPO2", "INTEGER NOT NULL")],
    "HUAMI_STRESS_SAMPLE": [("TYPE_NUM", "INTEGER NOT NULL"), ("STRESS", "INTEGER NOT NULL")],
    "HUAMI_HEART_RATE_RESTING_SAMPLE": [("UTC_OFFSET", "INTEGER NOT NULL"), ("HEART_RATE", "INTEGER NOT NULL")],
    "HUAMI_HEART_RATE_MAX_SAMPLE": [("UTC_OFFSET", "INTEGER NOT NULL"), ("HEART_RATE", "INTEGER NOT NULL")],
    "XIAOMI_ACTIVITY_SAMPLE": ACTIVITY + [("STRESS", "INTEGER"), ("SPO2", "INTEGER")],
    "XIAOMI_SLEEP_TIME_SAMPLE": [
        ("WAKEUP_TIME", "INTEGER"),
        ("IS_AWAKE", "INTEGER"),
        ("TOTAL_DURATION", "INTEGER"),
        ("DEEP_SLEEP_DURATION", "INTEGER"),
        ("LIGHT_SLEEP_DURATION", "INTEGER"),
        ("REM_SLEEP_DURATION", "INTEGER"),
        ("AWAKE_DURATION", "INTEGER"),
    ],  # fmt: skip
    "XIAOMI_SLEEP_STAGE_SAMPLE": [("STAGE", "INTEGER")],
    "PINE_TIME_ACTIVITY_SAMPLE": [
        ("RAW_KIND", "INTEGER NOT NULL"),
        ("STEPS", "INTEGER NOT NULL"),
        ("HEART_RATE", "INTEGER NOT NULL"),
    ],  # fmt: skip
    "COLMI_SPO2_SAMPLE": [("SPO2", "INTEGER NOT NULL")],
    "COLMI_SLEEP_STAGE_SAMPLE": [("DURATION", "INTEGER NOT NULL"), ("STAGE", "INTEGER NOT NULL")],
}
OTHER_DDL = [
    "CREATE TABLE android_metadata (locale TEXT)",
    'CREATE TABLE "USER" ("_id" INTEGER PRIMARY KEY AUTOINCREMENT ,"NAME" TEXT NOT NULL ,"BIRTHDAY" INTEGER NOT NULL ,'
    '"GENDER" INTEGER NOT NULL )',
    'CREATE TABLE "DEVICE_ATTRIBUTES" ("_id" INTEGER PRIMARY KEY AUTOINCREMENT ,"FIRMWARE_VERSION1" TEXT NOT NULL ,'
    '"FIRMWARE_VERSION2" TEXT,"VALID_FROM_UTC" INTEGER,"VALID_TO_UTC" INTEGER,"DEVICE_ID" INTEGER NOT NULL ,'
    '"VOLATILE_IDENTIFIER" TEXT)',
    'CREATE TABLE "DEVICE" ("_id" INTEGER PRIMARY KEY AUTOINCREMENT ,"NAME" TEXT NOT NULL ,'
    '"MANUFACTURER" TEXT NOT NULL ,"IDENTIFIER" TEXT NOT NULL UNIQUE ,"TYPE" INTEGER NOT NULL ,'
    '"TYPE_NAME" TEXT NOT NULL ,"MODEL" TEXT,"ALIAS" TEXT,'
    '"PARENT_FOLDER" TEXT)',
    'CREATE TABLE "NOTIFICATION_FILTER" ("APP_IDENTIFIER" TEXT NOT NULL ,"_id" INTEGER PRIMARY KEY AUTOINCREMENT ,'
    '"NOTIFICATION_FILTER_MODE" INTEGER NOT NULL ,"NOTIFICATION_FILTER_SUB_MODE" INTEGER NOT NULL )',
    'CREATE TABLE "BASE_ACTIVITY_SUMMARY" ("_id" INTEGER PRIMARY KEY AUTOINCREMENT ,"NAME" TEXT,'
    '"START_TIME" INTEGER NOT NULL ,"END_TIME" INTEGER NOT NULL ,"ACTIVITY_KIND" INTEGER NOT NULL ,'
    '"DEVICE_ID" INTEGER NOT NULL ,"USER_ID" INTEGER NOT NULL ,"SUMMARY_DATA" TEXT,"RAW_SUMMARY_DATA" BLOB)',
]
# _id, name, manufacturer, MAC, type, type name, model, alias
DEVICES = [
    (1, "Mi Smart Band 5", "Huami", "C8:0F:10:AA:01:5E", 45, "MIBAND5", "", None),
    (2, "Xiaomi Smart Band 8", "Xiaomi", "D4:3E:2A:19:77:C0", 331, "MIBAND8", "M2239B1", "Band"),
    (3, "InfiniTime", "Pine64", "E2:11:5B:0C:3D:99", 210, "PINETIME_JF", "", None),
    (4, "R02_3C00", "Colmi", "30:3E:02:C1:3C:00", 401, "COLMI_R02", "R02", "Ring"),
    (5, "Amazfit Bip 5", "Huami", "F1:6A:33:8D:20:4B", 380, "AMAZFITBIP5", "", None),
]


def ddl(table: str, columns: list[tuple[str, str]]) -> str:
    cols = ",".join(f'"{name}" {kind} ' for name, kind in SAMPLE + columns)
    return f'CREATE TABLE "{table}" ({cols},PRIMARY KEY ("TIMESTAMP" ,"DEVICE_ID" ) ON CONFLICT REPLACE) WITHOUT ROWID'


def write_database(path: Path, *, days: int = 2, start: datetime = START, seed: int = 11) -> Path:
    """A database as Gadgetbridge exports it, holding `days` of samples of five devices."""
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    try:
        for statement in OTHER_DDL + [ddl(t, c) for t, c in SAMPLE_TABLES.items()]:
            conn.execute(statement)
        conn.execute("INSERT INTO android_metadata VALUES ('en_GB')")
        conn.execute('INSERT INTO "USER" VALUES (1, "gadgetbridge-user", 631152000000, 2)')
        conn.executemany('INSERT INTO "DEVICE" VALUES (?,?,?,?,?,?,?,?,NULL)', DEVICES)
        conn.executemany(
            'INSERT INTO "DEVICE_ATTRIBUTES" VALUES (NULL,?,NULL,?,NULL,?,NULL)',
            [("1.0.2.36", int(start.timestamp() * 1000), d[0]) for d in DEVICES],
        )
        _fill(conn, random.Random(seed), start, days)
        conn.commit()
    finally:
        conn.close()
    return path


def _heart(r: random.Random, awake: bool) -> int:
    roll = r.random()
    if roll < 0.05:
        return 255  # no reading
    if roll < 0.08:
        return -1 if r.random() < 0.5 else 0
    return r.randint(48, 70) + (25 if awake else 0)


def _fill(conn: sqlite3.Connection, r: random.Random, start: datetime, days: int) -> None:
    t0 = int(start.timestamp())
    minutes = days * 24 * 60
    band, xiaomi, pine, ring, bip = (d[0] for d in DEVICES)
    mi, ext, xa, pt = [], [], [], []
    for m in range(minutes):
        ts = t0 + m * 60
        awake = 7 <= (m // 60) % 24 < 23
        steps = r.randint(0, 110) if awake and r.random() < 0.5 else 0
        mi.append((ts, band, 1, r.randint(0, 120), steps, 1 if awake else 4, _heart(r, awake)))
        ext.append((ts, bip, 1, r.randint(0, 120), steps // 2, 1, _heart(r, awake), 0, 0 if awake else 1, 0, 0))
        xa.append((ts, xiaomi, 1, r.randint(0, 80), steps, 0, _heart(r, awake), r.randint(10, 60),
                   r.randint(93, 99) if m % 30 == 0 else 0))  # fmt: skip
        if m % 5 == 0:
            pt.append((ts, pine, 1, 1, steps * 5, _heart(r, awake)))
    conn.executemany('INSERT INTO "MI_BAND_ACTIVITY_SAMPLE" VALUES (?,?,?,?,?,?,?)', mi)
    conn.executemany('INSERT INTO "HUAMI_EXTENDED_ACTIVITY_SAMPLE" VALUES (?,?,?,?,?,?,?,?,?,?,?)', ext)
    conn.executemany('INSERT INTO "XIAOMI_ACTIVITY_SAMPLE" VALUES (?,?,?,?,?,?,?,?,?)', xa)
    conn.executemany('INSERT INTO "PINE_TIME_ACTIVITY_SAMPLE" VALUES (?,?,?,?,?,?)', pt)
    ms0 = t0 * 1000
    hour = 3_600_000
    conn.executemany(
        'INSERT INTO "HUAMI_SPO2_SAMPLE" VALUES (?,?,?,?,?)',
        [(ms0 + h * hour, band, 1, h % 2, r.randint(92, 100)) for h in range(days * 24)],
    )
    conn.executemany(
        'INSERT INTO "HUAMI_STRESS_SAMPLE" VALUES (?,?,?,?,?)',
        [(ms0 + h * hour, band, 1, 0, r.randint(10, 80)) for h in range(days * 24)],
    )
    for table in ("HUAMI_HEART_RATE_RESTING_SAMPLE", "HUAMI_HEART_RATE_MAX_SAMPLE"):
        conn.executemany(
            f'INSERT INTO "{table}" VALUES (?,?,?,?,?)',
            [(ms0 + d * 24 * hour, band, 1, 3600, r.randint(52, 62) if "REST" in table else r.randint(150, 175))
             for d in range(days)],
        )  # fmt: skip
    conn.executemany(
        'INSERT INTO "COLMI_SPO2_SAMPLE" VALUES (?,?,?,?)',
        [(ms0 + h * hour, ring, 1, r.randint(94, 99)) for h in range(0, days * 24, 2)],
    )
    for d in range(days):
        bed = ms0 + d * 24 * hour - 90 * 60_000  # 22:30 the evening before
        deep, light, rem, wake = r.randint(60, 110), r.randint(200, 260), r.randint(70, 110), r.randint(5, 30)
        total = deep + light + rem
        conn.execute(
            'INSERT INTO "XIAOMI_SLEEP_TIME_SAMPLE" VALUES (?,?,?,?,?,?,?,?,?,?)',
            (bed, xiaomi, 1, bed + (total + wake) * 60_000, 0, total, deep, light, rem, wake),
        )
        at = bed
        for stage, length in ((3, light // 2), (2, deep), (4, rem), (3, light - light // 2), (5, wake), (0, 0)):
            conn.execute('INSERT INTO "XIAOMI_SLEEP_STAGE_SAMPLE" VALUES (?,?,?,?)', (at, xiaomi, 1, stage))
            conn.execute('INSERT INTO "COLMI_SLEEP_STAGE_SAMPLE" VALUES (?,?,?,?,?)', (at, ring, 1, length, stage))
            at += length * 60_000
    ends = [(start + timedelta(days=d, hours=18)) for d in range(days)]
    conn.executemany(
        'INSERT INTO "BASE_ACTIVITY_SUMMARY" VALUES (NULL,?,?,?,16,?,1,NULL,NULL)',
        [("Run", int(e.timestamp() * 1000), int(e.timestamp() * 1000) + 1_800_000, band) for e in ends],
    )
