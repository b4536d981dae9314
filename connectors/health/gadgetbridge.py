"""Gadgetbridge (Android): the SQLite database its "Export database" / auto-export writes.

Gadgetbridge talks to wearables without their vendor's cloud (Mi Band, Amazfit, Pebble,
PineTime, Bangle.js, Colmi...) and keeps what they send in one greenDAO database, one table
per device family. The tables are found by their columns, not by a list of names, because
each release adds families (the schema was at version 86 in 2025):

- activity samples (`MI_BAND_ACTIVITY_SAMPLE`, `PINE_TIME_ACTIVITY_SAMPLE`, ...): TIMESTAMP in
  seconds, DEVICE_ID, USER_ID, STEPS, HEART_RATE, RAW_INTENSITY, RAW_KIND (and SPO2 on Xiaomi's)
  → a steps observation when the minute has steps, a heart-rate one when the reading is valid
  (Gadgetbridge stores 0, -1 or 255 for "no reading"), an SpO2 one when present;
- time samples (`HUAMI_SPO2_SAMPLE`, `HUAMI_HEART_RATE_RESTING_SAMPLE`, ...): TIMESTAMP in
  milliseconds with SPO2 or HEART_RATE;
- sleep sessions (`XIAOMI_SLEEP_TIME_SAMPLE` with durations in minutes, `*_SLEEP_SESSION_SAMPLE`)
  → one sleep observation a night, in hours, coded like Apple Health's sleep analysis;
- sleep stages (`*_SLEEP_STAGE_SAMPLE`) → one observation a stage change.

RAW_KIND and RAW_INTENSITY mean different things per device, so they stay in `raw`
(with the row, its table and its device) for a later mapping, never guessed at now.
The device is named by its alias or name; keys use a hash of its fixed identifier (the MAC),
so a database exported again, or after a reinstall, gives the same keys.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors.sdk import Delete, Fragment, Importer, ImportFailed, Record, decimal_text

from .loinc import HEALTHKIT, HEART_RATE, SPO2, Code

OBSERVATION = "health.observation"
SYSTEM = "Gadgetbridge"
STEPS = Code("55423-8", "Number of steps")
RESTING_HR = Code("40443-4", "Resting heart rate")
MAX_HR = Code("heart_rate_max", "Maximum heart rate", SYSTEM)
SLEEP = Code("HKCategoryTypeIdentifierSleepAnalysis", "Sleep analysis", HEALTHKIT)
SLEEP_STAGE = Code("sleep_stage", "Sleep stage", SYSTEM)
XIAOMI_STAGES = {0: "awake", 1: "unknown", 2: "deep", 3: "light", 4: "rem", 5: "awake"}
SLEEP_PARTS = (("DEEP_SLEEP_DURATION", "deep"), ("LIGHT_SLEEP_DURATION", "light"),
               ("REM_SLEEP_DURATION", "rem"), ("AWAKE_DURATION", "awake"))  # fmt: skip
SQLITE_MAGIC = b"SQLite format 3\x00"
BATCH = 5000


class GadgetbridgeImporter(Importer):
    name = "gadgetbridge"
    title = "Gadgetbridge database export (Android wearables)"
    category = "health"
    datasets = (OBSERVATION,)
    extensions = (".db", "")
    description = "Steps, heart rate, SpO2 and sleep of every wearable Gadgetbridge has paired."

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        if not head.startswith(SQLITE_MAGIC):
            return False
        return b"DEVICE_ATTRIBUTES" in head or filename.lower().startswith("gadgetbridge")

    def read(self, path: Path, settings: dict[str, Any]) -> Iterator[Record | Fragment | Delete]:
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
        except sqlite3.Error as err:
            raise ImportFailed(f"{path.name}: cannot open the database ({err})") from None
        try:
            yield from _read(conn, path.name)
        except sqlite3.DatabaseError as err:
            raise ImportFailed(f"{path.name}: not a readable Gadgetbridge database ({err})") from None
        finally:
            conn.close()

    def normalize(self, fragment: Fragment) -> list[Record]:
        return map_row(fragment.raw)


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1].upper() for r in conn.execute(f'PRAGMA table_info("{table}")')}


def _family(table: str, cols: set[str]) -> str | None:
    """What kind of sample a table holds, from its columns (greenDAO writes them upper case)."""
    if not {"TIMESTAMP", "DEVICE_ID"} <= cols:
        return None
    if "STEPS" in cols and table.endswith("_ACTIVITY_SAMPLE"):
        return "activity"
    if table.endswith("_SLEEP_STAGE_SAMPLE") and "STAGE" in cols:
        return "stage"
    if "WAKEUP_TIME" in cols:
        return "session"
    if "SPO2" in cols and "STEPS" not in cols:
        return "spo2"
    if "HEART_RATE" in cols and "STEPS" not in cols and table.endswith("_SAMPLE"):
        return "heart_rate"
    return None


def _read(conn: sqlite3.Connection, filename: str) -> Iterator[Record]:
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    if "DEVICE" not in tables:
        raise ImportFailed(f"{filename}: not a Gadgetbridge database: it has no DEVICE table")
    devices = _devices(conn)
    for table in tables:
        cols = _columns(conn, table)
        family = _family(table, cols)
        if family is None:
            continue
        names = sorted(cols)
        select = ", ".join(f'"{c}"' for c in names)
        cursor = conn.execute(f'SELECT {select} FROM "{table}" ORDER BY "DEVICE_ID", "TIMESTAMP"')
        while rows := cursor.fetchmany(BATCH):
            for row in rows:
                values = dict(zip(names, row, strict=True))
                device = devices.get(values["DEVICE_ID"])
                if device is None:
                    raise ImportFailed(
                        f"{filename}: {table} has a sample of device {values['DEVICE_ID']}, not in DEVICE"
                    )
                raw = {"table": table, "family": family, "device": device, "row": values}
                try:
                    records = map_row(raw)
                except (ValueError, TypeError, OverflowError) as err:
                    raise ImportFailed(f"{filename}: {table} at {values.get('TIMESTAMP')}: {err}") from None
                yield from records  # each keeps the whole row as raw, so renormalize can map it again


def _devices(conn: sqlite3.Connection) -> dict[int, dict[str, str]]:
    cols = _columns(conn, "DEVICE")
    wanted = [c for c in ("_ID", "NAME", "ALIAS", "MANUFACTURER", "MODEL", "TYPE_NAME", "IDENTIFIER") if c in cols]
    if "_ID" not in wanted or "IDENTIFIER" not in wanted:
        raise ImportFailed("the DEVICE table lacks _id or IDENTIFIER: not a Gadgetbridge database")
    out: dict[int, dict[str, str]] = {}
    for row in conn.execute(f"SELECT {', '.join(wanted)} FROM DEVICE"):
        d = dict(zip(wanted, row, strict=True))
        label = d.get("ALIAS") or d.get("NAME") or "device"
        ident = hashlib.blake2b(str(d["IDENTIFIER"]).upper().encode(), digest_size=5).hexdigest()
        out[d["_ID"]] = {
            "name": str(label),
            "id": ident,
            **({"manufacturer": str(d["MANUFACTURER"])} if d.get("MANUFACTURER") else {}),
            **({"type": str(d["TYPE_NAME"])} if d.get("TYPE_NAME") else {}),
        }
    return out


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _obs(raw: dict[str, Any], what: str, code: Code, start_ms: int, value: Decimal | int | None, unit: str | None,
         **extra: Any) -> Record:  # fmt: skip
    device = raw["device"]
    start = _at(start_ms)
    data: dict[str, Any] = {"code": code.code, "code_system": code.system, "name": code.name,
                            "start": start.isoformat(), "device": device["name"], **extra}  # fmt: skip
    if value is not None:
        data["value"] = decimal_text(Decimal(value))
    if unit:
        data["unit"] = unit
    return Record(OBSERVATION, f"{raw['table'].lower()}/{device['id']}/{start_ms}/{what}", start, data, raw)


def _valid_hr(value: Any) -> bool:
    return isinstance(value, int) and 0 < value < 255


def map_row(raw: dict[str, Any]) -> list[Record]:
    """The observations of one row of a Gadgetbridge table (a pure function of the row)."""
    row, family = raw["row"], raw["family"]
    ts = row["TIMESTAMP"]
    if not isinstance(ts, int) or ts <= 0:
        raise ValueError(f"TIMESTAMP {ts!r} is not a time")
    if family == "activity":  # seconds
        out = []
        if isinstance(row.get("STEPS"), int) and row["STEPS"] > 0:
            out.append(_obs(raw, "steps", STEPS, ts * 1000, row["STEPS"], "{count}"))
        if _valid_hr(row.get("HEART_RATE")):
            out.append(_obs(raw, "hr", HEART_RATE, ts * 1000, row["HEART_RATE"], "/min"))
        spo2 = row.get("SPO2", row.get("SPO2_PERCENT"))
        if isinstance(spo2, int) and 0 < spo2 <= 100:
            out.append(_obs(raw, "spo2", SPO2, ts * 1000, spo2, "%"))
        return out
    if family == "spo2":
        spo2 = row.get("SPO2")
        return [_obs(raw, "spo2", SPO2, ts, spo2, "%")] if isinstance(spo2, int) and 0 < spo2 <= 100 else []
    if family == "heart_rate":
        if not _valid_hr(row.get("HEART_RATE")):
            return []
        code = RESTING_HR if "RESTING" in raw["table"] else MAX_HR if "_MAX_" in raw["table"] else HEART_RATE
        return [_obs(raw, "hr", code, ts, row["HEART_RATE"], "/min")]
    if family == "session":
        return _session(raw, row, ts)
    if family == "stage":
        stage = row.get("STAGE")
        text = XIAOMI_STAGES.get(stage, "unknown") if raw["table"].startswith("XIAOMI_") else f"stage {stage}"
        extra: dict[str, Any] = {"value_text": text}
        if isinstance(row.get("DURATION"), int) and row["DURATION"] > 0:  # minutes
            extra["end"] = _at(ts + row["DURATION"] * 60_000).isoformat()
        return [_obs(raw, "stage", SLEEP_STAGE, ts, None, None, **extra)]
    return []


def _session(raw: dict[str, Any], row: dict[str, Any], ts: int) -> list[Record]:
    wake = row.get("WAKEUP_TIME")
    if not isinstance(wake, int) or wake <= ts:
        return []  # a night still going, or one the band did not close
    hours = Decimal(wake - ts) / 3_600_000
    if isinstance(row.get("TOTAL_DURATION"), int) and row["TOTAL_DURATION"] > 0:
        hours = Decimal(row["TOTAL_DURATION"]) / 60  # asleep, without the time awake in bed
    components = [
        {"code": name, "value": decimal_text((Decimal(row[col]) / 60).quantize(Decimal("0.001"))), "unit": "h"}
        for col, name in SLEEP_PARTS
        if isinstance(row.get(col), int) and row[col] >= 0
    ]
    extra: dict[str, Any] = {"end": _at(wake).isoformat(), "value_text": "night"}
    if components:
        extra["components"] = components
    return [_obs(raw, "night", SLEEP, ts, hours.quantize(Decimal("0.001")), "h", **extra)]
