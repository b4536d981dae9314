"""The idle daemon: memory, start-up time, and what its imports cost.

    python -m bench daemon [--runs=5]

Creates a vault unlocked by a key file with a few sources configured, starts
`selfdata run` with NOTIFY_SOCKET set, and measures the time to READY=1 and the
resident memory once idle (targets: <= 1.5 s and <= 80 MB). Then lists the imports
that cost the most time at start-up (python -X importtime).
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup(home: Path) -> dict[str, str]:
    env = {**os.environ, "SELFDATA_HOME": str(home), "SELFDATA_INSECURE_TEST_KDF": "1"}
    run = [sys.executable, "-m", "daemon"]
    subprocess.run(
        [*run, "init", "--key-file", str(home / "k.key"), "--no-passphrase"],
        env=env,
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text().replace("port = 7350", "port = 0"))
    # Loopback addresses only, and disabled: an idle daemon, and no traffic leaves this machine.
    sources = [
        ("bank", "simplefin", ["access_url=http://user:pass@127.0.0.1:9/simplefin"]),
        (
            "octopus",
            "octopus-energy",
            ["api_key=sk_live_x", "account_number=A-1234ABCD", "base_url=http://127.0.0.1:9"],
        ),
        ("router", "fritzbox", ["url=http://127.0.0.1:9", "username=u", "password=p"]),
    ]
    for name, connector, values in sources:
        sets = [a for v in values for a in ("--set", v)]
        subprocess.run(
            [*run, "source", "add", name, connector, "--no-check", "--schedule", "daily", *sets],
            env=env,
            capture_output=True,
            cwd=ROOT,
        )
        subprocess.run([*run, "source", "disable", name], env=env, capture_output=True, cwd=ROOT)
    listed = subprocess.run([*run, "source", "list"], env=env, capture_output=True, text=True, cwd=ROOT).stdout
    print(f"sources configured: {sum(name in listed for name, _, _ in sources)} of {len(sources)}")
    env.pop("SELFDATA_INSECURE_TEST_KDF")
    return env


def start_once(env: dict[str, str], home: Path, importtime: bool = False) -> tuple[float, float, str]:
    sock_path = home / "notify.sock"
    sock_path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(30)
    args = [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "daemon", "run"]
    t = time.perf_counter()
    proc = subprocess.Popen(
        args,
        env={**env, "NOTIFY_SOCKET": str(sock_path)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    while b"READY=1" not in sock.recv(4096):
        pass
    ready = time.perf_counter() - t
    time.sleep(2.0)  # idle: the scheduler has looked at its sources
    rss = 0.0
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    sock.close()
    return ready, rss, err


def main(argv: list[str]) -> None:
    runs = 5
    for arg in argv:
        if arg.startswith("--runs="):
            runs = int(arg.split("=", 1)[1])
    with tempfile.TemporaryDirectory(prefix="selfdata-bench-daemon-") as tmp:
        home = Path(tmp)
        env = setup(home)
        results = [start_once(env, home) for _ in range(runs)]
        _, _, imports = start_once(env, home, importtime=True)
    readies = [r[0] for r in results]
    rsses = [r[1] for r in results]
    print(f"idle daemon with 3 sources, unlocked by a key file ({runs} starts)")
    print(
        f"  start to READY=1   median {statistics.median(readies):.2f} s, worst {max(readies):.2f} s  (target <= 1.5 s)"
    )
    print(
        f"  idle RSS           median {statistics.median(rsses):.1f} MB, worst {max(rsses):.1f} MB  (target <= 80 MB)"
    )
    costs = []
    for line in imports.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.split("|")
            if cumulative.strip().isdigit() and name.count(".") == 0 and name.strip() != "daemon":
                costs.append((int(cumulative), name.strip()))
    print("  top-level imports by cumulative time:")
    for us, name in sorted(costs, reverse=True)[:8]:
        print(f"    {name:<24} {us / 1000:>6.0f} ms")
