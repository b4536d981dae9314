"""The directory of organisations and their published privacy contacts.

The built-in list is `organisations.toml` beside this module, every entry with the page
that publishes its contact. A user's own `organisations.toml` beside their config.toml
adds entries, or replaces one by giving the same id.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import SelfdataError

BUILT_IN = Path(__file__).with_name("organisations.toml")
ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


class DirectoryError(SelfdataError, ValueError):
    """A directory file or entry selfdata cannot use; the message names the file and entry."""


@dataclass(frozen=True)
class Organisation:
    id: str
    name: str
    country: str = ""
    category: str = ""
    email: str = ""
    postal: str = ""
    web: str = ""
    cited: str = ""
    note: str = ""
    checked: str = ""
    builtin: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def contact(self) -> dict[str, str]:
        return {k: v for k, v in (("email", self.email), ("postal", self.postal), ("web", self.web)) if v}


def user_file(config_file: Path) -> Path:
    return config_file.parent / "organisations.toml"


def _read(path: Path, builtin: bool) -> list[Organisation]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise DirectoryError(f"{path}: not valid TOML: {err}") from None
    entries = data.get("organisation", [])
    if not isinstance(entries, list):
        raise DirectoryError(f"{path}: organisations are [[organisation]] tables")
    out = []
    known = set(Organisation.__dataclass_fields__) - {"builtin"}
    for n, entry in enumerate(entries, 1):
        where = f"{path}, organisation {n}"
        if not isinstance(entry, dict):
            raise DirectoryError(f"{where}: not a table")
        unknown = sorted(set(entry) - known)
        if unknown:
            raise DirectoryError(f"{where}: unknown key {unknown[0]!r} (keys: {', '.join(sorted(known))})")
        if not all(isinstance(v, str) for v in entry.values()):
            raise DirectoryError(f"{where}: every value is text")
        if not ID.fullmatch(entry.get("id", "")):
            raise DirectoryError(f"{where}: id must be lower-case letters, digits, - or _ (it names the inbox folder)")
        if not entry.get("name"):
            raise DirectoryError(f"{where}: name is missing")
        out.append(Organisation(**entry, builtin=builtin))
    return out


def load(config_file: Path | None) -> dict[str, Organisation]:
    """Every organisation by id: the built-in ones, then the user's (which win)."""
    found = {o.id: o for o in _read(BUILT_IN, True)}
    if config_file is not None and user_file(config_file).is_file():
        found.update((o.id, o) for o in _read(user_file(config_file), False))
    return dict(sorted(found.items()))
