"""Import of an SMS Backup & Restore export: rate and peak memory.

    python -m bench telecom [--messages N] [--huge-mb M]

Writes an sms-*.xml backup of N messages (default 500,000; every 7th an MMS with a small
image, plus one MMS carrying an M MB video, default 50) with the project's generator, then
reads it in a child process the way `selfdata import` does: the importer streams the file
and every fragment is normalised and validated into a record. The child reports its own
peak RSS (target <= 100 MB).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def phase_import(path: Path) -> dict[str, float]:
    from connectors.sdk.pipeline import to_records
    from connectors.telecom.smsbackup import SmsBackup

    importer = SmsBackup()
    start = time.perf_counter()
    records = mms = 0
    largest = 0
    for item in importer.read(path, {"region": "FR"}):
        for record in to_records(importer, item):  # type: ignore[arg-type]
            records += 1
            if record.data.get("kind") == "mms":
                mms += 1
                largest = max([largest, *(p.get("size") or 0 for p in record.data.get("parts") or [])])
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"records": records, "mms": mms, "largest_part": largest, "seconds": seconds, "rss": rss}


def main(argv: list[str]) -> None:
    messages, huge_mb = 500_000, 50
    for arg in argv:
        if arg.startswith("--messages="):
            messages = int(arg.split("=", 1)[1])
        elif arg.startswith("--huge-mb="):
            huge_mb = int(arg.split("=", 1)[1])
    from connectors.testing.generators.smsbackup import write_sms

    with tempfile.TemporaryDirectory(prefix="selfdata-bench-") as tmp:
        path = Path(tmp) / "sms-20260601120000.xml"
        start = time.perf_counter()
        write_sms(path, count=messages, huge_part_bytes=huge_mb * 1024 * 1024)
        generated = time.perf_counter() - start
        size = path.stat().st_size
        out = _child(path)
    print(
        f"SMS Backup & Restore import: {messages:,} messages, {size / 1e6:,.0f} MB file (written in {generated:.0f} s)"
    )
    print(f"  records                {out['records']:>12,.0f}     ({out['mms']:,.0f} MMS; drafts are skipped)")
    print(f"  largest MMS part       {out['largest_part'] / 1e6:>12,.1f} MB  (kept out of the store: size only)")
    print(f"  import rate            {out['records'] / out['seconds']:>12,.0f} records/s ({out['seconds']:.1f} s)")
    print(f"  read rate              {size / 1e6 / out['seconds']:>12,.1f} MB/s")
    print(f"  peak RSS               {out['rss']:>12,.1f} MB  (target <= 100 MB)")


def _child(path: Path) -> dict[str, float]:
    code = (
        "import json, sys; from pathlib import Path; from bench.telecom import phase_import as run; "
        "print(json.dumps(run(Path(sys.argv[1]))))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


if __name__ == "__main__":
    main(sys.argv[1:])
