"""The dashboard's pages on a big vault, through the daemon a user runs.

    python -m bench dashboard [--records=1000000] [--rounds=20]

Fills a vault with N heart-rate observations (bench.api's generator), starts the real daemon
(`python -m daemon run`), signs in with a link from `dashboard.link`, and times each page over
HTTP as a browser asks for it: the median and the slowest of the rounds, against the target of
200 ms per page.
"""

from __future__ import annotations

import http.client
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from . import api

TARGET_MS = 200.0


def pages(last_day: str, first_day: str) -> list[str]:
    return [
        "/",
        "/sources",
        "/data",
        "/data/health.observation",
        f"/data/health.observation?from={first_day}&to={last_day}",
        "/consent",
        "/access",
        "/rights",
    ]


def fetch(host: str, port: int, path: str, cookie: str) -> tuple[int, float, bytes]:
    """A dashboard page signed in with `cookie`: its status, milliseconds and body."""
    conn = http.client.HTTPConnection(host, port, timeout=60)
    start = time.perf_counter()
    conn.request("GET", path, headers={"Host": f"{host}:{port}", "Cookie": cookie})
    response = conn.getresponse()
    body = response.read()
    took = (time.perf_counter() - start) * 1000
    conn.close()
    return response.status, took, body


def get(host: str, port: int, path: str, cookie: str) -> tuple[int, float]:
    status, took, _ = fetch(host, port, path, cookie)
    return status, took


def page_ms(host: str, port: int, path: str, cookie: str, expect: bytes) -> float:
    """The milliseconds of a page that must answer 200 with `expect` in it (else it is not the view)."""
    status, took, body = fetch(host, port, path, cookie)
    assert status == 200 and expect in body, (path, status)
    return took


def main(argv: list[str]) -> None:
    n, rounds = 1_000_000, 20
    for arg in argv:
        name, _, value = arg.partition("=")
        if name == "--records":
            n = int(value)
        elif name == "--rounds":
            rounds = int(value)
    from daemon.admin import client

    with tempfile.TemporaryDirectory(prefix="selfdata-bench-dashboard-") as tmp:
        home = Path(tmp)
        started = time.monotonic()
        api.fill_vault(home, n)
        print(f"dashboard: {n:,} records in the vault ({time.monotonic() - started:.0f} s to fill)")
        proc, url, _ = api.start_daemon(home)
        try:
            link = client.call(home / "admin.sock", "dashboard.link", {})["url"]
            parts = urlsplit(url)
            host, port = parts.hostname or "127.0.0.1", parts.port or 80
            conn = http.client.HTTPConnection(host, port, timeout=60)
            conn.request("GET", link.removeprefix(url), headers={"Host": f"{host}:{port}"})
            response = conn.getresponse()
            response.read()
            cookie = (response.getheader("Set-Cookie") or "").split(";", 1)[0]
            assert response.status == 303 and cookie.startswith("sd_session="), "signing in failed"
            last = time.strftime("%Y-%m-%d", time.gmtime((api.BASE_MS + (n - 1) * 60_000) / 1000))
            first = time.strftime("%Y-%m-%d", time.gmtime((api.BASE_MS + (n - 1) * 60_000) / 1000 - 365 * 86400))
            print(f"  {'page':<58} {'median':>9} {'slowest':>9}  target {TARGET_MS:.0f} ms")
            worst = 0.0
            for path in pages(last, first):
                times = []
                for _ in range(rounds):
                    status, took = get(host, port, path, cookie)
                    assert status == 200, (path, status)
                    times.append(took)
                median = statistics.median(times)
                worst = max(worst, median)
                mark = "ok" if median <= TARGET_MS else "OVER"
                print(f"  {path:<58} {median:>7.1f} ms {max(times):>7.1f} ms  {mark}")
            print(
                f"  slowest page median {worst:.1f} ms against {TARGET_MS:.0f} ms;"
                f" daemon RSS {api.vm_rss_mb(proc.pid):.0f} MB"
            )
        finally:
            proc.terminate()
            proc.wait(30)
