"""Every insight view on one big vault, cold and warm, through the daemon a user runs.

    python -m bench views [--rounds=3] [--warm=5] [--rebuild] [--only=money,energy,...]

One vault (built once, then kept in ~/.cache/selfdata-bench/views until the generators,
the schema or the month change; each run works on a copy) holds:
- 10 years of half-hour electricity readings from two meters (consumption and export,
  350,400 readings), a fixed tariff held and an Economy 7 offer to compare;
- 100,000 bank transactions over ten years on three accounts in EUR and USD (bench.money);
- 1,000,000 health observations over two years (heart rate, steps, calories, SpO2 from a
  watch; a phone's hourly steps; daily resting heart rate, weight, blood pressure panels and
  nights of sleep stages) and a workout most days;
- two years of calls, messages and hourly data usage, with a 50 GB plan.

The real daemon (`python -m daemon run`, TZ=Europe/Paris) serves the dashboard; each view
is asked as a browser asks it: COLD twice over, (a) the first request after the daemon
starts (a new daemon for each view, once idle: what it computes ahead at start is done,
nothing else is kept) and (b) the first request right after a record of its data arrives
(`import_jsonl` over the admin socket, then at once the page); WARM, the median of the
requests after. Medians over the rounds, beside the 300 ms target. `selfdata report` is
timed as the command (a new Python process, talking to the daemon) and as its operation
over the admin socket. Last, the daemon's peak RSS (VmHWM) over the whole run.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import api, money

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "selfdata-bench" / "views"
GENERATION = "1"  # bump when a generator below changes: the kept vault is built again
TARGET_MS = 300.0
ZONE = "Europe/Paris"
SLOT_MS = 1_800_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
YEARS_ENERGY, YEARS_HEALTH, YEARS_TELECOM = 10, 2, 2
TRANSACTIONS, OBSERVATIONS = 100_000, 1_000_000


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _end_ms(today: date) -> int:
    return int(datetime(today.year, today.month, today.day, tzinfo=UTC).timestamp() * 1000)


# ---- the data -----------------------------------------------------------------------------


def readings(today: date) -> Iterator[Any]:
    """Two meters' half-hours over ten years up to today's midnight (UTC): a household's day
    (more in the evening, more in winter) and solar export by day; one day missing each year."""
    from daemon.vault import RecordIn

    end = _end_ms(today)
    n = YEARS_ENERGY * 365 * 48
    start = end - n * SLOT_MS
    for i in range(n):
        ts = start + i * SLOT_MS
        if i % (365 * 48) < 48:  # a gap: the meter did not answer that day
            continue
        hh = i % 48
        winter = abs(((ts // DAY_MS) % 365) - 182) / 182  # 0 in summer, 1 in winter
        use = 80 + (400 if 34 <= hh < 44 else 0) + (150 if 14 <= hh < 18 else 0) + int(200 * winter) + (i * 7919) % 90
        sun = max(0, 12 - abs(hh - 26)) * int(160 * (1.2 - winter)) // 12
        head = {"start": _iso(ts), "end": _iso(ts + SLOT_MS), "unit": "kWh", "quality": "actual"}
        yield RecordIn(
            "meter",
            "energy.reading",
            f"import:{ts}",
            ts,
            {**head, "meter_id": "import", "commodity": "electricity", "direction": "consumption"}
            | {"quantity": f"{use / 1000:.3f}"},
        )
        yield RecordIn(
            "meter",
            "energy.reading",
            f"export:{ts}",
            ts,
            {**head, "meter_id": "export", "commodity": "electricity", "direction": "production"}
            | {"quantity": f"{sun / 1000:.3f}"},
        )


def tariff_records() -> list[Any]:
    from daemon.insights import tariffs
    from daemon.operations.energy import tariff_record

    common = {"supplier": "Octopus Energy", "currency": "GBP", "commodity": "electricity"}
    plans: list[dict[str, Any]] = [
        {
            **common,
            "tariff_id": "flexible-2015",
            "product": "Flexible Octopus",
            "valid_from": "2015-01-01T00:00:00+00:00",
            "valid_to": "2024-04-01T00:00:00+00:00",
            "kind": "fixed",
            "unit_price": "0.2150",
            "standing_charge": "0.4590",
            "timezone": "Europe/London",
            "held": "yes",
        },
        {
            **common,
            "tariff_id": "flexible-2024",
            "product": "Flexible Octopus",
            "valid_from": "2024-04-01T00:00:00+00:00",
            "kind": "fixed",
            "unit_price": "0.2450",
            "standing_charge": "0.5190",
            "timezone": "Europe/London",
            "held": "yes",
        },
        {
            **common,
            "tariff_id": "economy7",
            "product": "Economy 7",
            "valid_from": "2015-01-01T00:00:00+00:00",
            "kind": "time_of_use",
            "standing_charge": "0.5350",
            "timezone": "UTC",
            "bands": [
                {"name": "night", "price": "0.1420", "start": "00:30", "end": "07:30"},
                {"name": "day", "price": "0.2890", "start": "07:30", "end": "00:30"},
            ],
        },
    ]
    return [tariff_record(tariffs.from_data(p)) for p in plans]


WATCH = (
    ("8867-4", "Heart rate", "/min"),
    ("55423-8", "Steps", "steps"),
    ("41981-2", "Calories burned", "kcal"),
    ("59408-5", "Oxygen saturation", "%"),
)
SLEEP = "HKCategoryTypeIdentifierSleepAnalysis"


def observations(today: date) -> Iterator[Any]:
    """1,000,000 observations over two years up to today: the watch's four codes in turn
    (one every 65 s or so), the phone's hourly steps, and each day a resting heart rate, a
    weight, a blood pressure panel and a night of sleep stages."""
    from daemon.vault import RecordIn

    end = _end_ms(today)
    days = YEARS_HEALTH * 365
    start = end - days * DAY_MS
    daily = days * (3 + 4)  # resting HR, weight, BP panel, four sleep stages
    hourly = days * 24
    watch = OBSERVATIONS - daily - hourly
    step = days * DAY_MS // watch
    for i in range(watch):
        ts = start + i * step
        code, name, unit = WATCH[i % len(WATCH)]
        data = {"code": code, "code_system": "http://loinc.org", "name": name, "unit": unit}
        data |= {"value": str(55 + (i * 7919) % 60), "start": _iso(ts), "device": "Apple Watch (Watch7,1)"}
        yield RecordIn("apple-health", "health.observation", f"w{i}", ts, data)
    for h in range(hourly):
        ts = start + h * HOUR_MS
        data = {"code": "55423-8", "code_system": "http://loinc.org", "name": "Steps", "unit": "steps"}
        data |= {"value": str((h * 31) % 900), "start": _iso(ts), "device": "iPhone"}
        yield RecordIn("apple-health", "health.observation", f"p{h}", ts, data)
    for d in range(days):
        day = start + d * DAY_MS
        loinc = {"code_system": "http://loinc.org", "device": "Withings"}
        yield RecordIn(
            "withings",
            "health.observation",
            f"rhr{d}",
            day + 7 * HOUR_MS,
            {**loinc, "code": "40443-4", "name": "Resting heart rate", "unit": "/min"}
            | {"value": str(52 + d % 9), "start": _iso(day + 7 * HOUR_MS)},
        )
        yield RecordIn(
            "withings",
            "health.observation",
            f"kg{d}",
            day + 7 * HOUR_MS + 60_000,
            {**loinc, "code": "29463-7", "name": "Weight", "unit": "kg"}
            | {"value": f"{72 + (d % 40) / 10:.1f}", "start": _iso(day + 7 * HOUR_MS + 60_000)},
        )
        components = [
            {"code": "8480-6", "value": str(115 + d % 15), "unit": "mm[Hg]"},
            {"code": "8462-4", "value": str(72 + d % 11), "unit": "mm[Hg]"},
        ]
        yield RecordIn(
            "withings",
            "health.observation",
            f"bp{d}",
            day + 8 * HOUR_MS,
            {**loinc, "code": "85354-9", "name": "Blood pressure", "components": components}
            | {"start": _iso(day + 8 * HOUR_MS)},
        )
        night = day - 2 * HOUR_MS  # 22:00 UTC the evening before
        for k, stage in enumerate(("AsleepCore", "AsleepDeep", "AsleepREM", "AsleepCore")):
            a, b = night + k * 2 * HOUR_MS, night + (k + 1) * 2 * HOUR_MS
            data = {"code": SLEEP, "code_system": "HealthKit", "value_text": "HKCategoryValueSleepAnalysis" + stage}
            data |= {"start": _iso(a), "end": _iso(b), "device": "Apple Watch (Watch7,1)"}
            yield RecordIn("apple-health", "health.observation", f"s{d}:{k}", a, data)
        if d % 7 not in (2, 5):
            w0 = day + 17 * HOUR_MS
            activity = ("running", "cycling", "walking")[d % 3]
            data = {"activity": activity, "start": _iso(w0), "end": _iso(w0 + 45 * 60_000), "duration_s": 2700}
            yield RecordIn("apple-health", "health.workout", f"wo{d}", w0, data)


PEOPLE = [(f"+336{12345600 + k:08d}", f"Contact {k}") for k in range(60)]


def telecom(today: date) -> Iterator[Any]:
    """Two years of a phone: 12 calls and 30 messages a day among 60 contacts, a missed
    call now and then, and the data used each hour."""
    from daemon.vault import RecordIn

    end = _end_ms(today)
    days = YEARS_TELECOM * 365
    start = end - days * DAY_MS
    for d in range(days):
        day = start + d * DAY_MS
        for k in range(12):
            ts = day + 8 * HOUR_MS + k * 50 * 60_000
            number, name = PEOPLE[(d * 7 + k * k) % len(PEOPLE)]
            direction = ("in", "out", "out", "in", "missed", "in")[(d + k) % 6]
            data = {"direction": direction, "number": number, "name": name, "started_at": _iso(ts)}
            data |= {"duration_s": 0 if direction == "missed" else 30 + (d * k) % 900, "line": "mobile"}
            yield RecordIn("phone", "telecom.call", f"c{d}:{k}", ts, data)
        for k in range(30):
            ts = day + 7 * HOUR_MS + k * 25 * 60_000
            number, name = PEOPLE[(d * 3 + k) % len(PEOPLE)]
            data = {"direction": ("in", "out")[k % 2], "number": number, "name": name, "at": _iso(ts)}
            data |= {"kind": "sms", "body": f"message {k}", "thread": number}
            yield RecordIn("phone", "telecom.message", f"m{d}:{k}", ts, data)
        for h in range(24):
            ts = day + h * HOUR_MS
            data = {"start": _iso(ts), "end": _iso(ts + HOUR_MS), "line": "mobile"}
            data |= {"bytes_up": 2_000_000 + (h * 7919) % 1_000_000, "bytes_down": 40_000_000 + (d * h) % 9_000_000}
            yield RecordIn("router", "telecom.usage", f"u{d}:{h}", ts, data)


def _everything(today: date) -> Iterator[Any]:
    yield from readings(today)
    yield from tariff_records()
    yield from money.transactions(TRANSACTIONS, today)
    yield from observations(today)
    yield from telecom(today)


def cache_key(today: date) -> str:
    schema = (ROOT / "daemon" / "vault" / "schema.py").read_bytes()
    parts = [GENERATION, today.isoformat()[:7], hashlib.sha256(schema).hexdigest()[:16]]
    return "-".join(parts)


def built_vault(today: date, rebuild: bool) -> Path:
    """The kept vault for this month and schema, built first if there is none."""
    home = CACHE / cache_key(today)
    if (home / ".complete").exists() and not rebuild:
        return home
    shutil.rmtree(CACHE, ignore_errors=True)
    home.mkdir(parents=True)
    started = time.monotonic()
    api.fill_vault(home, 0, _everything(today))
    (home / "built-on").write_text(today.isoformat())
    (home / ".complete").touch()
    size = sum(f.stat().st_size for f in home.rglob("*") if f.is_file()) / 1e6
    print(f"views: vault built in {time.monotonic() - started:.0f} s ({size:,.0f} MB), kept in {home}")
    return home


def copy_home(kept: Path, tmp: Path) -> Path:
    home = tmp / "home"
    shutil.copytree(kept, home, symlinks=True)
    config = home / "config.toml"
    config.write_text(config.read_text().replace(str(kept), str(home)))
    return home


# ---- the daemon ---------------------------------------------------------------------------


@dataclass
class Daemon:
    proc: subprocess.Popen[str]
    host: str
    port: int

    @property
    def pid(self) -> int:
        return self.proc.pid


def env_for(home: Path) -> dict[str, str]:
    return {**os.environ, "SELFDATA_HOME": str(home), "TZ": ZONE}


def start(home: Path) -> Daemon:
    from daemon.admin import client

    proc = subprocess.Popen(
        [sys.executable, "-m", "daemon", "run"],
        cwd=ROOT,
        env=env_for(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    sock = home / "admin.sock"
    deadline = time.monotonic() + 120
    while not client.daemon_running(sock):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("the daemon did not start")
        time.sleep(0.05)
    url = urlsplit(client.call(sock, "status", {})["daemon"]["api_url"])
    d = Daemon(proc, url.hostname or "127.0.0.1", url.port or 80)
    wait_idle(d)
    return d


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def cpu_ms(pid: int) -> float:
    """CPU time the daemon's threads have used (schedstat, ns): what a view costs on this
    machine whatever else runs beside it; the wall time also holds the wait for a core."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that just ended
    return total / 1e6


def wait_idle(d: Daemon, quiet_s: float = 1.0, limit_s: float = 120.0) -> None:
    """Until the daemon has used no CPU for `quiet_s`: what it computes when it starts is done."""
    deadline = time.monotonic() + limit_s
    last = _cpu_ticks(d.pid)
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = _cpu_ticks(d.pid)
        if now != last:
            last, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return


def stop(d: Daemon, peak: list[float]) -> None:
    peak[0] = max(peak[0], api.vm_hwm_mb(d.pid))
    d.proc.terminate()
    d.proc.wait(30)


def sign_in(home: Path, d: Daemon) -> str:
    from daemon.admin import client

    link = client.call(home / "admin.sock", "dashboard.link", {})["url"]
    conn = http.client.HTTPConnection(d.host, d.port, timeout=60)
    conn.request("GET", urlsplit(link).path + "?" + urlsplit(link).query, headers={"Host": f"{d.host}:{d.port}"})
    response = conn.getresponse()
    response.read()
    cookie = (response.getheader("Set-Cookie") or "").split(";", 1)[0]
    assert response.status == 303 and cookie.startswith("sd_session="), "signing in failed"
    return f"{cookie}; sd_tz={ZONE.replace('/', '%2F')}"


def get(d: Daemon, path: str, cookie: str, marker: bytes) -> float:
    conn = http.client.HTTPConnection(d.host, d.port, timeout=120)
    started = time.perf_counter()
    conn.request("GET", path, headers={"Host": f"{d.host}:{d.port}", "Cookie": cookie})
    response = conn.getresponse()
    body = response.read()
    took = (time.perf_counter() - started) * 1000
    conn.close()
    assert response.status == 200 and marker in body, (path, response.status, body[:300])
    return took


# ---- the views ----------------------------------------------------------------------------


@dataclass(frozen=True)
class View:
    name: str
    what: str
    data: str  # the dataset a new record of which makes it cold again


def views(today: date) -> list[View]:
    def back(n: int) -> str:
        y, m = divmod(today.year * 12 + today.month - 1 - n, 12)
        return f"{y:04d}-{m + 1:02d}"

    return [
        View("money", "/money", "bank.transaction"),
        View("money", f"/money?month={back(3)}", "bank.transaction"),
        View("money", f"/money?month={back(30)}", "bank.transaction"),
        View("energy", "/energy", "energy.reading"),
        View("energy", f"/energy?month={back(6)}", "energy.reading"),
        View("health", "/health", "health.observation"),
        View("health", "/health?days=365", "health.observation"),
        View("telecom", "/telecom", "telecom.call"),
        View("report", "report (admin socket)", "bank.transaction"),
        View("report", "selfdata report (the command)", "bank.transaction"),
    ]


MARKERS = {"money": b"money-recurring", "energy": b"<svg", "health": b"<svg", "telecom": b"<svg"}


def ask(home: Path, d: Daemon, v: View, cookie: str, cpu: list[float] | None = None) -> float:
    """The view's wall time (ms); with `cpu`, the daemon's CPU time for it is appended there."""
    before = cpu_ms(d.pid)
    took = _ask(home, d, v, cookie)
    if cpu is not None:
        cpu.append(cpu_ms(d.pid) - before)
    return took


def _ask(home: Path, d: Daemon, v: View, cookie: str) -> float:
    from daemon.admin import client

    if v.what.startswith("/"):
        return get(d, v.what, cookie, MARKERS[v.name])
    started = time.perf_counter()
    if v.what.startswith("report (admin"):
        client.call(home / "admin.sock", "report", {"zone": ZONE})
    else:
        run = subprocess.run(
            [sys.executable, "-m", "daemon", "report"], cwd=ROOT, env=env_for(home), capture_output=True, text=True
        )
        assert run.returncode == 0 and "report" in run.stdout, run.stderr
    return (time.perf_counter() - started) * 1000


_made = [0]


def touch(home: Path, dataset: str, today: date) -> None:
    """One new record of `dataset`, as an import brings it: the views over it are computed again."""
    from daemon.admin import client

    _made[0] += 1
    n = _made[0]
    end = _end_ms(today)
    ts = end - (n % 40 + 1) * SLOT_MS
    data: dict[str, Any] = {
        "bank.transaction": {
            "account_id": "chk",
            "booked_on": today.isoformat(),
            "amount": f"-{n}.25",
            "currency": "EUR",
            "status": "booked",
            "description": f"BAKERY {n}",
        },
        "energy.reading": {
            "meter_id": "import",
            "commodity": "electricity",
            "direction": "consumption",
            "start": _iso(ts),
            "end": _iso(ts + SLOT_MS),
            "quantity": f"0.{n % 1000:03d}",
            "unit": "kWh",
        },
        "health.observation": {
            "code": "8867-4",
            "code_system": "http://loinc.org",
            "value": str(60 + n % 30),
            "unit": "/min",
            "start": _iso(ts),
            "device": "Apple Watch (Watch7,1)",
        },
        "telecom.call": {
            "direction": "in",
            "number": PEOPLE[n % len(PEOPLE)][0],
            "started_at": _iso(ts),
            "duration_s": 60 + n,
        },
    }[dataset]
    source = {"bank.transaction": "bank", "energy.reading": "meter"}.get(dataset, "bench-touch")
    key = f"touch:{dataset}:{n}" if dataset != "energy.reading" else f"import:{ts}"
    line = {"source": source, "dataset": dataset, "key": key, "ts": _iso(ts), "data": data}
    path = home / "touch.jsonl"
    path.write_text(json.dumps(line) + "\n")
    client.call(home / "admin.sock", "import_jsonl", {"path": str(path)})


# ---- the run ------------------------------------------------------------------------------


def main(argv: list[str]) -> None:
    rounds, warm, rebuild, only = 3, 5, False, None
    for arg in argv:
        name, _, value = arg.partition("=")
        if name == "--rounds":
            rounds = int(value)
        elif name == "--warm":
            warm = int(value)
        elif name == "--rebuild":
            rebuild = True
        elif name == "--only":
            only = set(value.split(","))
    today = datetime.now(UTC).date()
    kept = built_vault(today, rebuild)
    shown = [v for v in views(today) if only is None or v.name in only]
    peak = [0.0]
    after_start: dict[str, list[float]] = {v.what: [] for v in shown}
    after_change: dict[str, list[float]] = {v.what: [] for v in shown}
    again: dict[str, list[float]] = {v.what: [] for v in shown}
    cpu: dict[str, list[float]] = {v.what: [] for v in shown}
    with tempfile.TemporaryDirectory(prefix="selfdata-bench-views-") as tmp:
        started = time.monotonic()
        home = copy_home(kept, Path(tmp))
        d = start(home)  # the copy's schema brought up to date, if the kept vault's is older
        print(
            f"views: {TRANSACTIONS:,} transactions, {OBSERVATIONS:,} health observations,"
            f" {YEARS_ENERGY} years of half-hours from 2 meters; daemon up in {time.monotonic() - started:.1f} s"
        )
        from daemon.admin import client

        client.call(home / "admin.sock", "telecom.plan", {"cap": "50GB"})
        cookie = sign_in(home, d)
        stop(d, peak)
        for _ in range(rounds):
            for v in shown:  # (a) a new daemon for each view
                d = start(home)
                try:
                    after_start[v.what].append(ask(home, d, v, cookie, cpu[v.what]))
                    again[v.what] += [ask(home, d, v, cookie) for _ in range(warm)]
                finally:
                    stop(d, peak)
        d = start(home)
        try:
            for _ in range(rounds):
                for v in shown:  # (b) the first request after its data changed
                    touch(home, v.data, today)
                    after_change[v.what].append(ask(home, d, v, cookie, cpu[v.what]))
                    again[v.what] += [ask(home, d, v, cookie) for _ in range(max(1, warm // 2))]
        finally:
            stop(d, peak)
        cli_start = _cli_start(home)
    print(
        f"  {'view':<44} {'cold: start':>12} {'cold: change':>13} {'warm':>9} {'cold CPU':>9}"
        f"   target {TARGET_MS:.0f} ms"
    )
    worst = 0.0
    for v in shown:
        a, b, c = (statistics.median(x[v.what]) for x in (after_start, after_change, again))
        extra, own = "", 0.0
        if v.what.startswith("selfdata report"):  # a new process: Python and the CLI start first
            own = cli_start
            extra = f"  (less {cli_start:.0f} ms of Python and the CLI starting: `selfdata --version`)"
        worst = max(worst, a - own, b - own)
        mark = "ok" if max(a, b) - own <= TARGET_MS else "OVER"
        used = statistics.median(cpu[v.what])
        print(f"  {v.what:<44} {a:>9.0f} ms {b:>10.0f} ms {c:>6.0f} ms {used:>6.0f} ms   {mark}{extra}")
    print(f"  slowest cold median {worst:.0f} ms against {TARGET_MS:.0f} ms; daemon peak RSS {peak[0]:.0f} MB")
    load = os.getloadavg()
    print(
        f"  (wall times on this machine, load average {load[0]:.1f} on {os.cpu_count()} cores; `cold CPU`:"
        " the daemon's own CPU time for a cold request, the median of both kinds)"
    )


def _cli_start(home: Path) -> float:
    """What a command costs before it does anything: a new Python, the CLI's imports, `--version`."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "daemon", "--version"], cwd=ROOT, env=env_for(home), capture_output=True)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)
