"""Bank statement files through their importers.

    python -m bench bank_files [--records=N]

Writes an OFX 1.x file of N transactions, a camt.053 file of N entries and an MT940
file of about N statement lines (default 100,000 each; MT940 as banks write it, one
statement per account and day) with the project's generators, then imports each in its
own process (so its peak RSS is its own) the way `selfdata import` reads a file: the
importer streams the file, the SDK pipeline normalises and validates every record;
nothing is stored. Then each file again end to end, as `selfdata import` stores it: into
a new encrypted vault, staged and published in one transaction (the vault's own cost is
measured on its own by `python -m bench ingest`).

Targets: at least 20,000 records/s and at most 150 MB peak RSS for the OFX and camt files
through their importers (MT940 is measured beside them). The CPU time is printed next to
the wall time: on a shared machine the wall time also counts the time other processes
held the CPU. The files are written in a child process too: a child's peak RSS starts
from its parent's at the fork.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

TARGET_RATE, TARGET_RSS = 20_000, 150.0


def phase(kind: str, path: Path) -> dict[str, float]:
    """Import `path` with the `kind` importer; runs in a child process."""
    from connectors.bank.camt import CamtImporter
    from connectors.bank.mt940 import Mt940Importer
    from connectors.bank.ofx import OfxImporter
    from connectors.sdk import Importer
    from connectors.sdk.pipeline import to_records

    importer: Importer = {"ofx": OfxImporter, "camt": CamtImporter, "mt940": Mt940Importer}[kind]()
    start, cpu = time.perf_counter(), time.process_time()
    records = transactions = 0
    for item in importer.read(path, {}):
        for record in to_records(importer, item):  # type: ignore[arg-type]
            records += 1
            transactions += record.dataset == "bank.transaction"
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"records": records, "transactions": transactions, "wall": wall, "cpu": cpu, "rss": rss}


def phase_vault(kind: str, path: Path) -> dict[str, float]:
    """`selfdata import` of `path` into a new vault beside it; runs in a child process."""
    from daemon.paths import home_paths
    from daemon.plugins import load
    from daemon.sync.importing import import_file
    from daemon.vault import INSECURE_TEST_KDF, SlotSetup, Vault

    home = path.parent / f"home-{kind}"
    vault, _ = Vault.create(
        home_paths(home), SlotSetup(machine_key=os.urandom(32), recovery=False, kdf=INSECURE_TEST_KDF)
    )
    registry = load()
    start = time.perf_counter()
    result = import_file(vault, registry, path, fmt=kind)
    wall = time.perf_counter() - start
    vault.close()
    if not result.ok:
        raise SystemExit(f"import failed: {result.run.error}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"records": result.records, "wall": wall, "rss": rss}


def _child(kind: str, path: Path, stored: bool = False) -> dict[str, float]:
    code = (
        "import json, sys; from pathlib import Path; from bench.bank_files import phase, phase_vault; "
        f"print(json.dumps({'phase_vault' if stored else 'phase'}(sys.argv[1], Path(sys.argv[2]))))"
    )
    return json.loads(_run(code, kind, str(path)).strip().splitlines()[-1])  # type: ignore[no-any-return]


def _run(code: str, *args: str) -> str:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True, cwd=root, env=env
    )
    return done.stdout


def write_files(folder: Path, n: int) -> tuple[Path, Path, Path]:
    from connectors.testing.generators.camt import Account as CamtAccount
    from connectors.testing.generators.camt import write_camt
    from connectors.testing.generators.mt940 import Account as Mt940Account
    from connectors.testing.generators.mt940 import write_mt940
    from connectors.testing.generators.ofx import Account, write_ofx

    ofx = write_ofx(
        folder / "statement.ofx", accounts=(Account("000123456789"),), per_account=n, keep=False, end=date(2026, 5, 31)
    ).path
    # A day holds per_day entries plus, now and then, a batch or a pair: aim at n entries.
    days = max(1, n // 100)
    camt = folder / "statement.xml"
    written = write_camt(camt, accounts=(CamtAccount("DE89370400440532013000"),), days=days, per_day=96, keep=False)
    # About 1.7 statement lines per account and day (none at weekends, a pair on Fridays).
    accounts = tuple(Mt940Account(f"3704004{i}/053201300{i}", f"3704004{i}/053201300{i}") for i in range(4))
    mt940 = write_mt940(folder / "statement.sta", accounts=accounts, days=max(1, n * 10 // 68), end=date(2060, 12, 31))
    print(
        f"  files: {ofx.stat().st_size / 1e6:.1f} MB OFX, {camt.stat().st_size / 1e6:.1f} MB camt.053 "
        f"({written.entries:,} entries), {mt940.path.stat().st_size / 1e6:.1f} MB MT940 "
        f"({mt940.count:,} lines in {mt940.messages:,} statements)"
    )
    return ofx, camt, mt940.path


def main(argv: list[str]) -> None:
    n = 100_000
    for arg in argv:
        if arg.startswith("--records="):
            n = int(arg.split("=", 1)[1])
    print(f"bank statement files: {n:,} transactions (OFX 1.x), entries (camt.053), lines (MT940)")
    with tempfile.TemporaryDirectory(prefix="selfdata-bench-bank-") as tmp:
        code = (
            "import json, sys; from pathlib import Path; from bench.bank_files import write_files; "
            "print(json.dumps([str(p) for p in write_files(Path(sys.argv[1]), int(sys.argv[2]))]))"
        )
        out = _run(code, tmp, str(n)).splitlines()
        print("\n".join(out[:-1]))
        ofx, camt, mt940 = (Path(p) for p in json.loads(out[-1]))
        files = (("OFX 1.x  ", "ofx", ofx), ("camt.053 ", "camt", camt), ("MT940    ", "mt940", mt940))
        for label, kind, path in files:
            r = _child(kind, path)
            rate, cpu_rate = r["records"] / r["wall"], r["records"] / r["cpu"]
            targets = kind != "mt940"
            print(
                f"  {label} {r['records']:>9,.0f} records in {r['wall']:6.2f} s: {rate:>8,.0f} records/s "
                f"({cpu_rate:,.0f}/s of CPU time" + (f"; target >= {TARGET_RATE:,}/s)" if targets else ")")
            )
            print(f"  {label} peak RSS {r['rss']:>8.1f} MB" + (f" (target <= {TARGET_RSS:.0f} MB)" if targets else ""))
        for label, kind, path in files:
            r = _child(kind, path, stored=True)
            print(
                f"  {label} into the vault (selfdata import): {r['records']:,.0f} records in {r['wall']:.2f} s, "
                f"{r['records'] / r['wall']:,.0f} records/s, peak RSS {r['rss']:.1f} MB"
            )
    print(f"  load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main(sys.argv[1:])
