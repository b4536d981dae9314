"""The SDK's HTTP helper: whole bodies, error translation, Retry-After, no secrets in messages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiohttp import web

from connectors.sdk import AuthFailed, Fatal, Http, Retryable, parse_retry_after
from connectors.testing.fakeserver import FakeServer

SENT = web.AppKey("sent", dict)


def app() -> FakeServer:
    big = b"x" * 3_000_000

    async def large(request: web.Request) -> web.Response:
        return web.Response(body=big)

    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html>login</html>", content_type="text/html")

    sent = {"bytes": 0}

    async def runaway(request: web.Request) -> web.StreamResponse:
        # 300 MB, announced (Content-Length) or not (chunked): counted as it is written
        resp = web.StreamResponse()
        if request.query.get("announce"):
            resp.content_length = 300 * 1024 * 1024
        await resp.prepare(request)
        block = b"y" * 1024 * 1024
        try:
            for _ in range(300):
                await resp.write(block)
                sent["bytes"] += len(block)
        except (ConnectionResetError, RuntimeError):
            pass
        return resp

    a = web.Application()
    a[SENT] = sent
    a.router.add_get("/runaway", runaway)
    a.router.add_get("/large", large)
    a.router.add_get("/html", html)
    return FakeServer(a)


async def test_large_bodies_are_read_whole() -> None:
    async with app() as server, Http() as http:
        resp = await http.request("GET", f"{server.url}/large")
        assert len(resp.body) == 3_000_000


async def test_oversized_bodies_are_refused() -> None:
    async with app() as server, Http(max_body=1_000_000) as http:
        with pytest.raises(Fatal, match="more than 1000000 bytes"):
            await http.request("GET", f"{server.url}/large")


@pytest.mark.parametrize("announce", ["1", ""])
async def test_a_runaway_answer_is_cut_at_the_default_limit(announce: str) -> None:
    """A 300 MB answer used to be read up to 256 MiB (the daemon went from 81 to 362 MB)."""
    fake = app()
    async with fake as server, Http() as http:
        with pytest.raises(Fatal, match=r"more than 33554432 bytes .*nothing of it was kept"):
            await http.request("GET", f"{server.url}/runaway?announce={announce}")
        # The client stopped reading: the server's writes wait on a full socket, far short of 300 MB.
        assert fake.app[SENT]["bytes"] < (8 if announce else 48) * 1024 * 1024


async def test_one_request_may_allow_a_larger_answer() -> None:
    async with app() as server, Http(max_body=1_000_000) as http:
        resp = await http.request("GET", f"{server.url}/large", max_body=4_000_000)
        assert len(resp.body) == 3_000_000


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, AuthFailed), (403, AuthFailed), (429, Retryable), (503, Retryable), (404, Fatal), (400, Fatal)],
)
async def test_statuses_become_sdk_errors(status: int, error: type[Exception]) -> None:
    async with app() as server, Http() as http:
        server.fail(status, headers={"Retry-After": "12"})
        with pytest.raises(error) as err:
            await http.request("GET", f"{server.url}/large?token=SECRET")
        assert "SECRET" not in str(err.value)
        if status in (429, 503):
            assert err.value.retry_after == 12  # type: ignore[attr-defined]


async def test_unreachable_vendor_is_retryable_without_credentials_in_the_message() -> None:
    async with Http() as http:
        with pytest.raises(Retryable) as err:
            await http.request("GET", "http://user:pa55word@127.0.0.1:9/x")
        assert "pa55word" not in str(err.value)


async def test_html_instead_of_json_is_fatal_and_says_so() -> None:
    async with app() as server, Http() as http:
        with pytest.raises(Fatal, match="not JSON"):
            await http.get_json(f"{server.url}/html")


def test_retry_after_forms() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Thu, 01 Jan 2026 12:01:30 GMT", now) == 90
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
