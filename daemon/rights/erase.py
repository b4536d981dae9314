"""`selfdata erase`: a source, or a dataset, gone from the vault's files for good.

Records become tombstones (key and time only; their content is wiped, and
`secure_delete` zeroes the freed bytes) so the changes feed tells apps to delete their
copies; records an import has staged but not published go too. A source's credentials,
stored files, run log and notifications go with it. Then the WAL is checkpointed and
truncated and the database vacuumed, so no page on disk still holds what was erased.
The erasure is recorded — what, when, how many — without the data. Tombstones are
purged after `vault.tombstone_retention_days`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import SelfdataError
from ..sources import SourceStore
from ..times import iso, now_ms
from ..vault import Vault
from ..vault.files import FileStore


class EraseError(SelfdataError, ValueError):
    pass


@dataclass(frozen=True)
class EraseResult:
    source: str | None
    dataset: str | None
    records: int
    secrets: int
    files: int
    datasets: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "dataset": self.dataset,
            "records": self.records,
            "secrets": self.secrets,
            "files": self.files,
            "datasets": list(self.datasets),
        }


def erase(vault: Vault, *, source: str | None = None, dataset: str | None = None) -> EraseResult:
    if not source and not dataset:
        raise EraseError("say what to erase: --source NAME and/or --dataset NAME")
    store = SourceStore(vault)
    if (
        source
        and store.find(source) is None
        and not vault.conn.execute("SELECT 1 FROM records WHERE source=? LIMIT 1", (source,)).fetchone()
    ):
        raise EraseError(f"no source named {source!r}")
    touched = tuple(
        r[0]
        for r in vault.conn.execute(
            "SELECT DISTINCT dataset FROM records WHERE deleted=0"
            " AND (? IS NULL OR source=?) AND (? IS NULL OR dataset=?)",
            (source, source, dataset, dataset),
        )
    )
    if not touched and not (source and store.find(source) is not None):
        what = " of ".join(x for x in (dataset, source) if x)
        raise EraseError(f"nothing to erase: no records of {what}")
    with vault.writer.transaction() as conn:
        records = vault.writer.delete_in(conn, source=source, dataset=dataset)
        # Rows an older selfdata staged before it was killed (imports now write in one transaction).
        conn.execute(
            "DELETE FROM staging WHERE (? IS NULL OR run_id IN (SELECT id FROM runs WHERE source=?))"
            " AND (? IS NULL OR dataset=?)",
            (source, source, dataset, dataset),
        )
    secrets = files = 0
    whole_source = source is not None and dataset is None
    if whole_source:
        assert source is not None
        secrets = vault.secrets.delete_source(source)
        files = FileStore(vault).delete_source(source)
        if store.find(source) is not None:
            store.remove(source)
        with vault.writer.transaction() as conn:
            # Errors and messages can quote what the source held; a run still going keeps its row to finish.
            conn.execute("DELETE FROM runs WHERE source=? AND status!='running'", (source,))
            conn.execute("DELETE FROM notifications WHERE source=?", (source,))
    with vault.writer.transaction() as conn:
        conn.execute(
            "INSERT INTO erasures (at, source, dataset, records, secrets, files) VALUES (?,?,?,?,?,?)",
            (now_ms(), source, dataset, records, secrets, files),
        )
    scrub(vault)
    return EraseResult(source, dataset, records, secrets, files, touched)


def scrub(vault: Vault) -> None:
    """Leave no freed page behind: checkpoint and truncate the WAL, rebuild the database."""
    with vault.writer.lock:
        vault.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        vault.conn.execute("VACUUM")
        vault.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def purge_tombstones(vault: Vault, retention_days: int) -> int:
    """Tombstones older than the retention leave the changes feed for good."""
    return vault.writer.purge_tombstones(now_ms() - retention_days * 86_400_000)


def erasures(vault: Vault) -> list[dict[str, Any]]:
    rows = vault.conn.execute(
        "SELECT at, source, dataset, records, secrets, files FROM erasures ORDER BY id DESC"
    ).fetchall()
    return [
        {"at": iso(at), "source": s, "dataset": d, "records": r, "secrets": sec, "files": f}
        for at, s, d, r, sec, f in rows
    ]
