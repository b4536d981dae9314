"""`selfdata backup OUT`: a consistent copy of the encrypted vault, safe while the daemon runs.

SQLite's online backup copies the database page by page under the same key (the copy is
as encrypted as the original), in one read of its own connection: the WAL lets syncs keep
writing meanwhile, and a write elsewhere never restarts the copy, as it would between the
steps of a copy made a few pages at a time. The key slots are copied beside it. Restoring
is copying the folder back (docs/install.md).

A vault with damaged pages cannot be copied page by page: then every row still readable is
copied into a new database under the same key (`Vault.salvage`), and `unreadable.json`
beside the copy lists what could not be read, so what is left can be saved and restored.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..errors import SelfdataError
from ..files import atomic_write, ensure_private_dir
from ..vault import Vault
from ..vault.damage import is_damage
from ..vault.db import connect

UNREADABLE = "unreadable.json"


class BackupError(SelfdataError, ValueError):
    pass


@dataclass(frozen=True)
class BackupResult:
    out: Path
    size_bytes: int
    records: int
    rescued: dict[str, Any] | None = None  # from a damaged vault: what could not be read, in sum

    def to_json(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "size_bytes": self.size_bytes,
            "records": self.records,
            **({"rescued": self.rescued, "unreadable": str(self.out / UNREADABLE)} if self.rescued else {}),
        }


def backup(vault: Vault, out: Path) -> BackupResult:
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} is not empty; choose a new folder")
    target_dir = ensure_private_dir(out / "vault")
    target = target_dir / "vault.db"
    try:
        whole = _page_copy(vault, target)
    except Exception as err:
        if not is_damage(err):
            raise
        whole = False
    rescued = None
    if not whole:
        _remove(target)
        salvaged = vault.salvage(target)
        rescued = salvaged.summary()
        atomic_write(out / UNREADABLE, orjson.dumps(salvaged.to_json(), option=orjson.OPT_INDENT_2))
    dest = connect(target, vault._master.db_key)
    try:
        dest.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        problems = [r[0] for r in dest.execute("PRAGMA quick_check")]
        records = int(dest.execute("SELECT count(*) FROM records WHERE deleted=0").fetchone()[0])
    finally:
        dest.close()
    if problems != ["ok"]:
        raise BackupError(f"the copy failed its check: {'; '.join(problems[:3])}")
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copy2(vault.paths.keyslots_file, target_dir / "keyslots.json")
    for f in target_dir.iterdir():
        os.chmod(f, 0o600)
    size = sum(f.stat().st_size for f in target_dir.iterdir())
    return BackupResult(out, size, records, rescued)


def _page_copy(vault: Vault, target: Path) -> bool:
    """The database copied page by page; whether the copy passes SQLite's quick check. Read
    through a connection of its own: one that meets a damaged page refuses every read after."""
    source = vault.reader(cache_kib=2000)
    try:
        dest = connect(target, vault._master.db_key)
        try:
            source.backup(dest)  # all pages in one step: one snapshot
            dest.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return [r[0] for r in dest.execute("PRAGMA quick_check")] == ["ok"]
        finally:
            dest.close()
    finally:
        source.close()


def _remove(target: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)


LAST = "last-backup.json"


def record_last(state_dir: Path, to: str, records: int, size_bytes: int, snapshot: str | None = None) -> None:
    """What `doctor` reports as the last backup: where it went, when, and what it held."""
    from datetime import UTC, datetime

    entry = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "to": to,
        "records": records,
        "size_bytes": size_bytes,
        **({"snapshot": snapshot} if snapshot else {}),
    }
    atomic_write(state_dir / LAST, orjson.dumps(entry, option=orjson.OPT_INDENT_2), mode=0o600)


def last_backup(state_dir: Path) -> dict[str, Any] | None:
    try:
        entry = orjson.loads((state_dir / LAST).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    return entry if isinstance(entry, dict) and isinstance(entry.get("at"), str) else None
