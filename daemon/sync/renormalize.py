"""`selfdata renormalize SOURCE`: re-run a connector's mapping over the stored vendor fragments.

When a connector's `normalize` improves (a new field, a fixed unit), the records it
made earlier are remapped from their `raw` without asking the vendor again.
"""

from __future__ import annotations

import orjson

from connectors.sdk import ConnectorError, Fragment, Plugin
from connectors.sdk.pipeline import to_records

from ..plugins import Registry
from ..sources import SourceError, SourceStore
from ..times import to_ms
from ..vault import BatchCounts, RecordIn, Vault
from ..vault.records import prepare
from . import runs

CHUNK = 2000


def renormalize(vault: Vault, registry: Registry, name: str) -> runs.Run:
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
                counts.add(vault.writer.apply(conn, prepared, run_id))
                for dataset, key in stale:
                    deleted += vault.writer.delete_in(conn, source=name, dataset=dataset, keys=[key])
    except ConnectorError as err:
        return runs.finish(vault, run_id, "failed", counts, deleted, str(err))
    finally:
        reader.close()
    return runs.finish(vault, run_id, "ok", counts, deleted)
