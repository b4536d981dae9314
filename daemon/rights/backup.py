"""`selfdata backup OUT`: a consistent copy of the encrypted vault, safe while the daemon runs.

SQLite's online backup copies the database page by page under the same key (the copy is
as encrypted as the original), a few pages at a time so syncs keep writing meanwhile;
the key slots are copied beside it. Restoring is copying the folder back (docs/install.md).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SelfdataError
from ..files import ensure_private_dir
from ..vault import Vault
from ..vault.db import connect

PAGES_PER_STEP = 256


class BackupError(SelfdataError, ValueError):
    pass


@dataclass(frozen=True)
class BackupResult:
    out: Path
    size_bytes: int
    records: int

    def to_json(self) -> dict[str, Any]:
        return {"out": str(self.out), "size_bytes": self.size_bytes, "records": self.records}


def backup(vault: Vault, out: Path) -> BackupResult:
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} is not empty; choose a new folder")
    target_dir = ensure_private_dir(out / "vault")
    target = target_dir / "vault.db"
    dest = connect(target, vault._master.db_key)
    try:
        vault.conn.backup(dest, pages=PAGES_PER_STEP)
        dest.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        problems = [r[0] for r in dest.execute("PRAGMA quick_check")]
        records = int(dest.execute("SELECT count(*) FROM records WHERE deleted=0").fetchone()[0])
    finally:
        dest.close()
    if problems != ["ok"]:
        raise BackupError(f"the copy failed its check: {'; '.join(problems[:3])}")
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copy2(vault.paths.keyslots_file, target_dir / "keyslots.json")
    for f in target_dir.iterdir():
        os.chmod(f, 0o600)
    size = sum(f.stat().st_size for f in target_dir.iterdir())
    return BackupResult(out, size, records)
