"""What a connector gets from the runner: settings, secrets, HTTP, a logger, progress, a clock."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .http import Http

ProgressFn = Callable[[int, "int | None", "str | None"], None]


def no_progress(done: int, total: int | None, message: str | None) -> None:
    return None


def _utcnow() -> datetime:
    return datetime.now(UTC)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by ***; values under 4 characters are left, they would hide ordinary text."""
    for value in sorted({v for v in secrets if v and len(v) >= 4}, key=len, reverse=True):
        text = text.replace(value, "***")
    return text


class ConnectorLog(logging.LoggerAdapter[logging.Logger]):
    """`ctx.log`: formats each message itself and replaces the Context's secrets with ***.

    It reads the secrets when it logs, so a token refreshed during the run is hidden too,
    and it adds no filter to the shared logger, so two Contexts of a source never mix.
    """

    def __init__(self, logger: logging.Logger, secrets: Callable[[], Iterable[str]]) -> None:
        super().__init__(logger, None)
        self._secrets = secrets

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        text = _format(msg, args)
        exc_info = kwargs.pop("exc_info", None)
        if exc_info:  # the traceback is formatted here: an exception's message may hold a secret
            if exc_info is True:
                exc_info = sys.exc_info()
            elif isinstance(exc_info, BaseException):
                exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
            if exc_info[0] is not None:
                text += "\n" + "".join(traceback.format_exception(*exc_info)).rstrip("\n")
        kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 1  # the record names the connector's line
        self.logger.log(level, "%s", redact(text, self._secrets()), **kwargs)


def _format(msg: object, args: tuple[object, ...]) -> str:
    """The message as logging.LogRecord.getMessage would make it, including `%(name)s` with one mapping."""
    text = str(msg)
    if not args:
        return text
    values: object = args[0] if len(args) == 1 and isinstance(args[0], Mapping) and args[0] else args
    try:
        return text % values
    except (TypeError, ValueError, KeyError):
        return f"{text} {args!r}"  # a malformed format still reaches the log, redacted


@dataclass
class Context:
    source: str
    settings: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    http: Http = field(default_factory=Http)
    progress: ProgressFn = no_progress
    now: Callable[[], datetime] = _utcnow
    # Persists a changed secret (a refreshed OAuth token) at once, encrypted.
    save_secret: Callable[[str, str], Awaitable[None]] | None = None
    # Removes a stored secret at once (an answer used once).
    drop_secret: Callable[[str], Awaitable[None]] | None = None
    # Tells the user about something coming (consent expiring on a date) without failing;
    # an empty message says it is over (`clear_warning`).
    on_warning: Callable[[str], None] | None = None
    warnings: list[str] = field(default_factory=list)
    # Logs to selfdata.source.<source> with the secrets hidden, whoever built the Context.
    log: ConnectorLog = field(init=False, repr=False, compare=False)
    _replaced: set[str] = field(default_factory=set, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.log = ConnectorLog(logging.getLogger(f"selfdata.source.{self.source}"), self._secret_values)

    def _secret_values(self) -> Iterable[str]:
        return [*self.secrets.values(), *self._replaced]

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

    def clear_warning(self) -> None:
        """What the source's warning was about is over (a backfill finished): `status` stops showing it."""
        if self.on_warning is not None:
            self.on_warning("")

    async def update_secret(self, name: str, value: str) -> None:
        old = self.secrets.get(name)
        if old and old != value:  # a replaced token may stay valid for a while: it stays hidden
            self._replaced.add(old)
        self.secrets[name] = value
        if self.save_secret is not None:
            await self.save_secret(name, value)

    async def forget_secret(self, name: str) -> None:
        """Remove secret `name` (an answer the vendor had once); it stays hidden in this run's log."""
        old = self.secrets.pop(name, None)
        if old:
            self._replaced.add(old)
        if self.drop_secret is not None:
            await self.drop_secret(name)
