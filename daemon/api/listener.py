"""The API's listening sockets, with the limits aiohttp's server leaves out.

aiohttp closes a connection that stays idle between requests (`keepalive_timeout`, set by
`selfdata run`), but before 3.14 not one that never sends a request, and nothing bounds
how many connections are open. Under the usual limit of 1,024 file descriptors an idle
flood then starved the daemon, and asyncio's accept loop logged a traceback for every
refused accept. So the API is served from its own accept loop:

- a new connection must send its first request line and headers within `HEAD_S`, or it
  gets 408 and is closed (later requests are aiohttp's: idle longer than its keep-alive
  timeout, a half-sent request head included, closes the connection);
- at most `connection_cap()` connections are open: a new one replaces the oldest that is
  waiting for its client (no request yet, or a body still to come; `awaiting_client`),
  or, when every one is busy, is answered 503 and closed;
- running out of descriptors (EMFILE) pauses accepting for a second;

each of the last two is logged once when it starts and once when it ends. What aiohttp
itself logs about requests it cannot parse goes through `HttpLog`: one line, without the
request's bytes.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import re
import resource
import socket
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger("selfdata.api")

HEAD_S = 10.0
MAX_CONNECTIONS = 256
RESERVED_FDS = 128  # kept for the vault, the inbox, connectors' requests, the admin socket
ACCEPT_RETRY_S = 1.0
ACCEPT_BATCH = 64
MALFORMED_EVERY_S = 60.0  # at most one line this often about malformed requests
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def _answer(status: str, code: str, message: str, extra: str = "") -> bytes:
    body = f'{{"ok":false,"error":{{"code":"{code}","message":"{message}"}}}}'.encode()
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n{extra}\r\n"
    )
    return head.encode() + body


BUSY = _answer("503 Service Unavailable", "busy", "too many open connections; try again", "Retry-After: 1\r\n")
SLOW = _answer("408 Request Timeout", "request_timeout", "the request headers did not arrive in time")


def descriptor_limit() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def connection_cap(limit: int | None = None) -> int:
    """At most `limit` (MAX_CONNECTIONS) connections, and always well under the descriptors
    the process may open, so the vault, the inbox and the connectors keep theirs."""
    wanted = MAX_CONNECTIONS if limit is None else limit
    soft = descriptor_limit()
    return wanted if soft is None else max(8, min(wanted, (soft - RESERVED_FDS) // 2))


class ConnectionGuard:
    """What the API's sockets share: the open connections against the cap, and the log lines
    said once when the limit is reached or accepting stops, and once when that ends.

    At the cap, a new connection takes the place of the oldest one that is waiting for its
    client: it has not sent its request, or not the body it declared (a flood of either
    holds nothing); when every connection is busy it gets 503."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.open = 0
        self.turned_away = 0
        self.waiting: OrderedDict[_Connection, None] = OrderedDict()  # waiting for the client, oldest first
        self._full = False
        self._starved = False

    def admit(self) -> bool:
        if self._starved:
            self._starved = False
            log.info("the API accepts connections again (file descriptors are free)")
        if self.open >= self.cap:
            self._at_limit()
            if not self.waiting:
                return False
            oldest, _ = self.waiting.popitem(last=False)
            oldest.close(BUSY)
        self.open += 1
        return True

    def _at_limit(self) -> None:
        self.turned_away += 1
        if not self._full:
            self._full = True
            log.warning(
                "the API has %d connections open, its limit: new ones replace the oldest waiting for its "
                "client, or are refused (503) when every one is busy",
                self.cap,
            )

    def closed(self) -> None:
        self.open -= 1
        if self._full and self.open <= self.cap * 3 // 4:
            self._full = False
            log.info(
                "the API is below its connection limit again (%d open; %d connection(s) closed or refused meanwhile)",
                self.open,
                self.turned_away,
            )
            self.turned_away = 0

    def starved(self, err: OSError) -> None:
        if not self._starved:
            self._starved = True
            log.warning(
                "the API cannot accept connections: %s (%d open here; the process may open %s files); "
                "retrying every %.0f s",
                err.strerror,
                self.open,
                descriptor_limit() or "unlimited",
                ACCEPT_RETRY_S,
            )


class _Connection(asyncio.Protocol):
    """One accepted connection: aiohttp's handler, with a deadline for its first request head."""

    def __init__(self, inner: asyncio.Protocol, guard: ConnectionGuard, head_s: float) -> None:
        self.inner = inner
        self.guard = guard
        self.head_s = head_s
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.tail = b""
        self.counted = True  # in guard.open until it closes

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.timer = asyncio.get_running_loop().call_later(self.head_s, self.close, SLOW)
        self.guard.waiting[self] = None
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.timer is not None:
            seen = self.tail + data
            if b"\r\n\r\n" in seen or b"\n\n" in seen:
                self._head_seen()
            else:
                self.tail = seen[-3:]
        self.inner.data_received(data)

    def _head_seen(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.guard.waiting.pop(self, None)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_seen()
        self._uncount()
        self.inner.connection_lost(exc)

    def close(self, answer: bytes) -> None:
        """Answer (408 or 503) and close a connection waiting for its client."""
        self._head_seen()
        self._uncount()  # its descriptor is being given back
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()

    def _uncount(self) -> None:
        if self.counted:
            self.counted = False
            self.guard.closed()


@contextmanager
def awaiting_client(transport: asyncio.BaseTransport | None) -> Iterator[None]:
    """While a handler waits for the client to send (a request body), the connection may be
    closed to make room at the cap, as one that has not sent its request may."""
    conn = transport.get_protocol() if transport is not None else None
    if not isinstance(conn, _Connection) or not conn.counted:
        yield
        return
    conn.guard.waiting[conn] = None
    try:
        yield
    finally:
        conn.guard.waiting.pop(conn, None)


class GuardedSite(web.BaseSite):
    """An aiohttp site on listening sockets we accept from ourselves (see the module's doc)."""

    def __init__(
        self,
        runner: web.BaseRunner,
        sockets: list[socket.socket],
        guard: ConnectionGuard,
        *,
        head_s: float | None = None,
        backlog: int = 128,
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self.sockets = sockets
        self.guard = guard
        self.head_s = HEAD_S if head_s is None else head_s
        self._app_runner = runner
        self._tasks: set[asyncio.Task[Any]] = set()
        self._retry: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def name(self) -> str:
        address = self.sockets[0].getsockname()
        if self.sockets[0].family == socket.AF_UNIX:
            return f"http://unix:{address}:"
        host = f"[{address[0]}]" if ":" in address[0] else address[0]
        return f"http://{host}:{address[1]}"

    async def start(self) -> None:
        await super().start()
        self._loop = asyncio.get_running_loop()
        for sock in self.sockets:
            sock.setblocking(False)
            sock.listen(self._backlog)
        self._listen()

    def _listen(self) -> None:
        assert self._loop is not None
        self._retry = None
        for sock in self.sockets:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _accept(self, sock: socket.socket) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as err:
                if err.errno not in _OUT_OF_RESOURCES:
                    log.warning("the API could not accept a connection: %s", err)
                    return
                self.guard.starved(err)
                self._pause()
                return
            conn.setblocking(False)
            if not self.guard.admit():
                try:
                    conn.send(BUSY)
                except OSError:
                    pass
                conn.close()
                continue
            task = asyncio.ensure_future(self._serve(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _pause(self) -> None:
        """Stop watching the sockets for a while: the kernel keeps new connections queued."""
        assert self._loop is not None
        for sock in self.sockets:
            self._loop.remove_reader(sock.fileno())
        if self._retry is None:
            self._retry = self._loop.call_later(ACCEPT_RETRY_S, self._listen)

    async def _serve(self, conn: socket.socket) -> None:
        assert self._loop is not None
        server = self._app_runner.server
        if server is None:  # stopping
            conn.close()
            self.guard.closed()
            return
        made: list[_Connection] = []

        def protocol() -> _Connection:
            made.append(_Connection(server(), self.guard, self.head_s))
            return made[0]

        try:
            await self._loop.connect_accepted_socket(protocol, sock=conn)
        except OSError:
            conn.close()
            if made:
                made[0]._uncount()
            else:
                self.guard.closed()

    async def stop(self) -> None:
        if self._loop is not None:
            if self._retry is not None:
                self._retry.cancel()
            for sock in self.sockets:
                self._loop.remove_reader(sock.fileno())
        for sock in self.sockets:
            sock.close()
        await super().stop()


def tcp_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound (not yet listening) sockets for every address `host` names, on one port."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:  # one port for every address, the first one's
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def unix_socket(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
    except OSError:
        sock.close()
        raise
    return sock


class HttpLog(logging.LoggerAdapter[logging.Logger]):
    """The logger aiohttp's server writes to. A request it cannot parse becomes one warning,
    naming the client and the kind of fault but not echoing the request (aiohttp's own text
    quotes it), at most one every MALFORMED_EVERY_S with a count of the others; anything
    else is passed on as it is."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("selfdata.api.http"), {})
        self._quiet_until = 0.0
        self._unsaid = 0

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        error = kwargs.get("exc_info")
        if not isinstance(error, HttpProcessingError):
            self.logger.log(level, msg, *args, **kwargs)
            return
        if level < logging.WARNING:
            return  # aiohttp's debug lines (non-HTTP bytes on the port)
        now = time.monotonic()
        if now < self._quiet_until:
            self._unsaid += 1
            return
        self._quiet_until = now + MALFORMED_EVERY_S
        client = args[0] if args else "?"
        kind = re.match(r"[A-Za-z][A-Za-z0-9 -]{0,60}", error.message.split("\n", 1)[0] if error.message else "")
        more = f"; {self._unsaid} more since the last such line" if self._unsaid else ""
        self._unsaid = 0
        self.logger.warning(
            "refused a malformed HTTP request from %s: %s (HTTP %s)%s",
            client,
            kind.group(0).strip() if kind else type(error).__name__,
            error.code,
            more,
        )
