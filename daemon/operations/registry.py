"""What an operation is: a name, a frozen parameter dataclass, an async function of Services.

Parameters cross the admin socket as JSON; `Operation.decode` turns that JSON back into the
parameter class once, naming a missing, unknown or mistyped parameter. Inside, an
operation sees only its typed parameters.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from ..errors import SelfdataError
from ..services import Services

Emit = Callable[[dict[str, Any]], None]
P = TypeVar("P")
# What an operation returns: JSON (dicts, lists, strings, numbers), rendered by the caller.
Result = Any
Handler = Callable[[Services, P, Emit], Awaitable[Result]]


class OperationError(SelfdataError, ValueError):
    """A request no operation can serve: an unknown name, a missing or mistyped parameter."""


class OperationFailed(SelfdataError):
    """Something an operation called failed unexpectedly (a fault in selfdata or a connector).

    The message names the operation and the fault; the cause, with its traceback, is logged.
    """


@dataclass(frozen=True)
class NoParams:
    """The parameters of an operation that takes none."""


@dataclass(frozen=True)
class Operation(Generic[P]):
    name: str
    params: type[P]
    handler: Handler[P]

    @property
    def summary(self) -> str:
        return (self.handler.__doc__ or "").strip().split("\n")[0]

    def decode(self, raw: Mapping[str, Any]) -> P:
        if not isinstance(raw, Mapping):
            raise OperationError(f"operation {self.name!r} takes an object of parameters")
        fields = {f.name: f for f in dataclasses.fields(self.params)}  # type: ignore[arg-type]
        unknown = sorted(set(raw) - set(fields))
        if unknown:
            raise OperationError(f"operation {self.name!r} takes no parameter {unknown[0]!r}")
        hints = typing.get_type_hints(self.params)
        values: dict[str, Any] = {}
        for name, f in fields.items():
            if name not in raw:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise OperationError(f"operation {self.name!r} needs the parameter {name!r}")
                continue
            value = raw[name]
            if not _fits(value, hints[name]):
                raise OperationError(
                    f"operation {self.name!r}: the parameter {name!r} must be {_describe(hints[name])},"
                    f" not {type(value).__name__}"
                )
            values[name] = tuple(value) if isinstance(value, list) and _is_tuple(hints[name]) else value
        return self.params(**values)

    @staticmethod
    def encode(params: object) -> dict[str, Any]:
        """The JSON form of a parameter object, as `decode` reads it back."""
        return {
            f.name: list(v) if isinstance(v := getattr(params, f.name), tuple) else v
            for f in dataclasses.fields(params)  # type: ignore[arg-type]
        }


def operation(name: str, params: type[P]) -> Callable[[Handler[P]], Operation[P]]:
    """Declare the decorated async function as operation `name` taking `params`."""

    def declare(handler: Handler[P]) -> Operation[P]:
        return Operation(name, params, handler)

    return declare


def _is_tuple(hint: Any) -> bool:
    return typing.get_origin(hint) is tuple or any(typing.get_origin(a) is tuple for a in typing.get_args(hint))


def _fits(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is Literal:
        return value in typing.get_args(hint)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple):
        args = typing.get_args(hint)
        item = args[0] if args else Any
        return isinstance(value, list | tuple) and all(_fits(v, item) for v in value)
    if origin in (dict, Mapping):
        _, item = typing.get_args(hint) or (str, Any)
        return isinstance(value, dict) and all(isinstance(k, str) and _fits(v, item) for k, v in value.items())
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(hint))
    if origin in (list, tuple):
        return "a list"
    if origin in (dict, Mapping):
        return "an object"
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))
