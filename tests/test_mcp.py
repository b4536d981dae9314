"""The MCP server with the SDK's own client, against the real daemon: over HTTP and stdio."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from .conftest import ROOT, Daemon

pytestmark = pytest.mark.timeout(120)


def _fill(daemon: Daemon, tmp_path: Path) -> None:
    lines = [
        {
            "key": f"t{i}",
            "ts": f"2026-01-{i + 1:02d}T12:00:00+00:00",
            "data": {"account_id": "a1", "amount": amount, "currency": "EUR", "status": "booked", "category": cat},
        }
        for i, (amount, cat) in enumerate([("-12.10", "energy"), ("-30.05", "energy"), ("-5.00", "food")])
    ]
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    daemon.cli("import-jsonl", str(path), "--source", "bank", "--dataset", "bank.transaction")
    path.write_text(
        json.dumps(
            {
                "key": "o",
                "ts": "2026-01-01T00:00:00Z",
                "data": {
                    "code": "8867-4",
                    "code_system": "http://loinc.org",
                    "value": "61",
                    "start": "2026-01-01T00:00:00Z",
                },
            }
        )
        + "\n"
    )
    daemon.cli("import-jsonl", str(path), "--source", "watch", "--dataset", "health.observation")


def _token(daemon: Daemon, *scopes: str) -> str:
    args = [a for s in scopes for a in ("--scope", s)]
    return daemon.cli(
        "token", "create", "--app", "assistant", "--purpose", "answer my questions about my spending", *args
    ).stdout.strip()


@asynccontextmanager
async def over_http(url: str, token: str) -> AsyncIterator[ClientSession]:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        async with streamable_http_client(f"{url}/mcp", http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


@asynccontextmanager
async def over_stdio(daemon: Daemon, token: str) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "daemon", "mcp"], env={**daemon.env, "SELFDATA_TOKEN": token}, cwd=ROOT
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


def _json(result: Any) -> Any:
    assert not result.is_error, result.content
    return result.structured_content.get("result", result.structured_content)


@pytest.fixture
def running(daemon: Daemon, tmp_path: Path) -> tuple[Daemon, str]:
    daemon.start()
    _fill(daemon, tmp_path)
    return daemon, daemon.json("status")["daemon"]["api_url"]


@pytest.mark.parametrize("transport", ["http", "stdio"])
async def test_an_assistant_answers_within_its_grant_and_every_call_is_logged(
    running: tuple[Daemon, str], transport: str
) -> None:
    daemon, url = running
    token = _token(daemon, "read:bank.*")
    connect = over_http(url, token) if transport == "http" else over_stdio(daemon, token)
    async with connect as mcp:
        names = {t.name for t in (await mcp.list_tools()).tools}
        assert names == {"list_datasets", "query_records", "aggregate"}
        datasets = _json(await mcp.call_tool("list_datasets", {}))
        assert [d["name"] for d in datasets] == ["bank.transaction"]  # the observations are not described
        assert datasets[0]["schema"]["properties"]["amount"]["type"] == "string"
        records = _json(
            await mcp.call_tool("query_records", {"dataset": "bank.transaction", "where": {"category": "energy"}})
        )
        assert [r["key"] for r in records["records"]] == ["t0", "t1"]
        total = _json(
            await mcp.call_tool(
                "aggregate",
                {
                    "dataset": "bank.transaction",
                    "fn": "sum",
                    "field": "amount",
                    "group": ["category"],
                    "zone": "Europe/Paris",
                },
            )
        )
        assert [(r["category"], r["value"], r["currency"]) for r in total["rows"]] == [
            ("energy", "-42.15", "EUR"),
            ("food", "-5.00", "EUR"),
        ]
        for call in (
            mcp.call_tool("query_records", {"dataset": "health.observation"}),
            mcp.call_tool("aggregate", {"dataset": "health.*", "fn": "count"}),
            mcp.call_tool("aggregate", {"dataset": "bank.transaction", "fn": "sum", "field": "description"}),
            mcp.call_tool("aggregate", {"dataset": "bank.transaction", "bucket": "fortnight"}),
        ):
            result = await call
            assert result.is_error and "61" not in str(result.content)
        denied = await mcp.call_tool("query_records", {"dataset": "health.observation"})
        assert "may not read health.observation" in denied.content[0].text  # type: ignore[union-attr]
    daemon.stop()
    log = daemon.json("access-log")
    endpoints = {(e["endpoint"], e["dataset"]) for e in log}
    assert {
        ("mcp.list_datasets", "bank.transaction"),
        ("mcp.query_records", "bank.transaction"),
        ("mcp.aggregate", "bank.transaction"),
    } <= endpoints
    assert not any(e["dataset"].startswith("health") for e in log)


async def test_http_mcp_needs_a_live_token_and_refuses_malformed_messages(running: tuple[Daemon, str]) -> None:
    daemon, url = running
    token = _token(daemon, "read:bank.*")
    async with httpx2.AsyncClient() as http:
        r = await http.post(f"{url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert r.status_code == 401
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
        r = await http.post(f"{url}/mcp", content=b"{not json", headers={**headers, "Content-Type": "application/json"})
        assert 400 <= r.status_code < 500 and "error" in r.json()


async def test_stdio_mcp_answers_a_malformed_line_with_an_error_and_goes_on(running: tuple[Daemon, str]) -> None:
    import subprocess

    daemon, _ = running
    token = _token(daemon, "read:bank.*")
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    proc = subprocess.run(
        [sys.executable, "-m", "daemon", "mcp"],
        input="{not json\n" + json.dumps(init) + "\n",
        env={**daemon.env, "SELFDATA_TOKEN": token},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    answers = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert answers[0]["error"]["code"] == -32700
    assert answers[1]["id"] == 1 and "serverInfo" in answers[1]["result"]


def test_selfdata_mcp_takes_its_token_only_from_the_environment_or_a_file(running: tuple[Daemon, str]) -> None:
    daemon, _ = running
    env = {k: v for k, v in daemon.env.items() if k != "SELFDATA_TOKEN"}
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "daemon", "mcp"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1 and "SELFDATA_TOKEN" in out.stderr
