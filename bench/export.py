"""Export of N records to each format: rate and peak RSS (target <= 100 MB).

    python -m bench export [--records=1000000]

Fills a vault with N heart-rate observations, then exports it as JSON Lines, CSV and a
plain SQLite file, each export in its own process so its peak RSS is its own.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, resource, sys, time
from pathlib import Path
from daemon.paths import home_paths
from daemon.rights.export import export
from daemon.vault import Vault
from daemon.vault.keys import read_key_file
from daemon.vault.keyslots import KeySlots
home, fmt, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
paths = home_paths(home)
master = KeySlots.load(paths.keyslots_file).unlock_machine_key(read_key_file(home / "bench.key"), "bench")
vault = Vault.open(paths, master)
t = time.perf_counter()
result = export(vault, out, fmt)
took = time.perf_counter() - t
vault.close()
print(json.dumps({"records": result.records, "seconds": took,
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main(argv: list[str]) -> None:
    n = 1_000_000
    for arg in argv:
        if arg.startswith("--records="):
            n = int(arg.split("=", 1)[1])
    from bench.api import fill_vault

    with tempfile.TemporaryDirectory(prefix="selfdata-bench-export-") as tmp:
        home = Path(tmp) / "home"
        t = time.perf_counter()
        fill_vault(home, n)
        print(f"export of {n:,} records (filled in {time.perf_counter() - t:.0f} s)")
        for fmt in ("jsonl", "csv", "sqlite"):
            out = Path(tmp) / ("out.db" if fmt == "sqlite" else f"out-{fmt}")
            r = subprocess.run(
                [sys.executable, "-c", CHILD, str(home), fmt, str(out)],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            )
            m = json.loads(r.stdout.strip().splitlines()[-1])
            size = sum(f.stat().st_size for f in out.rglob("*")) if out.is_dir() else out.stat().st_size
            print(
                f"  {fmt:<7} {m['records'] / m['seconds']:>10,.0f} records/s  {m['seconds']:>6.1f} s  "
                f"peak RSS {m['rss']:>6.1f} MB (target <= 100 MB)  output {size / 1e6:,.0f} MB"
            )
            shutil.rmtree(out, ignore_errors=True) if out.is_dir() else out.unlink()


if __name__ == "__main__":
    main(sys.argv[1:])
