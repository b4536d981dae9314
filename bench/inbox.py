"""What it costs the inbox to ask whether a process is writing a file.

    python -m bench inbox [--looks N]

A read lease (what the inbox asks for its own files) against a scan of /proc/*/fd (the
alternative for other users' files, left out: readiness.py says why), each looked N
times at one file held open for writing by this process.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from daemon.inbox.readiness import open_for_writing


def _proc_scan(path: Path) -> tuple[bool, int, int]:
    """Whether a visible process has `path` open; the processes and descriptors it could see."""
    st = path.stat()
    processes = fds = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        folder = f"/proc/{pid}/fd"
        try:
            entries = os.listdir(folder)
        except OSError:
            continue  # another user's process (or ProtectProc=invisible): not visible
        processes += 1
        for fd in entries:
            fds += 1
            try:
                target = os.stat(f"{folder}/{fd}")
            except OSError:
                continue
            if (target.st_dev, target.st_ino) == (st.st_dev, st.st_ino):
                return True, processes, fds
    return False, processes, fds


def main(argv: list[str]) -> None:
    looks = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--looks=")), 200)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "statement.ofx"
        with path.open("w") as writer:
            writer.write("OFXHEADER:100\n")
            writer.flush()
            started = time.perf_counter()
            for _ in range(looks):
                leased = open_for_writing(path)
            lease_us = (time.perf_counter() - started) / looks * 1e6
            started = time.perf_counter()
            for _ in range(looks):
                found, processes, fds = _proc_scan(path)
            scan_us = (time.perf_counter() - started) / looks * 1e6
    print(f"read lease:     {lease_us:9.1f} µs a look (open for writing: {leased})")
    print(
        f"/proc/*/fd scan: {scan_us:9.1f} µs a look ({processes} processes, {fds} descriptors visible; found: {found})"
    )
