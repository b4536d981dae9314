"""The inbox: a watched folder where the user drops exported files to have them imported.

A file is taken once it is completely written: no process has it open for writing (a
Linux read lease is refused while one does), and its size and mtime have not moved for
`settle_s`, or it was renamed into place. Files go one at a time through the same
import path as `selfdata import`, into the source named after their sub-folder (or
after the importer at the root). The original is then kept in the vault, the import
made durable on disk, and only then is the plaintext removed: a crash at any point
leaves the file in the inbox or its records stored, never neither. Files that cannot
be imported move to `failed/` with `<name>.error.txt` beside them.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import signal
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from connectors.sdk import ConnectorError, Importer, SettingsError

from .config import Config
from .events import EventBus, InboxFailed, InboxImported, import_events
from .plugins import Registry
from .sources import SourceError, SourceStore
from .sync.importing import UnknownFormat, detect, import_file
from .times import iso, now_ms
from .vault import Vault, VaultError
from .vault.files import FileStore, FileStoreError
from .vault.names import NameError_

log = logging.getLogger("selfdata.inbox")

FAILED = "failed"
PARTIAL_SUFFIXES = (".part", ".partial", ".crdownload", ".download", ".tmp", "~")
SETTLE_ENV = "SELFDATA_INBOX_SETTLE"  # overrides inbox.settle_seconds (tests use a short one)
KILL_ENV = "SELFDATA_TEST_KILL_INBOX_AT"  # tests: SIGKILL the daemon at this step (imported, stored, durable)
GRACE_S = 10.0
EXPECTED = (UnknownFormat, SourceError, NameError_, SettingsError, ConnectorError, FileStoreError, VaultError, OSError)

Hook = Callable[[str, Path], None]


class _Stopped(Exception):
    """The daemon is stopping: the file stays in the inbox for the next start."""


@dataclass
class _Watch:
    size: int
    mtime_ns: int
    since: float  # monotonic time of the last change seen
    renamed: bool = False


class Inbox:
    def __init__(
        self,
        vault: Vault,
        registry: Registry,
        root: Path,
        *,
        events: EventBus | None = None,
        settle_s: float = 2.0,
        rescan_s: float = 60.0,
        hook: Hook | None = None,
    ) -> None:
        self.vault = vault
        self.registry = registry
        self.root = root.absolute()
        self.failed = self.root / FAILED
        self.events = events or EventBus()
        self.settle_s = settle_s
        self.rescan_s = rescan_s
        self.hook = hook
        self._pending: dict[Path, _Watch] = {}
        self._stuck: dict[Path, tuple[int, int]] = {}  # could not be moved away: skip while unchanged
        self._cond = threading.Condition()
        self._stopping = False
        self._mode = 0o700
        self._observer: Any = None
        self._worker: threading.Thread | None = None

    def start(self) -> None:
        if not self.root.exists():
            self.root.mkdir(parents=True, mode=0o700)
            os.chmod(self.root, 0o700)
        self._mode = stat.S_IMODE(self.root.stat().st_mode)
        self._make_dirs(self.failed)
        FileStore(self.vault).discard_partial()
        try:
            observer = Observer()
            observer.schedule(_Handler(self), str(self.root), recursive=True)
            observer.start()
            self._observer = observer
        except OSError as err:  # inotify limits: look by polling instead
            self.rescan_s = min(self.rescan_s, 5.0)
            log.warning("cannot watch %s (%s); looking for new files every %.0f s", self.root, err, self.rescan_s)
        self.scan()
        self._worker = threading.Thread(target=self._run, name="inbox", daemon=True)
        self._worker.start()
        log.info("watching the inbox %s", self.root)

    def stop(self, timeout: float = GRACE_S) -> bool:
        """Stop watching; an import under way is abandoned at its next step. False if still busy."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout)
        if self._worker is not None:
            self._worker.join(timeout)
            return not self._worker.is_alive()
        return True

    # Seeing files (watchdog's thread and the worker)

    def notice(self, path: Path, *, renamed: bool = False) -> None:
        if not self._wanted(path):
            return
        try:
            st = path.lstat()
        except OSError:
            return
        if not stat.S_ISREG(st.st_mode) or self._stuck.get(path) == (st.st_size, st.st_mtime_ns):
            return
        with self._cond:
            self._pending[path] = _Watch(st.st_size, st.st_mtime_ns, time.monotonic(), renamed)
            self._cond.notify()

    def scan(self, folder: Path | None = None) -> None:
        """Files already there (dropped while the daemon was down, or missed events)."""
        for dirpath, dirnames, filenames in os.walk(folder or self.root):
            here = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if self._wanted(here / d))
            for name in sorted(filenames):
                if here / name not in self._pending:
                    self.notice(here / name)

    def _wanted(self, path: Path) -> bool:
        return wanted(self.root, path)

    # The worker: one file at a time

    def _run(self) -> None:
        last_scan = time.monotonic()
        while True:
            with self._cond:
                if self._stopping:
                    return
                self._cond.wait(max(0.02, min(self.settle_s / 4, 0.5)))
                if self._stopping:
                    return
            if time.monotonic() - last_scan >= self.rescan_s:
                self.scan()
                last_scan = time.monotonic()
            for path in self._ready():
                if self._stopping:
                    return
                self._handle(path)

    def _ready(self) -> list[Path]:
        now = time.monotonic()
        ready = []
        with self._cond:
            items = list(self._pending.items())
        for path, watch in items:
            try:
                st = path.lstat()
            except OSError:
                st = None
            with self._cond:
                if self._pending.get(path) is not watch:
                    continue  # seen again meanwhile
                if st is None or not stat.S_ISREG(st.st_mode):
                    del self._pending[path]
                elif (st.st_size, st.st_mtime_ns) != (watch.size, watch.mtime_ns):
                    watch.size, watch.mtime_ns, watch.since, watch.renamed = st.st_size, st.st_mtime_ns, now, False
                elif watch.renamed or now - watch.since >= self.settle_s:
                    if _open_for_writing(path):
                        watch.since = now
                    else:
                        del self._pending[path]
                        ready.append(path)
        return ready

    def _handle(self, path: Path) -> None:
        rel = path.relative_to(self.root)
        try:
            self._import(path, rel)
        except _Stopped:
            log.info("stopping: %s stays in the inbox for the next start", rel)
        except EXPECTED as err:
            self._fail(path, rel, str(err) or type(err).__name__)
        except Exception as err:
            log.exception("importing %s from the inbox failed", rel)
            self._fail(path, rel, f"{type(err).__name__}: {err} (the daemon's log has the details)")

    def _import(self, path: Path, rel: Path) -> None:
        importer, source, values = self._target(path, rel)
        result = import_file(
            self.vault, self.registry, path, source=source, fmt=importer.name, values=values, progress=self._check
        )
        run = result.run
        for event in import_events(result, self.registry):
            self.events.publish(event)
        if not result.ok:
            self._fail(path, rel, f"{run.error}\nNothing from this file was stored (run {run.id}).")
            return
        self._step("imported", path)
        try:
            file_id, new = FileStore(self.vault).add(
                path, source=result.source.name, importer=importer.name, run_id=run.id, progress=self._check
            )
        except EXPECTED as err:
            self._fail(
                path, rel, f"its records were imported (run {run.id}), but the original could not be kept: {err}"
            )
            return
        self._step("stored", path)
        commit_durably(self.vault)
        self._step("durable", path)
        path.unlink(missing_ok=True)
        log.info(
            "imported %s into %s (run %d): %d new, %d changed", rel, result.source.name, run.id, run.new, run.changed
        )
        self.events.publish(
            InboxImported(
                str(rel),
                result.source.name,
                importer.name,
                run.id,
                run.new,
                run.changed,
                run.unchanged,
                run.deleted,
                file_id,
                "new" if new else "already stored",
            )
        )

    def _target(self, path: Path, rel: Path) -> tuple[type[Importer], str | None, dict[str, Any] | None]:
        """The importer, the source (the sub-folder) and settings for a new source (a profile)."""
        if len(rel.parts) == 1:
            return detect(self.registry, path), None, None
        folder = rel.parts[0]
        existing = SourceStore(self.vault).find(folder)
        if existing is not None and existing.kind == "importer" and existing.connector in self.registry.importers:
            return self.registry.importers[existing.connector], folder, None  # the user chose its format
        importer = detect(self.registry, path)
        profile = next((f for f in importer.fields if f.name == "profile"), None)
        if existing is None and profile is not None and folder in profile.choices:
            return importer, folder, {"profile": folder}
        return importer, folder, None

    def _fail(self, path: Path, rel: Path, message: str) -> None:
        """Move the file to failed/, its reason written beside it first so both are there when it appears."""
        target = _free_name(self.failed / rel)
        note = target.with_name(target.name + ".error.txt")
        try:
            self._make_dirs(target.parent)
            _write_note(
                note,
                f"selfdata could not import {rel}\n\nWhen: {iso(now_ms())}\nWhy: {message}\n\n"
                "Fix the cause, then move the file back into the inbox to try again (see docs/inbox.md).\n",
                self._mode & 0o666,
            )
            os.rename(path, target)
        except OSError as err:
            note.unlink(missing_ok=True)
            if isinstance(err, FileNotFoundError) and not path.exists():
                log.info("%s vanished before it could be imported", rel)
                return
            log.error("%s could not be imported (%s) nor moved to %s: %s", rel, message, self.failed, err)
            try:
                st = path.lstat()
                self._stuck[path] = (st.st_size, st.st_mtime_ns)
            except OSError:
                pass
            return
        log.warning("%s could not be imported, moved to %s: %s", rel, target, message)
        self.events.publish(InboxFailed(str(rel), message, str(target.relative_to(self.root))))

    def _make_dirs(self, folder: Path) -> None:
        """Folders under failed/ get the inbox's own permissions: an inbox shared with a group stays shared."""
        at = self.root
        for part in folder.relative_to(self.root).parts:
            at = at / part
            if not at.is_dir():
                at.mkdir()
                os.chmod(at, self._mode)

    def _check(self, done: int) -> None:
        if self._stopping:
            raise _Stopped()

    def _step(self, name: str, path: Path) -> None:
        if self.hook is not None:
            self.hook(name, path)


class _Handler(FileSystemEventHandler):
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind not in ("created", "modified", "moved", "closed"):
            return
        path = Path(os.fsdecode(event.dest_path if kind == "moved" else event.src_path))
        if event.is_directory:
            if kind in ("created", "moved"):
                self.inbox.scan(path)  # a folder moved in with its files
        else:
            self.inbox.notice(path, renamed=kind == "moved")


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


def summary(root: Path, watched: bool) -> dict[str, Any]:
    """What `selfdata status` says of the inbox: where it is, whether the daemon watches it,
    the files waiting to be imported and those in failed/ (each with its .error.txt)."""
    root = root.absolute()
    waiting = failed = 0
    for here, dirs, files in os.walk(root):
        folder = Path(here)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if folder == root / FAILED or root / FAILED in folder.parents:
            failed += sum(1 for f in files if not f.startswith(".") and not f.endswith(".error.txt"))
        else:
            waiting += sum(1 for f in files if wanted(root, folder / f))
    return {"path": str(root), "watched": watched, "exists": root.is_dir(), "waiting": waiting, "failed": failed}


def commit_durably(vault: Vault) -> None:
    """A commit with synchronous=FULL: the WAL, with every earlier commit in it, is on disk."""
    with vault.writer.lock:
        vault.conn.execute("PRAGMA synchronous = FULL")
        try:
            with vault.writer.transaction() as conn:
                conn.execute(
                    "INSERT OR REPLACE INTO meta (name, value) VALUES ('inbox_last_import', ?)", (str(now_ms()),)
                )
        finally:
            vault.conn.execute("PRAGMA synchronous = NORMAL")


def _open_for_writing(path: Path) -> bool:
    """Whether a process still has the file open for writing: Linux refuses a read lease then."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
    except OSError as err:
        return err.errno == errno.EAGAIN  # other errors: not our file, no leases here; rely on settling
    else:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        return False
    finally:
        os.close(fd)


def _write_note(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(fd, mode)  # whatever the umask
        f.write(text)
    os.rename(tmp, path)


def _free_name(path: Path) -> Path:
    n = 1
    candidate = path
    while candidate.exists() or candidate.with_name(candidate.name + ".error.txt").exists():
        n += 1
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
    return candidate


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
