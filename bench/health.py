"""Apple Health import through `selfdata import`, against healthkit-to-sqlite and the parse floor.

    python -m bench health [--records=100000,1000000] [--runs=3] [--no-peer]

For each size, on the project's generator (connectors/testing/generators) and on a second,
independently written one (bench/_health_export.py), the same export.zip goes, interleaved,
run after run, through:

- `selfdata import export.zip` as a user runs it, a fresh vault each time, then the same
  file again (re-import: recognised by its SHA-256);
- healthkit-to-sqlite (Dogsheep), pip-installed from PyPI into a throwaway venv cached in
  ~/.cache/selfdata-bench (never a selfdata dependency), into a fresh SQLite file;
- the floor: the standard library's iterparse over the zip's export.xml, counting elements.

Each is a child process; its wall time and peak RSS (wait4's ru_maxrss) are measured; the
medians of `--runs` are printed beside the targets: >= 3x faster than healthkit-to-sqlite,
within 2x of the floor, peak RSS <= healthkit-to-sqlite's, re-import <= 10% of the first.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "selfdata-bench"

FLOOR = """
import sys, zipfile, xml.etree.ElementTree as ET
with zipfile.ZipFile(sys.argv[1]) as z, z.open('apple_health_export/export.xml') as f:
    n, depth, root = 0, 0, None
    for event, elem in ET.iterparse(f, events=('start', 'end')):
        if event == 'start':
            depth += 1
            root = root if root is not None else elem
            continue
        depth -= 1
        if depth == 1:
            n += 1
            root.clear()
print(n)
"""


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed: {err[-400:]}")
    return seconds, usage.ru_maxrss / 1024


def peer_command() -> list[str] | None:
    env_dir = CACHE / "healthkit-to-sqlite-venv"
    exe = env_dir / "bin" / "healthkit-to-sqlite"
    if not exe.exists():
        venv.create(env_dir, with_pip=True, clear=True)
        pip = subprocess.run(
            [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "healthkit-to-sqlite"],
            capture_output=True,
            text=True,
        )
        if pip.returncode != 0:
            print("could not install healthkit-to-sqlite: " + (pip.stderr.strip().splitlines() or ["?"])[-1])
            return None
    return [str(exe)]


def fresh_vault(home: Path) -> dict[str, str]:
    env = {**os.environ, "SELFDATA_HOME": str(home), "SELFDATA_INSECURE_TEST_KDF": "1"}
    subprocess.run(
        [sys.executable, "-m", "daemon", "init", "--key-file", str(home / "k.key"), "--no-passphrase"],
        env=env,
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return env


def generate(kind: str, path: Path, n: int) -> Path:
    if kind == "project":
        from connectors.testing.generators.applehealth import write_export_zip

        return write_export_zip(path, days=None, records=n, clinical=False)
    from bench._health_export import write

    return write(path, n)


def one_round(tmp: Path, export: Path, peer: list[str] | None, k: int) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    out["floor"] = timed([sys.executable, "-c", FLOOR, str(export)])
    home = tmp / f"vault-{k}"
    env = fresh_vault(home)
    cmd = [sys.executable, "-m", "daemon", "import", str(export)]
    out["selfdata"] = timed(cmd, env)
    out["again"] = timed(cmd, env)
    if peer is not None:
        db = tmp / f"peer-{k}.db"
        out["peer"] = timed([*peer, str(export), str(db), "--silent"])
        db.unlink(missing_ok=True)
    subprocess.run(["rm", "-rf", str(home)], check=False)
    return out


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def report(label: str, n: int, size: int, rounds: list[dict[str, tuple[float, float]]]) -> None:
    med = {
        key: (statistics.median(r[key][0] for r in rounds), statistics.median(r[key][1] for r in rounds))
        for key in rounds[0]
    }
    print(f"\n{label}: {n:,} records, {size / 1e6:.1f} MB zipped, medians of {len(rounds)}")
    names = {
        "selfdata": "selfdata import",
        "again": "selfdata import, again",
        "peer": "healthkit-to-sqlite",
        "floor": "iterparse count (floor)",
    }
    for key, name in names.items():
        if key in med:
            s, rss = med[key]
            print(f"  {name:<26} {s:>7.2f} s  {n / s:>9,.0f} records/s  peak RSS {rss:>6.1f} MB")
    s, rss = med["selfdata"]
    floor = med["floor"][0]
    print(f"  vs floor          {s / floor:>5.2f}x the floor        (target <= 2x: {verdict(s <= 2 * floor)})")
    again = med["again"][0] / s
    print(f"  re-import         {again:>5.1%} of the first      (target <= 10%: {verdict(again <= 0.10)})")
    if "peer" in med:
        ps, prss = med["peer"]
        print(f"  vs peer           {ps / s:>5.2f}x faster           (target >= 3x: {verdict(ps / s >= 3)})")
        print(f"  peak RSS          {rss:>5.1f} MB vs {prss:.1f} MB   (target <= peer: {verdict(rss <= prss)})")


def main(argv: list[str]) -> None:
    sizes, runs, with_peer = [100_000, 1_000_000], 3, True
    for arg in argv:
        if arg.startswith("--records="):
            sizes = [int(x) for x in arg.split("=", 1)[1].split(",")]
        elif arg.startswith("--runs="):
            runs = int(arg.split("=", 1)[1])
        elif arg == "--no-peer":
            with_peer = False
    peer = peer_command() if with_peer else None
    with tempfile.TemporaryDirectory(prefix="selfdata-bench-health-") as tmp_name:
        tmp = Path(tmp_name)
        for n in sizes:
            for kind, label in (("project", "project generator"), ("independent", "independent generator")):
                export = generate(kind, tmp / f"{kind}-{n}.zip", n)
                rounds = [one_round(tmp, export, peer, k) for k in range(runs)]
                report(label, n, export.stat().st_size, rounds)
                export.unlink()


if __name__ == "__main__":
    main(sys.argv[1:])
