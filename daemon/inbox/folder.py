"""Which files in the inbox folder are to be imported, and what `selfdata status` says of it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

FAILED = "failed"
PARTIAL_SUFFIXES = (".part", ".partial", ".crdownload", ".download", ".tmp", "~")
NOTE_SUFFIX = ".error.txt"


def wanted(root: Path, path: Path) -> bool:
    """Whether a file in the inbox is one to import: not in failed/, not hidden, not a
    download still under way."""
    try:
        rel = path.relative_to(root)
    except ValueError:
        return False
    if not rel.parts or rel.parts[0] == FAILED or any(p.startswith(".") for p in rel.parts):
        return False
    return not path.name.endswith(PARTIAL_SUFFIXES)


def summary(root: Path, watched: bool, problem: str | None = None) -> dict[str, Any]:
    """What `selfdata status` says of the inbox: where it is, whether the daemon watches it
    (and what is wrong, if anything), the files waiting to be imported and those in
    failed/ (each with its .error.txt)."""
    root = root.absolute()
    waiting = failed = 0
    for here, dirs, files in os.walk(root):
        folder = Path(here)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if folder == root / FAILED or root / FAILED in folder.parents:
            notes = {f for f in files if f.endswith(NOTE_SUFFIX) and f + NOTE_SUFFIX not in files}
            failed += sum(1 for f in files if not f.startswith(".") and f not in notes)
        else:
            waiting += sum(1 for f in files if wanted(root, folder / f))
    return {
        "path": str(root),
        "watched": watched,
        "exists": root.is_dir(),
        "waiting": waiting,
        "failed": failed,
        "problem": problem,
    }
