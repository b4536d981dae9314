"""`selfdata restore BACKUP`: put a backup back as the vault, keeping the replaced one aside.

The backup is checked before anything moves: it must be a selfdata backup, open with this
machine's key (or the passphrase or recovery key given) and pass SQLite's check. Nothing may
have the vault open meanwhile: no daemon (its lock) and no other command (the vault's open
lock). The replaced vault is renamed, never deleted, so a wrong restore is undone by hand.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import SelfdataError
from ..files import ensure_private_dir
from ..session import Session
from ..vault import openlock


class RestoreError(SelfdataError, ValueError):
    pass


@dataclass(frozen=True)
class RestoreResult:
    vault_dir: Path
    replaced: Path | None
    records: int

    def to_json(self) -> dict[str, Any]:
        return {
            "vault_dir": str(self.vault_dir),
            "replaced": str(self.replaced) if self.replaced else None,
            "records": self.records,
        }


def backup_folder(backup: Path) -> Path:
    """The folder holding vault.db and keyslots.json: what `selfdata backup OUT` wrote (OUT/vault), or OUT."""
    for candidate in (backup / "vault", backup):
        if (candidate / "vault.db").is_file() and (candidate / "keyslots.json").is_file():
            return candidate
    raise RestoreError(
        f"{backup} is not a selfdata backup: it holds no vault/vault.db and vault/keyslots.json"
        " (the folder `selfdata backup OUT` wrote is OUT)"
    )


@contextmanager
def _alone(session: Session) -> Iterator[None]:
    """Hold the daemon's lock and the vault's open lock exclusively for the restore."""
    state = session.paths.state_dir
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    with (state / "daemon.lock").open("a+") as daemon_lock:
        try:
            fcntl.flock(daemon_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            daemon_lock.seek(0)
            pid = daemon_lock.read().strip()
            raise RestoreError(
                "a selfdata daemon is running"
                + (f" (pid {pid})" if pid else "")
                + ": stop it first (systemctl stop selfdata, or Ctrl-C), then restore"
            ) from None
        vault_dir = session.paths.vault_dir
        fd = None
        if vault_dir.is_dir():
            fd = os.open(vault_dir / openlock.NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise RestoreError("another selfdata command has the vault open: let it finish, then restore") from None
        try:
            yield
        finally:
            if fd is not None:
                os.close(fd)


def restore(session: Session, backup: Path) -> RestoreResult:
    source = backup_folder(backup.expanduser().absolute())
    paths = session.paths
    with _alone(session):
        stamp = time.strftime("%Y%m%d-%H%M%S")
        staging_state = ensure_private_dir(paths.state_dir / f".restore-{stamp}")
        try:
            staged = replace(paths, state_dir=staging_state)
            ensure_private_dir(staged.vault_dir)
            for name in ("vault.db", "keyslots.json"):
                shutil.copy2(source / name, staged.vault_dir / name)
                os.chmod(staged.vault_dir / name, 0o600)
            records = _check(replace(session, paths=staged))
            replaced = None
            if paths.vault_dir.exists():
                replaced = paths.state_dir / f"vault.replaced-{stamp}"
                os.rename(paths.vault_dir, replaced)
            os.rename(staged.vault_dir, paths.vault_dir)
        finally:
            shutil.rmtree(staging_state, ignore_errors=True)
    return RestoreResult(paths.vault_dir, replaced, records)


def _check(staged: Session) -> int:
    """Open the staged copy as the vault would be opened; its live records."""
    try:
        vault, _ = staged.open()
    except SelfdataError as err:
        raise RestoreError(f"the backup does not open: {err}; nothing was changed") from None
    try:
        problems = [r[0] for r in vault.conn.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise RestoreError(f"the backup is damaged ({'; '.join(problems[:3])}); nothing was changed")
        return sum(c.count for c in vault.counts())
    finally:
        vault.close()
