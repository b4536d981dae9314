"""Connectors and importers, built-in or third-party, all through the `selfdata.connectors`
entry-point group. A plugin that fails to load is reported and skipped.

Plugins load lazily: the daemon imports only the connectors its sources use (an idle
daemon does not pay for every vendor's crypto library); listing or recognising a file
loads them all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points

from connectors.sdk import Connector, Importer

from .errors import SelfdataError

GROUP = "selfdata.connectors"
# For trying a connector before packaging it: "module:Class,module:Class" importable from sys.path.
EXTRA_ENV = "SELFDATA_CONNECTORS"


class UnknownConnector(SelfdataError, LookupError):
    pass


@dataclass
class Registry:
    _connectors: dict[str, type[Connector]] = field(default_factory=dict)
    _importers: dict[str, type[Importer]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    _pending: dict[str, EntryPoint] = field(default_factory=dict)

    @property
    def connectors(self) -> dict[str, type[Connector]]:
        self._load_all()
        return self._connectors

    @property
    def importers(self) -> dict[str, type[Importer]]:
        self._load_all()
        return self._importers

    def add(self, cls: object, origin: str) -> None:
        if isinstance(cls, type) and issubclass(cls, Importer):
            self._importers[cls.name] = cls
        elif isinstance(cls, type) and issubclass(cls, Connector):
            self._connectors[cls.name] = cls
        else:
            self.problems.append(f"{origin}: not a Connector or Importer class")

    def _load(self, ep: EntryPoint) -> None:
        try:
            cls = ep.load()
        except Exception as err:  # a broken plugin must never stop the others
            self.problems.append(f"plugin {ep.name or ep.value!r} failed to load: {type(err).__name__}: {err}")
            return
        if ep.name and getattr(cls, "name", None) != ep.name:
            self.problems.append(f"plugin {ep.name!r}: its class says name={getattr(cls, 'name', None)!r}")
            return
        self.add(cls, f"plugin {ep.name or ep.value!r}")

    def _load_all(self) -> None:
        while self._pending:
            _, ep = self._pending.popitem()
            self._load(ep)

    def get(self, name: str) -> type[Connector] | type[Importer]:
        ep = self._pending.pop(name, None)
        if ep is not None:
            self._load(ep)
        found = self._connectors.get(name) or self._importers.get(name)
        if found is None:
            known = sorted({*self.connectors, *self.importers})
            raise UnknownConnector(f"no connector or importer named {name!r}; known: {', '.join(known) or 'none'}")
        return found

    def connector(self, name: str) -> type[Connector]:
        cls = self.get(name)
        if not issubclass(cls, Connector):
            raise UnknownConnector(f"{name!r} is a file importer: use `selfdata import FILE --source ...`")
        return cls

    def all(self) -> list[type[Connector] | type[Importer]]:
        return sorted([*self.connectors.values(), *self.importers.values()], key=lambda c: (c.category, c.name))


def _extra() -> list[EntryPoint]:
    specs = [s.strip() for s in os.environ.get(EXTRA_ENV, "").split(",") if s.strip()]
    return [EntryPoint(name="", value=spec, group=GROUP) for spec in specs]


def load(entries: list[EntryPoint] | None = None) -> Registry:
    registry = Registry()
    for ep in entries if entries is not None else list(entry_points(group=GROUP)):
        registry._pending[ep.name] = ep
    for ep in _extra():  # unnamed until loaded
        registry._load(ep)
    return registry
