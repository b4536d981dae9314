"""A command never writes to a vault a live daemon holds, even when the daemon does not answer."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from daemon import daemonlock
from daemon.admin import client

from .conftest import ROOT, Cli, Daemon


def _status(api_url: str, token: str) -> int:
    host, port = api_url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", "/api/v1/datasets", headers={"Host": "localhost", "Authorization": f"Bearer {token}"})
        return conn.getresponse().status
    finally:
        conn.close()


def _break_socket(sock: Path, how: str) -> None:
    sock.unlink()
    if how == "stale":  # a socket file nobody listens on: connections are refused
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(str(sock))
        stale.close()


@pytest.mark.parametrize("how", ["removed", "stale"])
def test_revoke_without_the_admin_socket_fails_and_the_token_keeps_working(
    daemon: Daemon, home: Path, run: Cli, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    daemon.start()
    assert daemon.proc is not None
    created = daemon.cli("token", "create", "--app", "notebook", "--purpose", "explore my data", "--scope", "read:*")
    token = created.stdout.splitlines()[0]
    grant = daemon.json("grants", "list")[0]["id"]
    api = daemon.json("status")["daemon"]["api_url"]
    assert _status(api, token) == 200
    _break_socket(home / "admin.sock", how)
    monkeypatch.setattr(client, "DAEMON_WAIT_S", 0.5)

    result = run("grants", "revoke", grant, ok=False)
    assert result.exit_code == 1
    assert "Revoked" not in result.output
    assert f"the selfdata daemon (pid {daemon.proc.pid}) has the vault open" in result.output
    assert "nothing was changed" in result.output and "systemctl restart selfdata" in result.output
    assert _status(api, token) == 200  # the daemon still serves it, as its vault still says
    assert daemon.stop() == 0
    assert daemonlock.holder(home) is None
    listed = json.loads(run("grants", "list", "--json").output)  # no daemon now: the command opens the vault
    assert listed[0]["status"] == "approved"


def test_a_daemon_that_answers_late_is_waited_for(daemon: Daemon, home: Path) -> None:
    """While the lock is held and the socket is missing (a daemon starting), a command waits, then runs in it."""
    daemon.start()
    sock = home / "admin.sock"
    hidden = home / "admin.sock.hidden"
    sock.rename(hidden)
    waiting = subprocess.Popen(
        [sys.executable, "-m", "daemon", "grants", "list", "--json"],
        cwd=ROOT,
        env=daemon.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert waiting.stderr is not None
    assert "Waiting for the selfdata daemon" in waiting.stderr.readline()
    hidden.rename(sock)
    out, _ = waiting.communicate(timeout=30)
    assert waiting.returncode == 0 and json.loads(out) == []


def test_no_daemon_means_no_holder(tmp_path: Path) -> None:
    assert daemonlock.holder(tmp_path) is None
    lock = daemonlock.take(tmp_path)
    try:
        assert daemonlock.holder(tmp_path) is not None
    finally:
        lock.close()
    assert daemonlock.holder(tmp_path) is None


def test_doctor_names_the_daemon_that_does_not_answer(
    daemon: Daemon, home: Path, run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon.start()
    assert daemon.proc is not None
    _break_socket(home / "admin.sock", "removed")
    monkeypatch.setattr(client, "DAEMON_WAIT_S", 0.5)
    checks = json.loads(run("doctor", "--json", ok=False).stdout)["checks"]
    daemon_check = next(c for c in checks if c["check"] == "daemon")
    assert daemon_check["status"] == "fail" and f"pid {daemon.proc.pid}" in daemon_check["detail"]
