"""`selfdata renormalize SOURCE`: re-run a connector's mapping over the stored vendor fragments.

When a connector's `normalize` improves (a new field, a fixed unit), the records it
made earlier are remapped from their `raw` without asking the vendor again.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from connectors.sdk import ConnectorError, Fragment, Plugin
from connectors.sdk.pipeline import to_records

from ..events import Event, RecordsChanged
from ..plugins import Registry
from ..sources import SourceError, SourceStore
from ..times import to_ms
from ..vault import BatchCounts, RecordIn, Vault
from ..vault.records import prepare
from . import runs

CHUNK = 2000


def renormalize(
    vault: Vault, registry: Registry, name: str, publish: Callable[[Event], object] | None = None
) -> runs.Run:
    """Remap source `name`'s stored records; `publish` gets a records.changed per chunk that changed any."""
    source = SourceStore(vault).get(name)
    plugin = registry.get(source.connector)()
    if type(plugin).normalize is Plugin.normalize:
        raise SourceError(f"{source.connector} maps records as it fetches them; it cannot renormalize stored data")
    run_id = runs.start(vault, name, "renormalize")
    counts, deleted = BatchCounts(), 0
    top = int(vault.conn.execute("SELECT coalesce(max(seq), 0) FROM records WHERE source=?", (name,)).fetchone()[0])
    reader = vault.reader()
    last = 0
    try:
        while True:
            rows = reader.execute(
                "SELECT seq, dataset, key, raw FROM records WHERE source=? AND deleted=0 AND raw IS NOT NULL"
                " AND seq>? AND seq<=? ORDER BY seq LIMIT ?",
                (name, last, top, CHUNK),
            ).fetchall()
            if not rows:
                break
            last = rows[-1][0]
            fresh: list[RecordIn] = []
            stale: list[tuple[str, str]] = []
            for _, dataset, key, raw in rows:
                mapped = to_records(plugin, Fragment(dataset, orjson.loads(raw)))
                fresh += [RecordIn(name, r.dataset, r.key, to_ms(r.ts), r.data, r.raw) for r in mapped]
                if not any((r.dataset, r.key) == (dataset, key) for r in mapped):
                    stale.append((dataset, key))
            prepared = prepare(fresh)
            with vault.writer.transaction() as conn:
                chunk = vault.writer.apply(conn, prepared, run_id)
                gone = sum(vault.writer.delete_in(conn, source=name, dataset=d, keys=[k]) for d, k in stale)
            counts.add(chunk)
            deleted += gone
            if publish is not None and (chunk.new or chunk.changed or gone):
                touched = tuple(sorted({r.dataset for r in fresh} | {d for d, _ in stale}))
                publish(RecordsChanged(name, touched, chunk.new, chunk.changed, gone))
    except ConnectorError as err:
        return runs.finish(vault, run_id, "failed", counts, deleted, str(err))
    finally:
        reader.close()
    return runs.finish(vault, run_id, "ok", counts, deleted)
