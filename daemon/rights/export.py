"""`selfdata export`: everything, or a dataset or a source, as JSON Lines, CSV or plain SQLite.

Streamed from a read connection in chunks, so millions of records stay in bounded
memory. Every format carries a manifest: export time, selfdata version, sources,
schemas and counts. Credentials are never exported: they are not read at all.

A vault with damaged pages is exported from a rescued copy (`Vault.salvage`, kept encrypted
in the private state directory while the export reads it): every record still readable is
exported, and the manifest's `unreadable` lists the rest.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from connectors.sdk import datasets as schemas
from connectors.sdk.schema import AnyJson, DecimalText, Integer, Kind, ListOf, Nested

from .. import __version__
from ..errors import SelfdataError
from ..times import iso, now_ms
from ..vault import Vault
from ..vault.damage import is_damage
from ..vault.db import Connection
from ..vault.keys import KdfProfile
from ..vault.recordjson import EXPORT_JSON, FLAT_COLUMNS, FLAT_FIELDS, RecordSelect
from .sealed import seal

FORMATS = ("jsonl", "csv", "sqlite")
CHUNK = 5000
Progress = Callable[[int, int], None]  # records written, records in all


class ExportError(SelfdataError, ValueError):
    pass


@dataclass
class ExportResult:
    out: Path
    format: str
    counts: dict[str, int] = field(default_factory=dict)
    encrypted: bool = False
    rescued: dict[str, Any] | None = None  # from a damaged vault: what could not be read, in sum

    @property
    def records(self) -> int:
        return sum(self.counts.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "format": self.format,
            "counts": self.counts,
            "records": self.records,
            "encrypted": self.encrypted,
            **({"rescued": self.rescued} if self.rescued is not None else {}),
        }


def _scope(dataset: str | None, source: str | None) -> tuple[str, list[Any]]:
    clauses, params = ["deleted=0"], []
    if dataset:
        clauses.append("dataset=?")
        params.append(dataset)
    if source:
        clauses.append("source=?")
        params.append(source)
    return " AND ".join(clauses), params


def _rows(conn: Connection, dataset: str, where: str, params: list[Any], columns: str) -> Iterator[tuple[Any, ...]]:
    """(ts, seq, *columns) of a dataset's records in (ts, seq) order, read in chunks by keyset."""
    for rows in RecordSelect([where, "dataset=?"], [*params, dataset], columns).chunks(conn, CHUNK):
        yield from rows


Getter = Callable[[dict[str, Any]], Any]


def _plain(name: str) -> Getter:
    return lambda d: d.get(name)


def _sub(name: str, sub: str) -> Getter:
    return lambda d: (d.get(name) or {}).get(sub)


def _as_json(name: str) -> Getter:
    return lambda d: None if d.get(name) is None else orjson.dumps(d[name]).decode()


def _extra(known: set[str]) -> Getter:
    def get(d: dict[str, Any]) -> Any:
        rest = {k: v for k, v in d.items() if k not in known}
        return orjson.dumps(rest).decode() if rest else None

    return get


def columns_of(dataset: str) -> list[tuple[str, Getter]]:
    """Flat columns from a dataset's schema: nested objects as dotted names, lists as JSON."""
    shape = schemas.schema_of(dataset)
    if shape is None:
        return [("data", lambda d: orjson.dumps(d).decode())]
    out: list[tuple[str, Getter]] = []
    for name, kind in shape.fields().items():
        if isinstance(kind, Nested):
            out += [(f"{name}.{sub}", _sub(name, sub)) for sub in kind.shape.fields()]
        elif isinstance(kind, ListOf | AnyJson):
            out.append((name, _as_json(name)))
        else:
            out.append((name, _plain(name)))
    out.append(("extra", _extra(set(shape.fields()))))
    return out


def kinds_of(dataset: str) -> dict[str, Kind]:
    """The schema's kind of each flat column `columns_of` gives (nested fields by dotted name)."""
    shape = schemas.schema_of(dataset)
    out: dict[str, Kind] = {}
    if shape is None:
        return out
    for name, kind in shape.fields().items():
        if isinstance(kind, Nested):
            out.update({f"{name}.{sub}": k for sub, k in kind.shape.fields().items()})
        else:
            out[name] = kind
    return out


def _number(text: Any) -> float | None:
    """A decimal's value as a REAL, for sorting and charts only: the exact text stays beside it."""
    if text is None:
        return None
    try:
        return float(str(text))
    except ValueError:
        return None


def _valued(get: Getter) -> Getter:
    return lambda d: _number(get(d))


def _manifest(
    conn: Connection, counts: dict[str, int], fmt: str, dataset: str | None, source: str | None
) -> dict[str, Any]:
    sources = [
        {"name": n, "connector": c, "kind": k}
        for n, c, k in conn.execute("SELECT name, connector, kind FROM sources ORDER BY name")
        if source in (None, n)
    ]
    return {
        "format": "selfdata-export",
        "version": 1,
        "exported_at": iso(now_ms()),
        "selfdata": __version__,
        "export_format": fmt,
        "filter": {"dataset": dataset, "source": source},
        "sources": sources,
        "datasets": {d: {"records": n, "schema": schemas.json_schema(d)} for d, n in counts.items()},
        "credentials": "never exported",
    }


def export(
    vault: Vault,
    out: Path,
    fmt: str,
    *,
    dataset: str | None = None,
    source: str | None = None,
    passphrase: str | None = None,
    kdf: KdfProfile | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r}: use one of {', '.join(FORMATS)}")
    if out.exists() and (out.is_file() or any(out.iterdir())):
        raise ExportError(f"{out} already exists and is not an empty folder; nothing was written")
    existed = out.exists()
    job = _Job(out, fmt, dataset, source, passphrase, kdf, progress)
    try:
        return job.run(vault, vault.reader(cache_kib=2000))
    except Exception as err:
        if not is_damage(err):
            raise
    _remove(out, existed)  # what the failed read had written: the folder was empty or absent
    rescue = Path(tempfile.mkdtemp(prefix=".rescue-", dir=vault.paths.state_dir))
    try:
        copy = rescue / "vault.db"
        salvaged = vault.salvage(copy)
        job.unreadable = salvaged.to_json()
        result = job.run(vault, vault.reader_of(copy))
        result.rescued = salvaged.summary()
        return result
    finally:
        shutil.rmtree(rescue, ignore_errors=True)


def _remove(out: Path, existed: bool) -> None:
    if out.is_dir():
        shutil.rmtree(out)
        if existed:
            out.mkdir(mode=0o700)
    else:
        out.unlink(missing_ok=True)


@dataclass
class _Job:
    out: Path
    fmt: str
    dataset: str | None
    source: str | None
    passphrase: str | None
    kdf: KdfProfile | None
    progress: Progress | None
    unreadable: dict[str, Any] | None = None  # in the manifest, when exporting a rescued copy

    def run(self, vault: Vault, conn: Connection) -> ExportResult:
        """The export from `conn` (the vault's, or a rescued copy's), which it closes."""
        staging = None
        try:
            if self.passphrase is not None:
                # The plaintext is staged in the private state directory, sealed, then removed.
                staging = Path(tempfile.mkdtemp(prefix=".export-", dir=vault.paths.state_dir))
            target = self.out if staging is None else staging / ("export.sqlite" if self.fmt == "sqlite" else "export")
            counts = self._write(conn, target)
            if staging is not None and self.passphrase is not None:
                seal(
                    target if target.is_dir() else staging,
                    self.out,
                    self.passphrase,
                    self.kdf or KdfProfile(2, 256 << 20),
                )
        finally:
            conn.close()
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
        return ExportResult(self.out, self.fmt, counts, self.passphrase is not None)

    def _write(self, conn: Connection, target: Path) -> dict[str, int]:
        where, params = _scope(self.dataset, self.source)
        counts = {
            d: int(n)
            for d, n in conn.execute(
                f"SELECT dataset, count(*) FROM records WHERE {where} GROUP BY dataset ORDER BY dataset", params
            )
        }
        if self.dataset and not counts:
            raise ExportError(f"no records of {self.dataset}" + (f" from {self.source}" if self.source else ""))
        writer = {"jsonl": _jsonl, "csv": _csv, "sqlite": _sqlite}[self.fmt]
        total, done = sum(counts.values()), [0]

        def tick(n: int) -> None:
            done[0] += n
            if self.progress:
                self.progress(done[0], total)

        manifest = _manifest(conn, counts, self.fmt, self.dataset, self.source)
        if self.unreadable is not None:
            manifest["unreadable"] = self.unreadable
        writer(conn, target, counts, where, params, manifest, tick)
        return counts


def _counted(rows: Iterator[tuple[Any, ...]], tick: Callable[[int], None]) -> Iterator[tuple[Any, ...]]:
    """The rows, reporting progress every CHUNK rows and at the end."""
    n = 0
    for row in rows:
        yield row
        n += 1
        if n % CHUNK == 0:
            tick(CHUNK)
    tick(n % CHUNK)


def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    (out / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))


def _jsonl(
    conn: Connection,
    out: Path,
    counts: dict[str, int],
    where: str,
    params: list[Any],
    manifest: dict[str, Any],
    tick: Callable[[int], None],
) -> None:
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    for ds in counts:
        with (out / f"{ds}.jsonl").open("wb") as f:
            # The record's JSON as the API gives it (plus `raw`), built by SQLite.
            for _, _, line in _counted(_rows(conn, ds, where, params, EXPORT_JSON), tick):
                f.write(line.encode() + b"\n")
    _write_manifest(out, manifest)


def _csv(
    conn: Connection,
    out: Path,
    counts: dict[str, int],
    where: str,
    params: list[Any],
    manifest: dict[str, Any],
    tick: Callable[[int], None],
) -> None:
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    for ds in counts:
        cols = columns_of(ds)
        with (out / f"{ds}.csv").open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow([*FLAT_FIELDS, *(c for c, _ in cols)])
            for ts, _, src, key, data in _counted(_rows(conn, ds, where, params, FLAT_COLUMNS), tick):
                d = orjson.loads(data)
                w.writerow([src, key, iso(ts), *("" if (v := get(d)) is None else v for _, get in cols)])
    _write_manifest(out, manifest)


def table_name(dataset: str) -> str:
    return dataset.replace(".", "_")


def _sqlite(
    conn: Connection,
    out: Path,
    counts: dict[str, int],
    where: str,
    params: list[Any],
    manifest: dict[str, Any],
    tick: Callable[[int], None],
) -> None:
    import sqlite3

    import sqlite_utils

    out.parent.mkdir(parents=True, exist_ok=True)
    plain = sqlite3.connect(out)
    # A new file nobody reads yet: an interrupted export is simply run again.
    plain.execute("PRAGMA journal_mode = OFF")
    plain.execute("PRAGMA synchronous = OFF")
    db = sqlite_utils.Database(plain)
    for ds in counts:
        kinds = kinds_of(ds)
        # Exact decimals stay text; each also gets a REAL `<name>_value` that sorts and sums as a
        # number in sqlite3 or Datasette. Whole numbers are INTEGER.
        cols: list[tuple[str, Getter]] = []
        types: dict[str, type] = {}
        for c, get in columns_of(ds):
            cols.append((c, get))
            types[c] = int if isinstance(kinds.get(c), Integer) else str
            if isinstance(kinds.get(c), DecimalText):
                cols.append((f"{c}_value", _valued(get)))
                types[f"{c}_value"] = float
        table = db.table(table_name(ds))
        table.create({"source": str, "key": str, "ts": str, "ts_ms": int, **types}, pk=("source", "key"))
        names = ", ".join(f'"{c}"' for c in [*FLAT_FIELDS, "ts_ms", *(c for c, _ in cols)])
        sql = f'INSERT INTO "{table_name(ds)}" ({names}) VALUES ({", ".join("?" * (4 + len(cols)))})'
        batch: list[tuple[Any, ...]] = []
        for ts, _, src, key, data in _rows(conn, ds, where, params, FLAT_COLUMNS):
            d = orjson.loads(data)
            batch.append((src, key, iso(ts), ts, *(get(d) for _, get in cols)))
            if len(batch) == CHUNK:
                plain.executemany(sql, batch)
                tick(len(batch))
                batch = []
        if batch:
            plain.executemany(sql, batch)
            tick(len(batch))
        table.create_index(["ts"])
    db.table("_selfdata_manifest").insert_all(
        [{"name": k, "value": orjson.dumps(v).decode()} for k, v in manifest.items()], pk="name"
    )
    plain.commit()
    plain.close()
