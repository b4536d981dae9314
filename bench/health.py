"""Apple Health import against the Dogsheep tool healthkit-to-sqlite.

    python -m bench health [--records=N] [--no-peer]

Writes a generated export.zip of N records (default 1,000,000), then, each in its own
process so that its peak RSS is its own:

- selfdata: the apple-health importer, the SDK pipeline (validation) and the encrypted
  vault's writer, in batches, the way `selfdata import` stores records;
- selfdata plain SQLite: the same, written to an unencrypted SQLite file, as the peer writes;
- selfdata parse only: the importer and the pipeline, nothing written (where time goes);
- healthkit-to-sqlite, installed with pip into a throwaway virtualenv this bench creates
  (never a selfdata dependency), importing the same zip into a plain SQLite file.

Targets: selfdata at least 2x faster than healthkit-to-sqlite, peak RSS at most 1.5x its.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from typing import Any

BATCH = 500  # small batches keep peak memory down; larger ones are not faster here
SOURCE = "apple-health"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_selfdata(home: Path, export: Path) -> dict[str, float]:
    from connectors.health.applehealth import AppleHealthImporter
    from connectors.sdk.pipeline import to_records
    from daemon.paths import home_paths
    from daemon.vault import INSECURE_TEST_KDF, RecordIn, SlotSetup, Vault

    vault, _ = Vault.create(
        home_paths(home), SlotSetup(machine_key=os.urandom(32), recovery=False, kdf=INSECURE_TEST_KDF)
    )
    importer = AppleHealthImporter()
    start = time.perf_counter()
    n, batch = 0, []
    for item in importer.read(export, {}):
        for r in to_records(importer, item):  # type: ignore[arg-type]
            batch.append(RecordIn(SOURCE, r.dataset, r.key, int(r.ts.timestamp() * 1000), r.data, r.raw))
        if len(batch) >= BATCH:
            vault.writer.upsert(batch)
            n += len(batch)
            batch = []
    vault.writer.upsert(batch)
    n += len(batch)
    seconds = time.perf_counter() - start
    vault.close()
    return {"records": n, "seconds": seconds, "rss": peak_rss_mb()}


def phase_plain(home: Path, export: Path) -> dict[str, float]:
    """The importer and the pipeline, written to a plain (unencrypted) SQLite file as the peer does."""
    import sqlite3

    import orjson

    from connectors.health.applehealth import AppleHealthImporter
    from connectors.sdk.pipeline import to_records

    home.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(home / "plain.db", isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute(
        "CREATE TABLE records (dataset TEXT, key TEXT, ts INTEGER, data TEXT, raw TEXT, PRIMARY KEY (dataset, key))"
    )
    sql = "INSERT OR REPLACE INTO records VALUES (?,?,?,?,?)"
    importer = AppleHealthImporter()
    start = time.perf_counter()
    n, batch = 0, []
    for item in importer.read(export, {}):
        for r in to_records(importer, item):  # type: ignore[arg-type]
            ts = int(r.ts.timestamp() * 1000)
            batch.append((r.dataset, r.key, ts, orjson.dumps(r.data).decode(), orjson.dumps(r.raw).decode()))
        if len(batch) >= BATCH:
            _write(db, sql, batch)
            n += len(batch)
            batch = []
    _write(db, sql, batch)
    n += len(batch)
    seconds = time.perf_counter() - start
    db.close()
    return {"records": n, "seconds": seconds, "rss": peak_rss_mb()}


def _write(db: Any, sql: str, rows: list[tuple[Any, ...]]) -> None:
    db.execute("BEGIN")
    db.executemany(sql, rows)
    db.execute("COMMIT")


def phase_parse(home: Path, export: Path) -> dict[str, float]:
    from connectors.health.applehealth import AppleHealthImporter
    from connectors.sdk.pipeline import to_records

    importer = AppleHealthImporter()
    start = time.perf_counter()
    n = 0
    for item in importer.read(export, {}):
        n += len(to_records(importer, item))  # type: ignore[arg-type]
    return {"records": n, "seconds": time.perf_counter() - start, "rss": peak_rss_mb()}


def peer(tmp: Path, export: Path) -> dict[str, Any]:
    """healthkit-to-sqlite in a virtualenv of its own; its peak RSS read from wait4()."""
    env_dir = tmp / "peer-venv"
    venv.create(env_dir, with_pip=True)
    pip = subprocess.run(
        [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "healthkit-to-sqlite"],
        capture_output=True,
        text=True,
    )
    if pip.returncode != 0:
        return {"error": "could not install healthkit-to-sqlite: " + (pip.stderr.strip().splitlines() or ["?"])[-1]}
    cmd = [str(env_dir / "bin" / "healthkit-to-sqlite"), str(export), str(tmp / "peer.db"), "--silent"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        return {"error": f"healthkit-to-sqlite failed: {proc.stderr.read().decode()[-300:] if proc.stderr else ''}"}
    return {"seconds": seconds, "rss": usage.ru_maxrss / 1024}


def main(argv: list[str]) -> None:
    n, with_peer = 1_000_000, True
    for arg in argv:
        if arg.startswith("--records="):
            n = int(arg.split("=", 1)[1])
        elif arg == "--no-peer":
            with_peer = False
    with tempfile.TemporaryDirectory(prefix="selfdata-bench-health-") as tmp_name:
        tmp = Path(tmp_name)
        from connectors.testing.generators.applehealth import write_export_zip

        t = time.perf_counter()
        export = write_export_zip(tmp / "export.zip", days=None, records=n, clinical=False)
        print(
            f"generated export.zip: {n:,} records, {export.stat().st_size / 1e6:.0f} MB zipped "
            f"in {time.perf_counter() - t:.0f} s"
        )
        ours = _child("selfdata", tmp / "vault", export)
        plain = _child("plain", tmp / "plain", export)
        parse = _child("parse", tmp, export)
        theirs: dict[str, Any] = peer(tmp, export) if with_peer else {"error": "skipped (--no-peer)"}
    print(f"apple-health import of {n:,} records (export.zip)")
    rows = [("selfdata, into the vault", ours), ("selfdata, plain SQLite", plain), ("selfdata, parse only", parse)]
    for label, m in rows:
        print(
            f"  {label:<26} {m['seconds']:>8.1f} s  {m['records'] / m['seconds']:>9,.0f} records/s  "
            f"peak RSS {m['rss']:>6.1f} MB"
        )
    if "error" in theirs:
        print(f"  healthkit-to-sqlite        {theirs['error']}")
        return
    peer_s, peer_rss = float(theirs["seconds"]), float(theirs["rss"])
    print(f"  healthkit-to-sqlite        {peer_s:>8.1f} s  {n / peer_s:>9,.0f} records/s  peak RSS {peer_rss:>6.1f} MB")
    for label, m in rows[:2]:
        speedup, rss_ratio = peer_s / m["seconds"], m["rss"] / peer_rss
        print(
            f"  {label}: {speedup:.2f}x faster (target >= 2x: {'ok' if speedup >= 2 else 'missed'}), "
            f"peak RSS {rss_ratio:.2f}x (target <= 1.5x: {'ok' if rss_ratio <= 1.5 else 'missed'})"
        )


def _child(phase: str, home: Path, export: Path) -> dict[str, float]:
    code = (
        f"import json, sys; from pathlib import Path; from bench.health import phase_{phase} as run; "
        "print(json.dumps(run(Path(sys.argv[1]), Path(sys.argv[2]))))"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code, str(home), str(export)], check=True, capture_output=True, text=True, cwd=root
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


if __name__ == "__main__":
    main(sys.argv[1:])
