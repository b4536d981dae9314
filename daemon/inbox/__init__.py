"""The inbox: a watched folder where the user drops exported files to have them imported.

A file is taken once it is completely written: renamed into place, or its size and
mtime still for `settle_s` with no process known to be writing it (readiness.py says
how that is known, and how long a file nothing vouches for must wait). It is deleted
only while it still holds what was imported; one that changed meanwhile stays to be
imported again. Files go one at a time through the same
import path as `selfdata import`, into the source named after their sub-folder (or
after the importer at the root). The original is then kept in the vault, the import
made durable on disk, and only then is the plaintext removed: a crash at any point
leaves the file in the inbox or its records stored, never neither. Files that cannot
be imported move to `failed/` with `<name>.error.txt` beside them.

A name is bytes: whatever it holds, it is shown and recorded as `filenames.shown` makes
it. The worker outlives any error: an unexpected one is logged on one line, the file
that caused it is skipped while unchanged, and the worker starts again; `health()` says
so meanwhile, and `selfdata status` shows it.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from ..config import Config
from ..events import EventBus
from ..plugins import Registry
from ..vault import Vault
from .folder import FAILED, PARTIAL_SUFFIXES, summary, wanted
from .worker import GRACE_S, Hook, Inbox, commit_durably

SETTLE_ENV = "SELFDATA_INBOX_SETTLE"  # overrides inbox.settle_seconds (tests use a short one)
KILL_ENV = "SELFDATA_TEST_KILL_INBOX_AT"  # tests: SIGKILL the daemon at this step (imported, stored, durable)

__all__ = [
    "FAILED",
    "GRACE_S",
    "KILL_ENV",
    "PARTIAL_SUFFIXES",
    "SETTLE_ENV",
    "Inbox",
    "commit_durably",
    "daemon_inbox",
    "summary",
    "wanted",
]


def _kill_hook(step: str) -> Hook:
    def hook(name: str, path: Path) -> None:
        if name == step:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def daemon_inbox(vault: Vault, registry: Registry, config: Config, events: EventBus) -> Inbox:
    """The daemon's inbox as the config sets it (and the tests' overrides)."""
    kill_at = os.environ.get(KILL_ENV)
    return Inbox(
        vault,
        registry,
        config.inbox_dir,
        events=events,
        settle_s=float(os.environ.get(SETTLE_ENV) or config.inbox_settle_seconds),
        hook=_kill_hook(kill_at) if kill_at else None,
    )
