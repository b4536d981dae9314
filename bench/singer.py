"""The Singer bridge reading a tap that sends many records: speed and memory.

    python -m bench singer [--records=1000000]

A generated tap writes N RECORD messages (a STATE every 10,000); the bridge's fetch maps
them to records, which are counted and dropped, so the figure is the bridge's own cost
(the vault's writes are measured by `bench sync`). Peak memory is the process's maximum
resident set: it should not grow with N.

On this project's 2-core machine (shared, loaded): 100,000 records in 4.6 s (21,700/s) and
1,000,000 in 54.9 s (18,200/s), peak RSS 25-26 MiB for both.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from connectors.bridges.singer import SingerTap
from connectors.sdk import Checkpoint, Context

TAP = r"""
import json, sys
n = int(json.load(open(sys.argv[sys.argv.index("--config") + 1]))["n"])
if "--discover" in sys.argv:
    print(json.dumps({"streams": [{"tap_stream_id": "tx", "stream": "tx", "schema": {}, "metadata": []}]}))
    sys.exit(0)
w = sys.stdout.write
w(json.dumps({"type": "SCHEMA", "stream": "tx", "schema": {}, "key_properties": ["id"],
              "bookmark_properties": ["at"]}) + "\n")
for i in range(n):
    at = "2024-%02d-%02dT%02d:%02d:00Z" % (1 + i // 40000 % 12, 1 + i // 1440 % 28, i // 60 % 24, i % 60)
    w('{"type":"RECORD","stream":"tx","record":{"id":"tx%08d","at":"%s","amount":-%d.%02d,'
      '"label":"CARD PAYMENT TO SHOP %d"}}\n' % (i, at, i % 500, i % 100, i % 977))
    if i % 10000 == 9999:
        w(json.dumps({"type": "STATE", "value": {"at": at}}) + "\n")
"""


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(n: int, folder: Path) -> tuple[int, int, float]:
    script = folder / "tap.py"
    script.write_text(TAP)
    exe = folder / "tap-bench"
    exe.write_text(f'#!/bin/sh\nexec {sys.executable} {script} "$@"\n')
    exe.chmod(0o755)
    ctx = Context(source="bench", settings={"tap": str(exe), "config": json.dumps({"n": n})})
    records = checkpoints = 0
    start = time.perf_counter()
    async for item in SingerTap().fetch(ctx, {}):
        if isinstance(item, Checkpoint):
            checkpoints += 1
        else:
            records += 1
    return records, checkpoints, time.perf_counter() - start


def main(argv: list[str]) -> None:
    n = 1_000_000
    for arg in argv:
        if arg.startswith("--records="):
            n = int(arg.split("=", 1)[1])
    before = rss_mib()
    with tempfile.TemporaryDirectory() as tmp:
        records, checkpoints, seconds = asyncio.run(run(n, Path(tmp)))
    print(f"singer bridge: {records:,} records, {checkpoints:,} checkpoints in {seconds:.1f} s")
    print(f"  {records / seconds:,.0f} records/s; peak RSS {before:.0f} MiB before, {rss_mib():.0f} MiB after")
