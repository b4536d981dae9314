"""Disclosures and requests through the CLI, as a user runs them (no daemon: each command
unlocks the vault itself): wall time of `share create`, `verify` and `requests new`, the
package's size and whether one QR code holds it.

    python -m bench vrm [--days=365] [--runs=5]

Fills a vault with `days` of half-hourly electricity readings and of bank transactions, then
shares the monthly electricity use and the money received per month over the last 12 months.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> None:
    days, runs = 365, 5
    for arg in argv:
        if arg.startswith("--days="):
            days = int(arg.split("=", 1)[1])
        elif arg.startswith("--runs="):
            runs = int(arg.split("=", 1)[1])
    from connectors.testing.generators.jsonl import bank_transactions, energy_readings

    with tempfile.TemporaryDirectory(prefix="selfdata-bench-vrm-") as tmp:
        home = Path(tmp) / "home"
        env = {**os.environ, "SELFDATA_HOME": str(home), "SELFDATA_KEY_FILE": str(Path(tmp) / "k.key")}

        def cli(*args: str) -> tuple[float, str]:
            t = time.perf_counter()
            r = subprocess.run(
                [sys.executable, "-m", "daemon", *args], cwd=ROOT, env=env, capture_output=True, text=True
            )
            took = time.perf_counter() - t
            if r.returncode not in (0, 1):
                raise SystemExit(r.stdout + r.stderr)
            return took, r.stdout

        cli("init", "--key-file", str(Path(tmp) / "k.key"), "--no-passphrase")
        now = datetime.now(UTC)
        energy = Path(tmp) / "e.jsonl"
        energy.write_text("".join(json.dumps(x) + "\n" for x in energy_readings(days=days, end=now)))
        bank = Path(tmp) / "b.jsonl"
        bank.write_text("".join(json.dumps(x) + "\n" for x in bank_transactions(days=days, end=now)))
        cli("import-jsonl", str(energy), "--source", "octopus-home", "--dataset", "energy.reading")
        cli("import-jsonl", str(bank), "--source", "my-bank", "--dataset", "bank.transaction")
        readings = sum(1 for _ in energy.open())
        print(f"vrm: {readings:,} half-hourly readings and {sum(1 for _ in bank.open()):,} transactions, {runs} runs")
        base = [cli("--version")[0] for _ in range(runs)]
        out = Path(tmp) / "x.json"
        share = []
        for _ in range(runs):
            share.append(cli("share", "create", "--to", "Landlord", "--purpose", "tenancy", "--preset",
                             "electricity-monthly", "--preset", "income-monthly", "--months", "12", "--yes",
                             "-o", str(out), "--qr", str(Path(tmp) / "x.svg"))[0])  # fmt: skip
        verify = [cli("verify", str(out))[0] for _ in range(runs)]
        offline = [cli("verify", str(out), "--offline")[0] for _ in range(runs)]
        requests = [cli("requests", "new", "--org", "octopus-energy", "--kind", "access")[0] for _ in range(runs)]
        package = out.read_bytes()
        one = Path(tmp) / "one.json"
        cli("share", "create", "--to", "Supplier", "--purpose", "quote", "--preset", "electricity-monthly",
            "--months", "12", "--yes", "-o", str(one), "--qr", str(Path(tmp) / "one.svg"))  # fmt: skip
        from daemon.vrm.canonical import canonical

        compact = len(canonical(json.loads(package)))
        single = len(canonical(json.loads(one.read_bytes())))
        qr = "a QR code" if (Path(tmp) / "one.svg").exists() else "no QR code"

        def show(name: str, xs: list[float]) -> None:
            print(f"  {name:<44} median {statistics.median(xs) * 1000:7.0f} ms  (min {min(xs) * 1000:.0f})")

        show("selfdata --version (process start)", base)
        show("share create (2 extracts, preview + sign + log)", share)
        show("verify (opens the vault: revocation known)", verify)
        show("verify --offline", offline)
        show("requests new", requests)
        print(f"  package of 2 extracts: {len(package):,} bytes written, {compact:,} canonical (a QR code holds 2,953)")
        print(f"  package of 1 extract (12 monthly rows): {single:,} bytes canonical: {qr}")


if __name__ == "__main__":
    main(sys.argv[1:])
