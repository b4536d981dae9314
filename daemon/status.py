"""`selfdata status`: where the vault is, its slots and what it holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .times import iso
from .vault import Unlocked, Vault


@dataclass(frozen=True)
class StatusReport:
    version: str
    vault_dir: Path
    config_file: Path
    vault_id: str
    unlocked_by: str
    size_bytes: int
    slots: list[dict[str, Any]]
    datasets: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "vault": {
                "path": str(self.vault_dir),
                "id": self.vault_id,
                "unlocked_by": self.unlocked_by,
                "size_bytes": self.size_bytes,
                "slots": self.slots,
            },
            "config_file": str(self.config_file),
            "config_exists": self.config_file.exists(),
            "datasets": self.datasets,
        }


def vault_status(vault: Vault, unlocked: Unlocked) -> StatusReport:
    size = sum(p.stat().st_size for p in vault.paths.vault_dir.iterdir() if p.is_file())
    datasets = [
        {
            "dataset": c.dataset,
            "source": c.source,
            "records": c.count,
            "first": iso(c.first_ts) if c.first_ts is not None else None,
            "last": iso(c.last_ts) if c.last_ts is not None else None,
        }
        for c in vault.counts()
    ]
    return StatusReport(
        version=__version__,
        vault_dir=vault.paths.vault_dir,
        config_file=vault.paths.config_file,
        vault_id=vault.vault_id,
        unlocked_by=unlocked.method,
        size_bytes=size,
        slots=[s.describe() for s in unlocked.slots.slots],
        datasets=datasets,
    )
