"""Push ingest and the phone and wearable importers, through the paths a user runs.

    python -m bench push [--hours=24] [--days=30]

- Health Auto Export: starts the real daemon (`python -m daemon run`) and posts what the
  app's hourly automation sends (the day so far, minute by minute) to
  `POST /api/v1/push/iphone?format=health-auto-export`: the first push of the day, then
  the same payload again (every point unchanged), then one more hour. Reports each
  push's time, the payload's size and the daemon's peak RSS.
- Gadgetbridge: writes a database export of `--days` days of five devices with the
  project's generator and times `selfdata import` of it (a fresh process, an encrypted
  vault), then its re-import (nothing new).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from .api import ROOT, fill_vault, start_daemon, vm_hwm_mb

START = datetime(2025, 3, 1, tzinfo=UTC)


def _push(url: str, token: str, body: bytes) -> tuple[float, dict[str, object]]:
    request = urllib.request.Request(
        f"{url}/api/v1/push/iphone?format=health-auto-export",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    t = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as r:
        answer = json.loads(r.read())
    return time.perf_counter() - t, answer


def push_bench(hours: int) -> None:
    from connectors.testing.generators.healthautoexport import payload
    from daemon.admin import client

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        fill_vault(home, 0)
        proc, url, _ = start_daemon(home)
        try:
            scopes = {"app": "bench", "purpose": "push", "scopes": ["write:health.*@iphone"]}
            token = client.call(home / "admin.sock", "token.create", scopes)["token"]
            for label, h in (("first push", hours), ("same push again", hours), ("one hour more", hours + 1)):
                body = json.dumps(payload(START, hours=h)).encode()
                seconds, answer = _push(url, token, body)
                print(
                    f"health-auto-export {label}: {len(body) / 1e6:.1f} MB, {answer['records']:,} records in "
                    f"{seconds:.2f} s (new {answer['new']:,}, changed {answer['changed']:,}, "
                    f"unchanged {answer['unchanged']:,})"
                )
            print(f"daemon peak RSS: {vm_hwm_mb(proc.pid):.0f} MB")
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def gadgetbridge_bench(days: int) -> None:
    from connectors.testing.generators.gadgetbridge import write_database

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        fill_vault(home, 0)
        db = write_database(home / "Gadgetbridge", days=days)
        env = {"SELFDATA_HOME": str(home), "PATH": "/usr/bin:/bin"}
        for label in ("import", "re-import"):
            t = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "daemon", "import", str(db)],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=3600,
            )
            seconds = time.perf_counter() - t
            if done.returncode:
                raise RuntimeError(done.stdout + done.stderr)
            print(f"gadgetbridge {label} of {days} days ({db.stat().st_size / 1e6:.1f} MB): {seconds:.1f} s")
            print("  " + done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> None:
    opts = dict(a.lstrip("-").split("=", 1) for a in argv if "=" in a)
    push_bench(int(opts.get("hours", 24)))
    gadgetbridge_bench(int(opts.get("days", 30)))
