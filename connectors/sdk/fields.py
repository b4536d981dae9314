"""A connector's settings: typed fields with validation and help text; `Secret` for credentials."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import SelfdataError

FieldType = Literal["text", "int", "bool", "url", "choice", "path"]


class SettingsError(SelfdataError, ValueError):
    """A setting is missing or invalid; the message names it."""


@dataclass(frozen=True)
class Field:
    name: str
    help: str = ""
    type: FieldType = "text"
    required: bool = True
    default: Any = None
    choices: Sequence[str] = ()
    pattern: str | None = None
    check: Callable[[Any], str | None] | None = field(default=None, compare=False)

    secret: bool = False

    def parse(self, raw: Any) -> Any:
        """A value given as text (CLI, prompt) or already typed (config), checked."""
        if raw is None or raw == "":
            if self.required and self.default is None:
                raise SettingsError(
                    f"{self.name} is required: {self.help}" if self.help else f"{self.name} is required"
                )
            return self.default
        value: Any = raw
        if self.type == "int":
            try:
                value = int(raw)
            except (TypeError, ValueError):
                raise SettingsError(f"{self.name} must be a whole number, not {raw!r}") from None
        elif self.type == "bool":
            if isinstance(raw, bool):
                value = raw
            elif str(raw).lower() in ("1", "true", "yes", "on"):
                value = True
            elif str(raw).lower() in ("0", "false", "no", "off"):
                value = False
            else:
                raise SettingsError(f"{self.name} must be true or false, not {raw!r}")
        else:
            value = str(raw)
            if self.type == "url" and not re.match(r"^https?://[^\s/]+", value):
                raise SettingsError(f"{self.name} must be an http(s) URL, not {value!r}")
            if self.type == "choice" and value not in self.choices:
                raise SettingsError(f"{self.name} must be one of {', '.join(self.choices)}, not {value!r}")
            if self.pattern and not re.fullmatch(self.pattern, value):
                raise SettingsError(f"{self.name}: {value!r} is not in the expected form")
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise SettingsError(f"{self.name}: {problem}")
        return value

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "required": self.required, "help": self.help}
        if self.secret:
            out["secret"] = True
        if self.default is not None:
            out["default"] = self.default
        if self.choices:
            out["choices"] = list(self.choices)
        return out


def Secret(name: str, help: str = "", *, required: bool = True, pattern: str | None = None) -> Field:  # noqa: N802
    """A credential: kept encrypted under the vault's secrets key, never shown, logged or exported."""
    return Field(name=name, help=help, required=required, pattern=pattern, secret=True)


def parse_settings(fields: Sequence[Field], values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Split and check given values into (settings, secrets); unknown names are refused."""
    known = {f.name: f for f in fields}
    unknown = set(values) - set(known)
    if unknown:
        raise SettingsError(f"unknown setting(s) {', '.join(sorted(unknown))}; known: {', '.join(known) or 'none'}")
    settings: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    for f in fields:
        value = f.parse(values.get(f.name))
        if value is None:
            continue
        if f.secret:
            secrets[f.name] = str(value)
        else:
            settings[f.name] = value
    return settings, secrets
