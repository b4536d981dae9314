"""Home Assistant's WebSocket API, as far as selfdata uses it: auth with a long-lived access
token, `recorder/import_statistics`, `recorder/statistics_during_period`.

The message shapes are those of HA's recorder (`homeassistant/components/recorder/
websocket_api.py`): the metadata gained `mean_type` and `unit_class` in 2025.11 (required
from 2026.11), which older releases refuse as extra keys; both shapes are handled. The
token is sent in the auth message only, and never appears in an error or a log line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import aiohttp

from .errors import HomeAssistantRefused, HomeAssistantUnreachable, websocket_url
from .statistics import DOMAIN, Row, Stream, number

TIMEOUT_S = 30.0
NEW_METADATA = (2025, 11)  # HA release that takes mean_type and unit_class


def _version(text: str) -> tuple[int, int]:
    try:
        year, month = text.split(".")[:2]
        return int(year), int(month)
    except ValueError:
        return (0, 0)


class Connection:
    """One authenticated WebSocket session; use `async with Connection(url, token)`."""

    def __init__(self, url: str, token: str, *, timeout: float = TIMEOUT_S) -> None:
        self.url = url
        self.ws_url = websocket_url(url)
        self._token = token
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._id = 0
        self.version = ""
        self.new_metadata = False

    def __repr__(self) -> str:
        return f"Connection({self.url!r})"

    async def __aenter__(self) -> Connection:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._timeout))
        try:
            await self._open()
        except BaseException:
            await self._session.close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()

    async def _open(self) -> None:
        assert self._session is not None
        try:
            self._ws = await self._session.ws_connect(self.ws_url, heartbeat=50, max_msg_size=64 * 1024 * 1024)
        except aiohttp.WSServerHandshakeError as err:
            raise HomeAssistantUnreachable(
                f"Home Assistant at {self.url} did not open its WebSocket API (HTTP {err.status}): is it the"
                " address of Home Assistant, with `websocket_api` loaded (it is in `default_config`)?"
            ) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as err:
            raise HomeAssistantUnreachable(f"Home Assistant at {self.url} cannot be reached: {_reason(err)}") from None
        hello = await self._receive()
        if hello.get("type") != "auth_required":
            raise HomeAssistantUnreachable(
                f"{self.url} does not answer like Home Assistant (got {hello.get('type')!r})"
            )
        self.version = str(hello.get("ha_version", ""))
        self.new_metadata = _version(self.version) >= NEW_METADATA
        await self._send({"type": "auth", "access_token": self._token})
        answer = await self._receive()
        if answer.get("type") == "auth_invalid":
            raise HomeAssistantRefused(
                f"Home Assistant at {self.url} refused the access token: {answer.get('message', 'auth_invalid')!r}."
                " Create a long-lived access token in Home Assistant (your profile, Security) and give it to"
                " `selfdata homeassistant setup`"
            )
        if answer.get("type") != "auth_ok":
            raise HomeAssistantUnreachable(f"Home Assistant at {self.url} answered {answer.get('type')!r} to the token")

    async def _send(self, message: Mapping[str, Any]) -> None:
        assert self._ws is not None
        try:
            await self._ws.send_json(message)
        except (aiohttp.ClientError, OSError, ConnectionResetError) as err:
            raise HomeAssistantUnreachable(
                f"Home Assistant at {self.url} closed the connection: {_reason(err)}"
            ) from None

    async def _receive(self) -> dict[str, Any]:
        assert self._ws is not None
        try:
            msg = await self._ws.receive(timeout=self._timeout)
        except TimeoutError:
            raise HomeAssistantUnreachable(
                f"Home Assistant at {self.url} did not answer within {self._timeout:.0f} s"
            ) from None
        if msg.type is aiohttp.WSMsgType.TEXT:
            data = msg.json()
            if isinstance(data, dict):
                return data
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
            raise HomeAssistantUnreachable(f"Home Assistant at {self.url} closed the connection")
        raise HomeAssistantUnreachable(f"Home Assistant at {self.url} sent an unexpected message ({msg.type.name})")

    async def command(self, message: Mapping[str, Any]) -> Any:
        """Send one command and return its result; HomeAssistantRefused with HA's error."""
        self._id += 1
        mine = self._id
        await self._send({"id": mine, **message})
        while True:
            answer = await self._receive()
            if answer.get("id") != mine or answer.get("type") != "result":
                continue  # an event or pong of another exchange
            if answer.get("success"):
                return answer.get("result")
            error = answer.get("error") or {}
            raise CommandRefused(str(error.get("code", "")), str(error.get("message", "")))

    async def current_user(self) -> dict[str, Any] | None:
        """Who the token is (name, is_admin), when HA's `auth` integration is loaded; else None."""
        try:
            result = await self.command({"type": "auth/current_user"})
        except CommandRefused as err:
            if err.code == "unknown_command":
                return None
            raise
        return result if isinstance(result, dict) else None

    async def import_statistics(self, stream: Stream, statistic_id: str, rows: Sequence[Row]) -> None:
        stats = [{"start": _iso_hour(r.start), "state": number(r.state), "sum": number(r.sum)} for r in rows]
        for attempt in (0, 1):
            message = {
                "type": "recorder/import_statistics",
                "metadata": self._metadata(stream, statistic_id),
                "stats": stats,
            }
            try:
                await self.command(message)
                return
            except CommandRefused as err:
                shape = "mean_type" in err.message or "unit_class" in err.message or "has_mean" in err.message
                if attempt == 0 and err.code == "invalid_format" and shape:
                    self.new_metadata = not self.new_metadata  # a release the version did not tell
                    continue
                if err.code == "unauthorized":
                    raise HomeAssistantRefused(
                        f"Home Assistant at {self.url} refused to import statistics: the token's user is not an"
                        " administrator (recorder/import_statistics needs one). Create the token as an administrator"
                    ) from None
                raise HomeAssistantRefused(
                    f"Home Assistant at {self.url} refused the statistics of {statistic_id}: {err.code}: {err.message}"
                ) from None

    def _metadata(self, stream: Stream, statistic_id: str) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "has_sum": True,
            "name": stream.name,
            "source": DOMAIN,
            "statistic_id": statistic_id,
            "unit_of_measurement": stream.unit,
        }
        if self.new_metadata:
            meta["mean_type"] = 0  # no mean: a sum
            meta["unit_class"] = stream.unit_class
        else:
            meta["has_mean"] = False
        return meta

    async def hourly_sums(
        self, statistic_ids: Sequence[str], start: int, end: int | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """HA's hourly rows of these statistics from `start` (epoch ms), each {start (ms), state, sum}."""
        message: dict[str, Any] = {
            "type": "recorder/statistics_during_period",
            "start_time": _iso_hour(start),
            "statistic_ids": list(statistic_ids),
            "period": "hour",
            "types": ["state", "sum"],
        }
        if end is not None:
            message["end_time"] = _iso_hour(end)
        try:
            result = await self.command(message)
        except CommandRefused as err:
            raise HomeAssistantRefused(
                f"Home Assistant at {self.url} refused to read statistics: {err.code}: {err.message}"
            ) from None
        return result if isinstance(result, dict) else {}


class CommandRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def _iso_hour(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _reason(err: BaseException) -> str:
    if isinstance(err, aiohttp.ClientConnectorError):
        return str(err.os_error.strerror or err.os_error) if err.os_error else str(err)
    if isinstance(err, TimeoutError | asyncio.TimeoutError):
        return "no answer (timed out)"
    return str(err) or type(err).__name__
