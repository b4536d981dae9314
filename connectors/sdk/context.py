"""What a connector gets from the runner: settings, secrets, HTTP, a logger, progress, a clock."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .http import Http

ProgressFn = Callable[[int, "int | None", "str | None"], None]


def _no_progress(done: int, total: int | None, message: str | None) -> None:
    return None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RedactingFilter(logging.Filter):
    """Replaces every secret's text with *** in log messages: a secret never reaches a log."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        super().__init__()
        self._values = sorted({v for v in secrets.values() if v and len(v) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._values:
            message = record.getMessage()
            for v in self._values:
                message = message.replace(v, "***")
            record.msg, record.args = message, None
        return True


@dataclass
class Context:
    source: str
    settings: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    http: Http = field(default_factory=Http)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("selfdata.connector"))
    progress: ProgressFn = _no_progress
    now: Callable[[], datetime] = _utcnow
    # Persists a changed secret (a refreshed OAuth token) at once, encrypted.
    save_secret: Callable[[str, str], Awaitable[None]] | None = None
    # Tells the user about something coming (consent expiring on a date) without failing.
    on_warning: Callable[[str], None] | None = None
    warnings: list[str] = field(default_factory=list)

    def __repr__(self) -> str:  # secrets stay out of tracebacks and logs
        return f"Context(source={self.source!r}, settings={self.settings!r}, secrets=<{len(self.secrets)} hidden>)"

    def secret(self, name: str) -> str:
        from .errors import AuthFailed

        value = self.secrets.get(name)
        if not value:
            raise AuthFailed(
                f"the source {self.source!r} has no {name}; set it with: selfdata source edit {self.source}"
            )
        return value

    def warn(self, message: str) -> None:
        """Something the user should act on soon; shown in `selfdata status` and notified once."""
        self.warnings.append(message)
        if self.on_warning is not None:
            self.on_warning(message)

    async def update_secret(self, name: str, value: str) -> None:
        self.secrets[name] = value
        if self.save_secret is not None:
            await self.save_secret(name, value)


def connector_logger(source: str, secrets: Mapping[str, str]) -> logging.Logger:
    log = logging.getLogger(f"selfdata.source.{source}")
    for f in list(log.filters):
        if isinstance(f, RedactingFilter):
            log.removeFilter(f)
    log.addFilter(RedactingFilter(secrets))
    return log
