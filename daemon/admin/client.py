"""Talking to a running daemon over its admin socket (blocking: the CLI is synchronous)."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from ..errors import SelfdataError

CONNECT_TIMEOUT_S = 2.0


class RemoteError(SelfdataError):
    """The daemon ran the operation and it failed; the message is the daemon's."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


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
