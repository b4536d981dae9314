"""The inbox's worker: sees files, waits until each is complete, imports one at a time."""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from connectors.sdk import ConnectorError, Importer, SettingsError

from ..events import EventBus, InboxFailed, InboxImported, import_events
from ..filenames import printable, shown
from ..files import transient
from ..plugins import Registry
from ..sources import SourceError, SourceStore
from ..sync.importing import UnknownFormat, detect, import_file
from ..times import iso, now_ms
from ..vault import Vault, VaultError
from ..vault.files import FileStore, FileStoreError
from ..vault.names import NameError_, check_source
from .failing import free_target, make_dirs, write_note
from .folder import FAILED, wanted
from .readiness import Snapshot, Watch, changed, open_for_writing, snapshot

log = logging.getLogger("selfdata.inbox")

GRACE_S = 10.0
UNSEEN_SETTLE_S = 60.0  # how long a file no witness speaks for must hold still (readiness.py)
RETRY_S = (1.0, 30.0)  # first and longest wait before a file the system could not read now is tried again
RESTART_S = (1.0, 60.0)  # first and longest wait before the worker starts again after an unexpected error
EXPECTED = (UnknownFormat, SourceError, NameError_, SettingsError, ConnectorError, FileStoreError, VaultError, OSError)

Hook = Callable[[str, Path], None]


class _Stopped(Exception):
    """The daemon is stopping: the file stays in the inbox for the next start."""


class Inbox:
    def __init__(
        self,
        vault: Vault,
        registry: Registry,
        root: Path,
        *,
        events: EventBus | None = None,
        settle_s: float = 2.0,
        unseen_settle_s: float = UNSEEN_SETTLE_S,
        rescan_s: float = 60.0,
        hook: Hook | None = None,
    ) -> None:
        self.vault = vault
        self.registry = registry
        self.root = root.absolute()
        self.failed = self.root / FAILED
        self.events = events or EventBus()
        self.settle_s = settle_s
        self.unseen_settle_s = max(settle_s, unseen_settle_s)
        self.rescan_s = rescan_s
        self.hook = hook
        self._pending: dict[Path, Watch] = {}
        self._stuck: dict[Path, tuple[int, int]] = {}  # could not be moved away: skip while unchanged
        self._cond = threading.Condition()
        self._stopping = False
        self._mode = 0o700
        self._observer: Any = None
        self._worker: threading.Thread | None = None
        self._current: Path | None = None  # the file the worker is at
        self._problem: str | None = None  # why the worker is not importing now
        self._logged: set[str] = set()  # unexpected errors logged since the worker last ran cleanly
        self._regrown: set[Path] = set()  # files that changed while imported, logged once each
        self._outage: str | None = None  # the system's passing trouble (too many open files...), while it lasts
        self._retry_s = RETRY_S[0]
        self._deferred = 0  # files put off for the system's trouble, ever

    def start(self) -> None:
        if not self.root.exists():
            self.root.mkdir(parents=True, mode=0o700)
            os.chmod(self.root, 0o700)
        self._mode = stat.S_IMODE(self.root.stat().st_mode)
        make_dirs(self.root, self.failed, self._mode)
        FileStore(self.vault).discard_partial()
        from .watcher import watch  # watchdog: loaded by the daemon only

        try:
            self._observer = watch(self)
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

    def health(self) -> tuple[bool, str | None]:
        """Whether dropped files are imported, and what is wrong if anything is."""
        worker = self._worker
        if worker is None or not worker.is_alive():
            return False, "the inbox worker has stopped: restart the daemon (its log says why)"
        if self._problem:
            return False, self._problem
        if self._outage:
            return True, f"cannot import files now ({self._outage}); trying again every {self._retry_s:.0f} s"
        if self._observer is not None and not self._observer.is_alive():
            return True, f"change notifications stopped; looking for new files every {self.rescan_s:.0f} s"
        return True, None

    # Seeing files (watchdog's thread and the worker)

    def notice(self, path: Path, kind: str | None = None) -> None:
        """A file seen by a scan (`kind` None) or named by a change notification of `kind`."""
        if not self._wanted(path):
            return
        try:
            st = path.lstat()
        except OSError:
            return
        if not stat.S_ISREG(st.st_mode) or self._stuck.get(path) == (st.st_size, st.st_mtime_ns):
            return
        now = time.monotonic()
        with self._cond:
            watch = self._pending.get(path)
            if watch is None:
                watch = self._pending[path] = Watch(st.st_size, st.st_mtime_ns, now)
            watch.seen(kind, st.st_size, st.st_mtime_ns, now)
            self._cond.notify()

    def lost(self) -> None:
        """Change notifications were lost: nothing they said holds, and the folder is looked through."""
        now = time.monotonic()
        with self._cond:
            for watch in self._pending.values():
                watch.seen("lost", watch.size, watch.mtime_ns, now)
        self.scan()

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

    def trouble(self, doing: str, err: BaseException) -> None:
        """An unexpected error: logged on one line, once while it repeats."""
        what = f"{type(err).__name__}: {shown(str(err))}"[:500]
        frames = traceback.extract_tb(err.__traceback__)
        where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        if what + where not in self._logged:  # the same error met again on the way out is not news
            self._logged.add(what + where)
            log.error("the inbox met an unexpected error %s: %s%s", doing, what, where)

    # The worker: one file at a time, restarted after an unexpected error

    def _run(self) -> None:
        wait = RESTART_S[0]
        while not self._stopping:
            try:
                self._loop()
            except Exception as err:
                self.trouble("and starts again", err)
                self._problem = f"the inbox worker met an unexpected error and starts again: {type(err).__name__}"
                self._skip(self._current)  # a file that broke the worker is not tried again while unchanged
                self._current = None
                with self._cond:
                    self._cond.wait(wait)
                wait = min(wait * 2, RESTART_S[1])

    def _loop(self) -> None:
        last_scan = time.monotonic()
        while True:
            with self._cond:
                if self._stopping:
                    return
                self._cond.wait(max(0.02, min(self.settle_s / 4, 0.5)))
                if self._stopping:
                    return
            if self._observer is not None and not self._observer.is_alive() and self.rescan_s > 5.0:
                log.warning("change notifications for the inbox stopped; looking for new files every 5 s")
                self.rescan_s = 5.0
            if time.monotonic() - last_scan >= self.rescan_s:
                self.scan()
                last_scan = time.monotonic()
            for path, seen in self._ready():
                if self._stopping:
                    return
                self._current = path
                self._handle(path, seen)
                self._current = None
            if self._problem is not None:
                log.info("the inbox worker runs again")
                self._problem = None
                self._logged.clear()

    def _skip(self, path: Path | None) -> None:
        if path is None:
            return
        try:
            st = path.lstat()
        except OSError:
            return
        self._stuck[path] = (st.st_size, st.st_mtime_ns)

    def _ready(self) -> list[tuple[Path, Snapshot]]:
        """The files complete now, each with the look that found it so (see readiness.py)."""
        now = time.monotonic()
        ready = []
        with self._cond:
            items = [(path, watch, watch.version) for path, watch in self._pending.items()]
        for path, watch, version in items:
            try:
                st: os.stat_result | None = path.lstat()
            except OSError:
                st = None
            with self._cond:
                if self._pending.get(path) is not watch or watch.version != version:
                    continue  # seen again meanwhile
                if st is None or not stat.S_ISREG(st.st_mode):
                    del self._pending[path]
                    continue
                watch.seen(None, st.st_size, st.st_mtime_ns, now)
                settle = 0.0 if watch.renamed else self.settle_s
                if watch.version != version or watch.writing or now - watch.since < settle or now < watch.not_before:
                    continue
            busy = open_for_writing(path)
            if busy or (busy is None and not watch.witnessed and now - watch.since < self.unseen_settle_s):
                continue
            with self._cond:
                if self._pending.get(path) is watch and watch.version == version:
                    del self._pending[path]
                    ready.append((path, snapshot(st)))
        return ready

    def _handle(self, path: Path, seen: Snapshot) -> None:
        rel = path.relative_to(self.root)
        deferred = self._deferred
        try:
            self._import(path, rel, seen)
        except _Stopped:
            log.info("stopping: %s stays in the inbox for the next start", shown(rel))
        except Exception as err:
            trouble = transient(err)
            if trouble is not None:
                self._later(path, trouble.strerror or str(trouble))
            elif isinstance(err, EXPECTED):
                self._fail(path, rel, printable(str(err), path.name) or type(err).__name__, seen)
            else:
                self._unexpected(path, rel, err, seen)
        if self._deferred == deferred and self._outage is not None:
            log.info("the inbox imports files again")
            self._outage, self._retry_s = None, RETRY_S[0]

    def _unexpected(self, path: Path, rel: Path, err: Exception, seen: Snapshot) -> None:
        self.trouble(f"importing {shown(rel)}", err)
        message = f"{type(err).__name__}: {printable(str(err), path.name)} (see the daemon's log)"
        self._fail(path, rel, message, seen)

    def _import(self, path: Path, rel: Path, seen: Snapshot) -> None:
        importer, source, values = self._target(path, rel)
        self._step("taken", path)
        result = import_file(
            self.vault, self.registry, path, source=source, fmt=importer.name, values=values, progress=self._check
        )
        run = result.run
        for event in import_events(result, self.registry):
            self.events.publish(event)
        if result.retry:
            self._later(path, result.retry)
            return
        if not result.ok:
            self._fail(path, rel, f"{run.error}\nNothing from this file was stored (run {run.id}).", seen)
            return
        if changed(path, seen):  # its records are what it held then: it stays for the rest
            self._again(path, rel, run.id)
            return
        self._step("imported", path)
        name = shown(rel)
        try:
            file_id, new = FileStore(self.vault).add(
                path,
                source=result.source.name,
                importer=importer.name,
                run_id=run.id,
                name=shown(path.name),
                progress=self._check,
            )
        except EXPECTED as err:
            if transient(err) is not None:
                raise  # tried again later, the import with it (its records are unchanged then)
            self._fail(
                path,
                rel,
                f"its records were imported (run {run.id}), but the original could not be kept: "
                + printable(str(err), path.name),
                seen,
            )
            return
        self._step("stored", path)
        commit_durably(self.vault)
        self._step("durable", path)
        if changed(path, seen):
            self._again(path, rel, run.id)
            return
        path.unlink(missing_ok=True)
        self._regrown.discard(path)
        log.info(
            "imported %s into %s (run %d): %d new, %d changed", name, result.source.name, run.id, run.new, run.changed
        )
        for notice in result.notices:
            log.warning("%s, imported into %s (run %d): %s", name, result.source.name, run.id, notice)
        self.events.publish(
            InboxImported(
                name,
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
        folder = check_source(rel.parts[0])  # before any lookup: a folder's name may be any bytes
        existing = SourceStore(self.vault).find(folder)
        if existing is not None and existing.kind == "importer" and existing.connector in self.registry.importers:
            return self.registry.importers[existing.connector], folder, None  # the user chose its format
        importer = detect(self.registry, path)
        profile = next((f for f in importer.fields if f.name == "profile"), None)
        if existing is None and profile is not None and folder in profile.choices:
            return importer, folder, {"profile": folder}
        return importer, folder, None

    def _later(self, path: Path, what: str) -> None:
        """The system cannot read or write files now (`what`: too many open files, a full disk...):
        the file waits, with every other, and is tried again; logged once while it lasts."""
        what = shown(what)
        if self._outage is None:
            log.warning("the inbox cannot import files now (%s); it tries them again until it can", what)
        else:
            self._retry_s = min(self._retry_s * 2, RETRY_S[1])
        self._outage = what
        self._deferred += 1
        self.notice(path)
        with self._cond:
            watch = self._pending.get(path)
            if watch is not None:
                watch.not_before = time.monotonic() + self._retry_s

    def _again(self, path: Path, rel: Path, run_id: int) -> None:
        """The file changed while it was imported: it stays, to be imported again once complete."""
        if path not in self._regrown:
            self._regrown.add(path)
            log.warning(
                "%s changed while it was imported (run %d stored what it held then); it stays in the inbox and is"
                " imported again once complete. A writer should write elsewhere, then rename it into the inbox",
                shown(rel),
                run_id,
            )
        self.notice(path)

    def _fail(self, path: Path, rel: Path, message: str, seen: Snapshot) -> None:
        """Move the file to failed/, its reason written beside it first so both are there when it appears;
        a file that changed meanwhile is not failed for what it held before."""
        if changed(path, seen):
            log.info("%s changed while it was imported; it is tried again once complete", shown(rel))
            self.notice(path)
            return
        name = shown(rel)
        target, note = free_target(self.failed, rel)
        try:
            make_dirs(self.root, target.parent, self._mode)
            write_note(
                note,
                f"selfdata could not import {name}\n\nWhen: {iso(now_ms())}\nWhy: {message}\n\n"
                "Fix the cause, then move the file back into the inbox to try again (see docs/inbox.md).\n",
                self._mode & 0o666,
            )
            os.rename(path, target)
        except OSError as err:
            try:
                note.unlink(missing_ok=True)
            except OSError:
                pass
            trouble = transient(err)
            if trouble is not None:
                self._later(path, trouble.strerror or str(trouble))
                return
            if isinstance(err, FileNotFoundError) and not os.path.lexists(path):
                log.info("%s vanished before it could be imported", name)
                return
            log.error("%s could not be imported (%s) nor moved to %s: %s", name, message, self.failed, shown(str(err)))
            self._skip(path)
            return
        log.warning("%s could not be imported, moved to %s: %s", name, shown(target), message)
        self.events.publish(InboxFailed(name, message, shown(target.relative_to(self.root))))

    def _check(self, done: int) -> None:
        if self._stopping:
            raise _Stopped()

    def _step(self, name: str, path: Path) -> None:
        if self.hook is not None:
            self.hook(name, path)


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
