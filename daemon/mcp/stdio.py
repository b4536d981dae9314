"""`selfdata mcp`: an assistant's stdin and stdout relayed to the daemon's /mcp with a token.

The daemon holds the vault, the grants and the access log; this process only carries the
messages, so a desktop assistant's questions are answered exactly as an HTTP client's.
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx2
from mcp.client.streamable_http import streamable_http_client
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp.types import PARSE_ERROR, ErrorData, JSONRPCError, JSONRPCRequest, JSONRPCResponse

DRAIN_S = 30.0


def _error(err: Exception) -> SessionMessage:
    return SessionMessage(
        JSONRPCError(jsonrpc="2.0", id=None, error=ErrorData(code=PARSE_ERROR, message=f"not an MCP message: {err}"))
    )


async def relay(api_url: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60.0)) as http:
        # Stateless on the daemon's side: no session to end on close.
        streams = streamable_http_client(f"{api_url}/mcp", http_client=http, terminate_on_close=False)
        async with streams as (from_daemon, to_daemon):
            async with stdio_server() as (from_assistant, to_assistant):
                pending: set[Any] = set()
                answered = anyio.Event()
                async with anyio.create_task_group() as tg:

                    async def up() -> None:
                        async for message in from_assistant:
                            if isinstance(message, Exception):
                                await to_assistant.send(_error(message))
                                continue
                            if isinstance(message.message, JSONRPCRequest):
                                pending.add(message.message.id)
                            await to_daemon.send(message)
                        # The assistant closed stdin: its last questions are answered, then done.
                        with anyio.move_on_after(DRAIN_S):
                            while pending:
                                await answered.wait()
                        tg.cancel_scope.cancel()

                    async def down() -> None:
                        nonlocal answered
                        async for message in from_daemon:
                            if isinstance(message, Exception):
                                await to_assistant.send(_error(message))
                                continue
                            await to_assistant.send(message)
                            if isinstance(message.message, JSONRPCResponse | JSONRPCError):
                                pending.discard(message.message.id)
                                answered.set()
                                answered = anyio.Event()

                    tg.start_soon(up)
                    tg.start_soon(down)
                # The transports' writers run until their streams close.
                await to_assistant.aclose()
                await to_daemon.aclose()


def run(api_url: str, token: str) -> Any:
    return anyio.run(relay, api_url, token)
