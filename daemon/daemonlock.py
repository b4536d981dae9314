"""One daemon per state directory: `selfdata run` and `selfdata demo` hold `<state dir>/daemon.lock`."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from .errors import SelfdataError


class AlreadyRunning(SelfdataError):
    pass


def hold(state_dir: Path) -> IO[str]:
    """Lock the state directory for this process (released when the handle closes or the process ends)."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle = (state_dir / "daemon.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as err:
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
