"""Private files and directories: atomic writes, permission checks."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import SelfdataError


class InsecurePermissions(SelfdataError):
    """A secret file can be read by other users."""


def ensure_private_dir(path: Path, mode: int = 0o700) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    os.chmod(path, mode)
    return path


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `data` to `path` so that a crash leaves either the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_private_file(path: Path) -> None:
    """Refuse a secret file that group or others can read, as ssh does."""
    st = path.stat()
    if st.st_mode & 0o077:
        raise InsecurePermissions(
            f"permissions {stat.S_IMODE(st.st_mode):04o} for '{path}' are too open: "
            f"a key file must be readable by its owner only. Fix it with: chmod 600 '{path}'"
        )
