"""First run and operations: the demo, backup, doctor."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from daemon.paths import home_paths
from daemon.plugins import Registry
from daemon.rights.backup import BackupError, backup
from daemon.sources import SourceStore
from daemon.sync.runner import Runner
from daemon.vault import RecordIn, Vault
from daemon.vault.keyslots import KeySlots

from .conftest import ROOT, Cli
from .plugins import TOKEN, bank_api


def test_the_demo_shows_every_category_and_its_curl_commands_work(tmp_path: Path) -> None:
    env = {**os.environ, "SELFDATA_HOME": ""}
    env.pop("SELFDATA_HOME")
    proc = subprocess.Popen(
        [sys.executable, "-m", "daemon", "demo", "--home", str(tmp_path / "demo"), "--duration", "30", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while not any(line.startswith("Ctrl-C") for line in lines):
        assert time.monotonic() < deadline, lines
        line = proc.stdout.readline()
        assert line or proc.poll() is None, (lines, proc.stderr.read() if proc.stderr else "")
        lines.append(line.rstrip("\n"))
    text = "\n".join(lines)
    for source in ("demo-bank", "demo-energy", "demo-health", "demo-phone"):
        assert re.search(rf"synced {source}: [\d,]+ new records in [\d.]+ s \(ok\)", text), text
    assert "inbox: imported statement.ofx" in text
    curls = [line.strip() for line in lines if line.strip().startswith("curl ")]
    assert len(curls) == 3
    answers = [
        json.loads(subprocess.run(["bash", "-c", c], capture_output=True, text=True, check=True).stdout) for c in curls
    ]
    names = {d["name"] for d in answers[0]["datasets"]}
    assert {"bank.transaction", "energy.reading", "health.observation", "telecom.call"} <= names
    assert len(answers[1]["records"]) == 5 and answers[2]["changes"]
    home = tmp_path / "demo"
    for second in (["demo", "--home", str(home), "--duration", "1", "--port", "0"], ["--home", str(home), "run"]):
        refused = subprocess.run(
            [sys.executable, "-m", "daemon", *second], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        print(refused.stdout + refused.stderr)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert f"error: a selfdata daemon already runs for {home} (pid {proc.pid})" in refused.stderr
    assert (home / "admin.sock").exists()  # still the first demo's
    status = [sys.executable, "-m", "daemon", "--home", str(home), "status"]
    assert "running (pid" in subprocess.run(status, cwd=ROOT, env=env, capture_output=True, text=True).stdout
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0


async def test_a_backup_taken_during_a_sync_opens_with_every_committed_record(
    vault: Vault, registry: Registry, tmp_path: Path, machine_key: bytes
) -> None:
    vault.writer.upsert([RecordIn("old", "bank.transaction", f"o{i}", i, {"amount": "1.00"}) for i in range(2000)])
    async with bank_api(pages=30, per_page=50, delay_s=0.01) as api:
        SourceStore(vault).add("bank", "test-bank", "connector", {"url": api.url}, {"token": TOKEN})
        sync = asyncio.create_task(Runner(vault, registry).sync("bank"))
        while api.count("/tx") < 5:
            await asyncio.sleep(0.01)
        committed = vault.conn.execute("SELECT count(*) FROM records").fetchone()[0]
        result = await asyncio.to_thread(backup, vault, tmp_path / "backup")
        await sync
    assert result.records >= committed >= 2000
    # Restore: the folder is a vault state directory.
    restored = home_paths(tmp_path / "backup")
    master = KeySlots.load(restored.keyslots_file).unlock_machine_key(machine_key, "test")
    copy = Vault.open(restored, master)
    assert copy.integrity_errors() == []
    assert copy.conn.execute("SELECT count(*) FROM records WHERE source='old'").fetchone()[0] == 2000
    assert copy.conn.execute("SELECT count(*) FROM records").fetchone()[0] == result.records
    copy.close()
    assert oct((tmp_path / "backup" / "vault" / "vault.db").stat().st_mode & 0o777) == "0o600"
    try:
        backup(vault, tmp_path / "backup")
        raise AssertionError("a backup must not overwrite another")
    except BackupError:
        pass


def test_backup_and_doctor_commands(initialised: Path, run: Cli, tmp_path: Path) -> None:
    out = run("backup", str(tmp_path / "b")).output
    assert "Backed up 0 records" in out and (tmp_path / "b" / "vault" / "keyslots.json").exists()
    report = json.loads(run("doctor", "--json").output)
    checks = {c["check"]: c for c in report["checks"]}
    assert checks["vault"]["status"] == "ok" and checks["clock"]["status"] == "ok"
    assert checks["daemon"]["status"] == "warn"
    initialised.chmod(0o644)
    bad = run("doctor", ok=False)
    assert bad.exit_code == 1 and "chmod 600" in bad.output


@pytest.mark.timeout(420)  # two whole demo runs (their year of history), on a loaded 2-core machine
def test_a_kept_demo_home_holds_one_demo_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SELFDATA_HOME"}
    home = tmp_path / "demo"
    for _ in range(2):
        demo = [sys.executable, "-m", "daemon", "demo", "--home", str(home), "--duration", "0", "--port", "0"]
        subprocess.run(demo, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=True)
    listed = subprocess.run(
        [sys.executable, "-m", "daemon", "--home", str(home), "grants", "list", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    demo_grants = [g["status"] for g in json.loads(listed.stdout) if g["app"] == "demo app"]
    assert sorted(demo_grants) == ["approved", "revoked"]
