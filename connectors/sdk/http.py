"""HTTP for connectors: an aiohttp session whose answers are translated into the SDK's errors.

401/403 become AuthFailed; 429, 5xx, timeouts and network errors become Retryable with the
vendor's Retry-After; other 4xx become Fatal. Nothing here retries: the runner does, from
the last checkpoint, so a vendor account is never hammered.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import AuthFailed, Fatal, Retryable

if TYPE_CHECKING:  # aiohttp loads on the first request: commands and importers never pay for it
    import aiohttp


# A vendor's answer is read whole into memory, then parsed (JSON costs several times its size):
# 32 MiB is far above any real page (an Octopus page of 25,000 readings is ~3 MB) and keeps a
# runaway answer within the service's memory budget. A connector that needs more says so.
MAX_BODY = 32 * 1024 * 1024


def default_timeout() -> aiohttp.ClientTimeout:
    import aiohttp

    return aiohttp.ClientTimeout(total=120, connect=20, sock_read=60)


def user_agent() -> str:
    try:
        from importlib.metadata import version

        v = version("selfdata")
    except Exception:
        v = "dev"
    return f"selfdata/{v} (+personal data daemon)"


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class Response:
    """A fully read answer: status, headers and body."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes, url: str) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as err:
            snippet = self.text[:80].replace("\n", " ")
            raise Fatal(f"{_origin(self.url)} answered with something that is not JSON: {snippet!r}") from err


class Http:
    """The connector's HTTP client. `request` reads the whole body, bounded by `max_body`
    (the client's, or one request's `max_body=`)."""

    def __init__(
        self,
        *,
        timeout: aiohttp.ClientTimeout | None = None,
        max_body: int = MAX_BODY,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._timeout = timeout
        self._headers = {"User-Agent": user_agent(), **(headers or {})}
        self._session: aiohttp.ClientSession | None = None
        self.max_body = max_body
        self.requests = 0

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            import aiohttp

            self._session = aiohttp.ClientSession(timeout=self._timeout or default_timeout(), headers=self._headers)
        return self._session

    async def __aenter__(self) -> Http:
        return self

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self, method: str, url: str, *, ok: tuple[int, ...] = (), max_body: int | None = None, **kwargs: Any
    ) -> Response:
        """Send a request; errors come back as AuthFailed, Retryable or Fatal.

        Statuses in `ok` are returned as they are even when they would be errors.
        """
        import aiohttp

        limit = self.max_body if max_body is None else max_body
        self.requests += 1
        try:
            async with self.session.request(method, url, **kwargs) as resp:
                declared = resp.content_length
                if declared is not None and declared > limit:  # refused before a byte of it is read
                    raise Fatal(_too_big(url, limit, f"{declared:,} bytes announced"))
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.content.iter_chunked(65536):
                    size += len(chunk)
                    if size > limit:
                        raise Fatal(_too_big(url, limit, "it kept coming"))
                    chunks.append(chunk)
                body = b"".join(chunks)
                result = Response(resp.status, dict(resp.headers), body, str(resp.url))
        except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as err:
            raise Retryable(f"could not reach {_origin(url)}: {type(err).__name__} {err}".strip()) from err
        except aiohttp.InvalidURL as err:
            raise Fatal("invalid URL; check the source's settings") from err
        if result.status in ok or 200 <= result.status < 300:
            return result
        raise_for_status(result)
        return result

    async def get_json(self, url: str, **kwargs: Any) -> Any:
        return (await self.request("GET", url, **kwargs)).json()


def raise_for_status(resp: Response) -> None:
    status, where = resp.status, _origin(resp.url)
    snippet = resp.text[:200].replace("\n", " ").strip()
    if status in (401, 403):
        raise AuthFailed(f"{where} refused the credentials (HTTP {status}); log in again")
    if status == 429 or status == 408 or status >= 500:
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        raise Retryable(f"{where} answered HTTP {status}" + (f": {snippet}" if snippet else ""), retry_after)
    if status >= 400:
        raise Fatal(f"{where} answered HTTP {status}" + (f": {snippet}" if snippet else ""))


def _too_big(url: str, limit: int, how: str) -> str:
    return (
        f"{_origin(url)} answered more than {limit} bytes ({how}); nothing of it was kept."
        " If the vendor really sends pages that large, the connector must ask for smaller ones"
    )


def _origin(url: str) -> str:
    """scheme://host[:port] only: a URL's path, query or user part may hold credentials."""
    try:
        u = urlsplit(url)
        default = {"http": 80, "https": 443}.get(u.scheme)
        return f"{u.scheme}://{u.hostname}" + (f":{u.port}" if u.port and u.port != default else "")
    except ValueError:
        return "the vendor"
