"""When a file in the inbox is complete, as far as the system lets selfdata know.

Three witnesses, cheapest first. A file moved into place (a rename, from inside the
inbox or from elsewhere on the disk) is complete. Change notifications (inotify) say
when a file was written and when the process writing it closed it, whoever that
process is: a file written and not closed since is still being written, however long
its writer pauses. A read lease, which Linux refuses while any process has the file
open for writing, answers for the daemon's own files only (or with CAP_LEASE); for a
file of another user it cannot answer. Scanning /proc/*/fd was measured and left out
(bench/inbox.py): 13 ms a look with 105 processes against 8 µs for a lease, and the
system service's `ProtectProc=invisible` hides other users' processes, the very
writers in question.

A file no witness speaks for (found by a scan, with notifications lost or refused, of
another user) must hold still for longer before it is taken.
"""

from __future__ import annotations

import errno
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

Snapshot = tuple[int, int, int, int]  # device, inode, size, mtime: the content a look saw


def snapshot(st: os.stat_result) -> Snapshot:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def changed(path: Path, seen: Snapshot) -> bool:
    """Whether the file at `path` is no longer the content `seen` (written to, replaced, gone)."""
    try:
        return snapshot(path.lstat()) != seen
    except FileNotFoundError:
        return False  # gone: nothing more of it to import
    except OSError:
        return True


@dataclass
class Watch:
    size: int
    mtime_ns: int
    since: float  # monotonic time of the last change seen
    renamed: bool = False  # moved into place: complete
    writing: bool = False  # notifications: written, and not closed since
    closed: bool = False  # notifications: closed after its last write
    not_before: float = 0.0  # monotonic time before which it is not tried again (the system's trouble)
    version: int = 0  # bumped at every change, so a look taken before it is not acted on

    def seen(self, kind: str | None, size: int, mtime_ns: int, now: float) -> None:
        """What a look (`kind` None) or a notification of `kind` says of the file."""
        if (size, mtime_ns) != (self.size, self.mtime_ns):
            self.size, self.mtime_ns, self.since, self.renamed = size, mtime_ns, now, False
            self.version += 1
        if kind == "moved":
            self.renamed, self.writing = True, False
        elif kind == "modified" or (kind == "created" and size == 0):  # created empty: opened to be written
            self.writing, self.closed = True, False
        elif kind == "closed":
            self.writing, self.closed = False, True
        elif kind == "lost":  # notifications were lost: nothing is known any more
            self.writing = self.closed = False
        if kind is not None:
            self.version += 1

    @property
    def witnessed(self) -> bool:
        """Whether a rename or a close says the file is complete."""
        return self.renamed or self.closed


def open_for_writing(path: Path) -> bool | None:
    """Whether a process has the file open for writing (Linux refuses a read lease then);
    None when that cannot be known: another user's file, no leases on this file system."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
    except OSError as err:
        return True if err.errno == errno.EAGAIN else None
    else:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        return False
    finally:
        os.close(fd)
