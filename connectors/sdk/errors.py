"""Errors a connector raises; each type says what happens next."""

from __future__ import annotations


class SelfdataError(Exception):
    """An error the user can act on: the CLI shows its message as one line, never a traceback.

    The one base of selfdata's own errors, in the SDK and the daemon alike (the daemon
    imports the SDK, never the reverse).
    """


class ConnectorError(SelfdataError):
    """Base class of the errors below."""


class AuthFailed(ConnectorError):
    """The vendor refused the credentials. Automatic runs stop until the user logs in again,
    so the vendor account is never locked by retries."""


class UserActionNeeded(ConnectorError):
    """The user must do something (2FA, new terms, renew consent): `url` says where."""

    def __init__(self, message: str, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class Retryable(ConnectorError):
    """A passing fault (429, 5xx, network): try again later, not before `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Fatal(ConnectorError):
    """Retrying will not help (a vendor error, an unsupported answer)."""


class InvalidRecord(Fatal):
    """A record does not match its dataset's schema; the message names the field."""


class ImportFailed(Fatal):
    """A file cannot be imported; the message names the file and the position."""
