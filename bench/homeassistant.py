"""Pushing energy statistics to a real Home Assistant through the CLI a user runs.

    python -m bench homeassistant [--days=730]

A fresh selfdata home gets DAYS of half-hours of three meters (import, export, gas) with
`selfdata import-jsonl`; Home Assistant 2024.3.3 (the tests' cached virtualenv, built if
missing) runs on loopback. Timed, each as `selfdata homeassistant push` in a new process
(so start-up and unlocking the vault are in the figure): the first push of everything, a
push after a day-late batch of one meter and a revised gas reading a month back, and a
push with nothing new. Peak RSS is the largest of the CLI processes and Home Assistant.

On this project's 2-core machine (shared): 730 days (105,072 half-hours, 52,536 hours of 3
statistics) pushed first in 81.4 s (645 hours/s, Home Assistant's recorder writing row by
row is most of it), the day-late batch and the revision in 2.3 s (794 hours of 2
statistics), nothing new in 1.8 s (the CLI's start and the vault's unlock are most of it);
peak RSS 133 MiB (Home Assistant's).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HALF = timedelta(minutes=30)
METERS = (("1900000000001", "electricity", "consumption", "kWh"), ("1900000000002", "electricity", "production", "kWh"))
METERS += (("G4W00512341217", "gas", "consumption", "m3"),)


def _line(meter: tuple[str, str, str, str], start: datetime, i: int, q: str | None = None) -> str:
    at = start + HALF * i
    mid, commodity, direction, unit = meter
    quantity = q or f"{(i * 37 + len(mid)) % 900 / 1000:.3f}"
    return json.dumps(
        {
            "source": "octopus-home",
            "dataset": "energy.reading",
            "key": f"{mid}:{commodity}:{direction}:{at.isoformat()}",
            "ts": at.isoformat(),
            "data": {
                "meter_id": mid,
                "commodity": commodity,
                "direction": direction,
                "start": at.isoformat(),
                "end": (at + HALF).isoformat(),
                "quantity": quantity,
                "unit": unit,
            },
        }
    )


def _cli(env: dict[str, str], *args: str) -> tuple[float, str]:
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "daemon", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800
    )
    took = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"selfdata {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return took, done.stdout


def _venv() -> Path:
    from tests.bridges.realha import HA_EXTRA, HA_REQUIREMENT

    cached = ROOT / ".pytest_cache" / "d" / "bridges" / HA_REQUIREMENT.replace("==", "-")
    if (cached / ".installed").exists():
        return cached
    from tests.bridges.conftest import throwaway_venv

    return throwaway_venv(None, HA_REQUIREMENT, *HA_EXTRA)


def run(days: int) -> None:
    from tests.bridges.realha import started

    with tempfile.TemporaryDirectory(prefix="selfdata-bench-ha-") as tmp:
        folder = Path(tmp)
        env = {**os.environ, "SELFDATA_HOME": str(folder / "home"), "SELFDATA_INSECURE_TEST_KDF": "1"}
        _cli(env, "init", "--key-file", str(folder / "machine.key"), "--no-passphrase")
        start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days + 1)
        late_from = 48 * (days - 1)
        data = folder / "readings.jsonl"
        with data.open("w") as out:
            for meter in METERS:
                last = late_from if meter[0] == METERS[0][0] else 48 * days
                for i in range(last):
                    out.write(_line(meter, start, i) + "\n")
        took, _ = _cli(env, "import-jsonl", str(data))
        n = sum(1 for _ in data.open())
        print(f"imported {n:,} half-hours of 3 meters over {days} days in {took:.1f} s")
        (folder / "ha").mkdir()
        with started(_venv(), folder / "ha") as ha:
            (folder / "token").write_text(ha.token + "\n")
            _cli(env, "homeassistant", "setup", ha.url, "--token-file", str(folder / "token"), "--no-auto")
            figures: list[tuple[str, float, dict[str, Any]]] = []
            took, out = _cli(env, "homeassistant", "push", "--json")
            figures.append(("first push, everything", took, json.loads(out)))
            late = folder / "late.jsonl"
            lines = [_line(METERS[0], start, i) for i in range(late_from, 48 * days)]
            lines.append(_line(METERS[2], start, 48 * (days - 30), "4.321"))
            late.write_text("\n".join(lines) + "\n")
            _cli(env, "import-jsonl", str(late))
            took, out = _cli(env, "homeassistant", "push", "--json")
            figures.append(("a day late + a revision 30 days back", took, json.loads(out)))
            took, out = _cli(env, "homeassistant", "push", "--json")
            figures.append(("nothing new", took, json.loads(out)))
    for label, took, result in figures:
        hours = result["hours"]
        rate = f", {hours / took:,.0f} hours/s" if hours else ""
        print(f"{label}: {hours:,} hours of {len(result['statistics'])} statistics in {took:.2f} s{rate}")
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS of a selfdata process (or Home Assistant's, if larger): {rss:.0f} MiB")


def main(argv: list[str]) -> None:
    days = 730
    for arg in argv:
        if arg.startswith("--days="):
            days = int(arg.split("=", 1)[1])
    run(days)
