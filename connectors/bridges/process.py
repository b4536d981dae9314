"""A program a bridge runs: its stdout read line by line, its stderr kept redacted, killed when the run ends.

The child gets a session of its own, so killing it also ends what it started (a tap that
runs a helper). Lines are read one at a time: memory stays bounded whatever the child sends.
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
from collections.abc import AsyncIterator, Callable, Mapping, Sequence

from ..sdk.context import ConnectorLog, redact
from ..sdk.errors import Fatal

LINE_LIMIT = 64 * 1024 * 1024  # one message; a bigger one is a tap's fault, said as such
STDERR_KEPT = 20


# What a child may see of the daemon's environment: never its key file or systemd credentials.
PASSED_ENV = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in PASSED_ENV}
    env.setdefault("PATH", os.defpath)
    env["PYTHONUNBUFFERED"] = "1"  # a Python tap's lines arrive as written, not at exit
    env.update(extra or {})
    return env


class LineTooLong(Fatal):
    pass


class IdleTimeout(Exception):
    """The child sent nothing on stdout for the idle time."""


class ChildProcess:
    def __init__(
        self,
        argv: Sequence[str],
        *,
        what: str,
        log: ConnectorLog,
        secrets: Callable[[], Sequence[str]],
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> None:
        self.argv = list(argv)
        self.what = what  # "the tap tap-github", for messages
        self.log = log
        self._secrets = secrets
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.proc: asyncio.subprocess.Process | None = None
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_KEPT)
        self._stderr_task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    async def start(self, stdin: bytes | None = None) -> None:
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self.env,
                cwd=self.cwd,
                limit=LINE_LIMIT,
                start_new_session=True,
            )
        except OSError as err:
            raise Fatal(f"{self.what} cannot be started: {err.strerror or err} ({self.argv[0]})") from None
        self._stderr_task = asyncio.create_task(self._read_stderr())
        if stdin is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(stdin)
            try:
                await self.proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.proc.stdin.close()

    def redacted(self, text: str) -> str:
        return redact(text, self._secrets())

    async def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while True:
            try:
                raw = await self.proc.stderr.readline()
            except ValueError:  # a line over the limit: skip what is buffered
                continue
            if not raw:
                return
            line = self.redacted(raw.decode("utf-8", "replace").rstrip("\r\n"))
            if line.strip():
                self.stderr_tail.append(line[:500])
                self.log.debug("%s: %s", self.what, line)

    async def lines(self, idle_timeout_s: float) -> AsyncIterator[tuple[int, bytes]]:
        """(line number from 1, line) of stdout until it closes."""
        assert self.proc is not None and self.proc.stdout is not None
        number = 0
        while True:
            try:
                async with asyncio.timeout(idle_timeout_s):
                    raw = await self.proc.stdout.readline()
            except TimeoutError:
                raise IdleTimeout() from None
            except ValueError:
                raise LineTooLong(
                    f"{self.what} sent a line over {LINE_LIMIT // (1024 * 1024)} MiB at line {number + 1}"
                ) from None
            if not raw:
                return
            number += 1
            yield number, raw

    async def read_all(self, timeout_s: float, limit: int = LINE_LIMIT) -> bytes:
        """All of stdout (discovery's catalog), within `timeout_s`."""
        assert self.proc is not None and self.proc.stdout is not None
        async with asyncio.timeout(timeout_s):
            data = await self.proc.stdout.read(limit + 1)
        if len(data) > limit:
            raise Fatal(f"{self.what} sent more than {limit // (1024 * 1024)} MiB")
        return data

    async def wait(self, timeout_s: float = 30.0) -> int:
        """The exit code once stdout has closed (negative: killed by that signal)."""
        assert self.proc is not None
        async with asyncio.timeout(timeout_s):
            code = await self.proc.wait()
        if self._stderr_task is not None:
            await asyncio.wait([self._stderr_task], timeout=5)
        return code

    def last_stderr(self, lines: int = 3) -> str:
        tail = list(self.stderr_tail)[-lines:]
        return " | ".join(tail)

    async def close(self) -> None:
        """Kill the child and what it started, if still running; reap it. Safe to call twice."""
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            except PermissionError:
                proc.kill()
            try:
                await asyncio.shield(asyncio.wait_for(proc.wait(), 10))
            except (TimeoutError, asyncio.CancelledError):
                pass
        if self._stderr_task is not None and not self._stderr_task.done():
            self._stderr_task.cancel()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.feed_eof()
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()
