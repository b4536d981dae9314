"""The local API under load, against Datasette serving the same rows.

    python -m bench api [--records=1000000] [--seconds=15] [--connections=32] [--aggregates]

Fills a vault with N mixed observations (heart rate, steps, energy, SpO2, respiration:
five codes, one of each every minute), starts the real daemon (`python -m daemon run`),
and drives "100 records of health.observation in a one-day window" and "100 heart-rate
observations (code=8867-4) in a one-day window" (a random day per request) over loopback
with wrk (Debian's, installed if missing and possible; an aiohttp client otherwise). Then
serves the same rows in a plain SQLite file, indexed on time and on (code, time), with
Datasette's JSON API in its fastest form for these queries (`_shape=array`, `_nocount=1`,
`code=`) from a throwaway virtualenv, under the same load. Then the NDJSON export of all N
records and the daemon's peak RSS during it. Last, aggregates against a second vault: one
year of daily energy totals per meter from two meters of half-hour readings (35,040) and
twelve monthly spending totals per category over 100,000 transactions, each asked in
sequence both with a new window each time (computed) and again (kept until the vault
changes).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASE_MS = 1_700_000_000_000
DAY_MS = 86_400_000
DATASETTE_VENV = Path(tempfile.gettempdir()) / "selfdata-bench-datasette"


CODES = (
    ("8867-4", "Heart rate", "/min"),
    ("55423-8", "Steps", "steps"),
    ("41981-2", "Calories burned", "kcal"),
    ("59408-5", "Oxygen saturation", "%"),
    ("9279-1", "Respiratory rate", "/min"),
)


def rows(n: int) -> Iterator[tuple[str, int, dict[str, Any]]]:
    for i in range(n):
        ts = BASE_MS + i * 60_000 // len(CODES)
        code, name, unit = CODES[i % len(CODES)]
        start = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(ts / 1000))
        yield (
            f"obs-{i:09d}",
            ts,
            {
                "code": code,
                "code_system": "http://loinc.org",
                "name": name,
                "value": str(55 + (i * 7919) % 60),
                "unit": unit,
                "start": start,
                "device": "Watch7,1",
            },
        )


def fill_vault(home: Path, n: int, extra: Iterable[Any] = ()) -> None:
    from daemon.config import write_default
    from daemon.paths import home_paths
    from daemon.vault import INSECURE_TEST_KDF, RecordIn, SlotSetup, Vault
    from daemon.vault.keys import create_or_read_key_file

    paths = home_paths(home)
    key, _ = create_or_read_key_file(home / "bench.key")
    vault, _ = Vault.create(paths, SlotSetup(machine_key=key, recovery=False, kdf=INSECURE_TEST_KDF))
    write_default(paths, home / "bench.key")
    paths.config_file.write_text(paths.config_file.read_text().replace("port = 7350", "port = 0"))
    batch: list[RecordIn] = []
    for key_, ts, data in rows(n):
        batch.append(RecordIn("watch", "health.observation", key_, ts, data))
        if len(batch) == 5000:
            vault.writer.upsert(batch)
            batch = []
    for record in extra:
        batch.append(record)
        if len(batch) == 5000:
            vault.writer.upsert(batch)
            batch = []
    if batch:
        vault.writer.upsert(batch)
    vault.close()


def fill_plain(path: Path, n: int) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE observations (key TEXT PRIMARY KEY, source TEXT, ts INTEGER, code TEXT, data TEXT)")
    db.executemany(
        "INSERT INTO observations VALUES (?,?,?,?,?)",
        ((k, "watch", ts, d["code"], json.dumps(d)) for k, ts, d in rows(n)),
    )
    db.execute("CREATE INDEX observations_ts ON observations(ts)")
    db.execute("CREATE INDEX observations_code_ts ON observations(code, ts)")
    db.commit()
    db.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def have_wrk() -> bool:
    if shutil.which("wrk"):
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], capture_output=True)
    return shutil.which("wrk") is not None


WRK_SCRIPT = """
local days = {days}
local base = {base}
local token = "{token}"
local iso = {iso}
local function t(ms)
  if iso then return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(ms / 1000)) end
  return string.format("%d", ms)
end
request = function()
  local d = math.random(0, days - 2)
  local from = base + d * 86400000
  local path = string.format("{path}", t(from), t(from + 86400000))
  return wrk.format("GET", path, token ~= "" and {{["Authorization"] = "Bearer " .. token}} or nil)
end
"""


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def load(url: str, path_fmt: str, token: str, days: int, seconds: int, conns: int, iso_times: bool) -> dict[str, float]:
    """`path_fmt` has two %s: the window's start and end (ISO 8601 or epoch ms)."""
    if have_wrk():
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(
                WRK_SCRIPT.format(
                    days=days, base=BASE_MS, token=token, path=path_fmt, iso="true" if iso_times else "false"
                )
            )
        out = subprocess.run(
            ["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", f.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        os.unlink(f.name)
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        lat = {p: _ms(re.search(rf"\s{p}%\s+([\d.]+\w+)", out).group(1)) for p in ("50", "99")}  # type: ignore[union-attr]
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        return {
            "rps": rate,
            "p50": lat["50"],
            "p99": lat["99"],
            "errors": float(errors.group(1)) if errors else 0.0,
            "tool": 1.0,
        }
    return _aiohttp_load(url, path_fmt, token, days, seconds, conns, iso_times)


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def _aiohttp_load(
    url: str, path_fmt: str, token: str, days: int, seconds: int, conns: int, iso_times: bool
) -> dict[str, float]:
    import asyncio

    import aiohttp

    async def run() -> dict[str, float]:
        latencies: list[float] = []
        errors = 0
        stop = time.monotonic() + seconds
        headers = {"Authorization": f"Bearer {token}"} if token else {}

        async def worker(session: aiohttp.ClientSession) -> None:
            nonlocal errors
            while time.monotonic() < stop:
                d = random.randint(0, days - 2)
                start, end = BASE_MS + d * DAY_MS, BASE_MS + (d + 1) * DAY_MS
                path = path_fmt % ((iso(start), iso(end)) if iso_times else (start, end))
                t = time.perf_counter()
                async with session.get(url + path, headers=headers) as r:
                    await r.read()
                    errors += r.status != 200
                latencies.append((time.perf_counter() - t) * 1000)

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conns)) as session:
            await asyncio.gather(*(worker(session) for _ in range(conns)))
        latencies.sort()
        return {
            "rps": len(latencies) / seconds,
            "p50": latencies[len(latencies) // 2],
            "p99": latencies[int(len(latencies) * 0.99)],
            "errors": float(errors),
            "tool": 0.0,
        }

    return asyncio.run(run())


def start_daemon(home: Path) -> tuple[subprocess.Popen[str], str, str]:
    env = {**os.environ, "SELFDATA_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "daemon", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    from daemon.admin import client

    sock = home / "admin.sock"
    deadline = time.monotonic() + 60
    while not client.daemon_running(sock):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("the daemon did not start")
        time.sleep(0.05)
    url = client.call(sock, "status", {})["daemon"]["api_url"]
    token = client.call(sock, "token.create", {"app": "bench", "purpose": "load test", "scopes": ["read:*"]})["token"]
    return proc, url, token


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


def vm_hwm_mb(pid: int) -> float:
    return _status_mb(pid, "VmHWM:")


def vm_rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmRSS:")


def start_datasette(db: Path) -> tuple[subprocess.Popen[str], str] | None:
    exe = DATASETTE_VENV / "bin" / "datasette"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(DATASETTE_VENV)], check=True)
        r = subprocess.run([str(DATASETTE_VENV / "bin" / "pip"), "install", "-q", "datasette"], capture_output=True)
        if r.returncode != 0:
            return None
    port = free_port()
    proc = subprocess.Popen(
        [str(exe), "serve", str(db), "-p", str(port), "--setting", "sql_time_limit_ms", "10000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/-/versions.json", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    return None


def main(argv: list[str]) -> None:
    n, seconds, conns = 1_000_000, 15, 32
    if "--aggregates" in argv:  # only the aggregates
        aggregates()
        return
    for arg in argv:
        name, _, value = arg.partition("=")
        if name == "--records":
            n = int(value)
        elif name == "--seconds":
            seconds = int(value)
        elif name == "--connections":
            conns = int(value)
    days = n // (1440 * len(CODES))
    with tempfile.TemporaryDirectory(prefix="selfdata-bench-api-") as tmp:
        home = Path(tmp) / "home"
        t = time.perf_counter()
        fill_vault(home, n)
        fill_plain(Path(tmp) / "plain.db", n)
        print(f"filled a vault and a plain file with {n:,} observations in {time.perf_counter() - t:.0f} s")
        proc, url, token = start_daemon(home)
        try:
            ours = load(
                url,
                "/api/v1/datasets/health.observation/records?from=%s&to=%s&limit=100",
                token,
                days,
                seconds,
                conns,
                iso_times=True,
            )
            ours_hr = load(
                url,
                "/api/v1/datasets/health.observation/records?from=%s&to=%s&limit=100&code=8867-4",
                token,
                days,
                seconds,
                conns,
                iso_times=True,
            )
        except BaseException:
            proc.kill()
            raise
        print("\n".join(_report("selfdata", ours)))
        print("\n".join(_report("selfdata", ours_hr, "100 heart-rate observations (code=8867-4) in a one-day window")))
        import threading

        peak = [0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], vm_rss_mb(proc.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        before = vm_rss_mb(proc.pid)
        sampler.start()
        t = time.perf_counter()
        with urllib.request.urlopen(
            urllib.request.Request(
                url + "/api/v1/datasets/health.observation/records",
                headers={"Authorization": f"Bearer {token}", "Accept": "application/x-ndjson"},
            )
        ) as r:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: r.read(1 << 20), b""))
        took = time.perf_counter() - t
        done.set()
        sampler.join()
        hwm = vm_hwm_mb(proc.pid)
        proc.terminate()
        proc.wait(30)
        print(f"  NDJSON export       {lines:,} records in {took:.1f} s = {lines / took:,.0f} records/s")
        print(
            f"  daemon RSS during the export: {before:.0f} MB before, peak {peak[0]:.0f} MB  (target <= 100 MB);"
            f" peak over the whole run, load test included: {hwm:.0f} MB"
        )
        ds = start_datasette(Path(tmp) / "plain.db")
        if ds is None:
            print("datasette could not be installed here: no comparison")
            return
        dproc, durl = ds
        try:
            theirs = load(
                durl,
                "/plain/observations.json?_shape=array&_nocount=1&_size=100&_sort=ts&ts__gte=%s&ts__lt=%s",
                "",
                days,
                seconds,
                conns,
                iso_times=False,
            )
            theirs_hr = load(
                durl,
                "/plain/observations.json?_shape=array&_nocount=1&_size=100&_sort=ts&code=8867-4&ts__gte=%s&ts__lt=%s",
                "",
                days,
                seconds,
                conns,
                iso_times=False,
            )
        finally:
            dproc.terminate()
            dproc.wait(30)
        print("\n".join(_report("datasette", theirs)))
        print(
            "\n".join(_report("datasette", theirs_hr, "100 heart-rate observations (code=8867-4) in a one-day window"))
        )
        print(
            f"  selfdata / datasette  {ours['rps'] / theirs['rps']:.1f}x req/s  (target >= 5x); "
            f"selfdata p99 {ours['p99']:.1f} ms (target <= 50 ms)"
        )
        print(
            f"  heart rate, filtered: selfdata / datasette {ours_hr['rps'] / theirs_hr['rps']:.1f}x req/s"
            f" (target >= 10x); selfdata p99 {ours_hr['p99']:.1f} ms (target <= 20 ms)"
        )
    aggregates()


def aggregates() -> None:
    """A year of daily energy per meter (35,040 readings) and monthly spending per category
    (100,000 transactions), through the real daemon, one request after another."""
    from daemon.vault import RecordIn

    with tempfile.TemporaryDirectory(prefix="selfdata-bench-agg-") as tmp:
        home = Path(tmp) / "home"
        transactions = (RecordIn("bank", "bank.transaction", f"t{j}", *_transaction(j)) for j in range(100_000))
        fill_vault(home, 0, itertools.chain(_readings(), transactions))
        proc, url, token = start_daemon(home)
        try:
            for what, path in (
                (
                    "a year of daily energy totals per meter (35,040 readings)",
                    "/api/v1/datasets/energy.reading/aggregate?fn=sum&field=quantity&bucket=day&zone=Europe/Paris"
                    "&group=meter_id&from={start}&to=2026-01-01T00:00:00%2B01:00",
                ),
                (
                    "12 monthly spending totals per category (100,000 transactions)",
                    "/api/v1/datasets/bank.transaction/aggregate?fn=sum&field=amount&bucket=month&zone=Europe/Paris"
                    "&group=category&amount__lt=0&from={start}&to=2026-01-01T00:00:00%2B01:00",
                ),
            ):
                computed, kept = [], []
                for i in range(40):
                    # a new window each time (a millisecond apart) is computed; the same again is kept
                    start = f"2025-01-01T00:00:00.{i:03d}%2B01:00"
                    computed.append(_timed(url + path.format(start=start), token))
                    kept.append(_timed(url + path.format(start=start), token))
                computed.sort()
                kept.sort()
                print(
                    f"aggregate: {what}: computed p50 {computed[20]:.1f} ms, max {computed[-1]:.1f} ms;"
                    f" asked again p50 {kept[20]:.1f} ms  (target <= 20 ms per request)"
                )
        finally:
            proc.terminate()
            proc.wait(30)


def _timed(url: str, token: str) -> float:
    t = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})) as r:
        body = json.loads(r.read())
    took = (time.perf_counter() - t) * 1000
    assert body["ok"] and body["rows"], body
    return took


def _readings() -> Iterator[Any]:
    from daemon.vault import RecordIn

    base = 1_735_686_000_000  # 2025-01-01T00:00:00+01:00
    for meter in ("elec-1", "elec-2"):
        for i in range(17_520):
            ts = base + i * 1_800_000
            at = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(ts / 1000))
            end = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(ts / 1000 + 1800))
            yield RecordIn(
                "meter",
                "energy.reading",
                f"{meter}:{i}",
                ts,
                {
                    "meter_id": meter,
                    "commodity": "electricity",
                    "direction": "consumption",
                    "start": at,
                    "end": end,
                    "quantity": f"0.{(i * 7919) % 1000:03d}",
                    "unit": "kWh",
                },
            )


def _transaction(j: int) -> tuple[int, dict[str, Any]]:
    categories = ("groceries", "energy", "transport", "eating out", "rent", "health", "leisure", "other")
    ts = 1_735_686_000_000 + j * 315_360  # 100,000 over the year
    return ts, {
        "account_id": ("checking", "card")[j % 2],
        "amount": f"-{(j * 7919) % 20000 / 100:.2f}" if j % 25 else "2500.00",
        "currency": "EUR",
        "status": "booked",
        "category": categories[j % len(categories)],
        "booked_on": time.strftime("%Y-%m-%d", time.gmtime(ts / 1000)),
    }


def _report(name: str, r: dict[str, float], what: str = "100 records in a one-day window") -> list[str]:
    tool = "wrk" if r["tool"] else "aiohttp client"
    return [
        f"{name}: {what}, 32 connections ({tool})",
        f"  {r['rps']:>10,.0f} req/s   p50 {r['p50']:.1f} ms   p99 {r['p99']:.1f} ms   non-2xx {r['errors']:.0f}",
    ]


if __name__ == "__main__":
    main(sys.argv[1:])
