"""`<state dir>/daemon.lock`: held exclusively by the running daemon, its pid inside.

The lock is an `flock`, so it goes when the daemon's process does, however it ends. A
command that finds it held knows a live daemon has the vault open, and never opens the
vault itself then: what it wrote would not reach the daemon (a revoked token kept being
served from the daemon's cache until a restart).
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import IO

from .errors import SelfdataError

NAME = "daemon.lock"
TAKE_TRIES = 5  # a command's probe (`holder`) holds the lock shared for a moment
TAKE_PAUSE_S = 0.02


class AlreadyRunning(SelfdataError):
    pass


def take(state_dir: Path) -> IO[str]:
    """The lock, held for as long as the returned file stays open, with this process's pid in it."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle = (state_dir / NAME).open("a+")
    for attempt in range(TAKE_TRIES):
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError as err:
            if attempt + 1 < TAKE_TRIES:
                time.sleep(TAKE_PAUSE_S)
                continue
            handle.seek(0)
            pid = handle.read().strip()
            handle.close()
            raise AlreadyRunning(
                f"a selfdata daemon already runs for {state_dir}" + (f" (pid {pid})" if pid else "")
            ) from err
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def holder(state_dir: Path) -> str | None:
    """The pid of the daemon holding the lock ("?" when it cannot be read), or None when no daemon holds it.

    None too when the lock file cannot be opened (never created, or another user's): then the
    vault's own files decide whether this process may open it."""
    try:
        fd = os.open(state_dir / NAME, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.read(fd, 32).decode(errors="replace").strip() or "?"
        return None
    finally:
        os.close(fd)  # releases the shared lock, if taken


hold = take  # `selfdata demo` and `selfdata run` hold it the same way
