"""Field types for normalised datasets: validation with the field named, and JSON Schema."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from .errors import InvalidRecord
from .records import YEARS, outside_utc_years

_DECIMAL_RE = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


class Kind:
    """A field's type. `required` fields must be present and not null."""

    json_type: str | list[str] = "string"

    def __init__(self, description: str = "", *, required: bool = True) -> None:
        self.description = description
        self.required = required
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def check(self, value: Any, path: str) -> None:
        raise NotImplementedError

    def coerce(self, value: Any) -> Any:
        """Python value (Decimal, datetime, ...) to its JSON form."""
        return value

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.json_type}
        if self.description:
            out["description"] = self.description
        return out


def _fail(path: str, message: str) -> InvalidRecord:
    return InvalidRecord(f"field '{path}': {message}")


class Text(Kind):
    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise _fail(path, f"expected text, got {type(value).__name__}")


class Currency(Text):
    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, str) or not _CURRENCY_RE.match(value):
            raise _fail(path, f"expected an ISO 4217 currency code like EUR, got {value!r}")

    def schema(self) -> dict[str, Any]:
        return {**super().schema(), "pattern": _CURRENCY_RE.pattern}


class DecimalText(Kind):
    """An exact decimal number as a string ("-12.50"); never a float.

    `unit` names the field of the same record that says its unit (`currency`, `unit`):
    aggregates never add up values of different units.
    """

    def __init__(self, description: str = "", *, required: bool = True, unit: str | None = None) -> None:
        super().__init__(description, required=required)
        self.unit = unit

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, str) or not _DECIMAL_RE.match(value):
            raise _fail(path, f'expected a decimal string like "-12.50", got {value!r}')

    def coerce(self, value: Any) -> Any:
        if isinstance(value, float):
            raise TypeError("money and quantities are Decimal or str, never float")
        if isinstance(value, Decimal | int):
            return decimal_text(Decimal(value))
        return value

    def schema(self) -> dict[str, Any]:
        return {**super().schema(), "pattern": _DECIMAL_RE.pattern}


def decimal_text(value: Decimal) -> str:
    """A Decimal as plain text: no exponent, no minus zero."""
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite number")
    text = format(value, "f")
    if text.startswith("-") and set(text[1:]) <= {"0", "."}:
        text = text[1:]
    return text


def parse_decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation as err:
        raise ValueError(f"{text!r} is not a number") from err
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a finite number")
    return value


class Integer(Kind):
    json_type = "integer"

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(path, f"expected an integer, got {value!r}")


class Day(Kind):
    """A calendar date, YYYY-MM-DD."""

    def check(self, value: Any, path: str) -> None:
        try:
            if not isinstance(value, str) or len(value) != 10:
                raise ValueError
            date.fromisoformat(value)
        except ValueError:
            raise _fail(path, f"expected a date YYYY-MM-DD, got {value!r}") from None

    def coerce(self, value: Any) -> Any:
        return value.isoformat() if isinstance(value, date) and not isinstance(value, datetime) else value

    def schema(self) -> dict[str, Any]:
        return {**super().schema(), "format": "date"}


class Instant(Kind):
    """An ISO 8601 date-time with its UTC offset."""

    def check(self, value: Any, path: str) -> None:
        try:
            if not isinstance(value, str):
                raise ValueError
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise _fail(path, f"expected an ISO 8601 date-time with offset, got {value!r}") from None
        if dt.tzinfo is None:
            raise _fail(path, f"{value!r} has no UTC offset")
        if outside_utc_years(dt):
            raise _fail(path, f"{value!r} is outside the years {YEARS} in UTC")

    def coerce(self, value: Any) -> Any:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError(f"{value.isoformat()} has no timezone")
            return value.isoformat()
        return value

    def schema(self) -> dict[str, Any]:
        return {**super().schema(), "format": "date-time"}


class Choice(Kind):
    def __init__(self, *choices: str, description: str = "", required: bool = True) -> None:
        super().__init__(description, required=required)
        self.choices = choices

    def check(self, value: Any, path: str) -> None:
        if value not in self.choices:
            raise _fail(path, f"expected one of {', '.join(self.choices)}, got {value!r}")

    def schema(self) -> dict[str, Any]:
        return {**super().schema(), "enum": list(self.choices)}


class AnyJson(Kind):
    json_type = ["object", "array", "string", "number", "boolean", "null"]

    def check(self, value: Any, path: str) -> None:
        return None

    def schema(self) -> dict[str, Any]:
        return {"description": self.description} if self.description else {}


class Nested(Kind):
    """An object with its own fields (a Shape subclass)."""

    json_type = "object"

    def __init__(self, shape: type[Shape], description: str = "", *, required: bool = True) -> None:
        super().__init__(description, required=required)
        self.shape = shape

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise _fail(path, f"expected an object, got {type(value).__name__}")
        self.shape.validate(value, prefix=f"{path}.")

    def schema(self) -> dict[str, Any]:
        return {**self.shape.json_schema(), **({"description": self.description} if self.description else {})}


class ListOf(Kind):
    json_type = "array"

    def __init__(self, shape: type[Shape], description: str = "", *, required: bool = True) -> None:
        super().__init__(description, required=required)
        self.shape = shape

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise _fail(path, f"expected a list, got {type(value).__name__}")
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise _fail(f"{path}[{i}]", "expected an object")
            self.shape.validate(item, prefix=f"{path}[{i}].")

    def schema(self) -> dict[str, Any]:
        return {"type": "array", "items": self.shape.json_schema()}


class Shape:
    """A set of typed fields. Subclasses declare fields as class attributes."""

    _fields: ClassVar[dict[str, Kind]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Computed once per class: validation runs for every record.
        fields: dict[str, Kind] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, Kind):
                    fields[name] = value
        cls._fields = fields

    @classmethod
    def fields(cls) -> dict[str, Kind]:
        return cls._fields

    @classmethod
    def validate(cls, data: Any, prefix: str = "") -> None:
        if not isinstance(data, dict):
            raise InvalidRecord(f"expected an object, got {type(data).__name__}")
        for name, kind in cls._fields.items():
            value = data.get(name)
            if value is None:
                if kind.required:
                    raise _fail(prefix + name, "is required")
                continue
            kind.check(value, prefix + name)

    @classmethod
    def make(cls, **values: Any) -> dict[str, Any]:
        """The JSON form of these values (Decimals, dates and datetimes converted), validated."""
        fields = cls.fields()
        unknown = set(values) - set(fields)
        if unknown:
            raise TypeError(f"{cls.__name__} has no field(s) {', '.join(sorted(unknown))}")
        data = {name: (None if v is None else fields[name].coerce(v)) for name, v in values.items()}
        cls.validate(data)
        return data

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        fields = cls.fields()
        props: dict[str, Any] = {}
        for name, kind in fields.items():
            s = kind.schema()
            if not kind.required:
                s = {"anyOf": [s, {"type": "null"}]} if "type" in s or "anyOf" in s else s
            props[name] = s
        out: dict[str, Any] = {"type": "object", "properties": props}
        required = [n for n, k in fields.items() if k.required]
        if required:
            out["required"] = required
        return out
