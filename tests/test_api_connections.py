"""The API's connections: deadlines for headers, bodies and idle keep-alive, the connection
cap, running out of descriptors, and an idle flood under a 1,024-descriptor limit."""

from __future__ import annotations

import asyncio
import errno
import http.client
import json
import logging
import os
import re
import resource
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from daemon import server
from daemon.api import listener, security
from daemon.config import Config
from daemon.grants import GrantStore
from daemon.plugins import Registry
from daemon.services import DaemonInfo, Services
from daemon.vault import Vault
from daemon.vault.keysources import Unlocked

from .conftest import ROOT, Daemon

HEALTH = b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


@asynccontextmanager
async def api_on_tcp(vault: Vault, registry: Registry) -> AsyncIterator[tuple[str, int]]:
    """The real API served as `selfdata run` serves it, on a free loopback port."""
    config = Config(paths=vault.paths, api_port=0)
    svc = Services(vault.paths, config, vault, Unlocked(vault._master, None, "test"), registry)  # type: ignore[arg-type]
    svc.events.bind(asyncio.get_running_loop())
    svc.daemon = DaemonInfo()
    runner = await server._start_api(svc)
    assert svc.daemon.api_url is not None
    host, port = re.fullmatch(r"http://(.+):(\d+)", svc.daemon.api_url).groups()  # type: ignore[union-attr]
    try:
        yield host, int(port)
    finally:
        await runner.cleanup()


async def talk(address: tuple[str, int], *chunks: bytes, pause_s: float = 0.0) -> bytes:
    """Send the chunks (pausing between them) and read what comes back until the server closes."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(pause_s)
        return await asyncio.wait_for(reader.read(), 5)
    except ConnectionError:  # the server closed while we were still sending
        return b"<reset>"
    finally:
        writer.close()


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listener, "HEAD_S", 0.3)
    monkeypatch.setattr(security, "BODY_S", 0.3)
    monkeypatch.setattr(server, "API_KEEPALIVE_S", 0.3)
    monkeypatch.setattr(server, "API_LINGER_S", 0.1)


@pytest.mark.parametrize(
    "chunks",
    [
        [],  # connects and says nothing
        [b"GET /api/v1/hea"],  # half a request line
        [b"GET /api/v1/health HTTP/1.1\r\n", b"Host: local", b"host\r\n", b"X-A: 1\r\n"],  # headers, slowly
    ],
)
async def test_a_request_head_that_does_not_arrive_in_time_gets_408_and_is_closed(
    vault: Vault, registry: Registry, quick: None, chunks: list[bytes]
) -> None:
    async with api_on_tcp(vault, registry) as address:
        answer = await talk(address, *chunks, pause_s=0.15)
    # Closed with a 408, or reset if the client was still sending when it was closed.
    assert answer == b"<reset>" or answer.startswith(b"HTTP/1.1 408") and b'"request_timeout"' in answer, answer


async def test_a_declared_body_that_does_not_arrive_gets_408_and_is_closed(
    vault: Vault, registry: Registry, quick: None
) -> None:
    head = (
        b"POST /api/v1/grants HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n"
    )
    async with api_on_tcp(vault, registry) as address:
        answer = await talk(address, head + b'{"app": ')
    assert answer.startswith(b"HTTP/1.1 408") and b'"body_timeout"' in answer, answer


async def test_an_idle_keep_alive_connection_is_closed(vault: Vault, registry: Registry, quick: None) -> None:
    async with api_on_tcp(vault, registry) as address:
        answer = await talk(address, b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
    # The answer, then the server closes the idle connection (read() returns at its EOF).
    assert answer.startswith(b"HTTP/1.1 200") and answer.count(b"HTTP/1.1") == 1


async def test_past_the_cap_a_new_connection_replaces_one_waiting_for_its_client_or_gets_503(
    vault: Vault, registry: Registry, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(listener, "MAX_CONNECTIONS", 8)
    caplog.set_level(logging.INFO, logger="selfdata.api")
    grants = GrantStore(vault, vault._master.secrets_key)
    _, token = grants.create_token("dashboard", "show my heart rate", ["read:health.*"])
    post = (
        b"POST /api/v1/grants HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: 50\r\n\r\n{"
    )
    stream = f"GET /api/v1/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    async with api_on_tcp(vault, registry) as address:
        # Four that sent nothing and four whose declared body never comes: each new connection
        # takes the place of the oldest of them, which is answered 503 and closed.
        waiting = [await asyncio.open_connection(*address) for _ in range(8)]
        for _, writer in waiting[4:]:
            writer.write(post)
        await asyncio.sleep(0.2)
        newcomers = [await asyncio.open_connection(*address) for _ in range(8)]
        for reader, writer in waiting:
            assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 503")
            writer.close()
        for reader, writer in newcomers:
            writer.write(HEALTH)
            assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 200")
            writer.close()
        # Eight event streams are busy, not waiting: a ninth connection is refused at once.
        streams = [await asyncio.open_connection(*address) for _ in range(8)]
        for _, writer in streams:
            writer.write(stream)
        await asyncio.sleep(0.2)
        refused = await talk(address, HEALTH)
        assert refused.startswith(b"HTTP/1.1 503") and b"Retry-After: 1" in refused and b"nosniff" in refused
        for _, writer in streams:
            writer.close()
        await asyncio.sleep(0.2)
        assert (await talk(address, HEALTH)).startswith(b"HTTP/1.1 200")
    # Each time the limit is reached: one line when it starts, one when it ends, no traceback.
    said = [r.getMessage() for r in caplog.records if r.name == "selfdata.api"]
    kinds = ["full" if "its limit:" in m else "again" if "limit again" in m else m for m in said]
    assert kinds == ["full", "again", "full", "again"], said
    assert not any(r.exc_info for r in caplog.records)


class _Starved(socket.socket):
    """A listening socket whose first accepts fail as when the process has no descriptor left."""

    failures = 0

    def accept(self) -> tuple[socket.socket, Any]:
        if _Starved.failures > 0:
            _Starved.failures -= 1
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
        return super().accept()


async def test_running_out_of_descriptors_pauses_accepting_logged_once(
    vault: Vault, registry: Registry, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def starved(host: str, port: int) -> list[socket.socket]:
        return [_Starved(s.family, s.type, s.proto, fileno=s.detach()) for s in listener.tcp_sockets(host, port)]

    monkeypatch.setattr(server, "tcp_sockets", starved)
    monkeypatch.setattr(listener, "ACCEPT_RETRY_S", 0.05)
    _Starved.failures = 5
    caplog.set_level(logging.INFO, logger="selfdata.api")
    async with api_on_tcp(vault, registry) as address:
        assert (await talk(address, HEALTH)).startswith(b"HTTP/1.1 200")
        assert _Starved.failures == 0
        assert (await talk(address, HEALTH)).startswith(b"HTTP/1.1 200")
    said = [r.getMessage() for r in caplog.records if r.name == "selfdata.api"]
    assert sum("cannot accept connections: Too many open files" in m for m in said) == 1, said
    assert sum("accepts connections again" in m for m in said) == 1, said
    assert not any(r.exc_info for r in caplog.records)


def test_the_cap_stays_under_the_descriptor_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    for soft, cap in [(1024, 256), (512, 192), (200, 36), (64, 8)]:
        monkeypatch.setattr(listener, "descriptor_limit", lambda soft=soft: soft)
        assert listener.connection_cap() == cap


@contextmanager
def descriptors(wanted: int) -> Iterator[None]:
    """Let this process hold `wanted` descriptors for the flood, then give the limit back."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the flood needs {wanted} descriptors; this machine allows {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _limit_to_1024() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))  # systemd's default


def test_an_idle_flood_under_1024_descriptors_leaves_health_answering(env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"
    with log.open("wb") as err, descriptors(1400):
        proc = subprocess.Popen(
            [sys.executable, "-m", "daemon", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            preexec_fn=_limit_to_1024,
        )
        flood: list[socket.socket] = []
        try:
            assert proc.stdout is not None
            found = re.search(r"API at http://127\.0\.0\.1:(\d+)\.", proc.stdout.readline())
            assert found, log.read_text()
            port = int(found.group(1))
            for _ in range(1100):
                flood.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            for _ in range(3):
                client = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                client.request("GET", "/api/v1/health")
                answer = client.getresponse()
                assert answer.status == 200 and b'"ok":true' in answer.read()
                client.close()
            # The admin socket answers too, and descriptors are left for the vault and the rest.
            status = subprocess.run(
                [sys.executable, "-m", "daemon", "status"], cwd=ROOT, env=env, capture_output=True, timeout=60
            )
            assert status.returncode == 0, status.stderr
            assert len(os.listdir(f"/proc/{proc.pid}/fd")) < 1024 - listener.RESERVED_FDS
            assert proc.poll() is None
        finally:
            for sock in flood:
                sock.close()
            proc.terminate()
            assert proc.wait(30) == 0
    text = log.read_text()
    assert len(text) < 10_000 and "Traceback" not in text, text[:3000]
    assert text.count("its limit") == 1


def test_malformed_requests_are_logged_in_one_line_that_does_not_echo_them(daemon: Daemon) -> None:
    daemon.start()
    port = int(daemon.json("status")["daemon"]["api_url"].rsplit(":", 1)[1])
    for raw in (
        b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nBad Header MARKER: x\r\n\r\n",
        b"GET /api/v1/MARKER\x01 HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nContent-Length: MARKER\r\n\r\n",
    ):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(raw)
            assert sock.recv(4096).startswith(b"HTTP/1.")
    assert daemon.stop() == 0
    assert daemon.proc is not None and daemon.proc.stderr is not None
    log = daemon.proc.stderr.read()
    lines = [json.loads(line) for line in log.splitlines()]  # one JSON object a line, nothing else
    said = [line for line in lines if line["logger"] == "selfdata.api.http"]
    # The first is said; the next ones within the minute are counted for the next such line.
    assert [(s["level"], s["msg"]) for s in said] == [
        ("warning", "refused a malformed HTTP request from 127.0.0.1: Invalid header token (HTTP 400)")
    ]
    assert "MARKER" not in log and "Traceback" not in log
