"""Files with one huge field, imported through the running daemon: its peak memory per format.

    python -m bench bigfields [--mb=200] [--formats=ofx,qif,...]

For each format, writes a file of about --mb megabytes whose bulk is ONE field (a memo, a
value, an attribute, a line), starts `selfdata run` afresh, imports the file with `selfdata
import` (the CLI hands it to the daemon, as a user's import goes) and reads the daemon's peak
resident memory (VmHWM) after. Target: under 256 MB for every format, the file refused with
the line of the field and nothing stored. The files are written into a temporary folder and
removed; nothing of them is kept.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_MB = 256
CHUNK = 1 << 20


def _fill(f: object, n: int, byte: bytes = b"x") -> None:
    block = byte * CHUNK
    write = f.write  # type: ignore[attr-defined]
    for _ in range(n // CHUNK):
        write(block)
    write(byte * (n % CHUNK))


def ofx(path: Path, n: int) -> None:
    with path.open("wb") as f:
        f.write(
            b"OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nENCODING:USASCII\nCHARSET:1252\n\n<OFX><BANKMSGSRSV1>"
            b"<STMTTRNRS><STMTRS><CURDEF>USD<BANKACCTFROM><BANKID>1<ACCTID>2<ACCTTYPE>CHECKING</BANKACCTFROM>"
            b"<BANKTRANLIST><STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20260101<TRNAMT>-1.00<FITID>1<NAME>"
        )
        _fill(f, n)
        f.write(b"</STMTTRN></BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n")


def qif(path: Path, n: int) -> None:
    with path.open("wb") as f:
        f.write(b"!Type:Bank\nD01/02/2026\nT-1.00\nPcoffee\n^\nD01/03/2026\nT-2.00\nM")
        _fill(f, n)
        f.write(b"\n^\n")


def mt940(path: Path, n: int) -> None:
    with path.open("wb") as f:
        f.write(b":20:S1\n:25:DE89370400440532013000\n:28C:1/1\n:60F:C260101EUR100,00\n")
        f.write(b":61:2601010101D1,00NTRFNONREF\n:86:")
        _fill(f, n)
        f.write(b"\n:62F:C260101EUR99,00\n-\n")


def csv(path: Path, n: int) -> None:
    with path.open("wb") as f:
        f.write(b"Date,Description,Amount\n2026-01-01,coffee,-1.00\n2026-01-02,")
        _fill(f, n)
        f.write(b",-2.00\n")


def fhir(path: Path, n: int) -> None:
    with path.open("wb") as f:
        f.write(b'{"resourceType": "Patient", "id": "p1"}\n{"resourceType": "Patient", "id": "p2"}\n')
        f.write(b'{"resourceType": "Observation", "id": "o1", "note": "')
        _fill(f, n)
        f.write(b'"}\n')


def applehealth(path: Path, n: int) -> None:
    with path.open("wb") as f:
        f.write(
            b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE HealthData [\n<!ELEMENT HealthData (Record)*>\n]>\n'
            b'<HealthData locale="en_US">\n<Record type="HKQuantityTypeIdentifierStepCount" sourceName="'
        )
        _fill(f, n)
        f.write(
            b'" unit="count" value="1" startDate="2026-01-01 10:00:00 +0000" endDate="2026-01-01 10:01:00 +0000"/>\n'
        )
        f.write(b"</HealthData>\n")


def camt(path: Path, n: int) -> None:
    with path.open("wb") as f:
        f.write(
            b'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">'
            b"<BkToCstmrStmt><GrpHdr><MsgId>1</MsgId><CreDtTm>2026-01-01T00:00:00</CreDtTm></GrpHdr><Stmt><Id>"
        )
        _fill(f, n)
        f.write(b"</Id></Stmt></BkToCstmrStmt></Document>\n")


def records(path: Path, n: int) -> None:
    with path.open("wb") as f:
        f.write(b'{"records": [{"dataset": "health.observation", "note": "')
        _fill(f, n)
        f.write(b'"}]}\n')


FORMATS: dict[str, Callable[[Path, int], None]] = {
    "ofx": ofx,
    "qif": qif,
    "mt940": mt940,
    "csv": csv,
    "fhir": fhir,
    "applehealth": applehealth,
    "camt": camt,
    "records": records,
}
SETTINGS = {"qif": ["--set", "currency=USD"]}  # what the format cannot say itself
SUFFIX = {"ofx": ".ofx", "qif": ".qif", "mt940": ".sta", "csv": ".csv", "fhir": ".ndjson", "records": ".json"}


def _env(home: Path) -> dict[str, str]:
    from bench.health import fresh_vault

    env = fresh_vault(home)
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text().replace("port = 7350", "port = 0"))
    return env


def _start(env: dict[str, str], home: Path) -> subprocess.Popen[bytes]:
    sock_path = home / "notify.sock"
    sock_path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(60)
    proc = subprocess.Popen(
        [sys.executable, "-m", "daemon", "run"],
        env={**env, "NOTIFY_SOCKET": str(sock_path)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while b"READY=1" not in sock.recv(4096):
            pass
    finally:
        sock.close()
    return proc


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str]) -> None:
    opts = dict(a.lstrip("-").split("=", 1) for a in argv if "=" in a)
    size = int(float(opts.get("mb", "200")) * 1e6)
    chosen = opts.get("formats", ",".join(FORMATS)).split(",")
    print(
        f"one field of ~{size / 1e6:.0f} MB per file, imported through the running daemon; target peak < {TARGET_MB} MB"
    )
    print(f"{'format':<12} {'file MB':>8} {'peak MB':>8} {'s':>6}  result")
    with tempfile.TemporaryDirectory(prefix="selfdata-bigfields-") as tmp:
        base = Path(tmp)
        for name in chosen:
            home = base / name
            home.mkdir()
            env = _env(home)
            path = base / f"big{SUFFIX.get(name, '.xml')}"
            FORMATS[name](path, size)
            proc = _start(env, home)
            try:
                t = time.perf_counter()
                r = subprocess.run(
                    [sys.executable, "-m", "daemon", "import", str(path), *SETTINGS.get(name, [])],
                    env=env,
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    timeout=1800,
                )
                took = time.perf_counter() - t
                peak = _peak_mb(proc.pid)
            finally:
                proc.terminate()
                proc.wait(timeout=60)
            said = " ".join((r.stderr or r.stdout).split())[:110]
            mark = "ok " if peak < TARGET_MB else "OVER"
            mb = path.stat().st_size / 1e6
            print(f"{name:<12} {mb:>8.0f} {peak:>8.0f} {took:>6.1f}  {mark} rc={r.returncode} {said}")
            path.unlink()
            shutil.rmtree(home, ignore_errors=True)
