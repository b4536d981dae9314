"""The health and telecom views on a big vault, through the daemon a user runs.

    python -m bench healthviews [--records=1000000] [--rounds=10]

Fills a vault with N health observations (bench.api's generator: heart rate, steps and three
other codes, one of each every minute from a watch), plus a phone counting steps every
hour over the same months, starts the real daemon (`python -m daemon run`), signs in to the
dashboard and times, over HTTP as a browser asks: the Health page (90 and 365 days), then
the same with a steps priority (watch over phone) set through `health.priority.set`; and
`health.trends` run through the admin socket as `selfdata health trends` does. Target: 300 ms.
"""

from __future__ import annotations

import http.client
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import api, dashboard

TARGET_MS = 300.0
HOUR_MS = 3_600_000


def phone_steps(n: int) -> Iterator[Any]:
    from daemon.vault import RecordIn

    span_ms = n * 60_000 // len(api.CODES)
    for i in range(span_ms // HOUR_MS):
        ts = api.BASE_MS + i * HOUR_MS
        start = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(ts / 1000))
        data = {
            "code": "55423-8",
            "code_system": "http://loinc.org",
            "value": "400",
            "unit": "steps",
            "start": start,
            "device": "iPhone",
        }
        yield RecordIn("phone", "health.observation", f"p{i}", ts, data)


def timed_get(host: str, port: int, path: str, cookie: str) -> float:
    return dashboard.page_ms(host, port, path, cookie, b"svg")


def main(argv: list[str]) -> None:
    n, rounds = 1_000_000, 10
    for arg in argv:
        name, _, value = arg.partition("=")
        if name == "--records":
            n = int(value)
        elif name == "--rounds":
            rounds = int(value)
    from daemon.admin import client

    with tempfile.TemporaryDirectory(prefix="selfdata-bench-healthviews-") as tmp:
        home = Path(tmp)
        started = time.monotonic()
        api.fill_vault(home, n, phone_steps(n))
        print(f"healthviews: {n:,} observations + a phone's hourly steps ({time.monotonic() - started:.0f} s to fill)")
        proc, url, _ = api.start_daemon(home)
        sock = home / "admin.sock"
        try:
            link = client.call(sock, "dashboard.link", {})["url"]
            parts = urlsplit(url)
            host, port = parts.hostname or "127.0.0.1", parts.port or 80
            conn = http.client.HTTPConnection(host, port, timeout=60)
            conn.request("GET", link.removeprefix(url), headers={"Host": f"{host}:{port}"})
            response = conn.getresponse()
            response.read()
            cookie = (response.getheader("Set-Cookie") or "").split(";", 1)[0]
            print(f"  {'what':<62} {'median':>9} {'slowest':>9}  target {TARGET_MS:.0f} ms")

            def report(what: str, times: list[float]) -> None:
                median = statistics.median(times)
                mark = "ok" if median <= TARGET_MS else "OVER"
                print(f"  {what:<62} {median:>7.1f} ms {max(times):>7.1f} ms  {mark}")

            for label in ("every source counted", "steps: watch over phone"):
                if label.startswith("steps"):
                    client.call(sock, "health.priority.set", {"code": "55423-8", "names": ["Watch", "phone"]})
                for path in ("/health", "/health?days=365"):
                    report(f"{path} ({label})", [timed_get(host, port, path, cookie) for _ in range(rounds)])
                times = []
                for _ in range(rounds):
                    t = time.perf_counter()
                    client.call(sock, "health.trends", {"days": 90, "zone": "Europe/Paris"})
                    times.append((time.perf_counter() - t) * 1000)
                report(f"health.trends over the admin socket ({label})", times)
            print(f"  daemon RSS {api.vm_rss_mb(proc.pid):.0f} MB")
        finally:
            proc.terminate()
            proc.wait(30)
