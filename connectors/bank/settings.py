"""A bank file importer's settings as `read` gets them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.sdk import Importer, ImportFailed, SettingsError, parse_settings


def file_settings(importer: Importer, path: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """The importer's settings, typed and checked ("false" is false), defaults filled in;
    settings of other importers (a source edited across formats) are left out."""
    known = {f.name for f in importer.fields}
    try:
        given, _ = parse_settings(importer.fields, {k: v for k, v in settings.items() if k in known})
    except SettingsError as err:
        raise ImportFailed(f"{path.name}: setting {err}") from None
    return given
