"""Full sync and no-change sync against a fake vendor API on loopback.

    python -m bench sync [--records=200000] [--page=1000]

The fake vendor runs in its own process and serves N transactions in pages. The first
sync fetches everything; the second, with nothing changed at the vendor, resumes from
the connector's checkpoint (the last page). A third, from an empty state, refetches
every page: all records arrive again unchanged and cost a read each, not a write.
"""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

from connectors.sdk import Checkpoint, Connector, Context, Field, Fragment, Item, Record, datasets

SERVER = r"""
import sys
from datetime import UTC, datetime, timedelta
from aiohttp import web
n, per = int(sys.argv[1]), int(sys.argv[2])
base = datetime(2024, 1, 1, tzinfo=UTC)
async def page(request):
    p = int(request.query.get("page", "1"))
    lo = (p - 1) * per
    items = [{"id": f"tx{i:08d}", "booked_at": (base + timedelta(minutes=7 * i)).isoformat(),
              "amount": f"-{i % 500}.{i % 100:02d}", "currency": "EUR",
              "description": f"CARD PAYMENT TO SHOP {i % 977} REF {i:08d}"}
             for i in range(lo, min(n, lo + per))]
    return web.json_response({"items": items, "next_page": p + 1 if lo + per < n else None})
app = web.Application()
app.router.add_get("/transactions", page)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[3]), print=lambda *a: print("ready", flush=True))
"""


class BenchBank(Connector):
    name = "bench-bank"
    title = "Bench bank"
    category = "bank"
    datasets = ("bank.transaction",)
    fields = (Field("url", type="url"),)

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        page = int(state.get("page", 1))
        while True:
            body = await ctx.http.get_json(f"{ctx.settings['url']}/transactions?page={page}")
            for item in body["items"]:
                yield Fragment("bank.transaction", item)
            if not body["next_page"]:
                yield Checkpoint({"page": page})
                return
            page = body["next_page"]
            yield Checkpoint({"page": page})

    def normalize(self, fragment: Fragment) -> Record:
        raw = fragment.raw
        at = datetime.fromisoformat(raw["booked_at"])
        data = datasets.BankTransaction.make(
            account_id="BENCH",
            booked_on=at.date(),
            amount=raw["amount"],
            currency=raw["currency"],
            description=raw["description"],
            status="booked",
        )
        return Record("bank.transaction", raw["id"], at, data)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str]) -> None:
    n, per = 200_000, 1000
    for arg in argv:
        if arg.startswith("--records="):
            n = int(arg.split("=", 1)[1])
        if arg.startswith("--page="):
            per = int(arg.split("=", 1)[1])
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(n), str(per), str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        asyncio.run(_run(n, per, f"http://127.0.0.1:{port}"))
    finally:
        server.terminate()
        server.wait(10)


async def _run(n: int, per: int, url: str) -> None:
    from daemon.paths import home_paths
    from daemon.plugins import Registry
    from daemon.sources import SourceStore
    from daemon.sync.runner import Runner
    from daemon.vault import INSECURE_TEST_KDF, SlotSetup, Vault

    with tempfile.TemporaryDirectory(prefix="selfdata-bench-") as tmp:
        vault, _ = Vault.create(
            home_paths(Path(tmp)), SlotSetup(machine_key=os.urandom(32), recovery=False, kdf=INSECURE_TEST_KDF)
        )
        registry = Registry()
        registry.add(BenchBank, "bench")
        store = SourceStore(vault)
        store.add("bank", "bench-bank", "connector", {"url": url}, {})
        runner = Runner(vault, registry)
        times = []
        for label in ("full", "again", "refetch"):
            if label == "refetch":
                store.update("bank", state={})
            t = time.perf_counter()
            result = await runner.sync("bank")
            times.append(time.perf_counter() - t)
            assert result.ok, result.run.error
            r = result.run
            print(f"  {label:<8} {times[-1]:>7.2f} s  new {r.new:,} changed {r.changed:,} unchanged {r.unchanged:,}")
        vault.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"sync of {n:,} records in pages of {per:,} from a fake vendor on loopback")
    print(f"  full sync rate           {n / times[0]:>10,.0f} records/s")
    print(f"  second sync, no change   {times[1]:>10.2f} s  ({times[1] / times[0]:.1%} of the first; target <= 20%)")
    print(f"  full refetch, no change  {times[2]:>10.2f} s  ({times[2] / times[0]:.1%} of the first)")
    print(f"  peak RSS (client)        {rss:>10.1f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])
