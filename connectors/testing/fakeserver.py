"""Fake vendor servers on loopback: a real aiohttp server, with request counting and faults."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Fault:
    status: int
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    path_prefix: str = ""
    when: Callable[[web.Request], bool] | None = None


class FakeServer:
    """Serves `app` on 127.0.0.1 at a free port. `url` is its base URL once started.

    `fail(status, times, headers)` makes the next matching requests answer `status`, as a
    vendor under load or with revoked credentials would.
    """

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.requests: list[web.Request] = []
        self.faults: list[Fault] = []
        self._runner: web.AppRunner | None = None
        self.url = ""
        app.middlewares.insert(0, self._middleware)

    def fail(
        self,
        status: int,
        times: int = 1,
        *,
        headers: dict[str, str] | None = None,
        body: str = "",
        path_prefix: str = "",
        when: Callable[[web.Request], bool] | None = None,
    ) -> None:
        """Answer `status` to the next `times` requests under `path_prefix` (and matching `when`)."""
        self.faults.append(Fault(status, times, headers or {}, body, path_prefix, when))

    def count(self, path_prefix: str = "") -> int:
        return sum(1 for r in self.requests if r.path.startswith(path_prefix))

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append(request)
        for fault in self.faults:
            if (
                fault.times > 0
                and request.path.startswith(fault.path_prefix)
                and (fault.when is None or fault.when(request))
            ):
                fault.times -= 1
                return web.Response(status=fault.status, headers=fault.headers, text=fault.body)
        return await handler(request)

    async def start(self) -> FakeServer:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeServer:
        return await self.start()

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()
