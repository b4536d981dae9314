"""Who has the vault open: every process that opens it holds `open.lock` (beside the database) shared.

A process that gets the lock exclusively as it opens the vault knows no other process (a
daemon, a command, an import) has the vault open, so what a killed process left half done
is its to clear (`Vault.open`). It then holds the lock shared like every other.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

NAME = "open.lock"


class OpenLock:
    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    @classmethod
    def take(cls, vault_dir: Path) -> tuple[OpenLock, bool]:
        """The lock, held shared, and whether this process is the only one with the vault open.

        Until `share()`, a process that was alone holds it exclusively (others wait to open).
        Where the lock file cannot be opened (a read-only folder) nobody is ever taken to be alone.
        """
        try:
            fd = os.open(vault_dir / NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return cls(None), False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fcntl.flock(fd, fcntl.LOCK_SH)  # waits only for another opener's clearing up
            return cls(fd), False
        return cls(fd), True

    def share(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_SH)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
