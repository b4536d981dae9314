"""Private files and directories: atomic writes, permission checks."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from .errors import SelfdataError

# The system's passing trouble, not the file's: too many open files (in this process or the
# whole system), no memory, a full disk or quota, a busy or stale network file.
TRANSIENT_ERRNOS = frozenset(
    {
        errno.EMFILE,
        errno.ENFILE,
        errno.ENOMEM,
        errno.ENOBUFS,
        errno.EAGAIN,
        errno.EINTR,
        errno.EBUSY,
        errno.ENOSPC,
        errno.EDQUOT,
        errno.ENOLCK,
        errno.ETIMEDOUT,
        errno.ESTALE,
    }
)


def transient(err: BaseException) -> OSError | None:
    """The OSError of passing trouble behind `err` (itself or an error it came from), if any."""
    seen: BaseException | None = err
    for _ in range(8):  # a chain of causes is short; a cycle must not hang
        if seen is None:
            return None
        if isinstance(seen, OSError) and seen.errno in TRANSIENT_ERRNOS:
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


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
