"""Change notifications from the file system (inotify, through watchdog) for the inbox."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers.inotify import InotifyObserver

KINDS = ("created", "modified", "moved", "closed")  # closed: by a process that wrote to it


class Watched(Protocol):
    """What the inbox offers its watcher."""

    @property
    def root(self) -> Path: ...

    def notice(self, path: Path, kind: str | None = None) -> None: ...

    def lost(self) -> None: ...

    def scan(self, folder: Path | None = None) -> None: ...

    def trouble(self, doing: str, err: BaseException) -> None: ...


def watch(inbox: Watched) -> Any:
    """A started observer that tells `inbox` of every change under its folder (OSError if refused)."""
    observer = InotifyObserver(generate_full_events=True)  # a file moved in from elsewhere is "moved"
    observer.schedule(_Handler(inbox), str(inbox.root), recursive=True)
    observer.start()
    return observer


class _Handler(FileSystemEventHandler):
    def __init__(self, inbox: Watched) -> None:
        self.inbox = inbox

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            self._seen(event)
        except Exception as err:  # the observer's thread dies on an error: it must outlive any name
            self.inbox.trouble("seeing a change in the inbox", err)

    def _seen(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind == "events_lost":
            self.inbox.lost()
            return
        if kind not in KINDS:
            return
        path = Path(os.fsdecode(event.dest_path if kind == "moved" else event.src_path))
        if event.is_directory:
            if kind in ("created", "moved"):
                self.inbox.scan(path)  # a folder moved in with its files
        else:
            self.inbox.notice(path, kind)
