"""The API under connection floods, with systemd's default of 1,024 file descriptors.

    python -m bench flood [--connections=1100]

Starts the real daemon (`python -m daemon run`) with RLIMIT_NOFILE set to 1,024, then, one
flood at a time, opens N loopback connections that (1) send nothing, (2) send half a
request line, (3) send the head of a POST whose declared body never comes. During each
flood it asks /api/v1/health 20 times and prints how long the answers took and what they
were, the descriptors and memory the daemon holds, how long until the server has closed
the flood's connections, and how much the daemon logged.
"""

from __future__ import annotations

import http.client
import os
import re
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOODS = {
    "idle (nothing sent)": b"",
    "half a request line": b"GET /api/v1/hea",
    "declared body never sent": (
        b"POST /api/v1/grants HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{"
    ),
}


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


def start(home: Path, log: Path) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, "SELFDATA_HOME": str(home), "SELFDATA_INSECURE_TEST_KDF": "1"}
    subprocess.run(
        [sys.executable, "-m", "daemon", "init", "--key-file", str(home / "k.key"), "--no-passphrase"],
        env=env,
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text().replace("port = 7350", "port = 0"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "daemon", "run"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log.open("wb"),
        text=True,
        preexec_fn=_limit,
    )
    assert proc.stdout is not None
    found = re.search(r"API at http://127\.0\.0\.1:(\d+)\.", proc.stdout.readline())
    if not found:
        raise SystemExit(f"the daemon did not start: {log.read_text()[-2000:]}")
    return proc, int(found.group(1))


def health(port: int) -> tuple[float, str]:
    t = time.perf_counter()
    try:
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        client.request("GET", "/api/v1/health")
        status = str(client.getresponse().status)
        client.close()
    except OSError as err:
        status = type(err).__name__
    return time.perf_counter() - t, status


def held(pid: int) -> tuple[int, float]:
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return fds, rss


def closed_after(flood: list[socket.socket], limit_s: float) -> float | None:
    """Seconds until the server has closed every flood connection (None: not within limit_s)."""
    t = time.perf_counter()
    selector = selectors.DefaultSelector()
    for sock in flood:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    left = len(flood)
    while left and time.perf_counter() - t < limit_s:
        for key, _ in selector.select(timeout=0.5):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                selector.unregister(sock)
                left -= 1
    selector.close()
    return None if left else time.perf_counter() - t


def run_flood(port: int, pid: int, n: int, sent: bytes) -> None:
    t = time.perf_counter()
    flood = []
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if sent:
            sock.sendall(sent)
        flood.append(sock)
    opened = time.perf_counter() - t
    answers = [health(port) for _ in range(20)]
    fds, rss = held(pid)
    times = [a[0] * 1000 for a in answers]
    statuses = sorted({a[1] for a in answers})
    print(f"  {n} connections opened in {opened:.1f} s; daemon holds {fds} descriptors, {rss:.0f} MB")
    print(
        f"  /health x20 during the flood: median {statistics.median(times):.1f} ms, worst {max(times):.1f} ms,"
        f" answers {', '.join(statuses)}"
    )
    gone = closed_after(flood, 60)
    print("  every flood connection closed by the server " + (f"after {gone:.1f} s" if gone else "NOT within 60 s"))
    for sock in flood:
        sock.close()


def main(argv: list[str]) -> None:
    n = 1100
    for arg in argv:
        if arg.startswith("--connections="):
            n = int(arg.split("=", 1)[1])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < n + 200:
        raise SystemExit(f"this bench opens {n} connections; raise the descriptor limit (hard limit {hard})")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, n + 200), hard))
    with tempfile.TemporaryDirectory(prefix="selfdata-bench-flood-") as tmp:
        home, log = Path(tmp) / "home", Path(tmp) / "daemon.log"
        proc, port = start(home, log)
        try:
            print(f"daemon with RLIMIT_NOFILE 1024; {n} loopback connections per flood")
            for name, sent in FLOODS.items():
                print(f"{name}:")
                run_flood(port, proc.pid, n, sent)
                time.sleep(1.0)
            alive = proc.poll() is None
        finally:
            proc.terminate()
            proc.wait(30)
        text = log.read_text()
        lines = text.count("\n")
        print(f"daemon {'still served' if alive else 'DIED'}; it logged {len(text):,} bytes in {lines} lines")
        for line in text.splitlines():
            if '"selfdata.api"' in line:
                print("  " + line[:200])
