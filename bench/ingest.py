"""Vault ingest against plain sqlite-utils.

    python -m bench ingest [--records N]

Upserts N normalised records (about 250 bytes of JSON each) into a fresh encrypted
vault, re-upserts the same N unchanged, and inserts the same rows with sqlite-utils
`insert_all` into a plain file. Each phase runs in its own process so its peak RSS is
its own.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

BATCH = 5000
SOURCE, DATASET = "bench-watch", "health.observation"
BASE_MS = 1_700_000_000_000


def records(n: int) -> Iterator[tuple[str, int, dict[str, object]]]:
    for i in range(n):
        ts = BASE_MS + i * 60_000
        yield (
            f"hr-{i:09d}",
            ts,
            {
                "code": "8867-4",
                "code_system": "http://loinc.org",
                "name": "Heart rate",
                "value": str(55 + (i * 7919) % 60),
                "unit": "/min",
                "start": f"2023-11-14T22:{i % 60:02d}:00+00:00",
                "end": f"2023-11-14T22:{i % 60:02d}:00+00:00",
                "device": "Watch7,1 (bench) firmware 10.1 sensor ppg green",
            },
        )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_vault(home: Path, n: int) -> dict[str, float]:
    from daemon.paths import home_paths
    from daemon.vault import INSECURE_TEST_KDF, RecordIn, SlotSetup, Vault

    paths = home_paths(home)
    vault, _ = Vault.create(paths, SlotSetup(machine_key=os.urandom(32), recovery=False, kdf=INSECURE_TEST_KDF))
    out: dict[str, float] = {}
    for label in ("first", "again"):
        start = time.perf_counter()
        in_vault = 0.0  # time inside upsert: the vault's own cost, without generating samples
        batch: list[RecordIn] = []
        for key, ts, data in records(n):
            batch.append(RecordIn(SOURCE, DATASET, key, ts, data))
            if len(batch) == BATCH:
                t = time.perf_counter()
                vault.writer.upsert(batch)
                in_vault += time.perf_counter() - t
                batch = []
        if batch:
            t = time.perf_counter()
            vault.writer.upsert(batch)
            in_vault += time.perf_counter() - t
        out[label] = n / in_vault
        out[label + "_e2e"] = n / (time.perf_counter() - start)
    vault.close()
    out["rss"] = peak_rss_mb()
    return out


def phase_plain(home: Path, n: int) -> dict[str, float]:
    import sqlite_utils

    db = sqlite_utils.Database(home / "plain.db")
    rows = (
        {"source": SOURCE, "dataset": DATASET, "key": key, "ts": ts, "data": json.dumps(data)}
        for key, ts, data in records(n)
    )
    start = time.perf_counter()
    db["records"].insert_all(rows, batch_size=BATCH)
    rate = n / (time.perf_counter() - start)
    return {"rate": rate, "rss": peak_rss_mb()}


def main(argv: list[str]) -> None:
    n = 1_000_000
    for arg in argv:
        if arg.startswith("--records="):
            n = int(arg.split("=", 1)[1])
    with tempfile.TemporaryDirectory(prefix="selfdata-bench-") as tmp:
        vault = _child("vault", Path(tmp) / "vault", n)
        plain = _child("plain", Path(tmp), n)
        vault_size = sum(f.stat().st_size for f in (Path(tmp) / "vault").rglob("*") if f.is_file())
        plain_size = (Path(tmp) / "plain.db").stat().st_size
    first, again = vault["first"], vault["again"]
    print(f"ingest of {n:,} records (~250 B JSON each), batches of {BATCH:,}")
    print(
        f"  vault first import     {first:>10,.0f} records/s  "
        f"(end to end with sample generation: {vault['first_e2e']:,.0f}/s)"
    )
    print(f"  vault re-upsert same   {again:>10,.0f} records/s  (end to end: {vault['again_e2e']:,.0f}/s)")
    print(f"  re-upsert / first      {again / first:>10.2f}x     (target >= 2x)")
    print(f"  plain sqlite-utils     {plain['rate']:>10,.0f} records/s  (end to end, insert_all)")
    print(f"  vault / plain          {vault['first_e2e'] / plain['rate']:>10.2f}      (end to end both; target >= 0.5)")
    print(f"  peak RSS vault         {vault['rss']:>10.1f} MB     (target <= 150 MB)")
    print(f"  peak RSS plain         {plain['rss']:>10.1f} MB")
    print(f"  on disk vault / plain  {vault_size / 1e6:>10.1f} MB / {plain_size / 1e6:.1f} MB")


def _child(phase: str, home: Path, n: int) -> dict[str, float]:
    code = (
        f"import json, sys; from pathlib import Path; from bench.ingest import phase_{phase} as run; "
        "print(json.dumps(run(Path(sys.argv[1]), int(sys.argv[2]))))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(home), str(n)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


if __name__ == "__main__":
    main(sys.argv[1:])
