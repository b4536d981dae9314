"""The connector SDK: everything a connector or importer author needs.

from connectors.sdk import Connector, Record, Checkpoint, Field, Secret, datasets
"""

from . import datasets
from .connector import Connector, Importer, Item, Plugin
from .context import ConnectorLog, Context
from .errors import (
    AuthFailed,
    ConnectorError,
    Fatal,
    ImportFailed,
    InvalidRecord,
    Retryable,
    SelfdataError,
    UserActionNeeded,
)
from .fields import Field, Secret, SettingsError, parse_settings
from .http import Http, Response, parse_retry_after
from .questions import Question
from .records import MAX_ORIGINAL_BYTES, Checkpoint, Delete, Fragment, Notice, Original, Record
from .schema import decimal_text, parse_decimal

__all__ = [
    "MAX_ORIGINAL_BYTES",
    "AuthFailed",
    "Checkpoint",
    "Connector",
    "ConnectorError",
    "ConnectorLog",
    "Context",
    "Delete",
    "Fatal",
    "Field",
    "Fragment",
    "Http",
    "ImportFailed",
    "Importer",
    "InvalidRecord",
    "Item",
    "Notice",
    "Original",
    "Plugin",
    "Question",
    "Record",
    "Response",
    "Retryable",
    "Secret",
    "SelfdataError",
    "SettingsError",
    "UserActionNeeded",
    "datasets",
    "decimal_text",
    "parse_decimal",
    "parse_retry_after",
    "parse_settings",
]
