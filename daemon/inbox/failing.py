"""Moving a file that cannot be imported to failed/, with its reason in a note beside it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .folder import NOTE_SUFFIX

NAME_MAX = 255  # bytes in one file name, on every Linux file system the inbox may be on


def make_dirs(root: Path, folder: Path, mode: int) -> None:
    """Folders under `root` get the inbox's own permissions: an inbox shared with a group stays shared."""
    at = root
    for part in folder.relative_to(root).parts:
        at = at / part
        if not at.is_dir():
            at.mkdir()
            os.chmod(at, mode)


def free_target(failed: Path, rel: Path) -> tuple[Path, Path]:
    """A name in failed/ for `rel` that neither a file nor a note takes (` (2)`, ` (3)`...),
    and its note's name; both within the file system's limit however long the name."""
    first = failed / rel
    for n in range(1, 10_000):
        target = first if n == 1 else first.with_name(_fit(first.stem, f" ({n}){first.suffix}"))
        note = target.with_name(_fit(target.name, NOTE_SUFFIX))
        if not os.path.lexists(target) and not os.path.lexists(note):
            return target, note
    raise FileExistsError(f"{first}: no free name left in {failed}")


def _fit(base: str, tail: str) -> str:
    """`base` + `tail`, `base` cut so the name fits NAME_MAX bytes (a name is bytes)."""
    head, end = os.fsencode(base), os.fsencode(tail)
    end = end[-(NAME_MAX // 2) :]  # a suffix longer than half a name is cut from its start
    return os.fsdecode(head[: NAME_MAX - len(end)] + end)


def write_note(path: Path, text: str, mode: int) -> None:
    """The note, written whole under a short hidden name first (the watcher skips it)."""
    fd, tmp = tempfile.mkstemp(prefix=".note-", dir=path.parent)
    try:
        os.fchmod(fd, mode)  # whatever the umask
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(text)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
