"""`selfdata run` as a user runs it: a real process, its admin socket, signals, kill -9."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from . import plugins as test_plugins
from .conftest import ROOT, Daemon, threaded
from .plugins import TOKEN, bank_api, expected_bank


def test_notify_protocol_watchdog_and_clean_stop(daemon: Daemon, tmp_path: Path) -> None:
    notify = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify))
    sock.settimeout(10)
    daemon.env.update({"NOTIFY_SOCKET": str(notify), "WATCHDOG_USEC": "200000"})
    daemon.start(wait=False)
    messages: list[str] = []
    while not any("READY=1" in m for m in messages):
        messages.append(sock.recv(4096).decode())
    while sum("WATCHDOG=1" in m for m in messages) < 3:
        messages.append(sock.recv(4096).decode())
    assert any("STATUS=serving" in m for m in messages)
    assert daemon.stop() == 0
    sock.settimeout(2)
    rest = []
    try:
        while True:
            rest.append(sock.recv(4096).decode())
    except TimeoutError:
        pass
    assert any("STOPPING=1" in m for m in rest)
    sock.close()
    assert not (daemon.home / "admin.sock").exists()


def test_commands_go_through_the_daemon_which_needs_no_key(daemon: Daemon, tmp_path: Path, home: Path) -> None:
    daemon.start()
    (tmp_path / "machine.key").rename(tmp_path / "elsewhere.key")  # the CLI could not unlock by itself now
    status = daemon.json("status")
    assert status["daemon"]["running"] and status["daemon"]["pid"] == daemon.proc.pid  # type: ignore[union-attr]
    assert "running (pid" in daemon.cli("status").stdout
    lines = tmp_path / "s.txt"
    test_plugins.write_lines(lines, [("k1", "2026-01-01T00:00:00+00:00", "-1.00")])
    assert "1 new" in daemon.cli("import", str(lines)).stdout
    assert daemon.json("query", "bank.transaction")["records"][0]["key"] == "k1"
    second = daemon.cli("run", ok=False)
    assert second.returncode == 1 and "already runs" in second.stderr
    assert daemon.stop() == 0
    offline = daemon.cli("status", ok=False)
    assert offline.returncode == 1 and "could not unlock" in offline.stderr


def test_sync_through_the_daemon_streams_and_reports(daemon: Daemon) -> None:
    with threaded(bank_api(pages=4, per_page=5)) as api:
        daemon.start()
        daemon.cli("source", "add", "bank", "test-bank", "--set", f"url={api.url}", "--set", f"token={TOKEN}")
        out = daemon.cli("sync", "bank").stdout
        assert "bank: " in out and "deleted" in out
        runs = daemon.json("runs", "bank")
        assert runs[0]["status"] == "ok"
        assert len(daemon.json("query", "bank.transaction", "--limit", "1000")["records"]) == 20


def _records(daemon: Daemon, source: str) -> dict[str, str]:
    page = daemon.json("query", "bank.transaction", "--source", source, "--limit", "100000")
    return {r["key"]: r["data"]["amount"] for r in page["records"]}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_mid_sync_then_restart_resumes_and_loses_nothing(daemon: Daemon, seed: int) -> None:
    pages, per_page = 40, 20
    with threaded(bank_api(pages=pages, per_page=per_page, delay_s=0.05)) as api:
        daemon.start()
        daemon.cli(
            "source",
            "add",
            "bank",
            "test-bank",
            "--set",
            f"url={api.url}",
            "--set",
            f"token={TOKEN}",
            "--schedule",
            "every 6h",
        )
        # The scheduler starts the new source at once; kill the daemon somewhere in the middle.
        deadline = time.monotonic() + 20
        while api.count("/tx") < 4:  # check() and three pages
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(random.Random(seed).uniform(0.0, 0.6))
        before = api.count("/tx")
        assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
        assert before < pages, "the sync finished before the kill"
        daemon.start()
        deadline = time.monotonic() + 30
        while True:
            runs = daemon.json("runs", "bank")
            if runs and runs[0]["status"] == "ok":
                break
            assert time.monotonic() < deadline, runs
            time.sleep(0.05)
        statuses = [r["status"] for r in runs]
        assert statuses == ["ok", "interrupted"]
        assert _records(daemon, "bank") == expected_bank(pages, per_page)
        # Resumed from the checkpoint: pages before it were not fetched again (one page may be).
        assert api.count("/tx") <= pages + 2 + 1


def test_cli_commands_and_the_daemon_at_once(daemon: Daemon) -> None:
    with threaded(bank_api(pages=15, per_page=30, delay_s=0.01)) as api:
        daemon.start()
        for name in ("a", "b"):
            daemon.cli(
                "source",
                "add",
                name,
                "test-bank",
                "--set",
                f"url={api.url}",
                "--set",
                f"token={TOKEN}",
                "--schedule",
                "hourly",
            )
        base = [sys.executable, "-m", "daemon"]
        commands = [
            [*base, "sync", "b"],
            [*base, "source", "edit", "a", "--schedule", "daily", "--no-check"],
            [*base, "query", "bank.transaction", "--limit", "50", "--json"],
            [*base, "status", "--json"],
        ]
        procs = [
            subprocess.Popen(c, cwd=ROOT, env=daemon.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for c in commands
        ]
        outputs = [p.communicate(timeout=60) for p in procs]
        for p, (out, err) in zip(procs, outputs, strict=True):
            assert p.returncode == 0, out + err
            assert "database is locked" not in out + err
        deadline = time.monotonic() + 30
        while any(r["status"] != "ok" for r in daemon.json("runs")) or len(daemon.json("runs")) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert _records(daemon, "a") == _records(daemon, "b") == expected_bank(15, 30)
        assert daemon.json("source", "show", "a")["schedule"] == "daily"


def test_status_lines_say_what_the_daemon_is_doing(daemon: Daemon, tmp_path: Path) -> None:
    notify = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify))
    sock.settimeout(30)
    daemon.env["NOTIFY_SOCKET"] = str(notify)
    with threaded(bank_api(pages=3, per_page=5, delay_s=0.05)) as api:
        daemon.start()
        daemon.cli(
            "source",
            "add",
            "bank",
            "test-bank",
            "--set",
            f"url={api.url}",
            "--set",
            f"token={TOKEN}",
            "--schedule",
            "hourly",
        )
        messages: list[str] = []
        while not any("STATUS=idle; last run: bank ok" in m for m in messages):
            messages.append(sock.recv(4096).decode())
    assert any("STATUS=syncing bank" in m for m in messages)
    sock.close()


def test_a_taken_port_names_its_holder_and_the_setting_before_anything_starts(daemon: Daemon, home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = home / "config.toml"
        config.write_text(config.read_text().replace("port = 0", f"port = {port}"))
        result = daemon.cli("run", ok=False)
    print(result.stderr)
    assert result.returncode == 1
    assert f"the API cannot listen on 127.0.0.1:{port}: the port is in use by pid {os.getpid()} (" in result.stderr
    assert f"api.port in {config}" in result.stderr and "Errno" not in result.stderr
    assert not (home / "inbox").exists()  # the inbox watcher never started
    assert not (home / "admin.sock").exists()
