"""Talking to a running daemon over its admin socket (blocking: the CLI is synchronous)."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from ..errors import SelfdataError

CONNECT_TIMEOUT_S = 2.0
# How long a command waits for a daemon that holds the vault but does not answer yet: a
# daemon starting checks the vault's pages before it listens (about 4 s a million records).
DAEMON_WAIT_S = 15.0
RETRY_S = 0.25


class RemoteError(SelfdataError):
    """The daemon ran the operation and it failed; the message is the daemon's."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class DaemonUnreachable(SelfdataError):
    """A daemon holds the vault but does not answer on its admin socket; nothing was run."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float | None) -> None:
        super().__init__("selfdata-admin", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(CONNECT_TIMEOUT_S)
        try:
            sock.connect(str(self.socket_path))
        except OSError:
            sock.close()
            raise
        sock.settimeout(self.timeout)
        self.sock = sock


def daemon_running(sock: Path) -> bool:
    """A live daemon answers on the socket; a stale socket file refuses the connection."""
    if not sock.exists():
        return False
    try:
        call(sock, "ping", {}, timeout=CONNECT_TIMEOUT_S)
        return True
    except (OSError, RemoteError, http.client.HTTPException):
        return False


def reach(sock: Path, holder: Callable[[], str | None], on_wait: Callable[[str], None] | None = None) -> bool:
    """Whether a daemon answers on `sock`: True when one does, False when none runs (nobody
    holds the daemon's lock), waiting up to DAEMON_WAIT_S for one that holds it to answer.

    Raises DaemonUnreachable when the daemon holding the lock never answers: a command must
    then neither run in the daemon nor open the vault beside it."""
    if daemon_running(sock):
        return True
    pid = holder()
    if pid is None:
        return False
    if on_wait is not None:
        on_wait(pid)
    deadline = time.monotonic() + DAEMON_WAIT_S
    while time.monotonic() < deadline:
        time.sleep(RETRY_S)
        if daemon_running(sock):
            return True
        if holder() is None:
            return False  # it stopped meanwhile: the vault is free
    raise DaemonUnreachable(
        f"the selfdata daemon (pid {pid}) has the vault open but does not answer on its admin socket {sock}, "
        "so this command did not run and nothing was changed (a command never writes to a vault the daemon "
        "holds: the daemon would not see it). If the daemon is starting, try again in a moment; otherwise "
        f"restart it: systemctl restart selfdata, or stop `selfdata run` (kill {pid}) and start it again"
    )


def call(
    sock: Path,
    name: str,
    params: dict[str, Any],
    *,
    upload: Path | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    timeout: float | None = None,
) -> Any:
    conn = _UnixConnection(sock, timeout)
    headers = {"X-Selfdata-Params": orjson.dumps(params).decode()}
    try:
        if upload is not None:
            headers["X-Selfdata-Upload"] = upload.name
            headers["Content-Length"] = str(upload.stat().st_size)
            with upload.open("rb") as body:
                conn.request("POST", f"/ops/{name}", body=body, headers=headers)
        else:
            conn.request("POST", f"/ops/{name}", headers=headers)
        response = conn.getresponse()
        if response.status != 200:
            raise RemoteError("OperationError", f"the daemon answered HTTP {response.status}")
        for line in response:
            msg = orjson.loads(line)
            if "event" in msg:
                if on_event is not None:
                    on_event(msg["event"])
            elif "result" in msg:
                return msg["result"]
            elif "error" in msg:
                raise RemoteError(msg["error"]["type"], msg["error"]["message"])
        raise RemoteError("OperationError", "the daemon closed the connection before answering")
    finally:
        conn.close()
