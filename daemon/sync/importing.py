"""`selfdata import FILE`: recognise the format, then store its records in one transaction.

Each record is written once, straight into `records`, inside a single transaction that
covers the whole file (with the run's settings): a file that fails half way, or a process
killed at any moment, stores nothing, since SQLite rolls back what was never committed.
Other writers of the same vault wait for the import (the writer is one connection).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from connectors.sdk import ConnectorError, Delete, Importer, ImportFailed, Notice
from connectors.sdk.fields import parse_settings
from connectors.sdk.pipeline import to_records

from ..errors import SelfdataError
from ..filenames import printable, shown
from ..files import transient
from ..plugins import Registry
from ..sources import Source, SourceError, SourceStore
from ..times import now_ms, to_ms
from ..vault import BatchCounts, Vault
from ..vault.files import file_sha256
from ..vault.records import Prepared, stored_form
from . import runs

HEAD_BYTES = 65536
BATCH = 5000  # records a statement: big enough to pay, small enough to keep memory flat
NOTICES_KEPT = 20  # a file that yields thousands keeps the first ones and their count

Progress = Callable[[int], None]  # records read so far


class UnknownFormat(SelfdataError, ValueError):
    """No importer recognises the file; the message lists the formats known."""


@dataclass(frozen=True)
class ImportResult:
    file: Path
    importer: str
    source: Source
    run: runs.Run
    records: int
    datasets: tuple[str, ...] = ()  # those the file's records and deletions went to
    retry: str | None = None  # the system's passing trouble it failed for (too many open files...), if so
    already: runs.Run | None = None  # the earlier run that imported these very bytes: nothing was read
    notices: tuple[str, ...] = ()  # what the importer told about the file it imported anyway

    @property
    def ok(self) -> bool:
        return self.run.status == "ok"


def detect(
    registry: Registry, path: Path, fmt: str | None = None, values: dict[str, Any] | None = None
) -> type[Importer]:
    """The importer of the file: the one named, else the one that recognises the content.
    Settings given without a format choose the importer when the content does not (a CSV
    in a layout of its own, with bank-csv's profile and columns)."""
    if fmt is not None:
        cls = registry.importers.get(fmt)
        if cls is None:
            raise UnknownFormat(
                f"no importer named {fmt!r}; formats: {', '.join(sorted(registry.importers)) or 'none'}"
            )
        return cls
    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
    matches = [cls for cls in registry.importers.values() if _sniff(cls, head, path.name)]
    if len(matches) != 1 and values:
        chosen = _by_settings(registry, matches, set(values))
        if chosen is not None:
            return chosen
    if not matches:
        known = "; ".join(f"{c.name} ({c.title})" for c in sorted(registry.importers.values(), key=lambda c: c.name))
        hints = [h for h in (_hint(c, head, path.name) for c in registry.importers.values()) if h]
        raise UnknownFormat(
            f"{shown(path.name)}: no importer recognises this file"
            + (f"; {hints[0]}" if hints else "")
            + f". Formats known: {known or 'none'}"
        )
    if len(matches) > 1:
        names = ", ".join(sorted(c.name for c in matches))
        raise UnknownFormat(
            f"{shown(path.name)}: several importers recognise this file ({names}); choose with --format"
        )
    return matches[0]


def _by_settings(registry: Registry, matches: list[type[Importer]], given: set[str]) -> type[Importer] | None:
    """The one importer (among those that recognise the file, or all when none does) that
    declares every setting given."""
    pool = matches or list(registry.importers.values())
    fits = [cls for cls in pool if given <= {f.name for f in cls.fields}]
    return fits[0] if len(fits) == 1 else None


def _hint(cls: type[Importer], head: bytes, filename: str) -> str | None:
    """What an importer that does not recognise the file says to give to read it anyway
    (an optional `unrecognised_hint` classmethod: bank-csv names its settings for a CSV)."""
    hint = getattr(cls, "unrecognised_hint", None)
    if not callable(hint):
        return None
    try:
        text = hint(head, filename)
    except Exception:  # a plugin's broken hint must not hide the error it adds to
        return None
    return text if isinstance(text, str) and text else None


def _sniff(cls: type[Importer], head: bytes, filename: str) -> bool:
    try:
        return bool(cls.sniff(head, filename))
    except Exception:  # a plugin's broken sniff must not stop the others
        return False


@dataclass(frozen=True)
class Target:
    """The source a file goes to, and what this import would change of it: applied only
    when the import succeeds, so a failed import changes no setting and leaves no source."""

    source: Source
    created: bool = False
    settings: dict[str, Any] | None = None  # new settings for an existing source


def import_source(
    store: SourceStore, importer: type[Importer], name: str | None, values: dict[str, Any] | None
) -> Target:
    """The source a file goes to (named after the importer by default), created if needed.

    Without a source name, a changed setting of a source that already holds records is
    refused: importers read settings such as an account or a currency into what identifies
    a record, so the same file would come in again as new records beside the old ones.
    """
    chosen = name or importer.name
    existing = store.find(chosen)
    if existing is None:
        settings, secrets = parse_settings(importer.fields, values or {})
        return Target(store.add(chosen, importer.name, "importer", settings, secrets), created=True)
    if existing.connector != importer.name:
        raise SourceError(f"source {chosen!r} is fed by {existing.connector}, but this file is {importer.name}")
    if not values:
        return Target(existing)
    settings, _ = parse_settings(importer.fields, {**existing.settings, **values})
    changed = sorted(k for k in settings if settings[k] != existing.settings.get(k))
    if not changed:
        return Target(existing)
    held = store.vault.conn.execute("SELECT count(*) FROM records WHERE source=?", (chosen,)).fetchone()[0]
    if name is None and held:
        was = ", ".join(
            f"{k} unset" if existing.settings.get(k) is None else f"{k}={existing.settings[k]}" for k in changed
        )
        raise SourceError(
            f"source {chosen!r} already holds {held:,} records read with {was}; changing "
            f"{', '.join(changed)} could bring the same records in again beside them. Import into a source "
            f"of its own: --source NAME (a new one gets these settings), or change it for every later import "
            f"with selfdata source edit {chosen}"
        )
    return Target(replace(existing, settings=settings), settings=settings)


def import_file(
    vault: Vault,
    registry: Registry,
    path: Path,
    *,
    source: str | None = None,
    fmt: str | None = None,
    values: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    importer_cls = detect(registry, path, fmt, values)
    store = SourceStore(vault)
    target = import_source(store, importer_cls, source, values)
    src = target.source
    name = shown(path.name)  # the run, the health and the logs take valid UTF-8 only
    digest = file_sha256(path)[0]
    same = _settings_digest(src.settings if target.settings is None else target.settings)
    seen = {"file": name, "sha256": digest, "settings": same}
    earlier = None if target.created else _imported_before(vault, src.name, digest, same)
    if earlier is not None:
        run_id = runs.start(vault, src.name, "import")
        held = BatchCounts(unchanged=earlier.new + earlier.changed + earlier.unchanged)
        run = runs.finish(vault, run_id, "ok", held, 0, None, {**seen, "records": 0, "same_as": earlier.id})
        return ImportResult(path, importer_cls.name, src, run, 0, already=earlier)
    run_id = runs.start(vault, src.name, "import")
    read = Reading()
    try:
        counts, deleted, touched = _store(vault, run_id, src, importer_cls(), path, progress, target.settings, read)
    except (ConnectorError, OSError, UnicodeError, ValueError) as err:
        message = str(err) if isinstance(err, ConnectorError) else f"{path.name}: {type(err).__name__}: {err}"
        message = printable(message, path.name)
        run = runs.finish(vault, run_id, "failed", BatchCounts(), 0, message, {"file": name})
        if store.find(src.name) is None:  # erased meanwhile
            return ImportResult(path, importer_cls.name, src, run, read.records)
        if target.created:
            store.remove(src.name)
            return ImportResult(path, importer_cls.name, src, run, read.records)
        trouble = transient(err)
        retry = (trouble.strerror or str(trouble)) if trouble is not None else None
        # The file failed, not the source: its health stays, the run log and the answer say why.
        return ImportResult(path, importer_cls.name, store.get(src.name), run, read.records, retry=retry)
    except BaseException:
        runs.finish(vault, run_id, "failed", BatchCounts(), 0, "interrupted", {"file": name})
        if target.created and store.find(src.name) is not None:
            store.remove(src.name)
        raise
    told = read.told()
    detail = {**seen, "records": read.records, **({"notices": told} if told else {})}
    run = runs.finish(vault, run_id, "ok", counts, deleted, None, detail)
    now = store.find(src.name) or src  # an erase that waited for the import may have removed it since
    return ImportResult(path, importer_cls.name, now, run, read.records, touched, notices=tuple(told))


def _settings_digest(settings: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(settings, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def _imported_before(vault: Vault, source: str, digest: str, settings: str) -> runs.Run | None:
    """The last run that imported these bytes into `source` with these settings, if what it
    stored is still there: no later run changed or deleted records and nothing was erased since."""
    conn = vault.conn
    row = conn.execute(
        "SELECT id, ended_at FROM runs WHERE source=? AND kind='import' AND status='ok'"
        " AND json_extract(detail, '$.sha256')=? AND json_extract(detail, '$.settings')=? ORDER BY id DESC LIMIT 1",
        (source, digest, settings),
    ).fetchone()
    if row is None:
        return None
    run_id, ended = row
    later = conn.execute(
        "SELECT 1 FROM runs WHERE source=? AND id>? AND (changed>0 OR deleted>0 OR status='running') LIMIT 1",
        (source, run_id),
    ).fetchone()
    erased = conn.execute(
        "SELECT 1 FROM erasures WHERE at>=? AND (source IS NULL OR source=?) LIMIT 1", (ended, source)
    ).fetchone()
    if later is not None or erased is not None:
        return None
    return runs.get(vault, int(run_id))


@dataclass
class Reading:
    records: int = 0  # read from the file so far (a key given twice counts twice)
    notices: list[str] = field(default_factory=list)
    more: int = 0  # notices past NOTICES_KEPT

    def notice(self, item: Notice, filename: str) -> None:
        if len(self.notices) < NOTICES_KEPT:
            self.notices.append(printable(item.message, filename))
        else:
            self.more += 1

    def told(self) -> list[str]:
        return self.notices + ([f"and {self.more:,} more notices"] if self.more else [])

    def warning(self, name: str) -> str | None:
        """The source's warning after this import: its notices, or none (a clean file ends the last one's)."""
        if not self.notices:
            return None
        first = self.notices[0]
        rest = len(self.notices) - 1 + self.more
        said = first if name in first else f"{name}: {first}"
        return said + (f" (and {rest:,} more: selfdata runs SOURCE --json)" if rest else "")


def _store(
    vault: Vault,
    run_id: int,
    src: Source,
    importer: Importer,
    path: Path,
    progress: Progress | None,
    settings: dict[str, Any] | None,
    read: Reading,
) -> tuple[BatchCounts, int, tuple[str, ...]]:
    """Read the file and write its records in one transaction: all of it is stored, or none."""
    writer, source = vault.writer, src.name
    counts, deleted = BatchCounts(), 0
    touched: set[str] = set()
    with writer.transaction() as conn:
        if conn.execute("SELECT 1 FROM sources WHERE name=?", (source,)).fetchone() is None:
            raise ImportFailed(
                f"{path.name}: {source} was erased before the file was read, so nothing of it was stored; "
                "import it again if you want it"
            )
        prepared: Prepared = {}
        n = 0
        for item in importer.read(path, dict(src.settings)):
            if isinstance(item, Notice):
                read.notice(item, path.name)
                continue
            if isinstance(item, Delete):
                counts.add(writer.apply(conn, prepared, run_id))
                prepared = {}
                touched.add(item.dataset)
                deleted += writer.delete_in(conn, source=source, dataset=item.dataset, keys=list(item.keys))
                continue
            for r in to_records(importer, item):
                ts = to_ms(r.ts)
                prepared[(source, r.dataset, r.key)] = (ts, *stored_form(ts, r.data, r.raw))
                touched.add(r.dataset)
                n += 1
            if len(prepared) >= BATCH:
                counts.add(writer.apply(conn, prepared, run_id))
                prepared = {}
                read.records = n
                if progress:
                    progress(n)
        counts.add(writer.apply(conn, prepared, run_id))
        read.records = n
        if progress:
            progress(n)
        if settings is not None:  # with the records they were read with
            SourceStore.save_settings(conn, source, settings)
        # An importer source's warning is its last file's notices; a connector's stays its runner's.
        conn.execute(
            "UPDATE sources SET health='ok', health_message=NULL, health_since=CASE WHEN health='ok'"
            " THEN health_since ELSE ? END, failures=0, updated_at=?,"
            " warning=CASE WHEN ? IS NOT NULL THEN ? WHEN kind='importer' THEN NULL ELSE warning END WHERE name=?",
            (now_ms(), now_ms(), *(2 * [read.warning(shown(path.name))]), source),
        )
    return counts, deleted, tuple(sorted(touched))
