"""Energy sources: a large Green Button import, an Octopus backfill and a daily sync.

    python -m bench energy [--readings=N] [--days=N]

1. A Green Button file of N (default 1,000,000) 15-minute readings is written, then
   imported in a child process (so its peak RSS is its own): the importer alone, and
   the importer with the validation every record gets on its way to the vault.
   Targets: >= 30,000 readings/s, peak RSS <= 100 MB.
2. A one-year half-hourly backfill from the fake Octopus API (17,520 readings per meter;
   import, export and gas) through the test harness, then the next day's incremental sync.
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

TARGET_RATE, TARGET_RSS_MB = 30_000, 100


def _child(phase: str, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.energy", "--child", phase, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def child(phase: str, path: Path) -> None:
    from connectors.energy.greenbutton import GreenButton
    from connectors.sdk.pipeline import to_records

    importer = GreenButton()
    wall, cpu = time.perf_counter(), time.process_time()
    count = 0
    if phase == "read":
        for _ in importer.read(path, {}):
            count += 1
    else:
        for item in importer.read(path, {"timezone": "America/New_York"}):
            count += len(to_records(importer, item))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"count": count, "wall": wall, "cpu": cpu, "rss": rss}))


def green_button(readings: int) -> None:
    from connectors.testing.generators.greenbutton import large_feed

    with tempfile.TemporaryDirectory(prefix="selfdata-bench-") as tmp:
        path = Path(tmp) / "green-button.xml"
        start = time.perf_counter()
        large_feed(path, readings=readings)
        size = path.stat().st_size / 1e6
        print(f"Green Button: {readings:,} readings, {size:,.0f} MB written in {time.perf_counter() - start:.1f} s")
        for phase, label in (("read", "importer alone"), ("validate", "importer + record validation")):
            r = _child(phase, path)
            assert r["count"] == readings, r
            print(
                f"  {label:<30} {r['count'] / r['wall']:>9,.0f} readings/s wall, {r['count'] / r['cpu']:>9,.0f}/s CPU"
                f"  (target >= {TARGET_RATE:,})   peak RSS {r['rss']:.0f} MB (target <= {TARGET_RSS_MB})"
            )


async def octopus(days: int) -> None:
    from connectors.energy.octopus import OctopusEnergy
    from connectors.sdk import Context, Http, parse_settings
    from connectors.testing.harness import run_connector
    from connectors.testing.vendors.octopus import DEMO_ACCOUNT, DEMO_API_KEY, OCTOPUS, make_server

    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    server = make_server(end=now + timedelta(days=1), days=days + 30)
    await server.start()
    data = server.app[OCTOPUS]
    data.available_until = now

    async def sync(at: datetime, state: dict[str, Any], store: Any) -> Any:
        values = {"api_key": DEMO_API_KEY, "account_number": DEMO_ACCOUNT, "base_url": server.url}
        settings, secrets = parse_settings(OctopusEnergy.fields, {**values, "history_days": days})
        ctx = Context(source="bench", settings=settings, secrets=secrets, http=Http(), now=lambda: at)
        try:
            start = time.perf_counter()
            out = await run_connector(OctopusEnergy(), ctx, state=state, store=store)
            return out, time.perf_counter() - start, ctx.http.requests
        finally:
            await ctx.http.close()

    try:
        backfill, took, requests = await sync(now, {}, None)
        per_meter = backfill.counts.new // 3
        print(f"Octopus: {days}-day backfill, import + export + gas ({per_meter:,} half hours per meter)")
        print(
            f"  backfill      {took:>6.2f} s  {backfill.counts.new:>7,} new        {requests} requests"
            f"  ({backfill.counts.new / took:,.0f} readings/s, fake server in the same process)"
        )
        data.available_until = now + timedelta(days=1)
        daily, took, requests = await sync(now + timedelta(days=1), backfill.state, backfill.store)
        c = daily.counts
        print(
            f"  daily sync    {took:>6.2f} s  {c.new:>7,} new  {c.changed} changed  {c.unchanged:,} unchanged"
            f" (the 7-day lookback)  {requests} requests"
        )
    finally:
        await server.stop()


def main(argv: list[str]) -> None:
    readings, days = 1_000_000, 365
    for arg in argv:
        if arg.startswith("--readings="):
            readings = int(arg.split("=", 1)[1])
        elif arg.startswith("--days="):
            days = int(arg.split("=", 1)[1])
    green_button(readings)
    asyncio.run(octopus(days))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]))
    else:
        main(sys.argv[1:])
