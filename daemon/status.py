"""`selfdata status`: where the vault is, its slots and what it holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .times import MAX_MS, MIN_MS, iso
from .vault import Unlocked, Vault
from .vault.records import StreamCount

OUT_OF_RANGE = (
    "some records have a time outside the years 0001-9999 in UTC (stored by an older selfdata); "
    "they read as 0001-01-01T00:00:00.000Z or 9999-12-31T23:59:59.999Z"
)


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
    damage: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "vault": {
                "path": str(self.vault_dir),
                "id": self.vault_id,
                "unlocked_by": self.unlocked_by,
                "size_bytes": self.size_bytes,
                "slots": self.slots,
                "damage": self.damage,
            },
            "config_file": str(self.config_file),
            "config_exists": self.config_file.exists(),
            "datasets": self.datasets,
        }


def vault_status(vault: Vault, unlocked: Unlocked) -> StatusReport:
    size = sum(p.stat().st_size for p in vault.paths.vault_dir.iterdir() if p.is_file())
    datasets = [_stream(c) for c in vault.counts()]
    return StatusReport(
        version=__version__,
        vault_dir=vault.paths.vault_dir,
        config_file=vault.paths.config_file,
        vault_id=vault.vault_id,
        unlocked_by=unlocked.method,
        size_bytes=size,
        slots=[s.describe() for s in unlocked.slots.slots],
        datasets=datasets,
        damage=vault.damage.to_json() if vault.damage is not None else None,
    )


def _stream(c: StreamCount) -> dict[str, Any]:
    out: dict[str, Any] = {
        "dataset": c.dataset,
        "source": c.source,
        "records": c.count,
        "first": iso(c.first_ts) if c.first_ts is not None else None,
        "last": iso(c.last_ts) if c.last_ts is not None else None,
    }
    if (c.first_ts is not None and c.first_ts < MIN_MS) or (c.last_ts is not None and c.last_ts > MAX_MS):
        out["warning"] = OUT_OF_RANGE
    return out
