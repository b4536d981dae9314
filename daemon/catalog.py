"""The datasets and sources a vault knows, so a mistyped name is an error that lists them.

A dataset is known when records of it are stored or an installed connector declares it;
a source when it is configured or records or runs of it are kept. The lists are read
only when a name is not known, so a correct name costs one indexed lookup.
"""

from __future__ import annotations

import fnmatch

from .errors import SelfdataError
from .plugins import Registry
from .vault import Vault
from .vault.db import Connection


class UnknownName(SelfdataError, LookupError):
    """A dataset or source that nothing in the vault or the installed connectors knows."""


def _listed(names: list[str], limit: int = 30) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "") if names else "none yet"


def datasets(conn: Connection, registry: Registry) -> list[str]:
    stored = {row[0] for row in conn.execute("SELECT DISTINCT dataset FROM records")}
    declared = {d for cls in registry.all() for d in cls.datasets}
    return sorted(stored | declared)


def sources(conn: Connection) -> list[str]:
    sql = "SELECT name FROM sources UNION SELECT DISTINCT source FROM records UNION SELECT DISTINCT source FROM runs"
    return sorted(row[0] for row in conn.execute(sql))


def check_dataset(vault: Vault, registry: Registry, name: str) -> None:
    if vault.conn.execute("SELECT 1 FROM records WHERE dataset=? LIMIT 1", (name,)).fetchone():
        return
    known = datasets(vault.conn, registry)
    if name not in known:
        raise UnknownName(f"no dataset named {name!r}; datasets: {_listed(known)}")


def check_source(vault: Vault, name: str) -> None:
    conn = vault.conn
    for table, column in (("sources", "name"), ("records", "source"), ("runs", "source")):
        if conn.execute(f"SELECT 1 FROM {table} WHERE {column}=? LIMIT 1", (name,)).fetchone():
            return
    raise UnknownName(f"no source named {name!r}; sources: {_listed(sources(conn))}")


def matching(vault: Vault, registry: Registry, scopes: list[str]) -> dict[str, list[str]]:
    """For each read scope, the datasets known today that it would read."""
    known = datasets(vault.conn, registry)
    return {s: [d for d in known if fnmatch.fnmatchcase(d, s[5:])] for s in scopes if s.startswith("read:")}


def unmatched_scopes(vault: Vault, registry: Registry, scopes: list[str]) -> list[str]:
    """The read scopes whose dataset glob matches no dataset known today."""
    reads = [s for s in scopes if s.startswith("read:")]
    if not reads:
        return []
    known = datasets(vault.conn, registry)
    return [s for s in reads if not any(fnmatch.fnmatchcase(d, s[5:]) for d in known)]


def scope_warning(vault: Vault, registry: Registry, scopes: list[str]) -> str | None:
    unmatched = unmatched_scopes(vault, registry, scopes)
    if not unmatched:
        return None
    known = datasets(vault.conn, registry)
    hints = [f"{s}.*" for s in unmatched if any(d.startswith(s[5:] + ".") for d in known)]
    return (
        f"{', '.join(unmatched)} matches no dataset selfdata knows today (datasets: {_listed(known)}); "
        "a token with it reads nothing until such a dataset exists"
        + (f". Did you mean {' '.join(hints)}?" if hints else "")
    )
