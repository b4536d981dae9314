"""`selfdata demo`: a throwaway vault filled with generated sample data.

Until the daemon and the fake vendor servers exist, the demo shows the vault: it creates
one unlocked by a generated key file, imports months of sample bank transactions and
energy readings through `import-jsonl`'s library function, and queries them back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.testing.generators import jsonl as samples

from ..paths import home_paths
from ..vault import INSECURE_TEST_KDF, Vault
from ..vault.keysources import unlock
from . import jsonl
from .setup import init_vault


@dataclass(frozen=True)
class DemoResult:
    home: Path
    key_file: Path
    created: bool
    imports: list[jsonl.ImportResult]


def _write(path: Path, lines: Iterable[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")
    return path


def run_demo(home: Path) -> tuple[Vault, DemoResult]:
    paths = home_paths(home)
    key_file = home / "demo.key"
    created = not paths.keyslots_file.exists()
    if created:
        # The demo key file opens the vault; its passphrase-free, throwaway vault holds only samples.
        init_vault(paths, passphrase=None, key_file=key_file, kdf=INSECURE_TEST_KDF, recovery=False)
    unlocked = unlock(paths.keyslots_file, config_key_file=key_file, use_keyring=False)
    vault = Vault.open(paths, unlocked.master)
    samples_dir = home / "samples"
    samples_dir.mkdir(exist_ok=True)
    files = [
        (_write(samples_dir / "bank.jsonl", samples.bank_transactions()), "demo-bank", "bank.transaction"),
        (_write(samples_dir / "energy.jsonl", samples.energy_readings()), "demo-energy", "energy.reading"),
    ]
    imports = [jsonl.import_jsonl(vault, f, source=s, dataset=d) for f, s, d in files]
    return vault, DemoResult(home, key_file, created, imports)
