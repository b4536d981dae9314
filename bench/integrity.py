"""Reading every page: the checks' cost, and the rescue of a vault with one damaged page.

    python -m bench integrity [--records=1000000]

Fills a vault with N heart-rate observations, then times the quick check a daemon runs as
it starts, and `selfdata doctor --full`'s check. Then it damages one page of records in the
middle of the table (16 bytes flipped, as a failing disk would) and times, each in its own
process so its peak RSS is its own, the JSON Lines export and the backup that skip and list
what that page held.
"""

from __future__ import annotations

import json
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
from daemon.rights.backup import backup
from daemon.rights.export import export
from daemon.vault import Vault
from daemon.vault.keys import read_key_file
from daemon.vault.keyslots import KeySlots
home, what, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
paths = home_paths(home)
master = KeySlots.load(paths.keyslots_file).unlock_machine_key(read_key_file(home / "bench.key"), "bench")
vault = Vault.open(paths, master)
t = time.perf_counter()
if what == "check":
    quick = vault.check(full=False)
    quick_s = time.perf_counter() - t
    t = time.perf_counter()
    full = vault.check(full=True)
    result = {"quick_s": quick_s, "full_s": time.perf_counter() - t, "problems": len(quick) + len(full)}
else:
    done = export(vault, out, "jsonl") if what == "export" else backup(vault, out)
    result = {"seconds": time.perf_counter() - t, "records": done.records, "rescued": done.rescued}
vault.close()
result["rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(result))
"""


def _child(home: Path, what: str, out: Path) -> dict[str, object]:
    r = subprocess.run(
        [sys.executable, "-c", CHILD, str(home), what, str(out)], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return json.loads(r.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: list[str]) -> None:
    n = 1_000_000
    for arg in argv:
        if arg.startswith("--records="):
            n = int(arg.split("=", 1)[1])
    from bench.api import BASE_MS, fill_vault
    from daemon.paths import home_paths
    from daemon.vault.keys import read_key_file
    from daemon.vault.keyslots import KeySlots
    from tests.pages import damage_page

    with tempfile.TemporaryDirectory(prefix="selfdata-bench-integrity-") as tmp:
        home = Path(tmp) / "home"
        t = time.perf_counter()
        fill_vault(home, n)
        paths = home_paths(home)
        size = paths.vault_file.stat().st_size / 1e6
        print(f"integrity of {n:,} records, {size:,.0f} MB (filled in {time.perf_counter() - t:.0f} s)")
        c = _child(home, "check", Path(tmp) / "unused")
        print(f"  quick check (daemon start)  {c['quick_s']:>6.1f} s")
        print(f"  full check (doctor --full)  {c['full_s']:>6.1f} s   problems: {c['problems']}")
        e = _child(home, "export", Path(tmp) / "whole")
        print(f"  export, whole vault         {e['seconds']:>6.1f} s   peak RSS {e['rss']:>6.1f} MB")
        master = KeySlots.load(paths.keyslots_file).unlock_machine_key(read_key_file(home / "bench.key"), "bench")
        # The middle record's start time is in its `data`, so only on a page of the table itself.
        start = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime((BASE_MS + n // 2 * 60_000) / 1000))
        page = damage_page(paths.vault_file, master.db_key, start.encode())
        print(f"  damaged page {page} (holding record hr-{n // 2:09d})")
        for what in ("export", "backup"):
            r = _child(home, what, Path(tmp) / f"rescued-{what}")
            rescued = r["rescued"] or {}
            print(
                f"  {what} of the damaged vault {r['seconds']:>6.1f} s   peak RSS {r['rss']:>6.1f} MB   "
                f"{r['records']:,} records saved, {rescued.get('records_unreadable', 0):,} listed as unreadable"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
