"""What can go wrong with Home Assistant, and its address: apart from the client, so the CLI
and the operations load no HTTP client until a push runs."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from ..errors import SelfdataError

__all__ = ["HomeAssistantError", "HomeAssistantRefused", "HomeAssistantUnreachable", "websocket_url"]


class HomeAssistantError(SelfdataError):
    """Home Assistant could not be used; the message says why and what to do."""


class HomeAssistantUnreachable(HomeAssistantError):
    pass


class HomeAssistantRefused(HomeAssistantError):
    """HA answered, and refused: a bad token, a user who is not an administrator, a bad row."""


def websocket_url(url: str) -> str:
    """`http://ha.local:8123` -> `ws://ha.local:8123/api/websocket`; ValueError for a non-HTTP URL."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not Home Assistant's address: write it as http://HOST:8123 or https://HOST")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(f"{url!r}: give Home Assistant's address alone, without credentials or a query")
    path = parts.path.rstrip("/")
    if path.endswith("/api/websocket"):
        path = path[: -len("/api/websocket")]
    return urlunsplit(("ws" if parts.scheme == "http" else "wss", parts.netloc, path + "/api/websocket", "", ""))
