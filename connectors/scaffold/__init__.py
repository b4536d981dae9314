"""`selfdata connectors new NAME`: a working connector module and its test."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from connectors.sdk.errors import SelfdataError


class ScaffoldError(SelfdataError, ValueError):
    """The name or folder given to `connectors new` cannot be used."""


@dataclass(frozen=True)
class Scaffold:
    connector_file: Path
    test_file: Path
    class_name: str


def names(name: str) -> tuple[str, str, str]:
    """(entry point name, module name, class name) for NAME, e.g. my-bank."""
    if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name):
        raise ScaffoldError(f"{name!r}: a connector name is lowercase words joined by '-', e.g. my-bank")
    module = name.replace("-", "_")
    cls = "".join(part.capitalize() for part in name.split("-"))
    return name, module, cls


def write(name: str, folder: Path, title: str | None = None) -> Scaffold:
    name, module, cls = names(name)
    connector_file = folder / f"{module}.py"
    test_file = folder / f"test_{module}.py"
    for f in (connector_file, test_file):
        if f.exists():
            raise ScaffoldError(f"{f} already exists; nothing was written")
    values = {"name": name, "module": module, "cls": cls, "title": title or name.replace("-", " ").title()}
    pkg = resources.files("connectors.scaffold")
    connector_file.write_text(pkg.joinpath("template_connector.py.txt").read_text().format(**values))
    test_file.write_text(pkg.joinpath("template_test.py.txt").read_text().format(**values))
    return Scaffold(connector_file, test_file, cls)
